#!/usr/bin/env bash
# Usage: dropin_test.sh BUILD_DIR SOURCE_DIR TESSERA_HOST
# Does what a third-party plugin author does, and checks the host loads their plugin.
set -euo pipefail
build=$1 src=$2 host=$3
work=$(mktemp -d)
host_pid=""
cleanup() {
  [ -n "$host_pid" ] && kill -9 "$host_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$work/host.log" ] && sed 's/^/  host: /' "$work/host.log"; exit 1; }

host_sum_before=$(sha256sum "$host" | cut -d' ' -f1)

echo "== install the SDK"
cmake --install "$build" --component sdk --prefix "$work/sdk" > "$work/install.log"
[ -f "$work/sdk/lib/cmake/Tessera/TesseraConfig.cmake" ] || fail "SDK install has no TesseraConfig.cmake"

echo "== build example_pong out of tree against the installed SDK"
cmake -S "$src/examples/plugins/pong" -B "$work/pong-build" -DCMAKE_PREFIX_PATH="$work/sdk" \
  -DCMAKE_BUILD_TYPE=Release > "$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configure"; }
# The out-of-tree build must use the installed headers, not this source tree's.
grep -q "$work/sdk/include" "$work/pong-build/CMakeFiles/example_pong.dir/flags.make" ||
  fail "out-of-tree build does not use the installed SDK headers"
cmake --build "$work/pong-build" -j2 > "$work/build.log" 2>&1 || { cat "$work/build.log"; fail "build"; }

echo "== drop it into a plugin directory and run the unchanged host"
mkdir -p "$work/plugins"
cp "$work/pong-build/example_pong.so" "$work/plugins/"
cat > "$work/node.toml" <<TOML
[node]
name = "dropin"
roles = []
work_dir = "$work/node"
plugin_dirs = ["$work/plugins"]

[master]
frameworks = ["example_pong", "example_ping"]

[plugins.example_pong]
tick_ms = 100

[plugins.example_ping]
interval_ms = 50
text = "dropped in"
TOML
"$host" "$work/node.toml" > "$work/host.log" 2>&1 &
host_pid=$!
for _ in $(seq 1 200); do
  grep -q "pong 3 'dropped in' from 'example_pong'" "$work/host.log" && break
  sleep 0.05
done
grep -q "loaded plugin 'example_pong' 1.0.0 (framework) from $work/plugins/example_pong.so" "$work/host.log" ||
  fail "the host did not load the dropped-in plugin"
grep -q "pong 3 'dropped in' from 'example_pong'" "$work/host.log" || fail "no pongs from the dropped-in plugin"
kill -TERM "$host_pid"
wait "$host_pid" && status=0 || status=$?
host_pid=""
[ "$status" -eq 0 ] || fail "host exited with $status"
[ "$(sha256sum "$host" | cut -d' ' -f1)" = "$host_sum_before" ] || fail "the host binary changed"
echo "PASS: out-of-tree example_pong loaded from $work/plugins and answered pings"
