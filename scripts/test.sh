#!/usr/bin/env bash
# Runs every test: unit tests, deterministic simulation of the core, the hostile-peer matrix, and the
# loopback integration tests with the real Scaler 2.9.0 client and workers (first light, faults, TLS),
# which install their Python venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/python-env.sh > /dev/null
cargo build --release --bins
mkdir -p target
cargo test --release --lib --bins --tests -- --nocapture 2>&1 | tee target/test.log
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0 || p == 0) }' target/test.log
