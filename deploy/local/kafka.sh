#!/usr/bin/env bash
# Real single-node Apache Kafka broker (KRaft, combined broker + controller)
# on loopback, for local development and CI. Needs java (17+) and, for the
# first fetch only, mvn with access to Maven Central.
#
# Usage: deploy/local/kafka.sh {fetch|up|down|status|reset|help}
#
#   fetch   resolve the broker jars into the cache (no-op when cached)
#   up      fetch if needed, format storage once, start the broker in the
#           background and wait until it accepts connections (no-op if up)
#   down    stop the broker: SIGTERM, then SIGKILL after a timeout (no-op if down)
#   status  say whether the broker runs; exit 0 if it does, 3 if not
#   reset   down, then delete the broker's data (topics, offsets, cluster id)
#
# Environment (all optional):
#   SEATMETER_KAFKA_PORT             client port on 127.0.0.1 (9092)
#   SEATMETER_KAFKA_CONTROLLER_PORT  KRaft controller port (client port + 1)
#   SEATMETER_KAFKA_DIR              state dir: data, config, log, pid
#                                    (.seatmeter/kafka; relative = to repo root)
#   SEATMETER_CACHE_DIR              jar cache root (~/.cache/seatmeter); jars go
#                                    to $SEATMETER_CACHE_DIR/kafka-<version>/lib
#   SEATMETER_KAFKA_VERSION          org.apache.kafka:kafka_2.13 version (4.4.0)
#   SEATMETER_KAFKA_CLUSTER_ID       cluster id used when formatting (random)
#   SEATMETER_KAFKA_HEAP_OPTS        JVM heap flags (-Xms128m -Xmx512m)
#   SEATMETER_KAFKA_JVM_OPTS         extra JVM flags
#   SEATMETER_KAFKA_START_TIMEOUT    seconds to wait for the port (90)
#   SEATMETER_KAFKA_STOP_TIMEOUT     seconds between SIGTERM and SIGKILL (30)
#   SEATMETER_KAFKA_SECURE           1: also open secured listeners (0: PLAINTEXT
#                                    only, as CI runs it). SCRAM users are made
#                                    when the storage is formatted: use it on a
#                                    fresh state dir (or after `reset`).
#   SEATMETER_KAFKA_SASL_PORT        SASL_PLAINTEXT port (client port + 2)
#   SEATMETER_KAFKA_SASL_SSL_PORT    SASL_SSL port (client port + 3)
#   SEATMETER_KAFKA_SSL_PORT         SSL port, client certificate required
#                                    (client port + 4)
#   SEATMETER_KAFKA_SASL_USER        user for PLAIN, SCRAM-SHA-256 and
#                                    SCRAM-SHA-512 (seatmeter)
#   SEATMETER_KAFKA_SASL_PASSWORD    its password (seatmeter-secret)
#   SEATMETER_KAFKA_CLIENT_KEY_PASSWORD  password of the client's key (client-secret)
#                                    Secured mode writes a throwaway CA (ca.pem),
#                                    a broker certificate for 127.0.0.1/localhost
#                                    and a client certificate (client.pem,
#                                    client.key) to <state dir>/tls.
#   JAVA_HOME / MVN                  java to run / mvn command to fetch with
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd)

