#!/usr/bin/env bash
# `make bench`: release build, the project's own services, a server of its own on a scratch database,
# then each scenario beside a ceiling measured in the same run on this machine.
# Report: bench/results/latest.md. Knobs: BENCH_DURATION (s, default 10), BENCH_CONNECTIONS (default 64).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${BENCH_DURATION:-10}
connections=${BENCH_CONNECTIONS:-64}
port=${BENCH_PORT:-18090}
pg_port=${PG_PORT:-55432}
redis_port=${REDIS_PORT:-56379}
bench_db=marketplace_bench
report=bench/results/latest.md
work=$(mktemp -d)
export PGPASSWORD=marketplace

scripts/services.sh start
echo "==> release build"
swift build -c release --product marketplace
swift build -c release --product marketplace-bench
swift build -c release --product nango-emulator
swift build -c release --product bare-ceiling
bin=$(swift build -c release --show-bin-path)

psql_admin() { psql -q -h 127.0.0.1 -p "$pg_port" -U marketplace -d marketplace -v ON_ERROR_STOP=1 "$@"; }
psql_admin -c "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" -c "CREATE DATABASE $bench_db"

server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  psql_admin -c "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

export DATABASE_URL="postgres://marketplace:marketplace@127.0.0.1:$pg_port/$bench_db"
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
export NANGO_SECRET_KEY=bench-nango-secret NANGO_WEBHOOK_SECRET=bench-nango-secret JWT_SECRET=bench-jwt-secret-0123456789-0123456789
export TOKEN_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
export SERVER_HOST=127.0.0.1 SERVER_PORT=$port LOG_LEVEL=${BENCH_LOG_LEVEL:-info}
# The rate limits of the security step would answer most of a load test with 429: raised here (and said so in the
# report), so every figure is the work itself.
bench_limit=1000000   # the settings' ceiling
export RATE_LIMIT_REQUESTS=$bench_limit AUTH_RATE_LIMIT_REQUESTS=$bench_limit PUBLIC_RATE_LIMIT_REQUESTS=$bench_limit \
  WEBHOOK_FAILURE_RATE_LIMIT_REQUESTS=$bench_limit CONSOLE_SIGNIN_RATE_LIMIT_REQUESTS=$bench_limit

# Migrations on an empty database, timed.
start_ns=$(date +%s%N)
"$bin/marketplace" migrate --env-file /nonexistent >/dev/null
migrate_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))

"$bin/marketplace" serve --env-file /nonexistent >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null || { cat "$work/server.log" >&2; exit 1; }

rows=()
# wrk: requests/s, p50, p99 for one path; adds a report row and leaves the rate in $last_rps.
http_scenario() {
  local name=$1 path=$2 note=$3 out="$work/wrk.txt"
  echo "==> wrk $path"
  wrk -t2 -c"$connections" -d"${duration}s" --latency "http://127.0.0.1:$port$path" >"$out"
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  p50=$(awk '$1=="50%" {print $2}' "$out")
  p99=$(awk '$1=="99%" {print $2}' "$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out"); non2xx=${non2xx:-0}
  rows+=("| $name | \`GET $path\` | $(printf '%.0f' "$rps") req/s | $p50 | $p99 | $non2xx | $note |")
  last_rps=$rps
}

http_scenario "HTTP ceiling" /health "full middleware stack, no I/O"; health_rps=$last_rps
# The framework's own ceiling: the same Hummingbird, one route, no middleware, same wrk settings.
bare_port=$((port + 9))
"$bin/bare-ceiling" "$bare_port" >"$work/bare.log" 2>&1 &
bare_pid=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$bare_port/health" >/dev/null 2>&1 && break; sleep 0.1; done
saved_port=$port; port=$bare_port
http_scenario "bare Hummingbird" /health "the same Hummingbird, one route, no middleware (\`bare-ceiling\`)"; bare_rps=$last_rps
port=$saved_port
kill -TERM "$bare_pid"; wait "$bare_pid" 2>/dev/null || true
http_scenario "liveness" /health/live "same as the ceiling"; live_rps=$last_rps
http_scenario "readiness" /health/ready "Postgres: migration status per request"; ready_rps=$last_rps
http_scenario "detailed health" /health/detailed "Postgres + Redis PING per request"; detailed_rps=$last_rps
http_scenario "metrics scrape" /metrics "Prometheus text + Redis PING"
http_scenario "static document" /openapi.json "a 67 KB answer built once, no I/O: the cost of a large body"; static_rps=$last_rps

