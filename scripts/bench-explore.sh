#!/usr/bin/env bash
# `faultline explore` beside stateright's own model-checking examples, in one session:
# unique states per second on 2PC and Paxos. stateright comes from crates.io as the
# dev-dependency of benches/stateright (its examples ship in the crate); its build
# goes to $CARGO_TARGET_DIR/stateright. Each stateright run is stopped after
# SECONDS_EACH seconds (its 2PC with 10 resource managers runs for minutes) and its
# last progress line read (it reaches 3-4 M unique states); faultline's searches run to
# completion, or to 4 M states for TwoPhase, the same scale.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${SECONDS_EACH:-10}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --locked -q
(cd benches/stateright && cargo fetch --locked -q)
SR=$(cd benches/stateright && cargo metadata --locked --format-version 1 |
    python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="stateright"))')
CARGO_TARGET_DIR=$TARGET/stateright cargo build --release -q --manifest-path "$SR" --example 2pc --example paxos
EX=$TARGET/stateright/release/examples
# stateright's 2PC model (Gray and Lamport's TwoPhase) as a faultline protocol, searched
# by faultline's explorer: benches/stateright/twophase.rs.
(cd benches/stateright && CARGO_TARGET_DIR=$TARGET/stateright cargo build --release --locked -q --bin twophase)

stateright() { # name args...: unique states per second over SECONDS_EACH seconds
    local out
    # shellcheck disable=SC2086 # PIN is a command prefix, split on purpose
    out=$(timeout -s INT "$SECONDS_EACH" ${PIN:-} "$EX/$1" "${@:2}" 2>&1 || true)
    echo "$out" | grep '^Checking\. states=' | tail -1 |
        python3 -c "import sys,re; l=sys.stdin.read(); u=int(re.search(r'unique=(\d+)',l).group(1)); s=int(re.search(r'states=(\d+)',l).group(1)); print(f'{u/$SECONDS_EACH:>12,.0f} unique/s  {s/$SECONDS_EACH:>12,.0f} states/s  (stopped after ${SECONDS_EACH}s: unique={u:,})')"
}
ours() { # scenario args...: unique states per second of a complete search
    "$TARGET/release/faultline" explore "$@" --json |
        python3 -c "import sys,json; j=json.load(sys.stdin); print(f\"{j['unique_per_second']:>12,} unique/s  {j['transitions']/j['seconds']:>12,.0f} transitions/s  ({j['unique']:,} unique in {j['seconds']:.2f}s, {j['stop']})\")"
}

echo "machine: $(nproc) cores; stateright uses them all (or one, under taskset); faultline explore --jobs 1 and 2"
printf '%-44s ' "stateright 0.31 examples/2pc check 10"; stateright 2pc check 10
# stateright starts a thread per CPU it may run on (num_cpus follows the affinity).
printf '%-44s ' "  the same on one core (taskset -c 0)"; PIN="taskset -c 0" stateright 2pc check 10
printf '%-44s ' "faultline explore, TwoPhase model, 10 RMs"; "$TARGET/stateright/release/twophase" 10 4000000 2
printf '%-44s ' "  the same on one thread"; "$TARGET/stateright/release/twophase" 10 4000000 1
printf '%-44s ' "faultline explore explore/twopc depth 10"; ours explore/twopc --depth 10 --timers 2 --jobs 2
printf '%-44s ' "  the same on one thread"; ours explore/twopc --depth 10 --timers 2 --jobs 1
printf '%-44s ' "stateright 0.31 examples/paxos check 6"; stateright paxos check 6
printf '%-44s ' "faultline explore explore/paxos depth 9"; ours explore/paxos --depth 9 --timers 2 --jobs 2
printf '%-44s ' "  the same on one thread"; ours explore/paxos --depth 9 --timers 2 --jobs 1
printf '%-44s ' "faultline explore explore/raft depth 7"; ours explore/raft --depth 7 --timers 2 --jobs 2
