//! Log sinks as Scaler's `--logging-paths` names them, behind the `log` facade.
//!
//! - `/dev/stdout` and `-` (the default): `simple_logger::SimpleLogger`, at the `--logging-level`, with
//!   UTC timestamps and without colors, in its own line format
//!   (`2026-11-22T16:00:00.000Z INFO  [scaler_rs::transport::server] message`). simple_logger prints to
//!   stdout only (its `stderr` cargo feature would send every line to stderr instead, for the whole
//!   build), so it serves this sink alone.
//! - `/dev/stderr` and files (appended to): our own writer, in Scaler's line format
//!   `%Y-%m-%d %H:%M:%S+0000 LEVEL scaler[pid]: message` (UTC), since simple_logger cannot write
//!   files and Scaler's test suite greps the log file.
//!
//! One fan-out logger is installed and calls each sink. simple_logger's `println!` panics when stdout
//! is gone (a closed pipe): that is caught, and the stdout sink is then switched off, so a lost
//! terminal never stops the scheduler.
use log::{Level, LevelFilter, Log, Metadata, Record};
use simple_logger::SimpleLogger;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

enum Sink {
    /// Through simple_logger; switched off after the first failed write.
    Stdout(SimpleLogger, AtomicBool),
    Stderr,
    File(Mutex<File>),
}

struct Logger {
    sinks: Vec<Sink>,
    level: LevelFilter,
    pid: u32,
}

fn stdout_logger(level: LevelFilter) -> SimpleLogger {
    SimpleLogger::new().with_level(level).with_utc_timestamps()
}

/// Installs the logger. Paths: `-` or `/dev/stdout`, `/dev/stderr`, or a file (appended to).
pub fn init(paths: &[String], level: LevelFilter) -> Result<(), String> {
    let mut sinks = Vec::new();
    for p in paths {
        sinks.push(match p.as_str() {
            "-" | "/dev/stdout" => Sink::Stdout(stdout_logger(level), AtomicBool::new(false)),
            "/dev/stderr" => Sink::Stderr,
            path => Sink::File(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("cannot open log file {path}: {e}"))?,
            )),
        });
    }
    let logger = Logger {
        sinks,
        level,
        pid: std::process::id(),
    };
    log::set_boxed_logger(Box::new(logger)).map_err(|e| e.to_string())?;
    log::set_max_level(level);
    Ok(())
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    }
}

/// UTC civil time from a Unix timestamp (Howard Hinnant's days-from-civil inverse).
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}+0000",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

impl Logger {
    /// A record in Scaler's line format.
    fn scaler_line(&self, r: &Record<'_>) -> String {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!(
            "{} {} scaler[{}]: {}\n",
            format_utc(secs),
            level_name(r.level()),
            self.pid,
            r.args()
        )
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let mut line: Option<String> = None;
        for s in &self.sinks {
            match s {
                Sink::Stdout(simple, off) => {
                    if off.load(Ordering::Relaxed) {
                        continue;
                    }
                    let wrote =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| simple.log(r)));
                    if wrote.is_err() {
                        off.store(true, Ordering::Relaxed);
                    }
                }
                Sink::Stderr => {
                    let line = line.get_or_insert_with(|| self.scaler_line(r));
                    let _ = std::io::stderr().lock().write_all(line.as_bytes());
                }
                Sink::File(f) => {
                    let line = line.get_or_insert_with(|| self.scaler_line(r));
                    if let Ok(mut f) = f.lock() {
                        let _ = f.write_all(line.as_bytes());
                    }
                }
            }
        }
    }

    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_format() {
        assert_eq!(super::format_utc(0), "1970-01-01 00:00:00+0000");
        assert_eq!(super::format_utc(1_795_363_200), "2026-11-22 16:00:00+0000");
    }
}
