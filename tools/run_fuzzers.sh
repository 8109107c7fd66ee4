#!/usr/bin/env bash
# Runs every libFuzzer target of a build (tests/fuzz/fuzz_*.cpp) and every atheris target
# (tests/fuzz/atheris_*.py, run by $FUZZ_PYTHON, default python3, which needs blt and atheris
# installed) for SECONDS each on its seed corpus. Usage: tools/run_fuzzers.sh BUILD_DIR SECONDS [TARGET...]
# Seeds (tests/fuzz/corpus/NAME) are read, never written; new inputs go to build/fuzz-corpus/NAME,
# crashes to build/fuzz-artifacts/NAME-*. Prints one summary line per target (executions,
# coverage, corpus size) and exits non-zero on the first target that finds a crash, leak or timeout.
# FUZZ_SEEDS_ONLY=1 (make sanitize-ci): start from the seeds alone; new inputs go to a fresh
# build/fuzz-ci-corpus/NAME, emptied first, so earlier long runs do not lengthen a short pass.
set -euo pipefail
build=$1
seconds=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in "$root"/tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$src" .cpp)"); done
  for src in "$root"/tests/fuzz/atheris_*.py; do targets+=("$(basename "$src" .py)"); done
fi
mkdir -p "$root/build/fuzz-artifacts" "$root/build/fuzz-logs"
status=0
for t in "${targets[@]}"; do
  corpus="$root/build/fuzz-corpus/$t"
  if [ "${FUZZ_SEEDS_ONLY:-0}" = 1 ]; then
    corpus="$root/build/fuzz-ci-corpus/$t"
    rm -rf "$corpus"
  fi
  seeds="$root/tests/fuzz/corpus/$t"
  mkdir -p "$corpus" "$seeds"
  dict=()
  [ -f "$root/tests/fuzz/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t.dict")
  log="$root/build/fuzz-logs/$t.log"
  # rss/malloc limits make unbounded allocation a finding; -timeout flags a stall on one input.
  runner=("$build/$t")
  [[ $t == atheris_* ]] && runner=("${FUZZ_PYTHON:-python3}" "$root/tests/fuzz/$t.py")
  if ! "${runner[@]}" "$corpus" "$seeds" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$root/build/fuzz-artifacts/$t-" >"$log" 2>&1; then
    echo "FAIL $t: see $log"; tail -n 30 "$log"; status=1; break
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' || echo 'cov: ?')
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' || echo 'ft: ?')
  corp=$(echo "$last" | grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' || echo 'corp: ?')
  echo "ok $t: ${seconds}s, $execs execs, $cov, $ft, $corp"
done
exit $status