# Webhook intake: distinct signed sync webhooks posted by wrk, every stored answer checked against the inbox; once by
# the server above (workers on: each stored webhook queues or joins its key's sync job, and the workers run them) and
# once by a server with WORKER_COUNT=0 (ingest alone).
echo "==> webhooks"
webhook_count=${BENCH_WEBHOOKS:-300000}
"$bin/marketplace-bench" webhooks "$webhook_count" "$NANGO_WEBHOOK_SECRET" "$work/webhooks.txt"
webhook_scenario() {   # $1 port, $2 label: leaves the figures in webhook_<label>_*
  local target=$1 label=$2 out="$work/wrk-webhooks-$2.txt"
  psql_admin -d "$bench_db" -c "TRUNCATE webhook_events, jobs CASCADE" >/dev/null
  wrk -t2 -c"$connections" -d"${duration}s" --latency -s bench/webhooks.lua "http://127.0.0.1:$target" -- "$work/webhooks.txt" 2 >"$out"
  printf -v "webhook_${label}_rps" '%s' "$(awk '/Requests\/sec/ {print $2}' "$out")"
  printf -v "webhook_${label}_p50" '%s' "$(awk '$1=="50%" {print $2}' "$out")"
  printf -v "webhook_${label}_p99" '%s' "$(awk '$1=="99%" {print $2}' "$out")"
  printf -v "webhook_${label}_answers" '%s' "$(awk '$1=="webhooks_stored_answers" {print $2}' "$out")"
  printf -v "webhook_${label}_other" '%s' "$(awk '$1=="webhooks_other_answers" {print $2}' "$out")"
  printf -v "webhook_${label}_rows" '%s' "$(psql -At -h 127.0.0.1 -p "$pg_port" -U marketplace -d "$bench_db" -c "SELECT count(*) FROM webhook_events")"
  printf -v "webhook_${label}_jobs" '%s' "$(psql -At -h 127.0.0.1 -p "$pg_port" -U marketplace -d "$bench_db" -c "SELECT count(*) FROM jobs")"
}
webhook_scenario "$port" workers
ingest_port=$((port + 6))
WORKER_COUNT=0 SERVER_PORT=$ingest_port "$bin/marketplace" serve --env-file /nonexistent >"$work/server-ingest.log" 2>&1 &
ingest_pid=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$ingest_port/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
webhook_scenario "$ingest_port" ingest
kill -TERM "$ingest_pid"; wait "$ingest_pid" 2>/dev/null || true
webhook_row() {   # $1 label: the report's rows for one run
  local rps answers rows other jobs
  rps=$(eval echo "\$webhook_$1_rps"); answers=$(eval echo "\$webhook_$1_answers"); rows=$(eval echo "\$webhook_$1_rows")
  other=$(eval echo "\$webhook_$1_other"); jobs=$(eval echo "\$webhook_$1_jobs")
  echo "| accepted | $(printf '%.0f' "$rps") webhooks/s, p50 $(eval echo "\$webhook_$1_p50"), p99 $(eval echo "\$webhook_$1_p99"); pgbench single-row INSERT $(printf '%.0f' "$insert_tps") tps: $(ratio "$rps" "$insert_tps") (target ≥ 100%); \`GET /health\` $(printf '%.0f' "$health_rps") req/s: $(ratio "$rps" "$health_rps") |"
  echo "| answers 200 \"stored\" / other answers | $answers / $other |"
  # Rows may exceed answers by the requests in flight when wrk stopped reading; never the other way.
  echo "| rows in the inbox / jobs after the run | $rows / $jobs ($( [ "$rows" -ge "$answers" ] && echo "every stored answer is a row; $((rows - answers)) committed while wrk stopped reading" || echo "LOST: fewer rows than stored answers" )) |"
}

# Postgres single-row insert ceiling: pgbench, one INSERT of a webhook-sized row per transaction.
echo "==> pgbench inserts"
psql_admin -d "$bench_db" -c "CREATE TABLE IF NOT EXISTS bench_inserts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, k text UNIQUE, body text)" >/dev/null
echo "INSERT INTO bench_inserts (k, body) VALUES (md5(random()::text || clock_timestamp()::text), repeat('x', 400));" >"$work/insert.sql"
pgbench -n -h 127.0.0.1 -p "$pg_port" -U marketplace -c 20 -j 2 -T "$duration" -f "$work/insert.sql" "$bench_db" >"$work/pgbench-insert.txt" 2>&1
insert_tps=$(awk '/^tps/ {print $3; exit}' "$work/pgbench-insert.txt")

# Postgres ceiling: pgbench with the query readiness runs, over the same number of connections as the pool.
echo "==> pgbench"
echo "SELECT version, checksum FROM schema_migrations;" >"$work/ready.sql"
pgbench -n -h 127.0.0.1 -p "$pg_port" -U marketplace -c 20 -j 2 -T "$duration" -f "$work/ready.sql" "$bench_db" >"$work/pgbench.txt" 2>&1
pg_tps=$(awk '/^tps/ {print $3; exit}' "$work/pgbench.txt")

