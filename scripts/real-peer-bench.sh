#!/usr/bin/env bash
# Real-peer harness: the unmodified Scaler 2.9.0 client and 2 native workers (scaler_worker_manager
# baremetal_native) through scaler-rs (embedded object storage), scaler-rs with the external object storage
# server, the Python scaler_scheduler 2.9.0 and the bare forwarder, in one run; reports per scheduler and
# workload (client.map / client.submit of TASKS no-op tasks, LATENCY_TASKS one at a time) the scheduler's
# CPU per task, wake-ups per task, tasks/s, latency p50/p99, and (a separate pass under strace -c, which
# slows the traced process) system calls per task by kind. See scripts/real_peer_bench.py.
#   TASKS (5000)  LATENCY_TASKS (1000)  ROUNDS (1: repeat the scheduler list, interleaved)  STRACE (1)
#   RS_BIN (target/release/scaler-rs)  BEFORE_BIN (unset: if set, also runs that binary as "before",
#   interleaved with RS_BIN, for A/B)  SCHEDULERS (default "rs rs+oss py fw")
#   ALTERNATE=1  reverse the scheduler order in every second round (no binary always first)
#   RATIO="NUM/DEN ..."  paired ratios of scheduler CPU per task by round, e.g. "scaler-rs+oss/forwarder"
#                (NAME+storage: NAME's CPU plus that of the external object storage server it used)
#   BIG_OBJECT=1  run the big-object isolation measurement instead (OBJECT_BYTES, OBJECT_ROUNDS; BULK_IDLE=1
#                 runs the big object's uploader and worker under SCHED_IDLE; BIG_OBJECT_STORAGE=external is
#                 the control: the object goes through the Python object storage server, not the scheduler;
#                 BIG_OBJECT_STORAGE=direct is the floor: the same bytes between the bulk processes over a
#                 socket of their own, through no server, while the tiny tasks run through scaler-rs)
# Take the benchmark lock around it on a shared machine: flock /work/coord/bench.lock scripts/real-peer-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$(scripts/python-env.sh | tail -1)"
cargo build --release --bins -q
RS_BIN=$(realpath "${RS_BIN:-target/release/scaler-rs}")
FW_BIN=$(realpath target/release/scaler-rs-forwarder)
command -v strace >/dev/null || { echo "strace is needed (apt-get install -y strace)" >&2; exit 2; }
if [ "${BIG_OBJECT:-0}" = 1 ]; then
    exec "$VENV/bin/python" scripts/real_peer_bench.py --venv "$VENV" --big-object "$RS_BIN" \
        --object-bytes "${OBJECT_BYTES:-1073741824}" --object-rounds "${OBJECT_ROUNDS:-3}" \
        --big-object-storage "${BIG_OBJECT_STORAGE:-embedded}" \
        $([ "${BULK_IDLE:-0}" = 1 ] && echo --bulk-idle) "$@"
fi
ARGS=()
for s in ${SCHEDULERS:-rs rs+oss py fw}; do
    case $s in
        rs) [ -n "${BEFORE_BIN:-}" ] && ARGS+=(--scheduler "before=rs:$(realpath "$BEFORE_BIN")")
            ARGS+=(--scheduler "scaler-rs=rs:$RS_BIN") ;;
        rs+oss) [ -n "${BEFORE_BIN:-}" ] && ARGS+=(--scheduler "before+oss=rs+oss:$(realpath "$BEFORE_BIN")")
            ARGS+=(--scheduler "scaler-rs+oss=rs+oss:$RS_BIN") ;;
        py) ARGS+=(--scheduler "python=py:$VENV/bin/scaler_scheduler") ;;
        fw) ARGS+=(--scheduler "forwarder=fw:$FW_BIN") ;;
    esac
done
[ "${STRACE:-1}" = 1 ] && ARGS+=(--strace)
[ "${ALTERNATE:-0}" = 1 ] && ARGS+=(--alternate)
for r in ${RATIO:-}; do ARGS+=(--ratio "$r"); done
exec "$VENV/bin/python" scripts/real_peer_bench.py --venv "$VENV" --tasks "${TASKS:-5000}" \
    --latency-tasks "${LATENCY_TASKS:-1000}" --rounds "${ROUNDS:-1}" "${ARGS[@]}" "$@"
