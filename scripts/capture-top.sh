#!/usr/bin/env bash
# capture-top.sh VENV MONITOR_ADDRESS OUT.txt COLUMNS ROWS: runs the real scaler_top in a detached tmux
# terminal of that size, lets it draw a few status messages, and saves the screen as text.
set -uo pipefail
VENV=$1; MON=$2; OUT=$3; COLS=$4; ROWS=$5
SESSION="scalertop-$$"
tmux new-session -d -x "$COLS" -y "$ROWS" -s "$SESSION" "$VENV/bin/scaler_top $MON"
sleep 6
mkdir -p "$(dirname "$OUT")"
tmux capture-pane -p -t "$SESSION" > "$OUT"
tmux kill-session -t "$SESSION" 2>/dev/null
echo "captured $OUT ($(wc -l < "$OUT") lines)"
