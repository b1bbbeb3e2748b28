#!/usr/bin/env bash
# The HA layout on one machine: a local ZooKeeper on 127.0.0.1:2181 (started here unless one
# already serves there), then the three masters and two agents of examples/ha/, all on
# loopback. The first master leads; kill it (kill -9 PID) and another takes over. Prints how to
# reach the leader. Ctrl-C stops everything this script started.
#   scripts/run-ha.sh             # set up, build, start
#   SKIP_BUILD=1 scripts/run-ha.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${SKIP_BUILD:-}" ] || scripts/build.sh

DIR=/tmp/tessera-ha
ZK_PORT=2181
ADDRESS="zk://127.0.0.1:${ZK_PORT}/tessera-ha"
mkdir -p "$DIR/zookeeper/data"
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

serving() { printf srvr | nc -w 2 127.0.0.1 "$ZK_PORT" 2>/dev/null | grep -q '^Mode:'; }

if serving; then
  echo "run-ha: using the ZooKeeper already serving on 127.0.0.1:${ZK_PORT}"
else
  cat > "$DIR/zookeeper/zoo.cfg" <<CFG
tickTime=500
dataDir=$DIR/zookeeper/data
clientPort=${ZK_PORT}
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr
CFG
  java -Dzookeeper.root.logger=INFO,CONSOLE \
    -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$DIR/zookeeper/zoo.cfg" \
    > "$DIR/zookeeper.log" 2>&1 &
  pids+=($!)
  # `ruok` answers before the server serves; a `Mode:` line from `srvr` means it does.
  for _ in $(seq 600); do serving && break; sleep 0.1; done
  serving || { echo "run-ha: ZooKeeper did not start; see $DIR/zookeeper.log" >&2; exit 1; }
  echo "run-ha: ZooKeeper serving on 127.0.0.1:${ZK_PORT} (log: $DIR/zookeeper.log)"
fi

start() {
  build/bin/tessera-host "examples/ha/$1.toml" > "$DIR/$1.log" 2>&1 &
  pids+=($!)
  echo "run-ha: $1 started (pid $!, log: $DIR/$1.log)"
}
wait_for() {
  for _ in $(seq 300); do grep -q "$2" "$DIR/$1.log" 2>/dev/null && return 0; sleep 0.1; done
  echo "run-ha: $1 did not say '$2'; see $DIR/$1.log" >&2
  exit 1
}

# The masters started first lead: master-1 once it serves, then the standbys.
start master-1
wait_for master-1 "from the registry; serving"
start master-2
wait_for master-2 "standing by"
start master-3
wait_for master-3 "standing by"
start agent-1
start agent-2
wait_for agent-1 "agent: registered as"
wait_for agent-2 "agent: registered as"

cat <<INFO
tessera: the HA cluster runs (masters on tcp://127.0.0.1:5061, :5062, :5063; master-1 leads).
  build/bin/tessera agents --master ${ADDRESS}      # the CLI finds the leader in ZooKeeper
  build/bin/tessera exec --master ${ADDRESS} -- echo hello
Kill the leader (kill -9 of master-1's pid above): once its session times out (6 s) master-2
leads, and the agents re-register with it. Ctrl-C stops everything.
INFO
wait
