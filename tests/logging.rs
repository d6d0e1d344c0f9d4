//! `--logging-paths`: stdout through simple_logger (its format), /dev/stderr and files in Scaler's line
//! format; a stdout that goes away (closed pipe) switches that sink off without stopping the scheduler.
mod common;
use scaler_rs::tools::peer::Peer;
use scaler_rs::wire::{encode as enc, WorkerHeartbeat};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `2026-11-22 16:00:00+0000 INFO scaler[PID]: ...`
fn is_scaler_line(l: &str) -> bool {
    let b = l.as_bytes();
    l.len() > 30
        && b[4] == b'-'
        && b[10] == b' '
        && &l[19..25] == "+0000 "
        && l.contains(" scaler[")
        && l.contains("]: ")
}

/// `2026-11-22T16:00:00.000Z INFO  [scaler_rs::module] ...`
fn is_simple_logger_line(l: &str) -> bool {
    let b = l.as_bytes();
    l.len() > 30 && b[10] == b'T' && b[23] == b'Z' && l.contains(" [scaler_rs")
}

fn worker_connects(port: u16, name: &str) -> bool {
    let Ok(mut w) = Peer::connect(([127, 0, 0, 1], port).into(), name.as_bytes()) else {
        return false;
    };
    w.send(&enc::worker_heartbeat(&WorkerHeartbeat {
        queue_size: 1,
        ..Default::default()
    }))
    .is_ok()
        && matches!(w.recv(), Ok(Some(_)))
}

/// Kills the scheduler if an assertion fails before it is stopped.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
    }
}

#[test]
fn stdout_goes_through_simple_logger_and_files_keep_scalers_format() {
    let port = common::free_ports();
    let file = std::env::temp_dir().join(format!("scaler-rs-logging-{port}.log"));
    let _ = std::fs::remove_file(&file);
    let mut child = Command::new(env!("CARGO_BIN_EXE_scaler-rs"))
        .args([
            &format!("tcp://127.0.0.1:{port}"),
            "--logging-paths",
            "/dev/stdout",
            "/dev/stderr",
            file.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(child.id());
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let (mut o, mut e) = (String::new(), String::new());
    out.read_line(&mut o).unwrap();
    err.read_line(&mut e).unwrap();
    assert!(is_simple_logger_line(o.trim_end()), "stdout: {o:?}");
    assert!(
        o.contains("INFO") && o.contains("starting"),
        "stdout: {o:?}"
    );
    assert!(is_scaler_line(e.trim_end()), "stderr: {e:?}");
    assert!(
        e.contains("INFO scaler[") && e.contains("starting"),
        "{e:?}"
    );

    // The reader of stdout goes away; the next INFO line (a worker connects) hits a closed pipe.
    drop(out);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "scheduler did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(worker_connects(port, "Worker|log-1"));
    assert!(worker_connects(port, "Worker|log-2"), "still serving");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "alive after stdout closed"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().all(|l| is_scaler_line(l)), "{text}");
    assert!(
        text.contains("worker Worker|log-1 connected")
            && text.contains("worker Worker|log-2 connected"),
        "the file sink keeps logging: {text}"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    // Reaped: its pid may be reused, so it must not be signalled any more.
    std::mem::forget(guard);
    assert_eq!(status.code(), Some(0));
    // The closed pipe was hit (std's panic message, printed once), and stderr went on logging.
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert_eq!(
        rest.matches("failed printing to stdout").count(),
        1,
        "{rest}"
    );
    assert!(rest.contains("worker Worker|log-2 connected"), "{rest}");
    let _ = std::fs::remove_file(&file);
}
