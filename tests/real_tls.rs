//! `tls://` with the real Scaler 2.9.0 client and workers (tests/python/tls_check.py), using a test-only
//! self-signed certificate in tests/data. Skipped with SCALER_RS_SKIP_REAL_PEERS=1.
mod common;

#[test]
fn real_client_over_tls() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    common::run_python_check(
        "tls_check.py",
        &[
            env!("CARGO_BIN_EXE_scaler-rs"),
            &format!("{data}/tls-test-cert.pem"),
            &format!("{data}/tls-test-key.pem"),
        ],
        "1 passed, 0 failed",
    );
}