# Redis: our client (pipelined SwiftNIO connections, hiredis replies) beside redis-benchmark with the same concurrency.
echo "==> redis client vs redis-benchmark"
"$bin/marketplace-bench" redis "$REDIS_URL" "$duration" >"$work/redis.txt"
redis_ceiling() { redis-benchmark -h 127.0.0.1 -p "$redis_port" --csv -t ping_mbulk "$@" 2>/dev/null | awk -F'"' '/PING/ {printf "%.0f", $4; exit}'; }
client_1=$(awk '$1=="redis_ping_1_caller" {print $2}' "$work/redis.txt")
client_4=$(awk '$1=="redis_ping_4_callers" {print $2}' "$work/redis.txt")
client_p=$(awk '$1=="redis_ping_pipelined_100" {print $2}' "$work/redis.txt")
ceiling_1=$(redis_ceiling -c 1 -n 100000)
ceiling_4=$(redis_ceiling -c 4 -n 200000)
ceiling_p=$(redis_ceiling -c 1 -P 100 -n 2000000)

# Nango: the client paging 100,000 records out of the emulator; the emulator's start time and peak memory.
echo "==> nango client vs emulator"
nango_port=$((port + 1))
nango_key=6f1c3a52-5a0e-4b43-9a55-2b8e0d4c1e77
emulator_start_ns=$(date +%s%N)
"$bin/nango-emulator" --port "$nango_port" --secret-key "$nango_key" --webhook-secret bench-webhook-key \
  --records "${BENCH_NANGO_RECORDS:-100000}" --demo >"$work/emulator.log" 2>&1 &
emulator_pid=$!
until curl -fsS "http://127.0.0.1:$nango_port/health" >/dev/null 2>&1; do sleep 0.01; done
emulator_start_ms=$(( ($(date +%s%N) - emulator_start_ns) / 1000000 ))
emulator_rss_start=$(awk '/VmRSS/ {print $2}' "/proc/$emulator_pid/status")
"$bin/marketplace-bench" nango "http://127.0.0.1:$nango_port" "$nango_key" 1000 >"$work/nango.txt"
"$bin/marketplace-bench" nango "http://127.0.0.1:$nango_port" "$nango_key" 100 >"$work/nango100.txt"
emulator_peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$emulator_pid/status")
kill -TERM "$emulator_pid"; wait "$emulator_pid" 2>/dev/null || true
nango_records=$(awk '$1=="nango_records" {print $2}' "$work/nango.txt")
nango_rate=$(awk '$1=="nango_records_per_second" {print $2}' "$work/nango.txt")
nango_rate_100=$(awk '$1=="nango_records_per_second" {print $2}' "$work/nango100.txt")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

