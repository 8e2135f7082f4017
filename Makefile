# The two commands: `make run` and `make test`. Everything they need is installed and started here.
SHELL := /bin/bash
PG_PORT ?= 55432
REDIS_PORT ?= 56379
export PG_PORT REDIS_PORT

TEST_DATABASE_URL ?= postgres://marketplace:marketplace@127.0.0.1:$(PG_PORT)/marketplace
TEST_REDIS_URL ?= redis://127.0.0.1:$(REDIS_PORT)/0

.PHONY: help deps tools services services-down services-status build test run bench migrate config openapi

help:
	@echo "make run            install what is missing, start Postgres/Redis, build, migrate, serve with demo data"
	@echo "make test           the whole suite against real Postgres and Redis"
	@echo "make bench          release build + benchmarks, report in bench/results/latest.md"
	@echo "make services       start the project's Postgres ($(PG_PORT)) and Redis ($(REDIS_PORT))"
	@echo "make services-down  stop them"
	@echo "make openapi        print the OpenAPI document to .build/openapi.json and validate it"
	@echo "make migrate        apply migrations to DATABASE_URL (from .env)"

deps:
	@scripts/install-deps.sh
	@command -v swift >/dev/null || { echo "error: the Swift toolchain (6.1 or later) is not on PATH" >&2; exit 1; }

tools:
	@scripts/install-tools.sh

services: deps
	@scripts/services.sh start

services-down:
	@scripts/services.sh stop

services-status:
	@scripts/services.sh status

build: deps
	swift build

test: services tools
	swift build --build-tests
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" TEST_REDIS_URL="$(TEST_REDIS_URL)" \
	  OPENAPI_VALIDATOR="$(CURDIR)/.tools/venv/bin/openapi-spec-validator" swift test --skip-build

run: services
	@scripts/run.sh

bench: services
	@scripts/bench.sh

migrate: build
	swift run marketplace migrate

openapi: build tools
	swift run marketplace openapi > .build/openapi.json
	.tools/venv/bin/openapi-spec-validator .build/openapi.json

config: build
	swift run marketplace config
