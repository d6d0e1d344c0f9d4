#!/usr/bin/env bash
# Soak test (long; not in CI): scaler-rs under the native load generator plus real Scaler 2.9.0 workers and
# clients, with kill -9 of a real worker or client (alternating, replaced at once) every few seconds.
# Checks exactly-once answers on both sides, RSS end vs start (<= +10%), open fds idle end vs idle start,
# and the scheduler's state once every peer left; exits non-zero if any check fails. Loopback only.
#
#   scripts/soak.sh [--minutes 10] [--max-minutes 2x minutes] [--binary PATH] [--bench PATH] [--out DIR]
#                   [more tests/python/soak.py flags]
#
# Defaults: --binary target/release/scaler-rs, --bench the scaler-rs-bench beside the binary (else
# target/release/scaler-rs-bench), --out target/soak/<UTC time>. Figures: docs/soak.md.
# `tests/python/soak.py --help` lists the other knobs (slots, kill interval, native run size, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/scaler-rs
BENCH=
MINUTES=10
MAX_MINUTES=
OUT=target/soak/$(date -u +%Y%m%dT%H%M%SZ)
REST=()
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) BIN=$2; shift 2 ;;
        --bench) BENCH=$2; shift 2 ;;
        --minutes) MINUTES=$2; shift 2 ;;
        --max-minutes) MAX_MINUTES=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) REST+=("$1"); shift ;;
    esac
done
BIN=$(realpath "$BIN")
if [ -z "$BENCH" ]; then
    BENCH="$(dirname "$BIN")/scaler-rs-bench"
    [ -x "$BENCH" ] || BENCH=target/release/scaler-rs-bench
fi
BENCH=$(realpath "$BENCH")
for f in "$BIN" "$BENCH"; do
    [ -x "$f" ] || { echo "soak: $f is not an executable (cargo build --release --bins)" >&2; exit 2; }
done
# --help exits 2 by design; read its text, not its status.
case "$("$BENCH" --help 2>&1 || true)" in *--capability*) ;; *)
    echo "soak: $BENCH has no --capability flag (it predates the soak test)" >&2; exit 2 ;; esac
[ -n "$MAX_MINUTES" ] || MAX_MINUTES=$(python3 -c "print(2 * $MINUTES)")
VENV=$(scripts/python-env.sh)
mkdir -p "$OUT"
# Bounded: the load phase ends by --max-minutes; draining and the checks take a few minutes more at most.
LIMIT=$(python3 -c "print(int($MAX_MINUTES * 60 + 600))")
set +e
timeout --kill-after=30 "$LIMIT" "$VENV/bin/python" tests/python/soak.py --binary "$BIN" --bench "$BENCH" \
    --minutes "$MINUTES" --max-minutes "$MAX_MINUTES" --out "$OUT" "${REST[@]}" 2>&1 | tee "$OUT/soak.out"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 124 ] && echo "soak: timed out after $LIMIT s" >&2
exit "$rc"
