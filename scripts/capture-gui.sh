#!/usr/bin/env bash
# capture-gui.sh VENV MONITOR_ADDRESS GUI_PORT OUT.png WIDTH,HEIGHT: starts the real scaler_gui on the
# monitor address and saves a headless-Chromium screenshot of it (needs `apt-get install chromium`).
# Prints the GUI's pid on stdout so the caller can stop it.
set -uo pipefail
VENV=$1; MON=$2; GUI_PORT=$3; OUT=$4; SIZE=$5
command -v chromium > /dev/null || { echo "chromium not installed: no $OUT" >&2; exit 0; }
"$VENV/bin/scaler_gui" "$MON" --gui-address "127.0.0.1:$GUI_PORT" > "/tmp/gui-$GUI_PORT.log" 2>&1 &
echo $!
sleep 8
timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --window-size="$SIZE" \
    --screenshot="$OUT" "http://127.0.0.1:$GUI_PORT/" > "/tmp/chromium-$GUI_PORT.log" 2>&1
echo "captured $OUT" >&2
