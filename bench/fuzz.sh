#!/usr/bin/env bash
# fuzz.sh - a coverage-guided campaign: every fuzz target (test/fuzz/fuzz_*.c)
# under libFuzzer with ASan+UBSan for N minutes from its corpus, then one
# table of executions, coverage and findings; non-zero exit on any finding.
#
#   bench/fuzz.sh [-m MINUTES] [-j PARALLEL] [-t SECONDS] [-B BUILDDIR] [-a ARTIFACTS]
#                 [--merge] [--merge-kb KB] [--merge-files N] [--merge-from WORKDIR]
#                 [--keep] [TARGET...]
#
#   -m MINUTES   per target (default 10; fractions allowed: -m 0.5)
#   -j PARALLEL  targets fuzzed at once (default 1; 2 fits this machine)
#   -B BUILDDIR  clang build with -DCANOPY_FUZZ=ON -DCANOPY_SANITIZE=ON
#                (default build-fuzz; configured and built if needed)
#   -t SECONDS   libFuzzer -timeout: one input running longer is a finding
#                (default 60: a loaded machine at nice 19 is slow)
#   -a DIR       crash/leak/timeout/oom artifacts (default: a temp dir,
#                kept when there is a finding), one subdir per target
#   --merge      after a clean run, merge the inputs that add coverage
#                (libFuzzer -merge=1) into test/fuzz/corpus/TARGET, at most
#                --merge-kb KB (default 16) in --merge-files N files (default 40)
#                of at most 4 KiB per target, smallest first
#   --merge-from WORKDIR   no fuzzing: merge (as --merge) the work corpora of
#                an earlier --keep run, WORKDIR/TARGET/corpus, for the targets
#                named (a run with a finding on one target merges nothing)
#   --keep       keep the work dir (work corpora and logs)
#   TARGET       fuzz_jgf or jgf; default all of test/fuzz/fuzz_*.c
#
# Each target fuzzes a copy of its corpus in a temp dir (the repo corpus is
# only written by --merge).  Be kind to a shared machine: nice -n 19 bench/fuzz.sh.
set -u -o pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
minutes=10 par=1 tmo=60 bdir="$here/build-fuzz" art="" merge=0 merge_kb=16 merge_files=40 merge_from="" keep=0
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    -m) minutes=$2; shift 2 ;;
    -j) par=$2; shift 2 ;;
    -t) tmo=$2; shift 2 ;;
    -B) bdir=$2; shift 2 ;;
    -a) art=$2; shift 2 ;;
    --merge) merge=1; shift ;;
    --merge-kb) merge_kb=$2; shift 2 ;;
    --merge-files) merge_files=$2; shift 2 ;;
    --merge-from) merge_from=$2; merge=1 keep=1; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) t=${1#fuzz_}; targets+=("fuzz_$t"); shift ;;
    esac
done
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$here"/test/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
for t in "${targets[@]}"; do
    [ -f "$here/test/fuzz/$t.c" ] || { echo "fuzz.sh: no target $t (test/fuzz/$t.c)" >&2; exit 2; }
done
secs=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60 + 0.5); print (s < 1 ? 1 : s) }')

# the clang build: fuzz targets only
cc=$(command -v clang-14 || command -v clang) || { echo "fuzz.sh: needs clang (scripts/deps.sh installs clang-14)" >&2; exit 2; }
if ! grep -q '^CANOPY_FUZZ:BOOL=ON' "$bdir/CMakeCache.txt" 2>/dev/null ||
   ! grep -q '^CANOPY_SANITIZE:BOOL=ON' "$bdir/CMakeCache.txt" 2>/dev/null; then
    CC=$cc cmake -S "$here" -B "$bdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCANOPY_FUZZ=ON -DCANOPY_SANITIZE=ON >/dev/null || exit 2
else
    cmake "$bdir" >/dev/null || exit 2   # pick up new fuzz_*.c
fi
cmake --build "$bdir" -j2 --target "${targets[@]}" >"$bdir/fuzz-build.log" 2>&1 ||
    { tail -20 "$bdir/fuzz-build.log" >&2; echo "fuzz.sh: build failed" >&2; exit 2; }

