#!/usr/bin/env bash
# Installs the real storage servers the driver end-to-end tests run against:
# OpenStack Swift all-in-one with memcached (Debian), Azurite (npm) and the
# openssl CLI. Skips whatever is already there, so it is cheap to run again.
set -euo pipefail

azurite_version=3.37.0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

packages=(swift swift-proxy swift-account swift-container swift-object memcached openssl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  # The packages start their own daemons on the default ports: the tests run
  # private instances on free ports, so keep the system ones from starting.
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    added_policy=1
  fi
  status=0
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null || status=$?
  if ((added_policy)); then $sudo rm -f "$policy"; fi
  ((status == 0)) || exit "$status"
fi

if ! command -v azurite-blob >/dev/null 2>&1 ||
   [ "$(azurite-blob --version 2>/dev/null)" != "$azurite_version" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "installing: nodejs npm" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      nodejs npm >/dev/null
  fi
  echo "installing: azurite@$azurite_version" >&2
  $sudo npm install -g --no-audit --no-fund --loglevel=error "azurite@$azurite_version" >/dev/null
fi
