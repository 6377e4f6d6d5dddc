#!/usr/bin/env bash
# Provision and run a single-node Apache Kafka (KRaft) broker on loopback.
#
#   deploy/local/kafka/kafka.sh start|stop|status|bootstrap
#
# The broker's jars are resolved once from Maven Central with the pom beside this
# script and cached under $MIANSHEN_CACHE (default ~/.cache/mianshen), so a second
# start, or a fresh clone on the same machine, does not download again.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
cache=${MIANSHEN_CACHE:-$HOME/.cache/mianshen}
libs="$cache/kafka-$kafka_version/libs"
state=${MIANSHEN_STATE:-$repo/.local}/kafka
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-9093}
pidfile="$state/broker.pid"

log() { printf '[kafka] %s\n' "$*" >&2; }

pick_java() {
  # Kafka 4.x brokers run on Java 17+; prefer the machine default.
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then echo "$JAVA_HOME/bin/java"; return; fi
  command -v java >/dev/null && { command -v java; return; }
  for j in /usr/lib/jvm/*/bin/java; do [ -x "$j" ] && { echo "$j"; return; }; done
  log "no Java runtime found (install openjdk-17-jre-headless)"; exit 1
}

resolve_jars() {
  if [ -f "$libs/.complete" ]; then return; fi
  command -v mvn >/dev/null || { log "Maven is required once to resolve Kafka jars (apt-get install maven)"; exit 1; }
  log "resolving org.apache.kafka:kafka_2.13:$kafka_version from Maven Central into $libs"
  rm -rf "$libs"; mkdir -p "$libs"
  mkdir -p "$state/logs"
  if ! mvn -B -f "$here/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$libs" -DincludeScope=runtime >"$state/logs/resolve.log" 2>&1; then
    tail -n 30 "$state/logs/resolve.log" >&2
    log "resolving Kafka failed; full log: $state/logs/resolve.log"
    exit 1
  fi
  touch "$libs/.complete"
}

is_up() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

write_config() {
  mkdir -p "$state/data" "$state/logs"
  cat > "$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$state/data
# One node: every internal topic has a single replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
# Topics are declared by the platform (mianshen_shared.topics), never created by accident.
auto.create.topics.enable=false
num.partitions=6
group.initial.rebalance.delay.ms=0
log.retention.hours=168
PROPS
}

start() {
  if pid=$(running_pid); then log "already running (pid $pid) on 127.0.0.1:$port"; return; fi
  if is_up; then log "port $port is already served by another process; using it"; return; fi
  resolve_jars
  write_config
  local java; java=$(pick_java)
  local cp="$libs/*"
  if [ ! -f "$state/data/meta.properties" ]; then
    local cluster_id
    cluster_id=$("$java" -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
    log "formatting storage (cluster $cluster_id)"
    "$java" -Dkafka.logs.dir="$state/logs" -Dlog4j2.configurationFile="$here/log4j2.properties" \
      -cp "$cp" kafka.tools.StorageTool format --standalone -t "$cluster_id" \
      -c "$state/server.properties" >"$state/logs/format.log" 2>&1 \
      || { cat "$state/logs/format.log" >&2; exit 1; }
  fi
  log "starting broker on 127.0.0.1:$port"
  # Its own session: the broker outlives the shell (or CI step) that started it.
  setsid nohup "$java" -Xms256m -Xmx${KAFKA_HEAP:-768m} -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$state/logs" -Dlog4j2.configurationFile="$here/log4j2.properties" \
    -cp "$cp" kafka.Kafka "$state/server.properties" >"$state/logs/stdout.log" 2>&1 &
  echo $! > "$pidfile"
  # A broker with many partitions on disk takes a while to load them.
  for _ in $(seq 1 360); do
    if is_up; then log "up (pid $(cat "$pidfile"))"; return; fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { log "broker exited:"; tail -n 40 "$state/logs/stdout.log" "$state/logs/server.log" >&2 || true; exit 1; }
    sleep 0.5
  done
  log "broker did not open port $port within 180 s"; exit 1
}

stop() {
  if pid=$(running_pid); then
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"; log "stopped"
  else
    log "not running"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) if is_up; then echo "up 127.0.0.1:$port"; else echo "down"; exit 1; fi ;;
  bootstrap) echo "127.0.0.1:$port" ;;
  resolve) resolve_jars ;;
  # Kafka's own consumer-group tool, e.g. to replay a topic for one service:
  #   kafka.sh groups --describe --group eligibility
  #   kafka.sh groups --reset-offsets --group eligibility --topic mjx.department-records.v1 \
  #     --to-datetime 2026-11-25T00:00:00.000 --execute      (stop the service first)
  groups)
    shift
    java=$(pick_java)
    exec "$java" -Dkafka.logs.dir="$state/logs" -Dlog4j2.configurationFile="$here/log4j2.properties" -cp "$libs/*" \
      org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "127.0.0.1:$port" "$@" ;;
  *) echo "usage: $0 start|stop|restart|status|bootstrap|resolve|groups ARGS" >&2; exit 2 ;;
esac
