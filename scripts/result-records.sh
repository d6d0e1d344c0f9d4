#!/usr/bin/env bash
# How many object records the scheduler holds after a real 2.9.0 client ran TASKS simple tasks against its
# embedded object storage (`scaler_objects` from the metrics endpoint), and its resident memory. A 2.9.0
# client deletes each result in the storage server after fetching it; 2.9.0's scheduler never hears of it
# and keeps one record per result until the client leaves. scaler-rs drops the record when its embedded
# storage deletes the object (docs/design.md, "Objects").
#   usage: scripts/result-records.sh SCHEDULER_BINARY [TASKS (4000)]    PORT (27600; metrics on PORT + 10)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n 2,7p "$0"; exit 2; }
BIN=$(realpath "$1"); TASKS=${2:-4000}
VENV="$(scripts/python-env.sh | tail -1)"
PORT=${PORT:-27600}; METRICS=$((PORT + 10))
OUT=$(mktemp -d)
"$BIN" "tcp://127.0.0.1:$PORT" --metrics-address "tcp://127.0.0.1:$METRICS" --logging-level WARNING \
    > "$OUT/scheduler.log" 2>&1 & sched=$!
setsid "$VENV/bin/scaler_worker_manager" baremetal_native --mode fixed --max-task-concurrency 2 \
    --worker-manager-id result-records "tcp://127.0.0.1:$PORT" > "$OUT/workers.log" 2>&1 & wm=$!
trap 'kill -- -$wm 2>/dev/null || true; kill -INT $sched 2>/dev/null || true; wait $sched 2>/dev/null || true' EXIT
sleep 3
"$VENV/bin/python" - "$PORT" "$METRICS" "$TASKS" "$sched" <<'PY'
import re, sys, urllib.request
from scaler import Client
port, metrics, tasks, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def echo(x):
    return x
with Client(address=f"tcp://127.0.0.1:{port}") as c:
    for _ in range(2):  # the same arguments twice: the client sends each once
        futures = [c.submit(echo, i) for i in range(tasks // 2)]
        assert [f.result() for f in futures] == list(range(tasks // 2))
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics").read().decode()
    records = re.search(r"^scaler_objects (\d+)", text, re.M).group(1)
    rss = open(f"/proc/{pid}/status").read().split("VmRSS:")[1].split()[0]
    print(f"tasks {tasks}: scaler_objects {records}, scheduler VmRSS {rss} kB")
PY
