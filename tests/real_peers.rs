//! Integration over loopback with the real, unmodified Scaler 2.9.0 Python client and native workers
//! (`scaler_worker_manager baremetal_native`): submit, map, graph, cancel, send_object, exceptions,
//! nested tasks and graph failure through this crate's `scaler-rs` binary.
//!
//! Needs Python 3 and PyPI access on first run (scripts/python-env.sh installs opengris-scaler 2.9.0
//! into ~/.cache/scaler-rs/venv). Set SCALER_RS_SKIP_REAL_PEERS=1 to skip where neither is available.
mod common;
use std::process::Command;

#[test]
fn real_scaler_client_and_workers() {
    let Some(venv) = common::scaler_venv() else {
        return;
    };
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/tests/python/run_first_light.sh"))
        .env("SCALER_RS_BIN", env!("CARGO_BIN_EXE_scaler-rs"))
        .env("SCALER_VENV", &venv)
        .env_remove("SCHEDULER_CMD")
        .env_remove("EXTERNAL_OSS")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "first light failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("10 passed, 0 failed"),
        "unexpected summary:\n{stdout}"
    );
}
