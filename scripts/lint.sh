#!/usr/bin/env bash
# Style checks, run by CI after the build: clang-format (every C++ file) and clang-tidy (the
# sources that are not tests or benchmarks; .clang-tidy at the root). Needs build/ configured
# (compile_commands.json). Fails on any difference or warning.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "lint: clang-format"
git ls-files '*.h' '*.cpp' | xargs clang-format --dry-run --Werror
echo "lint: clang-tidy"
mapfile -t sources < <(git ls-files '*.cpp' | grep -v -E '^tests/|/tests/|^bench/')
run-clang-tidy -p build -j "$(nproc)" -quiet "${sources[@]}" > build/clang-tidy.log 2>&1 || {
  grep -E "warning:|error:" build/clang-tidy.log | sort -u
  echo "lint: clang-tidy found problems (full output in build/clang-tidy.log)"
  exit 1
}
echo "lint: clean"
