#!/usr/bin/env bash
# Runs scaler-rs with 2 native workers and a client keeping them busy, then captures the real Scaler
# 2.9.0 monitors pointed at scaler-rs: scaler_top in a tmux terminal (docs/scaler_top.txt) and the web GUI
# in headless Chromium (docs/scaler_gui.png; needs `apt-get install chromium`). PORT (28100): the
# scheduler's port (the monitor on PORT + 2).
set -uo pipefail
cd "$(dirname "$0")/.."
VENV="$(scripts/python-env.sh | tail -1)"
PORT=${PORT:-28100}
ADDR="tcp://127.0.0.1:$PORT"
MON="tcp://127.0.0.1:$((PORT + 2))"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done; sleep 1; for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; pkill -f "worker-manager-id shots-$PORT" 2>/dev/null; }
trap cleanup EXIT
target/release/scaler-rs "$ADDR" --logging-level WARNING > /tmp/shots-scheduler.log 2>&1 & pids+=($!)
sleep 0.5
"$VENV/bin/scaler_worker_manager" baremetal_native --mode fixed --max-task-concurrency 2 --worker-manager-id "shots-$PORT" "$ADDR" > /tmp/shots-workers.log 2>&1 & pids+=($!)
"$VENV/bin/python" - "$ADDR" > /tmp/shots-client.log 2>&1 <<'PY' & pids+=($!)
import sys, time
from scaler import Client
def work(x):
    time.sleep(0.2)
    return x
with Client(address=sys.argv[1]) as c:
    ref = c.send_object(list(range(100000)), name="big_list")
    c.get({"a": 1, "b": (work, "a"), "c": (work, "b")}, keys=["c"])
    while True:
        c.map(work, range(40))
PY
sleep 6
scripts/capture-top.sh "$VENV" "$MON" docs/scaler_top.txt 160 40
pids+=($(scripts/capture-gui.sh "$VENV" "$MON" $((PORT + 50)) docs/scaler_gui.png 1600,1000))
