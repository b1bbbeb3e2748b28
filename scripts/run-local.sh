#!/usr/bin/env bash
# The main job: set up, build, and start a local node from examples/local.toml (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exec build/bin/tessera-host examples/local.toml "$@"
