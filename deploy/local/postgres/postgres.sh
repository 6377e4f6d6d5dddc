#!/usr/bin/env bash
# Run a private PostgreSQL cluster on 127.0.0.1 for integration tests and the
# PostgreSQL flavour of the local stack. Installs Debian's `postgresql` when the
# server binaries are missing. One database per service is created on start.
#
#   deploy/local/postgres/postgres.sh start|stop|status|url SERVICE
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Outside the work tree: the server runs as `postgres`, which may not be able to
# enter a clone under /root. One cluster per port serves every clone on the machine.
port=${PGPORT_MIANSHEN:-55432}
state=${MIANSHEN_PG_STATE:-/var/tmp/mianshen/postgres-$port}
databases=(policy_catalog eligibility confirmation payment credit_check)

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
log() { printf '[postgres] %s\n' "$*" >&2; }

find_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

ensure_installed() {
  if find_bindir >/dev/null; then return; fi
  log "installing Debian's postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
  find_bindir >/dev/null || { log "postgresql install failed"; exit 1; }
}

# PostgreSQL refuses to run as root; use the `postgres` account the package creates.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  ensure_installed
  local bin; bin=$(find_bindir)
  mkdir -p "$state"
  if [ ! -f "$state/data/PG_VERSION" ]; then
    log "initialising cluster in $state/data"
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
      chown -R postgres "$state"
    fi
    as_pg "$bin/initdb" -D "$state/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$state/initdb.log"
    # Local and CI only: trust on loopback, never exposed beyond 127.0.0.1.
    cat >> "$state/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$state'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
CONF
  fi
  if as_pg "$bin/pg_ctl" -D "$state/data" status >/dev/null 2>&1 || port_open; then
    log "already running on 127.0.0.1:$port"
  else
    as_pg "$bin/pg_ctl" -D "$state/data" -l "$state/server.log" -w -t 60 start >/dev/null
    log "up on 127.0.0.1:$port"
  fi
  local db
  for db in "${databases[@]}" "${EXTRA_DATABASES[@]+"${EXTRA_DATABASES[@]}"}"; do
    as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 \
      || as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
  done
}

stop() {
  local bin; bin=$(find_bindir) || { log "not installed"; return; }
  as_pg "$bin/pg_ctl" -D "$state/data" -m fast stop >/dev/null 2>&1 && log "stopped" || log "not running"
}

# Fault tests: `crash-restart` stops without a checkpoint (like a power cut) and
# starts again, so the server runs crash recovery from the WAL.
crash_restart() {
  local bin; bin=$(find_bindir) || { log "not installed"; exit 1; }
  as_pg "$bin/pg_ctl" -D "$state/data" -m immediate stop >/dev/null 2>&1 || true
  as_pg "$bin/pg_ctl" -D "$state/data" -l "$state/server.log" -w -t 60 start >/dev/null
  log "crash-restarted on 127.0.0.1:$port"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  crash-restart) crash_restart ;;
  status) bin=$(find_bindir) && as_pg "$bin/pg_ctl" -D "$state/data" status ;;
  url) echo "postgresql+asyncpg://postgres@127.0.0.1:$port/${2:?service database name}" ;;
  *) echo "usage: $0 start|stop|crash-restart|status|url DB" >&2; exit 2 ;;
esac
