//! `scaler-rs --config` reads the `[scheduler]` section of Scaler's own `config/scheduler.toml`
//! (tests/data/scaler-2.9.0-scheduler.toml, copied verbatim from the 2.9.0 source package).
mod common;
use bytes::Bytes;
use scaler_rs::schema::message_capnp;
use scaler_rs::tools::peer::Peer;
use scaler_rs::wire::{encode as enc, ClientHeartbeat};
use std::process::Command;

const SCALER_TOML: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/scaler-2.9.0-scheduler.toml"
);

#[test]
fn runs_with_scalers_example_config() {
    // The command-line bind address overrides the file's 0.0.0.0:6378; everything else comes from it.
    let s = common::Scheduler::start(&["--config", SCALER_TOML]);
    let mut c = Peer::connect(s.addr(), b"Client|configtest").unwrap();
    c.send(&enc::client_heartbeat(&ClientHeartbeat::default()))
        .unwrap();
    let f: Bytes = c.recv().unwrap().expect("echo");
    let mut slice: &[u8] = &f;
    let r = capnp::serialize::read_message_from_flat_slice(&mut slice, Default::default()).unwrap();
    let m: message_capnp::message::Reader = r.get_root().unwrap();
    let message_capnp::message::Which::ClientHeartbeatEcho(Ok(e)) = m.which().unwrap() else {
        panic!("expected an echo")
    };
    let a = e.get_object_storage_address().unwrap();
    assert_eq!(
        a.get_host().unwrap().to_str().unwrap(),
        "127.0.0.1",
        "object_storage_address from the file"
    );
    assert_eq!(a.get_port(), 6379);
    let log = s.log_text();
    assert!(
        log.contains("scaling=Vanilla") && log.contains("balance Some(1s) x2"),
        "{log}"
    );
    assert_eq!(s.terminate(), Some(0), "SIGTERM exits 0");
}

#[test]
fn unknown_keys_are_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("scaler-rs-bad-{}.toml", std::process::id()));
    std::fs::write(
        &dir,
        "[scheduler]\nobject_storage_address = \"tcp://127.0.0.1:1\"\nload_balance_secs = 2\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scaler-rs"))
        .args(["--config", dir.to_str().unwrap(), "tcp://127.0.0.1:1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("unknown key \"load_balance_secs\""), "{err}");
}

#[test]
fn sigint_exits_zero() {
    let s = common::Scheduler::start(&[]);
    unsafe { libc::kill(s.child.id() as i32, libc::SIGINT) };
    let mut s = s;
    let status = s.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
