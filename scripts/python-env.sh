#!/usr/bin/env bash
# Prints the path of a venv holding opengris-scaler 2.9.0 (the real peers), creating it on first use.
# SCALER_RS_VENV overrides the location (default ~/.cache/scaler-rs/venv).
set -euo pipefail
VENV="${SCALER_RS_VENV:-$HOME/.cache/scaler-rs/venv}"
if ! "$VENV/bin/python" -c "import scaler, importlib.metadata as m; assert m.version('opengris-scaler') == '2.9.0'" 2>/dev/null; then
    echo "creating $VENV with opengris-scaler==2.9.0" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q opengris-scaler==2.9.0 >&2
fi
echo "$VENV"
