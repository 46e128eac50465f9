#!/usr/bin/env bash
# Runs the libFuzzer targets (docs/fuzzing.md): scripts/fuzz.sh [TARGET|all] [SECONDS]
# Builds build-fuzz (clang-16) if needed, then runs each target for SECONDS (default 60) on one
# core, from a scratch copy of its seed corpus (tests/fuzz/corpus/TARGET) with its dictionary
# (tests/fuzz/TARGET.dict) where it has one. Prints executions and executions per second per
# target; exits nonzero if any target crashed, naming the input that did it.
# Environment: FUZZ_BUILD (build directory, default build-fuzz), FUZZ_KEEP (a directory to
# keep the grown corpora and crash inputs in, default a temporary one that is removed),
# FUZZ_JOBS (targets run at once, default one per CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-all}
seconds=${2:-60}
build=${FUZZ_BUILD:-build-fuzz}

targets=(fuzz_xs_wire fuzz_xs_ring fuzz_xs_path_perms fuzz_xs_persist fuzz_xl_cfg fuzz_stream
         fuzz_elf_pvh fuzz_console_ring fuzz_blkif_ring fuzz_privcmd fuzz_hypercall fuzz_soft_cpu)
if [ "$target" != all ]; then
  found=0
  for t in "${targets[@]}"; do [ "$t" = "$target" ] && found=1; done
  [ $found = 1 ] || { echo "fuzz: unknown target $target (one of: ${targets[*]})" >&2; exit 2; }
  targets=("$target")
fi

if [ ! -f "$build/build.ninja" ]; then
  # Line tables are enough for symbolized reports and cost far less to build than full -g.
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only" \
    -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_C_COMPILER=clang-16 \
    -DKXEN_FUZZ=ON -DKXEN_BUILD_TESTS=OFF -DKXEN_BUILD_BENCH=OFF >/dev/null
fi
if [ "$target" = all ]; then ninja -C "$build" fuzz; else ninja -C "$build" "$target"; fi

if [ -n "${FUZZ_KEEP:-}" ]; then
  work=$FUZZ_KEEP
  mkdir -p "$work"
else
  work=$(mktemp -d /tmp/kxen-fuzz.XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi

# One target per core at a time; each runs on one core, so two cores halve the wall time.
jobs=${FUZZ_JOBS:-$(nproc)}
run_one() {
  local t=$1 corpus=$work/$1/corpus log=$work/$1/log rc=0
  mkdir -p "$corpus" "$work/$t/artifacts"
  [ -d "tests/fuzz/corpus/$t" ] && cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  local args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
              -artifact_prefix="$work/$t/artifacts/")
  [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
  [ "$t" = fuzz_soft_cpu ] && args+=(-max_len=600)
  # Up to a few hundred ring steps per input: longer ones cost more than they find.
  [ "$t" = fuzz_xs_ring ] && args+=(-max_len=1024)
  # Without allocation stacks, malloc fill and a large quarantine, the targets run 1.5 to 2
  # times faster; a crash is still caught, and its input, replayed (tests/fuzz/regressions or
  # the target run on that file alone), gets the full report.
  ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0:max_malloc_fill_size=0:quarantine_size_mb=16} \
    "$build/bin/$t" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?
  echo $rc >"$work/$t/rc"
}
running=0
for t in "${targets[@]}"; do
  if [ $running -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
  run_one "$t" &
  running=$((running + 1))
done
wait

failed=()
printf '%-20s %12s %10s %s\n' target execs exec/s result
for t in "${targets[@]}"; do
  log=$work/$t/log
  rc=$(cat "$work/$t/rc" 2>/dev/null || echo 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    result="CRASH (exit $rc): ${crash:-see $log}"
    failed+=("$t")
    # Keep what is needed to reproduce it, also when the scratch directory goes away.
    if [ -z "${FUZZ_KEEP:-}" ]; then
      mkdir -p "$build/fuzz-crashes/$t"
      [ -n "$crash" ] && cp "$crash" "$build/fuzz-crashes/$t/" && result+=" (copied to $build/fuzz-crashes/$t/)"
      cp "$log" "$build/fuzz-crashes/$t/log"
    fi
    grep -m1 -A12 'ERROR: \|runtime error' "$log" | sed 's/^/    /' || true
  fi
  printf '%-20s %12s %10s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$result"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashed: ${failed[*]}" >&2
  exit 1
fi
