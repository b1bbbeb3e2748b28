#!/usr/bin/env bash
# Usage: primes_out_of_tree.sh BUILD_DIR SOURCE_DIR
# Builds examples/frameworks/primes as a framework's author does: against the installed SDK only.
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

echo "== install the SDK"
cmake --install "$build" --component sdk --prefix "$work/sdk" > "$work/install.log"
[ -f "$work/sdk/include/tessera/sdk/executor.h" ] || fail "the installed SDK has no sdk/executor.h"

echo "== build the primes framework out of tree"
cmake -S "$src/examples/frameworks/primes" -B "$work/primes" -DCMAKE_PREFIX_PATH="$work/sdk" \
  -DCMAKE_BUILD_TYPE=Release > "$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configure"; }
grep -q "$work/sdk/include" "$work/primes/CMakeFiles/primes_executor.dir/flags.make" ||
  fail "the out-of-tree build does not use the installed SDK headers"
cmake --build "$work/primes" -j2 > "$work/build.log" 2>&1 || { cat "$work/build.log"; fail "build"; }
[ -x "$work/primes/primes_scheduler" ] && [ -x "$work/primes/primes_executor" ] || fail "no programs"
echo "== the executor refuses to run outside an agent, saying why"
if out=$("$work/primes/primes_executor" 2>&1); then fail "it ran outside an agent"; fi
echo "$out" | grep -q "TESSERA_EXECUTOR_ENDPOINT" || fail "unclear error: $out"
echo "PASS"