# Pipeline sync: a connection's records synced from the emulator through the shipped hubspot-contacts
# pipeline into Postgres (workers, pages, bulk upserts), beside COPY of the same rows into the same
# table and one INSERT ... ON CONFLICT per row, both measured here. Then the server's peak memory
# during a 1,000,000-record sync. Knobs: BENCH_SYNC_RECORDS (100000), BENCH_SYNC_LARGE (1000000; 0 skips).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # user + system time of a process, in clock ticks
action_scenario() {   # $1 port, $2 action: queues it for hubspot-contacts, waits for its run; leaves "N records/s (rows, ms)"
  local before start_ns run_ms fetched outcome
  before=$(psql -At -h 127.0.0.1 -p "$pg_port" -U marketplace -d "$bench_db" -c "SELECT coalesce(max(id), 0) FROM pipeline_runs")
  start_ns=$(date +%s%N)
  curl -fsS -X POST -H "X-Admin-Token: $bench_admin_token" "http://127.0.0.1:$1/api/admin/pipelines/hubspot-contacts/$2" >/dev/null
  until [ "$(psql -At -h 127.0.0.1 -p "$pg_port" -U marketplace -d "$bench_db" -c "SELECT count(*) FROM pipeline_runs WHERE id > $before AND outcome <> 'running'")" -ge 1 ]; do
    sleep 0.05
    kill -0 "$server_pid" 2>/dev/null || { tail -20 "$work/server-sync.log" >&2; exit 1; }
  done
  run_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
  read -r fetched outcome < <(psql -At -F' ' -h 127.0.0.1 -p "$pg_port" -U marketplace -d "$bench_db" \
    -c "SELECT GREATEST(fetched, upserted + unchanged + quarantined), outcome FROM pipeline_runs WHERE id > $before ORDER BY id LIMIT 1")
  action_figures="$(awk -v n="$fetched" -v ms="$run_ms" 'BEGIN { printf "%.0f", n * 1000 / ms }') records/s ($fetched records read in $run_ms ms, $outcome)"
}
sync_scenario() {   # $1 records per model; leaves the sync figures in sync_* and the server's peak RSS in sync_rss_kb
  local records=$1 sync_port=$((port + 2)) nango_port=$((port + 3))
  psql_admin -d "$bench_db" -c "TRUNCATE companies, webhook_events, jobs, sync_state, pipeline_runs, quarantine, scheduled_tasks CASCADE" >/dev/null
  "$bin/nango-emulator" --port "$nango_port" --secret-key "$nango_key" --webhook-secret bench-webhook-key --records "$records" \
    --webhook-url "http://127.0.0.1:$sync_port/webhooks/nango" >"$work/emulator-sync.log" 2>&1 &
  local emulator=$!
  until curl -fsS "http://127.0.0.1:$nango_port/health" >/dev/null 2>&1; do sleep 0.01; done
  NANGO_BASE_URL="http://127.0.0.1:$nango_port" NANGO_SECRET_KEY=$nango_key NANGO_WEBHOOK_SECRET=bench-webhook-key \
    SERVER_PORT=$sync_port PIPELINES_FILE=bench/pipelines-sync.yaml WORKER_COUNT=2 ADMIN_TOKEN=$bench_admin_token \
    "$bin/marketplace" serve --env-file /nonexistent >"$work/server-sync.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$sync_port/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
  local start_ns; start_ns=$(date +%s%N)
  local cpu_start; cpu_start=$(cpu_ticks "$server_pid")
  curl -fsS -X POST "http://127.0.0.1:$nango_port/_emulator/connections" -H 'content-type: application/json' \
    -d '{"provider_config_key": "hubspot", "connection_id": "bench"}' >/dev/null
  until [ "$(psql -At -h 127.0.0.1 -p "$pg_port" -U marketplace -d "$bench_db" -c "SELECT count(*) FROM sync_state WHERE last_success_at IS NOT NULL")" = "1" ]; do
    sleep 0.05
    kill -0 "$server_pid" 2>/dev/null || { tail -20 "$work/server-sync.log" >&2; exit 1; }
  done
  sync_wall_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
  read -r sync_fetched sync_written sync_quarantined sync_run_ms < <(psql -At -F' ' -h 127.0.0.1 -p "$pg_port" -U marketplace -d "$bench_db" \
    -c "SELECT fetched, upserted, quarantined, duration_ms FROM pipeline_runs ORDER BY id DESC LIMIT 1")
  sync_cpu_ms=$(( ($(cpu_ticks "$server_pid") - cpu_start) * 1000 / $(getconf CLK_TCK) ))
  # Ops' two whole-model actions on the same company, each timed from its request to the end of its run: re-derive
  # (the rows rebuilt from the raw records held, no Nango call) and a full resync (the whole stream re-read).
  action_scenario "$sync_port" rederive; sync_rederive="$action_figures"
  action_scenario "$sync_port" full-resync; sync_resync="$action_figures"
  sync_rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
  kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  kill -TERM "$emulator"; wait "$emulator" 2>/dev/null || true
}
nango_key=6f1c3a52-5a0e-4b43-9a55-2b8e0d4c1e77
bench_admin_token=bench-admin-token-0123456789
sync_records=${BENCH_SYNC_RECORDS:-100000}
echo "==> pipeline sync of $sync_records records"
sync_scenario "$sync_records"
sync_rate=$(awk -v n="$sync_fetched" -v ms="$sync_run_ms" 'BEGIN { printf "%.0f", n * 1000 / ms }')
sync_wall_rate=$(awk -v n="$sync_fetched" -v ms="$sync_wall_ms" 'BEGIN { printf "%.0f", n * 1000 / ms }')
sync_cpu_per_1000=$(awk -v ms="$sync_cpu_ms" -v n="$sync_fetched" 'BEGIN { printf "%.0f", ms * 1000 / n }'); sync_100k_cpu_ms=$sync_cpu_ms
sync_100k_rederive=$sync_rederive; sync_100k_resync=$sync_resync
sync_100k_rss_kb=$sync_rss_kb; sync_100k_wall_ms=$sync_wall_ms; sync_100k_fetched=$sync_fetched; sync_100k_written=$sync_written; sync_100k_quarantined=$sync_quarantined

