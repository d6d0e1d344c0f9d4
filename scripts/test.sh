#!/usr/bin/env bash
# Runs every test: the style gates (rustfmt, clippy with warnings as errors), unit tests, deterministic
# simulation of the core (also in the debug profile, so its debug_assert!s and invariant checks run),
# the hostile-peer matrix, and the loopback integration tests with the real Scaler 2.9.0 client and
# workers (first light, faults, TLS), which install their Python venv on first use.
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

step "debug-profile pass: simulation and unit tests with debug_assert!s on"
cargo test --lib --test simulation 2>&1 | tee target/test-debug.log

# One closing line for the whole run (cargo prints one per test binary).
step "summary"
cat target/test.log target/test-debug.log |
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0 || p == 0) }'
