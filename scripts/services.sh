#!/usr/bin/env bash
# Starts and stops the project's own PostgreSQL 15 and Redis 7: data under .data/, loopback only,
# on ports of their own so they never clash with a system cluster.
#   scripts/services.sh start|stop|status|env
# Ports: PG_PORT (default 55432), REDIS_PORT (default 56379). Data: DATA_DIR (default ./.data).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data_dir=${DATA_DIR:-$root/.data}
pg_port=${PG_PORT:-55432}
redis_port=${REDIS_PORT:-56379}
pg_user=marketplace
pg_password=marketplace
pg_database=marketplace

log() { echo "==> $*"; }
die() { echo "error: $*" >&2; exit 1; }

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
  done
  die "PostgreSQL server binaries not found: run scripts/install-deps.sh"
}

# PostgreSQL refuses to run as root, so as root it runs as the `postgres` system user.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The postgres user must be able to reach its data folder; a checkout under a private home
# (e.g. /root) is not reachable, so the cluster then lives under /var/tmp with a link in .data/.
pg_home() {
  local wanted="$data_dir/postgres"
  if [ "$(id -u)" -ne 0 ] || runuser -u postgres -- test -x "$data_dir" 2>/dev/null; then
    echo "$wanted"; return
  fi
  local hash
  hash=$(echo -n "$data_dir" | sha1sum | cut -c1-12)
  echo "/var/tmp/marketplace-postgres-$hash"
}

pg_ready() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$pg_port" >/dev/null 2>&1; }

pg_init() {
  local home=$1 bin
  bin=$(pg_bin)
  mkdir -p "$home"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$home"
  chmod 700 "$home"
  if [ "$home" != "$data_dir/postgres" ]; then ln -sfn "$home" "$data_dir/postgres"; fi
  as_pg mkdir -p "$home/run"
  if [ ! -f "$home/data/PG_VERSION" ]; then
    log "initialising PostgreSQL cluster in $home/data"
    local pwfile="$home/run/pwfile"
    as_pg sh -c "echo postgres > '$pwfile'"
    as_pg "$bin/initdb" -D "$home/data" -U postgres --pwfile="$pwfile" --auth-local=trust \
      --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$home/initdb.log" 2>&1 \
      || { cat "$home/initdb.log" >&2; die "initdb failed"; }
    as_pg rm -f "$pwfile"
    as_pg sh -c "cat >> '$home/data/postgresql.conf'" <<CONF
# marketplace: project-local development cluster
listen_addresses = '127.0.0.1'
max_connections = 300
shared_buffers = 256MB
unix_socket_directories = '$home/run'
CONF
    touch "$home/.needs-bootstrap"
  fi
}

# A crash leaves postmaster.pid behind; when the process it names is not a live postgres, remove it.
pg_clear_stale_pid() {
  local home=$1 pidfile="$1/data/postmaster.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(head -n1 "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q postgres "/proc/$pid/comm" 2>/dev/null; then
    return 0
  fi
  log "removing stale PostgreSQL pid file (pid ${pid:-?} is not running)"
  rm -f "$pidfile" "$home/run/.s.PGSQL.$pg_port" "$home/run/.s.PGSQL.$pg_port.lock"
}

pg_start() {
  local home bin
  home=$(pg_home); bin=$(pg_bin)
  if pg_ready; then log "PostgreSQL already running on 127.0.0.1:$pg_port"; return; fi
  pg_init "$home"
  pg_clear_stale_pid "$home"
  log "starting PostgreSQL on 127.0.0.1:$pg_port"
  as_pg "$bin/pg_ctl" -D "$home/data" -l "$home/postgres.log" -w -t 60 \
    -o "-p $pg_port -k $home/run" start >/dev/null \
    || { tail -n 20 "$home/postgres.log" >&2; die "PostgreSQL did not start (log: $home/postgres.log)"; }
  if [ -f "$home/.needs-bootstrap" ]; then
    as_pg "$bin/psql" -q -h "$home/run" -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 <<SQL
CREATE ROLE $pg_user LOGIN CREATEDB PASSWORD '$pg_password';
CREATE DATABASE $pg_database OWNER $pg_user;
SQL
    rm -f "$home/.needs-bootstrap"
  fi
  # Lets tests drop their databases WITH (FORCE) even while autovacuum works in them.
  as_pg "$bin/psql" -q -h "$home/run" -p "$pg_port" -U postgres -d postgres -c "GRANT pg_signal_backend TO $pg_user" >/dev/null 2>&1 || true
}

pg_stop() {
  local home bin
  home=$(pg_home); bin=$(pg_bin)
  if [ -f "$home/data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$home/data" status >/dev/null 2>&1; then
    log "stopping PostgreSQL"
    as_pg "$bin/pg_ctl" -D "$home/data" -m fast -w -t 60 stop >/dev/null
  else
    log "PostgreSQL not running"
  fi
}

redis_ready() { redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG; }

redis_start() {
  local dir="$data_dir/redis"
  if redis_ready; then log "Redis already running on 127.0.0.1:$redis_port"; return; fi
  command -v redis-server >/dev/null || die "redis-server not found: run scripts/install-deps.sh"
  mkdir -p "$dir"
  if [ -f "$dir/redis.pid" ] && ! kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
    log "removing stale Redis pid file"; rm -f "$dir/redis.pid"
  fi
  log "starting Redis on 127.0.0.1:$redis_port"
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$dir" --pidfile "$dir/redis.pid" \
    --logfile "$dir/redis.log" --daemonize yes --save '' --appendonly no >/dev/null
  for _ in $(seq 1 50); do redis_ready && return; sleep 0.1; done
  tail -n 20 "$dir/redis.log" >&2; die "Redis did not start (log: $dir/redis.log)"
}

redis_stop() {
  if redis_ready; then
    log "stopping Redis"
    redis-cli -h 127.0.0.1 -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do redis_ready || break; sleep 0.1; done
  else
    log "Redis not running"
  fi
  rm -f "$data_dir/redis/redis.pid"
}

print_env() {
  echo "DATABASE_URL=postgres://$pg_user:$pg_password@127.0.0.1:$pg_port/$pg_database"
  echo "REDIS_URL=redis://127.0.0.1:$redis_port"
}

case "${1:-}" in
  start) mkdir -p "$data_dir"; pg_start; redis_start ;;
  stop) pg_stop; redis_stop ;;
  status)
    pg_ready && echo "postgres: up (127.0.0.1:$pg_port)" || echo "postgres: down"
    redis_ready && echo "redis: up (127.0.0.1:$redis_port)" || echo "redis: down" ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
