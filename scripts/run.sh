#!/usr/bin/env bash
# Installs what is needed, builds, and runs backup-gate on its embedded
# default: one posix backend on ./backup-gate-data, probes on 127.0.0.1:8080.
# Extra arguments go to backup-gate (e.g. --config gate.yaml).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/deps.sh"
bash "$root/scripts/build.sh" "$root/build"
exec "$root/build/sidecar/backup-gate" "$@"
