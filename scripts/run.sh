#!/usr/bin/env bash
# `make run`: build, migrate, start the Nango emulator (when built) and the server, print where to look.
# Ctrl-C stops everything gracefully; Postgres and Redis keep running (`make services-down` stops them).
set -euo pipefail
cd "$(dirname "$0")/.."

configuration=${CONFIGURATION:-debug}
if [ ! -f .env ]; then
  cp .env.example .env
  echo "==> created .env from .env.example (local development values)"
fi
set -a; source .env; set +a
port=${SERVER_PORT:-8080}
# Webhook receivers on this machine are on loopback, over http.
export OUTBOUND_ALLOW_HTTP=${OUTBOUND_ALLOW_HTTP:-true} OUTBOUND_ALLOW_PRIVATE_NETWORKS=${OUTBOUND_ALLOW_PRIVATE_NETWORKS:-true}

echo "==> building ($configuration)"
swift build -c "$configuration"
bin=$(swift build -c "$configuration" --show-bin-path)

echo "==> migrating"
"$bin/marketplace" migrate

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "==> stopped"
}
trap cleanup EXIT INT TERM

mkdir -p .data/logs
nango_url=${NANGO_BASE_URL:-http://127.0.0.1:3003}
case "$nango_url" in
  http://127.0.0.1:*|http://localhost:*)
    # Local Nango: the emulator, with one demo connection per shipped integration.
    emulator_port=$(echo "$nango_url" | sed -E 's#^http://[^:]+:([0-9]+).*#\1#')
    "$bin/nango-emulator" --port "$emulator_port" --secret-key "$NANGO_SECRET_KEY" \
      --webhook-secret "${NANGO_WEBHOOK_SECRET:-$NANGO_SECRET_KEY}" --records "${EMULATOR_RECORDS:-200}" \
      --webhook-url "http://127.0.0.1:$port/webhooks/nango" --demo >.data/logs/nango-emulator.log 2>&1 &
    pids+=($!)
    emulator_line="$nango_url   (control API: $nango_url/_emulator/state, connect: POST $nango_url/connect/sessions; log: .data/logs/nango-emulator.log)"
    ;;
  *) emulator_line="not started: NANGO_BASE_URL points at $nango_url" ;;
esac

# Process substitution, not a pipe: $! must be the server itself so Ctrl-C reaches it as SIGTERM.
"$bin/marketplace" serve > >(tee .data/logs/marketplace.log) 2>&1 &
pids+=($!)

for _ in $(seq 1 150); do
  curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null || { echo "error: server not ready; see .data/logs/marketplace.log" >&2; exit 1; }

# Demo data: the emulator's demo connections were made outside the connect flow, so an admin imports them
# (a company token goes only to the browser that finished a connect flow, or through the admin), then syncs them.
demo_line=""
if [ -n "${emulator_port:-}" ]; then
  for integration in quickbooks xero hubspot salesforce; do
    answer=$(curl -fsS -X POST "http://127.0.0.1:$port/api/admin/connections/import" -H 'content-type: application/json' \
      -H "X-Admin-Token: ${ADMIN_TOKEN:-}" \
      -d "{\"connection_id\": \"demo-$integration\", \"integration_id\": \"$integration\"}" || true)
    company=$(printf '%s' "$answer" | python3 -c 'import json,sys; print(json.load(sys.stdin)["company"]["id"])' 2>/dev/null || true)
    token=$(printf '%s' "$answer" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' 2>/dev/null || true)
    [ -n "$company" ] && curl -fsS -X POST "http://127.0.0.1:$port/api/companies/$company/sync" -H "Authorization: Bearer $token" >/dev/null || true
    if [ "$integration" = hubspot ] && [ -n "$company" ]; then
      demo_line="curl -H 'Authorization: Bearer $token' http://127.0.0.1:$port/api/companies/$company/contacts?limit=5"
    fi
  done
fi

cat <<INFO

  marketplace is running
    API              http://127.0.0.1:$port/api
    Health           http://127.0.0.1:$port/health/ready   http://127.0.0.1:$port/health/detailed
    Metrics          http://127.0.0.1:$port/metrics
    Console          http://127.0.0.1:$port/console   (sign in with ADMIN_TOKEN from .env: ${ADMIN_TOKEN:-(unset: the console is closed)}${CONSOLE_VIEWER_TOKEN:+; read-only: $CONSOLE_VIEWER_TOKEN})
    Nango            $emulator_line
    Postgres         127.0.0.1:${PG_PORT:-55432} (database marketplace; make services-down stops it)
    Redis            127.0.0.1:${REDIS_PORT:-56379}
    Logs             .data/logs/marketplace.log
  Demo data (four demo connections, syncing now; a HubSpot company token, valid for an hour):
    ${demo_line:-none (NANGO_BASE_URL is not the local emulator)}
  Admin: curl -H 'X-Admin-Token: ${ADMIN_TOKEN:-<unset>}' http://127.0.0.1:$port/api/admin/pipelines
  Ctrl-C to stop.

INFO
wait "${pids[-1]}"
