#!/usr/bin/env bash
# Runs every test: the style gates (rustfmt, clippy with warnings as errors), unit tests, deterministic
# simulation of the core (also in the debug profile, so its debug_assert!s and invariant checks run),
# the hostile-peer matrix, and the loopback integration tests with the real Scaler 2.9.0 client and
# workers (first light, faults, TLS), which install their Python venv on first use; then the Python
# path (scripts/python-package-test.sh: the wheel built from the checkout in a fresh venv).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "style gates"
cargo fmt --check
(cd fuzz && cargo fmt --check)
cargo clippy --all-targets -- -D warnings

step "python venv with opengris-scaler 2.9.0"
scripts/python-env.sh > /dev/null

step "release build and tests"
cargo build --release --bins
cargo test --release --lib --bins --tests -- --nocapture 2>&1 | tee target/test.log

# The debug pass: the core's invariant checks after every simulation step, the FSM golden file, and the
# hostile-peer tests against the debug binary (the transport's accounting debug_assert!s over real sockets).
step "debug-profile pass: unit tests, simulation, FSM, hostile peers with debug_assert!s on"
cargo test --lib --test simulation --test task_fsm --test hostile_peers --test hostile_storage \
    --test hostile_memory --test hostile_ws --test embedded_storage 2>&1 | tee target/test-debug.log

step "python path: pip wheel of the checkout, fresh venv, Scaler's launchers on scaler-rs"
scripts/python-package-test.sh 2>&1 | tee target/test-python.log

# One closing line for the whole run (cargo prints one per test binary, pytest one of its own).
step "summary"
# cargo's "test result:" lines from the Rust logs; pytest's own summary line only from the Python log (the
# Rust tests echo their Python scripts' "N passed, 0 failed" lines, which cargo has counted already).
awk 'FNR == 1 { py = (FILENAME ~ /test-python/) }
     (!py && /^test result:/) || (py && /^[0-9]+ (passed|failed|error)/) {
         for (i = 1; i <= NF; i++) { w = $(i); sub(/[;,]$/, "", w)
             if (w == "passed") p += $(i-1); if (w == "failed" || w == "errors" || w == "error") f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0 || p == 0) }' \
    target/test.log target/test-debug.log target/test-python.log
