#!/usr/bin/env bash
# Installs what backup-gate needs to build and test, from Debian's packages
# (and pytest from PyPI when the system has none). Safe to run again.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config git
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libboost-dev
  prometheus-cpp-dev libcivetweb-dev zlib1g-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev
  libcpprest-dev libssl-dev libpugixml-dev openssl
  prometheus procps python3 python3-pip
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! python3 -c 'import pytest' 2>/dev/null; then
  python3 -m pip install --quiet pytest 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages pytest
fi
