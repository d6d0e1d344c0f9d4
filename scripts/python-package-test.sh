#!/usr/bin/env bash
# The Python path, as a user takes it: build the wheel from this checkout with pip (PEP 517, maturin from PyPI),
# install it into a fresh venv beside opengris-scaler==2.9.0 (and ray, for the ray compat test), then run
# tests/python_pkg with pytest: argument translation, start/stop/exit codes, errors, and Scaler's own launchers
# (SchedulerClusterCombo, ray compat, `scaler config.toml`, scaler_scheduler) running scaler-rs.
# SCALER_RS_TEST_PARFUN=1 also installs opengris-parfun (with scikit-learn; about a minute more) and runs its
# scaler_local test instead of skipping it. SCALER_RS_TEST_EXAMPLES=1 also downloads the 2.9.0 source package and
# runs five of its examples unchanged (tests/python_pkg/test_examples.py; implies parfun). SCALER_RS_PYTEST_ARGS adds pytest arguments (e.g. "-k combo"). PYTHON (python3) makes the venv. Work files go to target/python-package-test/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK="$ROOT/target/python-package-test"
PYTHON="${PYTHON:-python3}"
rm -rf "$WORK"
mkdir -p "$WORK/wheels"
start=$(date +%s)
phase() { echo "python-package-test: $1 ($(( $(date +%s) - start )) s so far)"; }

# Reuses target/ (cargo's fingerprints), so after `cargo build --release` this mostly links.
"$PYTHON" -m pip wheel --no-deps -q -w "$WORK/wheels" "$ROOT"
WHEEL=$(ls "$WORK"/wheels/scaler_rs-*.whl)
phase "built $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KiB)"

"$PYTHON" -m venv "$WORK/venv"
VENV_PY="$WORK/venv/bin/python"
EXTRA=()
if [ "${SCALER_RS_TEST_EXAMPLES:-0}" = 1 ]; then
    SCALER_RS_TEST_PARFUN=1
    "$PYTHON" -m pip download -q --no-deps --no-binary opengris-scaler opengris-scaler==2.9.0 -d "$WORK/sdist"
    tar -xzf "$WORK"/sdist/opengris_scaler-2.9.0.tar.gz -C "$WORK/sdist"
    export SCALER_RS_EXAMPLES_DIR="$WORK/sdist/opengris_scaler-2.9.0/examples"
fi
[ "${SCALER_RS_TEST_PARFUN:-0}" = 1 ] && EXTRA+=(opengris-parfun)
"$VENV_PY" -m pip install -q --disable-pip-version-check opengris-scaler==2.9.0 ray pytest "${EXTRA[@]}"
"$VENV_PY" -m pip install -q --disable-pip-version-check "$WHEEL"
phase "fresh venv with opengris-scaler 2.9.0, ray and the wheel"

# The switch must be off in the test process itself; the tests turn it on per case.
env -u SCALER_SCHEDULER -u SCALER_RS_BINARY SCALER_RS_TEST_RAY=1 SCALER_RS_TEST_PARFUN="${SCALER_RS_TEST_PARFUN:-0}" \
    "$VENV_PY" -m pytest -p no:cacheprovider -q tests/python_pkg ${SCALER_RS_PYTEST_ARGS:-}
# (pytest's summary stays the last line, for CI; the total is the phase time above plus pytest's own.)
