//! A hostile object storage link with the real Scaler 2.9.0 client and native workers
//! (tests/python/hostile_storage_real.py): a proxy in front of the real `scaler_object_storage_server`
//! answers the scheduler's first three link connections with a frame length of 2^64-1, then 2^45, then
//! garbage; the scheduler must log each close, reconnect, stay up and run a submit, a map and a
//! send_object for the real peers. The session-2 binary died on the first of those headers.
//! Skipped with SCALER_RS_SKIP_REAL_PEERS=1.
mod common;

#[test]
fn real_peers_survive_a_hostile_storage_link() {
    common::run_python_check(
        "hostile_storage_real.py",
        &[env!("CARGO_BIN_EXE_scaler-rs")],
        "hostile storage with real peers: PASS",
    );
}
