#!/usr/bin/env bash
# Usage: install_test.sh BUILD_DIR
# Installs the build with `cmake --install` and no component, as a packager does, into a
# temporary prefix, moves the prefix (the host finds its plugins relative to its own binary),
# and checks that the installed tessera-host runs and finds every plugin the build shipped.
set -euo pipefail
build=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; [ -f "$work/check.log" ] && sed 's/^/  host: /' "$work/check.log"; exit 1; }

echo "== cmake --install (every component)"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
mv "$work/prefix" "$work/moved"
host="$work/moved/bin/tessera-host"
plugins="$work/moved/lib/tessera/plugins"
[ -x "$host" ] || fail "no bin/tessera-host installed"

echo "== every plugin of the build is installed beside the host, and no test fixture"
for so in "$build"/lib/tessera/plugins/*.so; do
  [ -f "$plugins/$(basename "$so")" ] || fail "$(basename "$so") is not installed in $plugins"
done
if ls "$plugins" | grep -q '^fixture_'; then fail "test fixtures were installed"; fi

echo "== --version"
"$host" --version > "$work/version.log" 2>&1 || fail "--version exited $?"
grep -q '^tessera-host [0-9.]* (plugin ABI [0-9]*, fingerprint [0-9a-f]\{16\})$' "$work/version.log" ||
  fail "unexpected --version: $(cat "$work/version.log")"

echo "== --check with the shipped plugins and no plugin_dirs"
cat > "$work/node.toml" <<TOML
[node]
name = "installed"
roles = ["master", "agent"]
leader = "leader_standalone"
work_dir = "$work/node"

[master]
allocator = "allocator_drf"
endpoint = "tcp://127.0.0.1:0"

[agent]
isolators = ["isolator_posix"]
TOML
"$host" --check "$work/node.toml" > "$work/check.log" 2>&1 || fail "--check exited $?"
for plugin in leader_standalone allocator_drf isolator_posix; do
  grep -q "loaded plugin '$plugin' .* from $plugins/$plugin.so" "$work/check.log" ||
    fail "$plugin was not loaded from $plugins"
done
grep -q "configuration OK: $work/node.toml" "$work/check.log" || fail "no 'configuration OK'"
echo "PASS: installed host in a moved prefix found its plugins in $plugins"
