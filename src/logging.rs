//! Log sinks as Scaler's `--logging-paths` names them (stdout, stderr, files), in Scaler's line format:
//! `%Y-%m-%d %H:%M:%S+0000 LEVEL scaler[pid]: message` (UTC).
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

enum Sink {
    Stdout,
    Stderr,
    File(Mutex<File>),
}

struct Logger {
    sinks: Vec<Sink>,
    level: LevelFilter,
    pid: u32,
}

/// Installs the logger. Paths: `-` or `/dev/stdout`, `/dev/stderr`, or a file (appended to).
pub fn init(paths: &[String], level: LevelFilter) -> Result<(), String> {
    let mut sinks = Vec::new();
    for p in paths {
        sinks.push(match p.as_str() {
            "-" | "/dev/stdout" => Sink::Stdout,
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

impl Log for Logger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let line = format!(
            "{} {} scaler[{}]: {}\n",
            format_utc(secs),
            level_name(r.level()),
            self.pid,
            r.args()
        );
        for s in &self.sinks {
            let _ = match s {
                Sink::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
                Sink::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
                Sink::File(f) => f
                    .lock()
                    .map(|mut f| f.write_all(line.as_bytes()))
                    .unwrap_or(Ok(())),
            };
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
