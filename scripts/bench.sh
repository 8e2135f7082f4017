#!/usr/bin/env bash
# `make bench`: the release executables and the project's own Postgres and Redis; everything else (the servers on a
# scratch database, each scenario beside its ceilings, the report in bench/results/latest.md) is `marketplace-bench`,
# whose scenarios live one a file in Sources/Benchmarks/Scenarios.
# Knobs: BENCH_DURATION (s, default 10), BENCH_CONNECTIONS (64), BENCH_PORT (18090), BENCH_WEBHOOKS (300000),
# BENCH_NANGO_RECORDS (100000), BENCH_SYNC_RECORDS (100000), BENCH_SYNC_LARGE (1000000; 0 skips), BENCH_LOG_LEVEL (info),
# BENCH_ONLY (some of http,webhooks,redis,nango,sync,reads,changes,outbound,console,drift; all when unset), BENCH_REPORT (the report's path),
# BENCH_CHANGE_LOG (on; off runs every sync with the change log's triggers disabled), BENCH_CHANGE_LOG_PAIRS (2 pairs of syncs without and with the log), BENCH_WAKEUPS (300 long polls timed),
# BENCH_DELIVERIES (10000 outbound messages delivered, timed), BENCH_OUTBOUND_SAMPLES (300 changes timed from commit to delivery),
# BENCH_DATABASE (marketplace_bench; two benches at once need one each, and a BENCH_PORT each).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in wrk pgbench psql redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
scripts/services.sh start
echo "==> release build"
for product in marketplace marketplace-bench nango-emulator bare-ceiling; do
  swift build -c release --product "$product"
done
exec "$(swift build -c release --show-bin-path)/marketplace-bench"
