#!/usr/bin/env bash
# Starts a scheduler (scaler-rs by default) and a fixed native worker manager with 2 workers, runs
# first_light.py with the real Scaler 2.9.0 client against it, and tears everything down.
#   SCALER_RS_BIN   scheduler binary (default target/release/scaler-rs)
#   SCHEDULER_CMD   another scheduler command instead (e.g. scaler_scheduler, the Python reference)
#   EXTERNAL_OSS=1  start Scaler's own object storage server and pass --object-storage-address
#   SCALER_VENV     venv with opengris-scaler 2.9.0 (default: made by scripts/python-env.sh)
#   FIRST_LIGHT_PORT  base port P (scheduler P, object storage P+1, monitor P+2, metrics P+3); default: random free
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${SCALER_VENV:-$("$ROOT/scripts/python-env.sh" | tail -1)}" || exit 3
BIN="${SCALER_RS_BIN:-$ROOT/target/release/scaler-rs}"
CMD="${SCHEDULER_CMD:-$BIN}"
[ "$CMD" = scaler_scheduler ] && CMD="$VENV/bin/scaler_scheduler"
PORT="${FIRST_LIGHT_PORT:-$("$VENV/bin/python" -c 'import socket,random
for _ in range(100):
    p = random.randint(20000, 50000)
    ok = True
    for q in (p, p + 1, p + 2, p + 3):
        s = socket.socket()
        try: s.bind(("127.0.0.1", q))
        except OSError: ok = False
        s.close()
    if ok: print(p); break')}"
ADDR="tcp://127.0.0.1:$PORT"
OSS="tcp://127.0.0.1:$((PORT + 1))"
LOGDIR="$(mktemp -d)"
PIDS=()
WM=""
cleanup() {
    for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
    sleep 1
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    # the worker manager runs in its own process group (setsid below): this also reaches its workers
    [ -n "$WM" ] && kill -KILL -- "-$WM" 2>/dev/null
    wait 2>/dev/null
    return 0
}
trap cleanup EXIT
EXTRA=()
if [ -z "${SCHEDULER_CMD:-}" ]; then
    # scaler-rs only: its metrics endpoint is scraped by first_light.py during the run.
    EXTRA+=(--metrics-address "tcp://127.0.0.1:$((PORT + 3))")
    export METRICS_URL="http://127.0.0.1:$((PORT + 3))/metrics"
fi
if [ "${EXTERNAL_OSS:-0}" = 1 ]; then
    "$VENV/bin/scaler_object_storage_server" "$OSS" > "$LOGDIR/oss.log" 2>&1 &
    PIDS+=($!)
    EXTRA+=(--object-storage-address "$OSS")
    sleep 1
fi
"$CMD" "$ADDR" "${EXTRA[@]}" --logging-level DEBUG --logging-paths "$LOGDIR/scheduler.log" > "$LOGDIR/scheduler.out" 2>&1 &
SCHED=$!
PIDS+=($SCHED)
show_logs() {
    echo "--- scheduler log tail ($LOGDIR) ---"
    tail -n 40 "$LOGDIR/scheduler.log" "$LOGDIR/scheduler.out" 2>/dev/null
    [ -f "$LOGDIR/oss.log" ] && { echo "--- object storage log tail ---"; tail -n 10 "$LOGDIR/oss.log"; }
    [ -f "$LOGDIR/workers.log" ] && { echo "--- workers log tail ---"; tail -n 20 "$LOGDIR/workers.log"; }
    return 0
}
UP=0
for _ in $(seq 100); do
    kill -0 "$SCHED" 2>/dev/null || break
    "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null && { UP=1; break; }
    sleep 0.2
done
if [ "$UP" != 1 ]; then
    echo "FAIL startup: scheduler '$CMD' is not listening on $ADDR"
    show_logs
    exit 1
fi
setsid "$VENV/bin/scaler_worker_manager" baremetal_native --mode fixed --max-task-concurrency 2 \
    --worker-manager-id "fl-$PORT" "$ADDR" > "$LOGDIR/workers.log" 2>&1 &
WM=$!
PIDS+=($WM)
cd "$ROOT/tests/python" || exit 3
timeout -k 5 150 "$VENV/bin/python" first_light.py "$ADDR"
RC=$?
[ "$RC" = 124 ] && echo "FAIL first_light.py killed after 150s"
if ! kill -0 "$SCHED" 2>/dev/null; then
    echo "scheduler died during the run"
    RC=1
fi
[ "$RC" != 0 ] && show_logs
exit $RC
