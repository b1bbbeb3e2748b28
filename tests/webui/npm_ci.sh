#!/usr/bin/env bash
# Installs the browser test's npm packages from the committed lock file (npm ci), once per lock
# file: a stamp of the lock's hash in node_modules skips the reinstall when nothing changed.
set -euo pipefail
cd "$1"
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.tessera-lock-sha256
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ] && [ -d node_modules/playwright-core ]; then
  echo "webui: node_modules matches package-lock.json"
  exit 0
fi
npm ci --no-audit --no-fund
echo "$lock_hash" >"$stamp"
