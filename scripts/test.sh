#!/usr/bin/env bash
# Installs what is needed, builds with warnings as errors, and runs the whole
# test suite: unit tests (ctest) and end-to-end tests of the real binary
# (pytest). Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BGATE_BUILD_DIR:-$root/build}
bash "$root/scripts/deps.sh"
bash "$root/scripts/peers-deps.sh"
bash "$root/scripts/build.sh" "$build" -DBGATE_WERROR=ON
status=0
(cd "$build" && ctest --output-on-failure -j2 --timeout 300) || status=1
BGATE_BINARY="$build/sidecar/backup-gate" python3 -m pytest -q "$root/tests/e2e" "$@" || status=1
exit $status