KAFKA_VERSION=${SEATMETER_KAFKA_VERSION:-4.4.0}
HOST=127.0.0.1
PORT=${SEATMETER_KAFKA_PORT:-9092}
[[ $PORT =~ ^[0-9]+$ ]] || { echo "kafka: error: SEATMETER_KAFKA_PORT must be a number, got '$PORT'" >&2; exit 1; }
CONTROLLER_PORT=${SEATMETER_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
NODE_ID=1
START_TIMEOUT=${SEATMETER_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${SEATMETER_KAFKA_STOP_TIMEOUT:-30}
HEAP_OPTS=${SEATMETER_KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
JVM_OPTS=${SEATMETER_KAFKA_JVM_OPTS:-}
SECURE=${SEATMETER_KAFKA_SECURE:-0}
SASL_PORT=${SEATMETER_KAFKA_SASL_PORT:-$((PORT + 2))}
SASL_SSL_PORT=${SEATMETER_KAFKA_SASL_SSL_PORT:-$((PORT + 3))}
SSL_PORT=${SEATMETER_KAFKA_SSL_PORT:-$((PORT + 4))}
SASL_USER=${SEATMETER_KAFKA_SASL_USER:-seatmeter}
SASL_PASSWORD=${SEATMETER_KAFKA_SASL_PASSWORD:-seatmeter-secret}
CLIENT_KEY_PASSWORD=${SEATMETER_KAFKA_CLIENT_KEY_PASSWORD:-client-secret}

CACHE_ROOT=${SEATMETER_CACHE_DIR:-${HOME}/.cache/seatmeter}
LIB_DIR=$CACHE_ROOT/kafka-$KAFKA_VERSION/lib
STAMP=$LIB_DIR/.seatmeter-complete

KAFKA_DIR=${SEATMETER_KAFKA_DIR:-.seatmeter/kafka}
[[ $KAFKA_DIR == /* ]] || KAFKA_DIR=$REPO_ROOT/$KAFKA_DIR
DATA_DIR=$KAFKA_DIR/data
CONFIG=$KAFKA_DIR/server.properties
LOG4J_CONFIG=$KAFKA_DIR/log4j2.properties
PID_FILE=$KAFKA_DIR/kafka.pid
TLS_DIR=$KAFKA_DIR/tls
LOG_FILE=$KAFKA_DIR/kafka.log   # broker log (log4j2, rolled at 20 MB)
OUT_FILE=$KAFKA_DIR/kafka.out   # JVM stdout/stderr (crashes, OOM)

if [[ -n ${JAVA_HOME:-} ]]; then JAVA=$JAVA_HOME/bin/java; else JAVA=java; fi
MVN=${MVN:-mvn}

say() { printf 'kafka: %s\n' "$*"; }
die() { printf 'kafka: error: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

for _v in CONTROLLER_PORT START_TIMEOUT STOP_TIMEOUT SASL_PORT SASL_SSL_PORT SSL_PORT; do
  [[ ${!_v} =~ ^[0-9]+$ ]] || die "$_v must be a number, got '${!_v}'"
done
[[ $PORT != "$CONTROLLER_PORT" ]] || die "client and controller port are both $PORT"
[[ $SECURE == 0 || $SECURE == 1 ]] || die "SEATMETER_KAFKA_SECURE must be 0 or 1, got '$SECURE'"
# The JAAS and --add-scram syntaxes have no quoting for other characters.
[[ $SASL_USER$SASL_PASSWORD =~ ^[A-Za-z0-9._-]+$ ]] || die "SASL user and password may only hold letters, digits and ._-"

# The ports `up` binds: the secured listeners' only when asked for.
listen_ports() {
  echo "$PORT" "$CONTROLLER_PORT"
  [[ $SECURE == 0 ]] || echo "$SASL_PORT" "$SASL_SSL_PORT" "$SSL_PORT"
}

# Serialise up/down/reset of one state dir (two `up`s at once start one broker).
lock() {
  mkdir -p "$KAFKA_DIR"
  exec 9>"$KAFKA_DIR/.lock"
  flock -w 300 9 || die "another kafka.sh still holds $KAFKA_DIR/.lock after 300s"
}

# --- fetch -------------------------------------------------------------------

pom_digest() { sha256sum "$SCRIPT_DIR/pom.xml" | cut -d' ' -f1; }

lib_ready() { [[ -f $STAMP && $(cat "$STAMP") == "$(pom_digest)" ]]; }

cmd_fetch() {
  if lib_ready; then
    say "jars for Kafka $KAFKA_VERSION are cached in $LIB_DIR"
    return 0
  fi
  command -v "$MVN" >/dev/null || die "'$MVN' not found: install Maven (apt-get install maven) or set MVN"
  mkdir -p "$CACHE_ROOT"
  exec 8>"$CACHE_ROOT/.kafka-$KAFKA_VERSION.lock"
  flock -w 900 8 || die "another fetch still holds $CACHE_ROOT/.kafka-$KAFKA_VERSION.lock"
  if lib_ready; then return 0; fi   # another process fetched meanwhile
  say "resolving Kafka $KAFKA_VERSION jars with Maven into $LIB_DIR"
  local tmp
  tmp=$(mktemp -d "$CACHE_ROOT/.kafka-$KAFKA_VERSION.XXXXXX")
  # Output goes to a file: on success it is only noise (Debian's mvn prints ANSI
  # resets even with -B), on failure it is shown.
  if ! "$MVN" -B -q -Dstyle.color=never -f "$SCRIPT_DIR/pom.xml" \
      -Dkafka.version="$KAFKA_VERSION" -Dkafka.lib.dir="$tmp" \
      dependency:copy-dependencies@kafka-lib >"$tmp.mvn.log" 2>&1; then
    cat "$tmp.mvn.log" >&2
    rm -rf "$tmp" "$tmp.mvn.log"
    die "mvn could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION (Maven Central reachable?)"
  fi
  rm -f "$tmp.mvn.log"
  [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || { rm -rf "$tmp"; die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"; }
  pom_digest >"$tmp/.seatmeter-complete"
  rm -rf "$LIB_DIR"
  mkdir -p "$(dirname "$LIB_DIR")"
  mv "$tmp" "$LIB_DIR"
  say "cached $(find "$LIB_DIR" -name '*.jar' | wc -l) jars ($(du -sh "$LIB_DIR" | cut -f1)) in $LIB_DIR"
}

# --- process helpers ----------------------------------------------------------

# Prints the broker's pid if the pid file names a live kafka.Kafka process.
running_pid() {
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid=$(<"$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: it must be our broker with our config.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $CONFIG" || return 1
  echo "$pid"
}

port_open() { timeout 1 bash -c ": <>/dev/tcp/$HOST/$1" 2>/dev/null; }

log_tail() {
  local f
  for f in "$OUT_FILE" "$LOG_FILE"; do
    [[ -s $f ]] || continue
    printf -- '----- last 40 lines of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2
  done
}

# --- up ----------------------------------------------------------------------

render_config() {
  mkdir -p "$DATA_DIR"
  sed -e "s|{{HOST}}|$HOST|g" -e "s|{{PORT}}|$PORT|g" \
      -e "s|{{CONTROLLER_PORT}}|$CONTROLLER_PORT|g" -e "s|{{NODE_ID}}|$NODE_ID|g" \
      -e "s|{{DATA_DIR}}|$DATA_DIR|g" \
      "$SCRIPT_DIR/server.properties.in" >"$CONFIG.tmp"
  [[ $SECURE == 0 ]] || secure_config >>"$CONFIG.tmp"
  mv "$CONFIG.tmp" "$CONFIG"
  cat >"$LOG4J_CONFIG" <<EOF
# Written by deploy/local/kafka.sh on every \`up\`.
status = warn
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $LOG_FILE
appender.file.filePattern = $LOG_FILE.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.zookeeper.name = org.apache.zookeeper
logger.zookeeper.level = WARN
EOF
}

# Appended to the template: a properties file keeps the last value of a key, so
# these listener lines replace the template's. PLAINTEXT stays for the broker itself.
secure_config() {
  local plain="org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER=\"$SASL_PASSWORD\";"
  local scram="org.apache.kafka.common.security.scram.ScramLoginModule required;"
  local listener mechanism
  cat <<EOF

############################# Secured listeners (SEATMETER_KAFKA_SECURE=1) #############################
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT,SASL_PLAINTEXT://$HOST:$SASL_PORT,SASL_SSL://$HOST:$SASL_SSL_PORT,SSL://$HOST:$SSL_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT,SASL_PLAINTEXT://$HOST:$SASL_PORT,SASL_SSL://$HOST:$SASL_SSL_PORT,SSL://$HOST:$SSL_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
listener.name.ssl.ssl.client.auth=required
EOF
  for listener in sasl_plaintext sasl_ssl; do
    echo "listener.name.$listener.plain.sasl.jaas.config=$plain"
    for mechanism in scram-sha-256 scram-sha-512; do
      echo "listener.name.$listener.$mechanism.sasl.jaas.config=$scram"
    done
  done
}

# A throwaway CA, a broker certificate for 127.0.0.1 and localhost, and a client
# certificate with an encrypted key (mutual TLS), made once per state dir.
make_certificates() {
  [[ -f $TLS_DIR/client.pem ]] && return 0
  command -v openssl >/dev/null || die "openssl not found: secured mode makes its certificates with it"
  say "making a throwaway CA and certificates in $TLS_DIR"
  mkdir -p "$TLS_DIR"
  local ssl_log=$TLS_DIR/openssl.log
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=seatmeter-test-ca" \
      -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem"
    sign_certificate broker "subjectAltName=IP:$HOST,DNS:localhost"
    sign_certificate client "extendedKeyUsage=clientAuth"
    # Kafka reads a PEM keystore's key only as PKCS#8.
    openssl pkcs8 -topk8 -nocrypt -in "$TLS_DIR/broker.key" -out "$TLS_DIR/broker.key.p8"
    cat "$TLS_DIR/broker.key.p8" "$TLS_DIR/broker.crt" "$TLS_DIR/ca.pem" >"$TLS_DIR/broker.pem"
    openssl pkcs8 -topk8 -v2 aes-256-cbc -passout "pass:$CLIENT_KEY_PASSWORD" \
      -in "$TLS_DIR/client.key" -out "$TLS_DIR/client.key.enc"
    mv "$TLS_DIR/client.key.enc" "$TLS_DIR/client.key"
    cp "$TLS_DIR/client.crt" "$TLS_DIR/client.pem"
  } >"$ssl_log" 2>&1 || { cat "$ssl_log" >&2; die "making certificates failed"; }
  rm -f "$TLS_DIR/broker.key.p8" "$TLS_DIR"/*.csr "$TLS_DIR"/*.ext
}

sign_certificate() {
  local name=$1 extension=$2
  openssl req -newkey rsa:2048 -nodes -subj "/CN=seatmeter-$name" \
    -keyout "$TLS_DIR/$name.key" -out "$TLS_DIR/$name.csr"
  echo "$extension" >"$TLS_DIR/$name.ext"
  openssl x509 -req -days 30 -in "$TLS_DIR/$name.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
    -CAcreateserial -extfile "$TLS_DIR/$name.ext" -out "$TLS_DIR/$name.crt"
}

# `--add-scram` arguments for the storage format, one a line: the SASL user for both SCRAM mechanisms.
scram_arguments() {
  [[ $SECURE == 0 ]] && return 0
  local mechanism
  for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
    printf '%s\n' --add-scram "$mechanism=[name=$SASL_USER,password=$SASL_PASSWORD]"
  done
}

java_major() {
  "$JAVA" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p'
}

format_storage() {
  [[ -f $DATA_DIR/metadata/meta.properties ]] && return 0
  local cluster_id=${SEATMETER_KAFKA_CLUSTER_ID:-}
  if [[ -z $cluster_id ]]; then
    # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding.
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
  fi
  say "formatting KRaft storage in $DATA_DIR (cluster id $cluster_id)"
  local scram=()
  mapfile -t scram < <(scram_arguments)
  if ! "$JAVA" -Xmx256m -cp "$LIB_DIR/*" -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
      kafka.tools.StorageTool format --ignore-formatted ${scram[@]+"${scram[@]}"} \
      --cluster-id "$cluster_id" --config "$CONFIG" >>"$OUT_FILE" 2>&1; then
    log_tail
    die "formatting the storage failed"
  fi
}

cmd_up() {
  lock
  local pid
  if pid=$(running_pid); then
    say "already running (pid $pid) on $HOST:$PORT"
    return 0
  fi
  rm -f "$PID_FILE"
  command -v "$JAVA" >/dev/null || die "java not found: install a JDK 17+ or set JAVA_HOME"
  local major
  major=$(java_major)
  [[ -n $major && $major -ge 17 ]] || die "Kafka $KAFKA_VERSION needs Java 17+, '$JAVA' is ${major:-unknown}"
  local p
  for p in $(listen_ports); do
    ! port_open "$p" || die "port $HOST:$p is already in use by another process (set SEATMETER_KAFKA_PORT / SEATMETER_KAFKA_CONTROLLER_PORT)"
  done

  lib_ready || cmd_fetch
  [[ $SECURE == 0 ]] || make_certificates
  render_config
  : >"$OUT_FILE"
  format_storage

  local t0=$SECONDS
  # setsid: the broker outlives the calling shell/make and ignores its Ctrl-C.
  # shellcheck disable=SC2086  # HEAP_OPTS and JVM_OPTS are word lists
  setsid "$JAVA" $HEAP_OPTS \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dkafka.logs.dir="$KAFKA_DIR" \
    $JVM_OPTS \
    -cp "$LIB_DIR/*" kafka.Kafka "$CONFIG" \
    </dev/null >>"$OUT_FILE" 2>&1 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"
  say "started broker (pid $pid), waiting up to ${START_TIMEOUT}s for $HOST:$PORT"

  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      log_tail
      die "broker exited during startup (full logs: $LOG_FILE, $OUT_FILE)"
    fi
    if port_open "$PORT" && grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null; then
      say "up on $HOST:$PORT after $((SECONDS - t0))s (pid $pid, log $LOG_FILE)"
      [[ $SECURE == 0 ]] || say "secured: SASL_PLAINTEXT :$SASL_PORT, SASL_SSL :$SASL_SSL_PORT, SSL :$SSL_PORT (CA $TLS_DIR/ca.pem)"
      return 0
    fi
    if ((SECONDS - t0 >= START_TIMEOUT)); then
      log_tail
      stop_pid "$pid" >/dev/null
      die "broker did not accept connections on $HOST:$PORT within ${START_TIMEOUT}s; stopped it (full logs: $LOG_FILE, $OUT_FILE)"
    fi
    sleep 0.2
  done
}

# --- down / status / reset ----------------------------------------------------

stop_pid() {
  local pid=$1 t0=$SECONDS
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS - t0 >= STOP_TIMEOUT)); then
      say "no exit ${STOP_TIMEOUT}s after SIGTERM, sending SIGKILL to $pid"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
  say "stopped (pid $pid) after $((SECONDS - t0))s"
}

cmd_down() {
  lock
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE"
    say "not running"
    return 0
  fi
  stop_pid "$pid"
}

cmd_status() {
  local pid
  if pid=$(running_pid); then
    if port_open "$PORT"; then
      say "running (pid $pid) on $HOST:$PORT, state in $KAFKA_DIR"
    else
      say "running (pid $pid) but $HOST:$PORT does not accept connections yet"
    fi
    return 0
  fi
  say "not running (state in $KAFKA_DIR)"
  return 3
}

cmd_reset() {
  cmd_down
  say "deleting $DATA_DIR and the broker's config and logs"
  rm -rf "$DATA_DIR"
  rm -f "$CONFIG" "$LOG4J_CONFIG" "$LOG_FILE" "$LOG_FILE".[0-9]* "$OUT_FILE"
  rm -rf "$TLS_DIR"
}

case ${1:-help} in
  fetch) cmd_fetch ;;
  up | start) cmd_up ;;
  down | stop) cmd_down ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  help | -h | --help) usage ;;
  *) usage >&2; exit 2 ;;
esac
