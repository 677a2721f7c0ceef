#!/usr/bin/env bash
# Builds with ThreadSanitizer and runs the unit tests and the supervisor and
# HTTP end-to-end tests under it: tsan.sh [BUILD_DIR]. Any race fails the run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build-tsan}
start=$SECONDS

# -O1: TSan builds compile faster and still see what -O2 would.
bash "$root/scripts/build.sh" "$dir" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS=-O1 -DBGATE_WERROR=ON -DBGATE_SANITIZE=thread
echo "tsan: built in $((SECONDS - start))s"

export TSAN_OPTIONS="suppressions=$root/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1"
run_start=$SECONDS
(cd "$dir" && ctest --output-on-failure -j2 --timeout 900)
BGATE_SANITIZED=1 BGATE_SLOWDOWN=4 BGATE_BINARY="$dir/sidecar/backup-gate" python3 -m pytest -q "$root/tests/e2e/test_sidecar.py"
echo "tsan: tests ran in $((SECONDS - run_start))s"
