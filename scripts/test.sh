#!/usr/bin/env bash
# The README's test command: on a fresh Debian machine it installs what the tests
# need and this machine lacks (Chromium for the viewer's browser tests, mdBook for
# the book), then runs every test of the workspace and the madsim cross-check (a
# second build, with --cfg madsim). Extra arguments go to `cargo test` and skip the
# cross-check (e.g. `scripts/test.sh --test zoo`).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

step "Chromium, headless, for the HTML viewer's tests (installed only when missing)"
if ! command -v chromium >/dev/null 2>&1; then
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
chromium --version

step "mdBook 0.5, for the book (installed only when missing)"
if ! mdbook --version 2>/dev/null | grep -q ' v0\.5\.'; then
    cargo install mdbook --version '^0.5' --no-default-features --features search --locked
fi
mdbook --version

step "tests"
cargo test --workspace --locked "$@"

# With arguments (one test binary, say), only what was asked for runs.
if [ "$#" -eq 0 ]; then
    step "the madsim cross-check: the real-network host inside madsim's simulator (--cfg madsim, its own target dir)"
    MADSIM_TARGET="${CARGO_TARGET_DIR:-target}/madsim"
    RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR="$MADSIM_TARGET" cargo clippy -p faultline-net --locked -- -D warnings
    RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR="$MADSIM_TARGET" cargo test -p faultline-protocols --test madsim --locked
fi