if [ -n "$merge_from" ]; then
    work=$merge_from
    for t in "${targets[@]}"; do
        [ -d "$work/$t/corpus" ] || { echo "fuzz.sh: no $work/$t/corpus" >&2; exit 2; }
    done
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/canopy-fuzz.XXXXXX")
    [ -n "$art" ] || art="$work/artifacts"
    mkdir -p "$art"
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

    run_one () {    # target: fuzz a work copy of its corpus for $secs
        local t=$1 d="$work/$1"
        mkdir -p "$d/corpus" "$art/$t"
        cp "$here/test/fuzz/corpus/$t"/* "$d/corpus/" 2>/dev/null
        (cd "$d" && "$bdir/test/$t" -max_total_time="$secs" -print_final_stats=1 \
            -timeout="$tmo" -rss_limit_mb=2048 -artifact_prefix="$art/$t/" "$d/corpus" \
            >"$d/log" 2>&1)
        echo $? >"$d/rc"
    }

    start=$(date -u '+%Y-%m-%d %H:%M UTC')
    echo "fuzz.sh: ${#targets[@]} targets, $minutes min each, $par at a time, work $work" >&2
    running=0
    for t in "${targets[@]}"; do
        run_one "$t" &
        running=$((running + 1))
        if [ "$running" -ge "$par" ]; then wait -n; running=$((running - 1)); fi
    done
    wait

    # one row per target, from libFuzzer's final stats and last status line
    findings_total=0
    printf '# libFuzzer + ASan/UBSan, %s min per target, -timeout=%s, started %s\n' "$minutes" "$tmo" "$start"
    printf '%-16s %12s %9s %6s %7s %8s %9s  %s\n' target executions exec/s cov ft corpus rss_mb findings
    for t in "${targets[@]}"; do
        d="$work/$t" log="$work/$t/log"
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
        rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
        last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
        cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
        ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
        corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
        found=$(find "$art/$t" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
            -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
        rc=$(cat "$d/rc" 2>/dev/null || echo 1)
        kinds=$(find "$art/$t" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
            -o -name 'timeout-*' -o -name 'oom-*' \) -printf '%f\n' | sed 's/-.*//' | sort | uniq -c |
            awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }')
        if [ "$rc" != 0 ] && [ "$found" -eq 0 ]; then found=1 kinds="exit $rc, no artifact"; fi
        findings_total=$((findings_total + found))
        printf '%-16s %12s %9s %6s %7s %8s %9s  %s\n' "$t" "${execs:--}" "${eps:--}" "${cov:--}" \
            "${ft:--}" "${corp:--}" "${rss:--}" "$found${kinds:+ ($kinds)}"
    done
    printf '# total findings: %d\n' "$findings_total"

    if [ "$findings_total" -gt 0 ]; then
        echo "fuzz.sh: findings in $art; logs in $work/TARGET/log" >&2
        exit 1
    fi
fi

if [ "$merge" = 1 ]; then    # coverage-adding inputs only, capped
    for t in "${targets[@]}"; do
        repo="$here/test/fuzz/corpus/$t" stage="$work/$t/merge"
        rm -rf "$stage" && mkdir -p "$stage"
        cp "$repo"/* "$stage/" 2>/dev/null
        ls "$stage" | sort >"$work/$t/before"
        (cd "$work/$t" && "$bdir/test/$t" -merge=1 -timeout="$tmo" -rss_limit_mb=2048 \
            "$stage" "$work/$t/corpus" >"$work/$t/merge.log" 2>&1) ||
            { echo "fuzz.sh: merge failed for $t (see $work/$t/merge.log)" >&2; keep=1; continue; }
        budget=$((merge_kb * 1024)) added=0 bytes=0
        # smallest first, 4 KiB a file at most, until the budget is spent
        while read -r sz f; do
            [ "$added" -lt "$merge_files" ] || break
            [ "$sz" -le 4096 ] && [ $((bytes + sz)) -le "$budget" ] || continue
            cp "$stage/$f" "$repo/$f" && added=$((added + 1)) bytes=$((bytes + sz))
        done < <(ls "$stage" | sort | comm -13 "$work/$t/before" - |
                 while read -r f; do echo "$(stat -c %s "$stage/$f") $f"; done | sort -n)
        printf 'merge %-16s +%d inputs, %d bytes\n' "$t" "$added" "$bytes"
    done
fi
[ "$keep" = 1 ] && echo "fuzz.sh: work dir kept: $work" >&2 || rm -rf "$work"
exit 0