# Ceilings on the rows the sync wrote: COPY into an empty copy of the table (same indexes), and one
# autocommitted INSERT ... ON CONFLICT per row from one connection, for the same duration as the others.
echo "==> COPY and per-row INSERT ceilings"
psql_admin -d "$bench_db" <<SQL >/dev/null
DROP TABLE IF EXISTS contacts_copy, contacts_naive;
CREATE TABLE contacts_copy (LIKE contacts INCLUDING ALL);
CREATE TABLE contacts_naive (LIKE contacts INCLUDING ALL);
\copy (SELECT * FROM contacts) TO '$work/contacts.csv' WITH (FORMAT csv)
SQL
copy_start=$(date +%s%N)
psql_admin -d "$bench_db" -c "\copy contacts_copy FROM '$work/contacts.csv' WITH (FORMAT csv)" >/dev/null
copy_ms=$(( ($(date +%s%N) - copy_start) / 1000000 ))
copy_rows=$(psql -At -h 127.0.0.1 -p "$pg_port" -U marketplace -d "$bench_db" -c "SELECT count(*) FROM contacts_copy")
copy_rate=$(awk -v n="$copy_rows" -v ms="$copy_ms" 'BEGIN { printf "%.0f", n * 1000 / ms }')
cat >"$work/naive.sql" <<'SQL'
INSERT INTO contacts_naive (company_id, external_id, display_name, first_name, last_name, organization, title, email, phone, is_active,
  source_updated_at, content_hash, raw)
VALUES ('00000000-0000-0000-0000-000000000001', md5(random()::text), 'Ana Silva', 'Ana', 'Silva', 'Maple Ltd', 'CFO', 'ana.silva@maple.example',
  '+14155550199', true, now(), md5(random()::text), '{"id": "1", "firstName": "Ana", "lastName": "Silva", "email": "ana.silva@maple.example"}')
ON CONFLICT (company_id, external_id) DO UPDATE SET display_name = EXCLUDED.display_name, email = EXCLUDED.email, raw = EXCLUDED.raw,
  content_hash = EXCLUDED.content_hash, updated_at = now();
SQL
pgbench -n -h 127.0.0.1 -p "$pg_port" -U marketplace -c 1 -j 1 -T "$duration" -f "$work/naive.sql" "$bench_db" >"$work/pgbench-naive.txt" 2>&1
naive_rate=$(awk '/^tps/ {printf "%.0f", $3; exit}' "$work/pgbench-naive.txt")
sync_ceiling=$(awk -v a="$copy_rate" -v b="$nango_rate" 'BEGIN { printf "%.0f", (a < b ? a : b) }')

sync_large=${BENCH_SYNC_LARGE:-1000000}
if [ "$sync_large" -gt 0 ]; then
  echo "==> pipeline sync of $sync_large records (peak memory)"
  sync_scenario "$sync_large"
  sync_large_rate=$(awk -v n="$sync_fetched" -v ms="$sync_run_ms" 'BEGIN { printf "%.0f", n * 1000 / ms }')
fi

# Reads: the contacts the syncs left (1,000,000 rows when BENCH_SYNC_LARGE ran), through the API.
echo "==> API reads"
read_port=$((port + 4))
NANGO_BASE_URL=http://127.0.0.1:9 SERVER_PORT=$read_port WORKER_COUNT=0 \
  "$bin/marketplace" serve --env-file /nonexistent >"$work/server-read.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$read_port/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
api_token=$("$bin/marketplace-bench" token "$JWT_SECRET")
company=$(psql -At -h 127.0.0.1 -p "$pg_port" -U marketplace -d "$bench_db" -c "SELECT company_id FROM contacts GROUP BY company_id ORDER BY count(*) DESC LIMIT 1")
read_rows=$(psql -At -h 127.0.0.1 -p "$pg_port" -U marketplace -d "$bench_db" -c "SELECT count(*) FROM contacts WHERE company_id = '$company'")
contacts_path="/api/companies/$company/contacts"
cached_bytes=$(curl -fsS -o /dev/null -w '%{size_download}' -H "Authorization: Bearer $api_token" "http://127.0.0.1:$read_port$contacts_path?limit=50")   # warms the cache
wrk -t2 -c"$connections" -d"${duration}s" --latency -H "Authorization: Bearer $api_token" "http://127.0.0.1:$read_port$contacts_path?limit=50" >"$work/wrk-read.txt"
cached_rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk-read.txt")
cached_p50=$(awk '$1=="50%" {print $2}' "$work/wrk-read.txt"); cached_p99=$(awk '$1=="99%" {print $2}' "$work/wrk-read.txt")
# Uncached: 200 distinct pages (a different limit each, so every one misses), one at a time.
for limit in $(seq 101 300); do
  curl -fsS -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $api_token" "http://127.0.0.1:$read_port$contacts_path?limit=$limit&sort=name"
