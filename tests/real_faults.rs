//! Fault tests with the real Scaler 2.9.0 client and workers (tests/python/faults.py): kill -9 of a worker
//! mid-task (every task answered exactly once), kill -9 of a client (tasks canceled, objects deleted) and
//! a restart of an external object storage server. Skipped with SCALER_RS_SKIP_REAL_PEERS=1.
mod common;

#[test]
fn real_peer_faults() {
    common::run_python_check(
        "faults.py",
        &[env!("CARGO_BIN_EXE_scaler-rs")],
        "3 passed, 0 failed",
    );
}
