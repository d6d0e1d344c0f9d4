#!/usr/bin/env bash
# Runs every test: unit tests, deterministic simulation of the core, and the loopback integration test
# with the real Scaler 2.9.0 client and workers (which installs its Python venv on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/python-env.sh > /dev/null
cargo build --release --bins
cargo test --release -- --nocapture 2>&1 | tee target/test.log
grep -q "test result: ok" target/test.log
