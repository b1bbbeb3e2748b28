#!/usr/bin/env bash
# Installs everything Tessera needs to build and test on Debian 12, from Debian's packages.
# Idempotent: packages already present are not reinstalled. Needs root (or sudo).
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# Why each package is here: see the README's "Dependencies" section.
packages=(
  build-essential cmake pkg-config clang-format clang-tidy
  libboost1.81-dev libboost-json1.81-dev libboost-filesystem1.81-dev libboost-url1.81-dev
  cppzmq-dev libzmq3-dev libtomlplusplus-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev libsodium-dev libjemalloc-dev procps
  libhowardhinnant-date-dev tzdata
  docker.io busybox-static
  zookeeper libzookeeper-mt-dev netcat-openbsd chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The web UI's browser tests drive chromium with playwright-core from the npm registry. Some
# machines carry a newer Node.js (with its own npm) than Debian's: keep it when npm works.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
need_msgpack=0
[ -f /usr/local/include/msgpack.hpp ] || [ -f /usr/include/msgpack.hpp ] || need_msgpack=1

if [ ${#missing[@]} -gt 0 ] || [ $need_msgpack -eq 1 ]; then
  $SUDO apt-get update -q
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# msgpack-cxx is header-only, but Debian's libmsgpack-cxx-dev depends on the Boost 1.74
# development package, which conflicts with Boost 1.81 (needed for Boost.JSON). Unpack its
# headers into /usr/local/include instead of installing the package.
if [ $need_msgpack -eq 1 ]; then
  echo "setup: unpacking msgpack-cxx headers into /usr/local/include"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download libmsgpack-cxx-dev >/dev/null 2>&1) ||
    (cd "$tmp" && $SUDO apt-get download libmsgpack-cxx-dev)
  dpkg-deb -x "$tmp"/libmsgpack-cxx-dev_*.deb "$tmp/root"
  $SUDO cp -r "$tmp/root/usr/include/msgpack.hpp" "$tmp/root/usr/include/msgpack" /usr/local/include/
  rm -rf "$tmp"
fi
echo "setup: dependencies ready"