done | sort -n >"$work/uncached.txt"
uncached_p50=$(awk '{a[NR]=$1} END {printf "%.1f ms", a[int(NR*0.5)]*1000}' "$work/uncached.txt")
uncached_p99=$(awk '{a[NR]=$1} END {printf "%.1f ms", a[int(NR*0.99)]*1000}' "$work/uncached.txt")
# Deep pages: walk the whole table 500 rows at a time by name (each cursor is new, so nothing is cached),
# and compare the last tenth of the pages with the first page.
cursor=""; page=0; : >"$work/walk.txt"
while :; do
  url="http://127.0.0.1:$read_port$contacts_path?limit=500&sort=name${cursor:+&cursor=$cursor}"
  curl -fsS -o "$work/page.json" -w '%{time_total}\n' -H "Authorization: Bearer $api_token" "$url" >>"$work/walk.txt"
  cursor=$(python3 -c 'import json,sys,urllib.parse; c=json.load(open(sys.argv[1]))["next_cursor"]; print(urllib.parse.quote(c, safe="") if c else "")' "$work/page.json")
  page=$((page + 1))
  [ -z "$cursor" ] && break
done
first_page_ms=$(awk 'NR==1 {printf "%.1f", $1*1000}' "$work/walk.txt")
deep_page_ms=$(awk -v n="$page" 'NR > n*0.9' "$work/walk.txt" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]*1000}')
kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

# Console pages on a 100,000-event inbox (topped up with stored sync webhooks when the runs above left fewer): each
# page 20 times, one client, signed in as admin. The deep events page starts 99,950 events down (a keyset cursor).
echo "==> console pages"
psql -q -h 127.0.0.1 -p "$pg_port" -U marketplace -d "$bench_db" -v ON_ERROR_STOP=1 -c "
  INSERT INTO webhook_events (type, operation, success, connection_id, integration_id, model, dedupe_key, raw_body, status, received_at)
  SELECT 'sync', 'INCREMENTAL', true, 'bench-' || (g % 64), 'hubspot', 'Contact', 'bench-console-' || g,
         '{\"type\":\"sync\",\"connectionId\":\"bench-' || (g % 64) || '\",\"n\":' || g || '}', 'processed',
         now() - make_interval(secs => g)
  FROM generate_series(1, GREATEST(0, 100000 - (SELECT count(*) FROM webhook_events))) g"
