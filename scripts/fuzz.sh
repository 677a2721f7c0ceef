#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for its share
# of SECONDS_TOTAL (default 60): fuzz.sh [SECONDS_TOTAL]. Seeds come from
# fuzz/corpus/<target>, copied so the tree is left as it was. Fails if any
# target crashes; the input that did it is kept in build-fuzz/crashes/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
total=${1:-60}
dir=$root/build-fuzz

# libFuzzer comes with Debian's clang and its runtime library.
if ! command -v clang++ >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null |
     grep -q "install ok installed"; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    clang libclang-rt-14-dev >/dev/null
fi

CC=clang CXX=clang++ cmake -S "$root" -B "$dir" -G Ninja -DBGATE_FUZZ=ON \
  -DBGATE_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O1 \
  -DBGATE_SANITIZE=address,undefined >/dev/null
cmake --build "$dir"

# target:dictionary
targets=(config:config http:http request_target:http s3_xml:xml
         keystone:json swift_json:json blob_xml:xml)
share=$((total / ${#targets[@]}))
((share > 0)) || share=1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
printf '%-16s %12s %8s %s\n' target execs cov result
for entry in "${targets[@]}"; do
  name=${entry%%:*}
  dict=${entry#*:}
  cp -r "$root/fuzz/corpus/$name" "$work/$name"
  mkdir -p "$dir/crashes/$name"
  log=$work/$name.log
  result=ok
  if ! "$dir/fuzz/bgate_fuzz_$name" "$work/$name" \
      -dict="$root/fuzz/$dict.dict" -max_total_time="$share" \
      -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$dir/crashes/$name/" >"$log" 2>&1; then
    result=CRASH
    failed+=("$name")
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-16s %12s %8s %s\n' "$name" "${execs:-?}" "${cov:-?}" "$result"
  if [[ $result != ok ]]; then
    grep -E -A30 '^==[0-9]+==|runtime error|deadly signal|out-of-memory|timeout' \
      "$log" | head -60
  fi
done

if ((${#failed[@]})); then
  echo "fuzz: crashes in: ${failed[*]} (inputs in $dir/crashes/)" >&2
  exit 1
fi
