#!/usr/bin/env bash
# Run a private Redis on 127.0.0.1 for the gateway's shared rate limits (local
# stack and integration tests). Installs Debian's `redis-server` when missing.
# Counters only: nothing is persisted, a restart simply starts every window afresh.
#
#   deploy/local/redis/redis.sh start|stop|status|url
set -euo pipefail

port=${REDIS_PORT_MIANSHEN:-56379}
# Outside the work tree, like PostgreSQL: one server per port serves every clone.
state=${MIANSHEN_REDIS_STATE:-/var/tmp/mianshen/redis-$port}

log() { printf '[redis] %s\n' "$*" >&2; }

ensure_installed() {
  if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then return; fi
  log "installing Debian's redis-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq redis-server >/dev/null
  command -v redis-server >/dev/null || { log "redis-server install failed"; exit 1; }
}

ping() { redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; }

start() {
  ensure_installed
  if ping; then
    log "already running on 127.0.0.1:$port"
    return
  fi
  mkdir -p "$state"
  # Loopback only and protected mode on: without a password Redis then refuses
  # anything that does not come from 127.0.0.1. No RDB snapshots, no AOF.
  redis-server \
    --bind 127.0.0.1 --port "$port" --protected-mode yes \
    --dir "$state" --save "" --appendonly no \
    --daemonize yes --pidfile "$state/redis.pid" --logfile "$state/server.log" \
    --maxmemory 64mb --maxmemory-policy volatile-ttl
  local _
  for _ in $(seq 1 50); do
    ping && { log "up on 127.0.0.1:$port"; return; }
    sleep 0.1
  done
  log "did not answer on 127.0.0.1:$port; see $state/server.log"
  exit 1
}

stop() {
  if ! command -v redis-cli >/dev/null || ! ping; then
    log "not running"
    return
  fi
  redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
  log "stopped"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) if ping; then echo "running on 127.0.0.1:$port"; else echo "not running"; exit 3; fi ;;
  url) echo "redis://127.0.0.1:$port/0" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