console_events=$(psql -At -h 127.0.0.1 -p "$pg_port" -U marketplace -d "$bench_db" -c "SELECT count(*) FROM webhook_events")
deep_cursor=$(psql -At -h 127.0.0.1 -p "$pg_port" -U marketplace -d "$bench_db" -c "
  SELECT (extract(epoch FROM received_at) * 1000000)::bigint || '_' || id FROM webhook_events ORDER BY received_at DESC, id DESC OFFSET 99950 LIMIT 1")
console_port=$((port + 5))
ADMIN_TOKEN=bench-admin-token-0123456789 NANGO_BASE_URL=http://127.0.0.1:9 SERVER_PORT=$console_port WORKER_COUNT=0 \
  "$bin/marketplace" serve --env-file /nonexistent >"$work/server-console.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$console_port/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS -c "$work/console.jar" -o /dev/null -d "token=bench-admin-token-0123456789" "http://127.0.0.1:$console_port/console/sign-in"
console_rows=()
console_page() {   # $1 label, $2 path: p50 and max of 20 fetches
  local times
  times=$(for _ in $(seq 1 20); do
    curl -fsS -b "$work/console.jar" -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$console_port$2"
  done | sort -n)
  console_rows+=("| $1 | \`$2\` | $(echo "$times" | awk '{a[NR]=$1} END {printf "%.1f ms", a[int((NR+1)/2)]*1000}') | $(echo "$times" | tail -1 | awk '{printf "%.1f ms", $1*1000}') |")
}
console_page "overview" "/console"
console_page "events, first page" "/console/events"
console_page "events, 99,950 down" "/console/events?before=$deep_cursor"
console_page "events of one connection" "/console/events?integration_id=hubspot&connection_id=bench-7"
console_page "failed events (none)" "/console/events?status=failed"
console_page "jobs" "/console/jobs"
console_page "companies" "/console/companies"
console_page "quarantine" "/console/quarantine"
console_page "pipelines" "/console/pipelines"
console_page "tokens" "/console/tokens"
kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

{
  echo "# Benchmark report"
  echo
  echo "- when: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
  echo "- load: wrk -t2 -c$connections -d${duration}s on the same machine (it shares the cores with the server); release build; LOG_LEVEL=$LOG_LEVEL (access log lines written)"
  echo "- rate limits raised to $bench_limit requests a window (RATE_LIMIT, AUTH_, PUBLIC_, WEBHOOK_FAILURE_, CONSOLE_SIGNIN_RATE_LIMIT_REQUESTS): the figures measure the work, not the limiter's refusals"
  echo
  echo "## Targets (each figure beside its ceiling from this run)"
  echo
  echo "| path | figure | ceiling | share | target |"
  echo "|---|---|---|---|---|"
  echo "| service \`GET /health\` vs bare Hummingbird | $(printf '%.0f' "$health_rps") req/s | $(printf '%.0f' "$bare_rps") req/s | $(ratio "$health_rps" "$bare_rps") | ≥ 85% |"
  echo "| webhooks stored, ingest alone (\`WORKER_COUNT=0\`), vs pgbench single-row INSERT | $(printf '%.0f' "$webhook_ingest_rps")/s | $(printf '%.0f' "$insert_tps") tps | $(ratio "$webhook_ingest_rps" "$insert_tps") | ≥ 100% |"
  echo "| webhooks stored, workers on, vs pgbench single-row INSERT | $(printf '%.0f' "$webhook_workers_rps")/s | $(printf '%.0f' "$insert_tps") tps | $(ratio "$webhook_workers_rps" "$insert_tps") | ≥ 100% |"
  echo "| cached contacts page (50 items) vs service \`GET /health\` | $(printf '%.0f' "$cached_rps") req/s | $(printf '%.0f' "$health_rps") req/s | $(ratio "$cached_rps" "$health_rps") | ≥ 60% |"
  echo "| sync vs the lower of \`COPY\` ($copy_rate rows/s) and the emulator's paging alone ($nango_rate records/s) | $sync_rate records/s | $sync_ceiling records/s | $(ratio "$sync_rate" "$sync_ceiling") | ≥ 75% |"
  echo "| server CPU per 1,000 records synced | $sync_cpu_per_1000 ms | — | — | halved |"
  echo "| re-derive, $sync_records records (no Nango call) | $sync_100k_rederive | sync: $sync_rate records/s | — | records/s beside the sync's |"
  echo "| full resync (re-read), $sync_records records | $sync_100k_resync | sync: $sync_rate records/s | — | records/s beside the sync's |"
  echo "| deep keyset page vs first page | $deep_page_ms ms | $first_page_ms ms | $(awk -v a="$deep_page_ms" -v b="$first_page_ms" 'BEGIN { printf "%.1f×", a / b }') | ≤ 1.5× |"
  if [ "$sync_large" -gt 0 ]; then
    echo "| server peak RSS, $sync_large-record sync | $((sync_rss_kb / 1024)) MiB | — | — | < 100 MiB |"
  else
    echo "| server peak RSS, $sync_records-record sync (the 1,000,000-record run skipped: BENCH_SYNC_LARGE=0) | $((sync_100k_rss_kb / 1024)) MiB | — | — | < 100 MiB |"
  fi
  echo
  echo "## HTTP"
  echo
  echo "| scenario | request | throughput | p50 | p99 | non-2xx | what it does |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "## Against ceilings measured in this run"
  echo
  echo "| scenario | figure | ceiling | ceiling figure | share |"
  echo "|---|---|---|---|---|"
  echo "| \`GET /health\` (our middleware) | $(printf '%.0f' "$health_rps") req/s | bare Hummingbird, one route | $(printf '%.0f' "$bare_rps") req/s | $(ratio "$health_rps" "$bare_rps") (target ≥ 85%) |"
  echo "| \`GET /health/live\` | $(printf '%.0f' "$live_rps") req/s | \`GET /health\` (same stack) | $(printf '%.0f' "$health_rps") req/s | $(ratio "$live_rps" "$health_rps") |"
  echo "| \`GET /health/ready\` | $(printf '%.0f' "$ready_rps") req/s | pgbench, same query, 20 connections | $(printf '%.0f' "$pg_tps") tps | $(ratio "$ready_rps" "$pg_tps") |"
  echo "| \`GET /health/ready\` | $(printf '%.0f' "$ready_rps") req/s | \`GET /health\` (no I/O) | $(printf '%.0f' "$health_rps") req/s | $(ratio "$ready_rps" "$health_rps") |"
  echo "| Redis client PING, 1 caller | $client_1 ops/s | redis-benchmark -c 1 | $ceiling_1 ops/s | $(ratio "$client_1" "$ceiling_1") |"
  echo "| Redis client PING, 4 callers (sharing pipelined connections) | $client_4 ops/s | redis-benchmark -c 4 | $ceiling_4 ops/s | $(ratio "$client_4" "$ceiling_4") |"
  echo "| Redis client, pipelines of 100 PINGs | $client_p ops/s | redis-benchmark -P 100 | $ceiling_p ops/s | $(ratio "$client_p" "$ceiling_p") |"
  echo
  echo "## Webhook intake (\`POST /webhooks/nango\`, signed distinct sync webhooks)"
  echo
  echo "Ingest alone (\`WORKER_COUNT=0\`):"
  echo
  echo "| figure | value |"
  echo "|---|---|"
  webhook_row ingest
  echo
  echo "With the workers on (each stored webhook queues or joins its key's sync job; the workers run them against an unreachable Nango):"
  echo
  echo "| figure | value |"
  echo "|---|---|"
  webhook_row workers
  echo
  echo "## Nango client and emulator"
  echo
  echo "| scenario | figure |"
  echo "|---|---|"
  echo "| client pages $nango_records records out of the emulator, 1,000 per page | $nango_rate records/s |"
  echo "| the same with Nango's default page size (100) | $nango_rate_100 records/s |"
  echo "| emulator start (process spawn to first answer, ${BENCH_NANGO_RECORDS:-100000} records per model, 4 demo connections) | ${emulator_start_ms} ms |"
  echo "| emulator memory: at start / peak after serving both runs | $((emulator_rss_start / 1024)) MiB / $((emulator_peak_kb / 1024)) MiB |"
  echo
  echo "## Pipeline sync (emulator → hubspot-contacts pipeline → \`contacts\`)"
  echo
  echo "| figure | value |"
  echo "|---|---|"
  echo "| records synced (fetched / written / quarantined) | $sync_100k_fetched / $sync_100k_written / $sync_100k_quarantined |"
  echo "| sync rate (pipeline run: fetch, stages, upsert, checkpoint) | $sync_rate records/s |"
  echo "| end to end (auth webhook to last checkpoint) | $sync_wall_rate records/s ($sync_100k_wall_ms ms) |"
  echo "| ceiling: \`COPY\` of the same rows into the same table | $copy_rate rows/s ($copy_rows rows in $copy_ms ms); sync is $(ratio "$sync_rate" "$copy_rate") |"
  echo "| ceiling: the client paging the emulator alone (no stages, no Postgres) | $nango_rate records/s; sync is $(ratio "$sync_rate" "$nango_rate") |"
  echo "| sync against the lower of the two | $(ratio "$sync_rate" "$sync_ceiling") of $sync_ceiling records/s (target ≥ 75%) |"
  echo "| server CPU time (user + system, \`/proc\`) per 1,000 records synced | $sync_cpu_per_1000 ms ($sync_100k_cpu_ms ms for $sync_100k_fetched records) |"
  echo "| re-derive of the same company (rows rebuilt from the raw records held, no Nango call) | $sync_100k_rederive |"
  echo "| full resync of the same company (the whole stream re-read, what Nango no longer holds soft-deleted) | $sync_100k_resync |"
  echo "| naive: one \`INSERT … ON CONFLICT\` per row | $naive_rate rows/s; sync is $(awk -v a="$sync_rate" -v b="$naive_rate" 'BEGIN { printf "%.1f×", a / b }') (target ≥ 10×) |"
  echo "| server peak RSS, $sync_records-record sync, its re-derive and full resync | $((sync_100k_rss_kb / 1024)) MiB |"
  if [ "$sync_large" -gt 0 ]; then
    echo "| server peak RSS, $sync_large-record sync, its re-derive and full resync | $((sync_rss_kb / 1024)) MiB (target < 100 MiB), at $sync_large_rate records/s; re-derive $sync_rederive; full resync $sync_resync |"
  fi
  echo
  echo "## API reads (\`GET /api/companies/{id}/contacts\`, $read_rows rows for the company)"
  echo
  echo "| figure | value |"
  echo "|---|---|"
  echo "| cached page (limit 50, $(printf '%.0f' "$cached_bytes") bytes), $connections connections | $(printf '%.0f' "$cached_rps") req/s, p50 $cached_p50, p99 $cached_p99; \`GET /health\` ceiling $(printf '%.0f' "$health_rps") req/s: $(ratio "$cached_rps" "$health_rps") (target ≥ 60%); \`GET /openapi.json\` (static 67 KB, no I/O) $(printf '%.0f' "$static_rps") req/s: $(ratio "$cached_rps" "$static_rps"); bare Hummingbird $(printf '%.0f' "$bare_rps") req/s: $(ratio "$cached_rps" "$bare_rps") |"
  echo "| uncached page (limit 101–300 by name), one client | p50 $uncached_p50, p99 $uncached_p99 |"
  echo "| keyset walk by name, 500 per page, $page pages | first page $first_page_ms ms, median of the last tenth $deep_page_ms ms ($(awk -v a="$deep_page_ms" -v b="$first_page_ms" 'BEGIN { printf "%.1f×", a / b }'); target within 2×) |"
  echo
  echo "## Console pages ($console_events events in the inbox; target: every page under 300 ms)"
  echo
  echo "| page | request | p50 of 20 | slowest of 20 |"
  echo "|---|---|---|---|"
  printf '%s\n' "${console_rows[@]}"
  echo
  echo "## Other figures"
  echo
  echo "- migrations on an empty database (\`marketplace migrate\`, process start included): ${migrate_ms} ms"
  echo "- server peak RSS after the run: $((rss_kb / 1024)) MiB"
} >"$report"
cat "$report"
