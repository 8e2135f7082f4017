# The two commands: `make run` and `make test`. Everything they need is installed and started here.
SHELL := /bin/bash
PG_PORT ?= 55432
REDIS_PORT ?= 56379
export PG_PORT REDIS_PORT

TEST_DATABASE_URL ?= postgres://marketplace:marketplace@127.0.0.1:$(PG_PORT)/marketplace
TEST_REDIS_URL ?= redis://127.0.0.1:$(REDIS_PORT)/0

.PHONY: help deps tools services services-down services-status build test fuzz chaos run bench migrate config openapi

help:
	@echo "make run            install what is missing, start Postgres/Redis, build, migrate, serve with demo data"
	@echo "make test           the whole suite against real Postgres and Redis"
	@echo "make bench          release build + benchmarks, report in bench/results/latest.md"
	@echo "make fuzz           hostile webhook bodies, tokens and list parameters for FUZZ_SECONDS (180), a fresh seed"
	@echo "make chaos          the fault suite: CHAOS_ROUNDS (20) random faults on two instances; CHAOS_SEED=N replays a run"
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
	  OPENAPI_VALIDATOR="$(CURDIR)/.tools/venv/bin/openapi-spec-validator" BROWSER_TEST_PYTHON="$(CURDIR)/.tools/venv/bin/python" \
	  swift test --skip-build

# The property-based fuzz generators of FuzzTests (make test runs a fixed-seed slice of 2,000 inputs), run against
# the real server, Postgres and Redis for FUZZ_SECONDS with a fresh seed (FUZZ_SEED=N replays one).
FUZZ_SECONDS ?= 180
fuzz: services
	swift build --build-tests
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" TEST_REDIS_URL="$(TEST_REDIS_URL)" FUZZ_SECONDS="$(FUZZ_SECONDS)" \
	  FUZZ_SEED="$${FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}" swift test --skip-build --filter FuzzTests 2>&1 \
	  | grep -Ev '^\{' | grep -E 'fuzz:|✘|passed|failed'

# The fault suite (ChaosTests): two instances, the emulator, a Postgres cluster and a Redis of its own, a steady
# webhook load, and CHAOS_ROUNDS random faults (make test runs one round of each); prints its table and the seed.
CHAOS_ROUNDS ?= 20
chaos: services
	swift build --build-tests
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" TEST_REDIS_URL="$(TEST_REDIS_URL)" CHAOS_ROUNDS="$(CHAOS_ROUNDS)" CHAOS_FAULTS="$(CHAOS_FAULTS)" \
	  CHAOS_SEED="$${CHAOS_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}" swift test --skip-build --filter ChaosTests 2>&1 \
	  | grep -Ev '^\{' | grep -E 'chaos:|✘|passed|failed'

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
