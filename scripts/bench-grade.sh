#!/usr/bin/env bash
# How long `faultline grade` takes on each bundled suite, against a baseline measured
# in the same run: `faultline sweep` over the same scenarios and seeds, one process
# per part (what an autograder would do without `grade`). Grading a broken variant
# is timed too, since each failing seed writes a run folder and its viewer.
# Usage: scripts/bench-grade.sh [RUNS]   (a release build: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
B=target/release/faultline
RUNS=${1:-3}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export FAULTLINE_GRADE_SECRET=benchmark-secret

# The best wall-clock time of RUNS runs of a command, in seconds.
best() {
    local best=""
    for _ in $(seq "$RUNS"); do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || true
        t1=$(date +%s.%N)
        best=$(python3 -c "b='$best'; t=$t1-$t0; print(t if not b or t < float(b) else b)")
    done
    printf '%.2f' "$best"
}

# Every part's scenario and how many seeds grade runs for it (public and hidden).
sweeps() {
    $B grade "$1" --jobs 2 --json --out "$OUT/list" 2>/dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin)["parts"]:
    print(p["scenario"], p["seeds"])'
}

# The baseline: as many seeds of each part's scenario, one `sweep` process per part.
baseline() {
    while read -r scenario n; do
        $B sweep "$scenario" --seeds "1..=$n" --variant correct --expect pass --jobs 2
    done < "$OUT/parts"
}

printf '| suite | seeds graded | grade, --jobs 1 | grade, --jobs 2 | one sweep per part (baseline) | baseline / grade (--jobs 2) |\n|---|---:|---:|---:|---:|---:|\n'
for suite in raft paxos twopc store; do
    sweeps "$suite" > "$OUT/parts"
    n=$(awk '{n += $2} END {print n}' "$OUT/parts")
    g1=$(best $B grade "$suite" --jobs 1 --out "$OUT/g")
    g2=$(best $B grade "$suite" --jobs 2 --out "$OUT/g")
    b=$(best baseline)
    printf '| %s | %s | %s s | %s s | %s s | %.2f |\n' "$suite" "$n" "$g1" "$g2" "$b" "$(python3 -c "print($b / $g2)")"
done
v=$(best $B grade raft --variant vote-without-log-check --jobs 2 --out "$OUT/v")
printf '\nraft, variant vote-without-log-check (failing seeds write run folders and viewers): %s s with --jobs 2\n' "$v"
