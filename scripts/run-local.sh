#!/usr/bin/env bash
# The main job: set up, build, and start the one-machine cluster of examples/local.toml (a master
# and an agent in one process, on tcp://127.0.0.1:5050). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exec build/bin/tessera-host examples/local.toml "$@"
