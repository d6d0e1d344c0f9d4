//! `tls://` with the real Scaler 2.9.0 client and workers (tests/python/tls_check.py), using a test-only
//! self-signed certificate in tests/data. Skipped with SCALER_RS_SKIP_REAL_PEERS=1.
use std::process::Command;

#[test]
fn real_client_over_tls() {
    if std::env::var("SCALER_RS_SKIP_REAL_PEERS").is_ok_and(|v| v == "1") {
        eprintln!("SCALER_RS_SKIP_REAL_PEERS=1: skipped");
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let venv = Command::new("bash")
        .arg(format!("{root}/scripts/python-env.sh"))
        .output()
        .expect("bash runs");
    let venv = String::from_utf8_lossy(&venv.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let out = Command::new(format!("{venv}/bin/python"))
        .arg(format!("{root}/tests/python/tls_check.py"))
        .arg(env!("CARGO_BIN_EXE_scaler-rs"))
        .arg(format!("{root}/tests/data/tls-test-cert.pem"))
        .arg(format!("{root}/tests/data/tls-test-key.pem"))
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && stdout.contains("1 passed, 0 failed"),
        "tls check failed:\n{stdout}"
    );
}
