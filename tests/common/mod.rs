//! Helpers shared by the integration tests that run the `scaler-rs` binary.
#![allow(dead_code)]
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A base port P such that P, P+1 and P+2 were free a moment ago.
pub fn free_ports() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        drop(l);
        if p < 65000 && (1..3).all(|i| TcpListener::bind(("127.0.0.1", p + i)).is_ok()) {
            return p;
        }
    }
}

pub struct Scheduler {
    pub child: Child,
    pub port: u16,
    pub log: std::path::PathBuf,
}

impl Scheduler {
    pub fn start(extra: &[&str]) -> Scheduler {
        Scheduler::start_at("tcp", "", extra)
    }

    /// Bound to `SCHEME://127.0.0.1:PORT{suffix}` (e.g. `ws`, `/ymq`).
    pub fn start_at(scheme: &str, suffix: &str, extra: &[&str]) -> Scheduler {
        let port = free_ports();
        let log = std::env::temp_dir().join(format!("scaler-rs-test-{port}.log"));
        let _ = std::fs::remove_file(&log);
        let mut args: Vec<String> = vec![format!("{scheme}://127.0.0.1:{port}{suffix}")];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend([
            "--logging-level".into(),
            "DEBUG".into(),
            "--logging-paths".into(),
            log.display().to_string(),
        ]);
        let child = Command::new(env!("CARGO_BIN_EXE_scaler-rs"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "scheduler did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Scheduler { child, port, log }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, then the exit code (None if it had to be killed).
    pub fn terminate(mut self) -> Option<i32> {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The venv with the real Scaler 2.9.0 (made by scripts/python-env.sh on first use); `None` when the
/// real-peer tests are switched off with SCALER_RS_SKIP_REAL_PEERS=1.
pub fn scaler_venv() -> Option<String> {
    if std::env::var("SCALER_RS_SKIP_REAL_PEERS").is_ok_and(|v| v == "1") {
        eprintln!("SCALER_RS_SKIP_REAL_PEERS=1: skipped");
        return None;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let venv = Command::new("bash")
        .arg(format!("{root}/scripts/python-env.sh"))
        .output()
        .expect("bash runs");
    assert!(
        venv.status.success(),
        "scripts/python-env.sh could not provide opengris-scaler 2.9.0 (needs python3 + PyPI; \
         SCALER_RS_SKIP_REAL_PEERS=1 skips the real-peer tests):\n{}",
        String::from_utf8_lossy(&venv.stderr)
    );
    Some(
        String::from_utf8_lossy(&venv.stdout)
            .lines()
            .last()
            .expect("python-env.sh prints the venv path")
            .trim()
            .to_string(),
    )
}

/// Runs a Python script of tests/python with the real Scaler 2.9.0 venv (scripts/python-env.sh) and
/// asserts that it succeeded with the `N passed, 0 failed` line it prints. `None` when the real-peer
/// tests are switched off with SCALER_RS_SKIP_REAL_PEERS=1.
pub fn run_python_check(script: &str, args: &[&str], expect: &str) -> Option<String> {
    let venv = scaler_venv()?;
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(format!("{venv}/bin/python"))
        .arg(format!("{root}/tests/python/{script}"))
        .args(args)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && stdout.contains(expect),
        "{script} failed:\n{stdout}"
    );
    Some(stdout)
}
