#!/usr/bin/env bash
# The main job: set up, build, and start the one-machine cluster of examples/local.toml (a master,
# an agent, Marathon and Chronos in one process; the master on tcp://127.0.0.1:5051). Ctrl-C
# stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cat <<'URLS'
tessera: starting the local cluster (examples/local.toml). Open:
  web UI    http://127.0.0.1:5050/               (overview, agents, tasks and their output, Marathon, Chronos)
  master    http://127.0.0.1:5050/state          (the master's HTTP API: /state /tasks /metrics /events)
  Marathon  http://127.0.0.1:8080/v2/apps      (Marathon's /v2 REST API; also http://127.0.0.1:5050/marathon/v2/apps)
  Chronos   http://127.0.0.1:4400/v1/scheduler/jobs   (Chronos's /v1/scheduler REST API; also http://127.0.0.1:5050/chronos/...)
  master    tcp://127.0.0.1:5051                 (build/bin/tessera agents, tasks, exec)
URLS
exec build/bin/tessera-host examples/local.toml "$@"
