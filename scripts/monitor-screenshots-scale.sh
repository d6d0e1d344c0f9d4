#!/usr/bin/env bash
# The bounded monitor feed with thousands of workers: scaler-rs with SCALE (default 2000) native workers
# from scaler-rs-bench (under one worker manager, kept busy by a client), --monitor-worker-limit LIMIT
# (default 10, so the table fits a terminal; the default 1000 behaves the same past 1000 workers), then
# the real Scaler 2.9.0 scaler_top in tmux (docs/scaler_top_scale.txt) and the web GUI in headless
# Chromium (docs/scaler_gui_scale.png). Also prints the StateScheduler size the monitors receive.
# PORT (28300): the scheduler's port (the monitor on PORT + 2).
set -uo pipefail
cd "$(dirname "$0")/.."
VENV="$(scripts/python-env.sh | tail -1)"
SCALE=${SCALE:-2000}; LIMIT=${LIMIT:-10}
PORT=${PORT:-28300}
ADDR="tcp://127.0.0.1:$PORT"
MON="tcp://127.0.0.1:$((PORT + 2))"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done; sleep 1; for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; }
trap cleanup EXIT
cargo build --release --bins -q
target/release/scaler-rs "$ADDR" --monitor-worker-limit "$LIMIT" --logging-level WARNING > /tmp/scale-scheduler.log 2>&1 & pids+=($!)
sleep 0.5
target/release/scaler-rs-bench --scheduler "$ADDR" --workers "$SCALE" --worker-manager-id "bench-$SCALE" \
    --tasks 100000 --window 200 --worker-sleep-us 200000 --timeout-seconds 120 > /tmp/scale-bench.log 2>&1 & pids+=($!)
sleep 8
scripts/capture-top.sh "$VENV" "$MON" docs/scaler_top_scale.txt 170 60
"$VENV/bin/python" - "$MON" <<'PY'
import socket, struct, sys, time
# Subscribe like a monitor (YMQ magic + identity frame) and report the largest frame in 3 s: the
# once-a-second StateScheduler, the only per-worker message.
host, port = sys.argv[1][len("tcp://"):].split(":")
s = socket.create_connection((host, int(port)))
ident = b"size-probe"
s.sendall(b"YMQ\x02" + struct.pack("<Q", len(ident)) + ident)
buf, largest, frames = b"", 0, -1  # the first frame is the scheduler's identity
deadline = time.time() + 3
s.settimeout(0.5)
while time.time() < deadline:
    try:
        buf += s.recv(1 << 20)
    except socket.timeout:
        continue
    if frames < 0 and len(buf) >= 4:
        buf, frames = buf[4:], 0
    while frames >= 0 and len(buf) >= 8 and len(buf) >= 8 + struct.unpack("<Q", buf[:8])[0]:
        n = struct.unpack("<Q", buf[:8])[0]
        largest, buf, frames = max(largest, n) if frames else largest, buf[8 + n:], frames + 1
print(f"monitor frames in 3 s: {frames}, largest: {largest} bytes")
PY
pids+=($(scripts/capture-gui.sh "$VENV" "$MON" $((PORT + 50)) docs/scaler_gui_scale.png 1600,1200))
