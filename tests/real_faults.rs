//! Fault tests with the real Scaler 2.9.0 client and workers (tests/python/faults.py): kill -9 of a worker
//! mid-task (every task answered exactly once), kill -9 of a client (tasks canceled, objects deleted) and
//! a restart of an external object storage server. Skipped with SCALER_RS_SKIP_REAL_PEERS=1.
use std::process::Command;

#[test]
fn real_peer_faults() {
    if std::env::var("SCALER_RS_SKIP_REAL_PEERS").is_ok_and(|v| v == "1") {
        eprintln!("SCALER_RS_SKIP_REAL_PEERS=1: skipped");
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let venv = Command::new("bash")
        .arg(format!("{root}/scripts/python-env.sh"))
        .output()
        .expect("bash runs");
    assert!(
        venv.status.success(),
        "python env: {}",
        String::from_utf8_lossy(&venv.stderr)
    );
    let venv = String::from_utf8_lossy(&venv.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let out = Command::new(format!("{venv}/bin/python"))
        .arg(format!("{root}/tests/python/faults.py"))
        .arg(env!("CARGO_BIN_EXE_scaler-rs"))
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && stdout.contains("3 passed, 0 failed"),
        "fault tests failed:\n{stdout}"
    );
}
