//! `ws://` and `wss://` with the real Scaler 2.9.0 client, native workers, object storage server and
//! scaler_top (tests/python/ws_check.py; issue 12). wss uses the test-only self-signed certificate in
//! tests/data. Skipped with SCALER_RS_SKIP_REAL_PEERS=1.
mod common;

fn ws_check(scheme: &str) {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    common::run_python_check(
        "ws_check.py",
        &[
            env!("CARGO_BIN_EXE_scaler-rs"),
            scheme,
            &format!("{data}/tls-test-cert.pem"),
            &format!("{data}/tls-test-key.pem"),
        ],
        "3 passed, 0 failed",
    );
}

#[test]
fn real_peers_over_ws() {
    ws_check("ws");
}

#[test]
fn real_peers_over_wss() {
    ws_check("wss");
}
