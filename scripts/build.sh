#!/usr/bin/env bash
# Installs dependencies (scripts/setup.sh), then configures and builds into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# A compiler cache, where one is installed, is used (setup does not install one: a fresh machine
# builds everything once either way). With CCACHE_NOHASHDIR=1 and CCACHE_BASEDIR set to a
# directory holding the checkout, other checkouts of the tree share its hits.
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "${launcher[@]}"
cmake --build build -j"$(nproc)"
