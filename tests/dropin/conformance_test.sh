#!/usr/bin/env bash
# Usage: conformance_test.sh BUILD_DIR SOURCE_DIR
# Does what the author of a third-party allocator does: installs Tessera (host, shipped plugins
# and SDK) into a prefix, builds examples/plugins/allocator_fifo out of tree against it with
# find_package(Tessera), and runs its conformance test, which starts the installed tessera-host.
# Also checks that a plugin built where GoogleTest is missing still builds (without the test).
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
prefix="$work/prefix"

echo "== cmake --install (every component) into $prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
for file in bin/tessera-host include/tessera/conformance/allocator.h \
            include/tessera/conformance/leader.h include/tessera/conformance/isolator.h \
            include/tessera/conformance/harness.h \
            lib/cmake/Tessera/TesseraConformanceTargets.cmake; do
  [ -e "$prefix/$file" ] || fail "$file is not installed"
done

echo "== build allocator_fifo and its conformance test out of tree"
cmake -S "$src/examples/plugins/allocator_fifo" -B "$work/fifo" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release > "$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configure"; }
flags="$work/fifo/CMakeFiles/allocator_fifo_conformance_test.dir/flags.make"
[ -f "$flags" ] || fail "no conformance test target: Tessera::conformance was not found"
# The out-of-tree build uses the installed headers, and the test the installed host.
grep -q -- "-isystem $prefix/include\|-I$prefix/include" "$flags" ||
  fail "the conformance test does not use the installed headers"
grep -q "TESSERA_CONFORMANCE_HOST=\\\\\"$prefix/bin/tessera-host\\\\\"" "$flags" ||
  fail "the conformance test does not run the installed host: $(grep -o 'TESSERA_CONFORMANCE_HOST=[^ ]*' "$flags")"
cmake --build "$work/fifo" -j2 > "$work/build.log" 2>&1 || { cat "$work/build.log"; fail "build"; }

echo "== run its conformance test"
(cd "$work/fifo" && env -u TESSERA_HOST ctest --output-on-failure > "$work/ctest.log" 2>&1) ||
  { cat "$work/ctest.log"; fail "the conformance test of allocator_fifo failed"; }
grep -q "100% tests passed, 0 tests failed out of 1[0-9]" "$work/ctest.log" ||
  { cat "$work/ctest.log"; fail "fewer conformance tests ran than the suite has"; }

echo "== without GoogleTest the plugin still builds, without the test"
cmake -S "$src/examples/plugins/allocator_fifo" -B "$work/fifo-nogtest" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON > "$work/configure2.log" 2>&1 ||
  { cat "$work/configure2.log"; fail "configure without GoogleTest"; }
cmake --build "$work/fifo-nogtest" -j2 > "$work/build2.log" 2>&1 || { cat "$work/build2.log"; fail "build without GoogleTest"; }
[ -f "$work/fifo-nogtest/allocator_fifo.so" ] || fail "no allocator_fifo.so without GoogleTest"
[ ! -e "$work/fifo-nogtest/allocator_fifo_conformance_test" ] || fail "a conformance test without GoogleTest"
echo "PASS: out-of-tree allocator_fifo passed the allocator conformance suite against $prefix/bin/tessera-host"
