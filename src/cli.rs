//! The command line of `scaler_scheduler` 2.9.0 (docs/design.md, "Layers"), plus scaler-rs limits.
use crate::core::{Allocate, Scaling};
use crate::transport::{Address, Limits};
use std::time::Duration;

pub const USAGE: &str = "\
usage: scaler-rs [options] BIND_ADDRESS

A single-threaded Rust drop-in for Scaler 2.9.0's scaler_scheduler. BIND_ADDRESS is tcp://IP:PORT,
tls://IP:PORT, ws://IP:PORT[/PATH] or wss://IP:PORT[/PATH].
Without --object-storage-address an object storage server is embedded and served on BIND port + 1.

Scaler options (same names, short forms and defaults as scaler_scheduler):
  -c,   --config FILE                          TOML file; its [scheduler] section sets any long option
  -osa, --object-storage-address ADDR          external object storage server (default: embedded)
  -aosa,--advertised-object-storage-address A  storage address told to clients/workers (default: the above)
  -ma,  --monitor-address ADDR                 monitor publisher (default: BIND port + 2)
  -sri, --status-report-interval-seconds N     status publication period (default 1)
  -orl, --object-report-limit N                largest objects listed in StateObject (default 500)
  -p,   --protected                            refuse client shutdown requests
  -mt,  --max-number-of-tasks-waiting N        refuse tasks (failed: SchedulerError) while N wait; -1 = no limit
  -ct,  --client-timeout-seconds N             forget silent clients after N s (default 60)
  -wt,  --worker-timeout-seconds N             forget silent workers after N s (default 60)
  -ot,  --object-retention-seconds N           accepted (unused by 2.9.0 as well) (default 60)
  -ls,  --load-balance-seconds N               balance period; negative disables (default 1)
  -lbt, --load-balance-trigger-times N         identical advices needed before acting (default 2)
  -el,  --event-loop NAME                      accepted and ignored (builtin|uvloop)
  -it,  --io-threads N                         accepted and ignored (single-threaded by design)
  -lp,  --logging-paths PATH...                log sinks: /dev/stdout, /dev/stderr, - or files (default stdout);
                                               stdout in simple_logger's format, the others in Scaler's
  -lcf, --logging-config-file FILE             accepted and ignored
  -ll,  --logging-level LEVEL                  CRITICAL|ERROR|WARNING|INFO|DEBUG (default INFO)
  -et,  --policy-engine-type TYPE              simple|waterfall_v1 (default simple)
  -pc,  --policy-content TEXT                  default 'allocate=even_load; scaling=vanilla'
  -tc,  --tls-cert FILE / -tk, --tls-key FILE  PEM certificate chain and key for tls:// and wss://

scaler-rs options:
  --metrics-address ADDR        serve Prometheus/OpenMetrics text over HTTP at tcp://IP:PORT (default: off)

scaler-rs limits:
  --max-frame-bytes N           largest message accepted from a peer (default 1073741824)
  --max-storage-frame-bytes N   largest object accepted by the embedded storage (default 4294967296)
  --max-storage-link-frame-bytes N
                                largest frame accepted from an external object storage server (default 1048576)
  --max-queued-bytes N          close a peer whose unsent output exceeds N (default 1073741824; not monitors)
  --monitor-queue-bytes N       a monitor with more than N bytes unsent skips monitor frames until it
                                catches up, counted in scaler_monitor_frames_dropped_total (default 16777216)
  --monitor-worker-limit N      StateScheduler lists the first N workers to join (the set stays stable)
                                and one '+K more workers' row summing the others; 0 = every worker
                                (default 1000)
  --max-connections N           refuse connections beyond N (default 16384)
  --large-frame-reserve-bytes N address space that frames still partial after 8 MiB may reserve at once
                                for mappings of their own (huge pages, backed only as bytes arrive); past
                                it a frame grows in its connection's buffer; 0 = never (default
                                68719476736)
  --worker-lost-grace-seconds N remove a worker N s after its connection closed (default 3)
  -h, --help                    this text
";

#[derive(Debug, Clone)]
pub struct Options {
    pub bind: Address,
    pub storage: Option<Address>,
    pub advertised_storage: Option<Address>,
    pub monitor: Option<Address>,
    pub status_interval: Duration,
    pub object_report_limit: usize,
    /// Workers listed one by one in StateScheduler; 0 = all.
    pub monitor_worker_limit: usize,
    pub protected: bool,
    pub max_tasks_waiting: i64,
    pub client_timeout: Duration,
    pub worker_timeout: Duration,
    pub load_balance: Option<Duration>,
    pub load_balance_trigger_times: u32,
    pub logging_paths: Vec<String>,
    pub logging_level: log::LevelFilter,
    pub allocate: Allocate,
    pub scaling: Scaling,
    pub limits: Limits,
    pub worker_lost_grace: Duration,
    pub metrics: Option<Address>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
}

fn seconds(v: &str, name: &str, allow_negative: bool) -> Result<f64, String> {
    let x: f64 = v
        .parse()
        .map_err(|_| format!("{name}: not a number: {v}"))?;
    if !allow_negative && x <= 0.0 {
        return Err(format!("{name} must be > 0, got {v}"));
    }
    Ok(x)
}

fn int<T: std::str::FromStr>(v: &str, name: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{name}: not an integer: {v}"))
}

/// Canonical long name for every flag spelling (`-osa`, `--object-storage-address`, `object_storage_address`).
pub fn canonical_pub(flag: &str) -> Option<&'static str> {
    canonical(flag)
}

fn canonical(flag: &str) -> Option<&'static str> {
    const FLAGS: &[(&str, &str)] = &[
        ("c", "config"),
        ("osa", "object-storage-address"),
        ("aosa", "advertised-object-storage-address"),
        ("ma", "monitor-address"),
        ("sri", "status-report-interval-seconds"),
        ("orl", "object-report-limit"),
        ("p", "protected"),
        ("mt", "max-number-of-tasks-waiting"),
        ("ct", "client-timeout-seconds"),
        ("wt", "worker-timeout-seconds"),
        ("ot", "object-retention-seconds"),
        ("ls", "load-balance-seconds"),
        ("lbt", "load-balance-trigger-times"),
        ("el", "event-loop"),
        ("it", "io-threads"),
        ("lp", "logging-paths"),
        ("lcf", "logging-config-file"),
        ("ll", "logging-level"),
        ("et", "policy-engine-type"),
        ("pc", "policy-content"),
        ("tc", "tls-cert"),
        ("tk", "tls-key"),
        ("", "max-frame-bytes"),
        ("", "max-storage-frame-bytes"),
        ("", "max-storage-link-frame-bytes"),
        ("", "max-queued-bytes"),
        ("", "monitor-queue-bytes"),
        ("", "monitor-worker-limit"),
        ("", "max-connections"),
        ("", "large-frame-reserve-bytes"),
        ("", "worker-lost-grace-seconds"),
        ("", "metrics-address"),
        ("", "bind-address"),
        ("h", "help"),
    ];
    let f = flag.replace('_', "-");
    if let Some(long) = f.strip_prefix("--") {
        return FLAGS.iter().find(|(_, l)| *l == long).map(|(_, l)| *l);
    }
    if let Some(short) = f.strip_prefix('-') {
        return FLAGS
            .iter()
            .find(|(s, _)| !s.is_empty() && *s == short)
            .map(|(_, l)| *l);
    }
    FLAGS.iter().find(|(_, l)| *l == f).map(|(_, l)| *l)
}

/// Parses argv (without the program name). `Ok(None)` means help was printed.
pub fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut pairs: Vec<(&'static str, Vec<String>)> = Vec::new();
    let mut positional: Vec<String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a.starts_with('-') && a.len() > 1 && a.parse::<f64>().is_err() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) => (f, Some(v.to_string())),
                None => (a.as_str(), None),
            };
            let name = canonical(flag).ok_or_else(|| format!("unrecognized argument: {a}"))?;
            match name {
                "help" => {
                    print!("{USAGE}");
                    return Ok(None);
                }
                "protected" => pairs.push((name, vec!["true".into()])),
                "logging-paths" => {
                    let mut v = Vec::new();
                    if let Some(x) = inline {
                        v.push(x);
                    }
                    while i + 1 < args.len()
                        && !(args[i + 1].starts_with('-') && args[i + 1].len() > 1)
                    {
                        i += 1;
                        v.push(args[i].clone());
                    }
                    pairs.push((name, v));
                }
                _ => {
                    let v = match inline {
                        Some(v) => v,
                        None => {
                            i += 1;
                            args.get(i)
                                .cloned()
                                .ok_or_else(|| format!("{flag} expects a value"))?
                        }
                    };
                    pairs.push((name, vec![v]));
                }
            }
        } else {
            positional.push(a.clone());
        }
        i += 1;
    }
    // TOML values come first so that command-line values override them.
    if let Some((_, v)) = pairs.iter().find(|(n, _)| *n == "config") {
        let mut from_file = crate::config_file::load(&v[0])?;
        let (cli_pos, rest): (Vec<_>, Vec<_>) =
            from_file.drain(..).partition(|(n, _)| *n == "bind-address");
        if positional.is_empty() {
            positional.extend(cli_pos.into_iter().flat_map(|(_, v)| v));
        }
        let mut merged = rest;
        merged.append(&mut pairs);
        pairs = merged;
    }
    let bind = match positional.as_slice() {
        [b] => Address::parse(b)?,
        [] => {
            return Err(format!(
                "the following arguments are required: bind_address\n\n{USAGE}"
            ))
        }
        more => return Err(format!("unexpected extra arguments: {:?}", &more[1..])),
    };
    let mut o = Options {
        bind,
        storage: None,
        advertised_storage: None,
        monitor: None,
        status_interval: Duration::from_secs(1),
        object_report_limit: 500,
        monitor_worker_limit: 1000,
        protected: false,
        max_tasks_waiting: -1,
        client_timeout: Duration::from_secs(60),
        worker_timeout: Duration::from_secs(60),
        load_balance: Some(Duration::from_secs(1)),
        load_balance_trigger_times: 2,
        logging_paths: vec!["/dev/stdout".into()],
        logging_level: log::LevelFilter::Info,
        allocate: Allocate::EvenLoad,
        scaling: Scaling::Vanilla,
        limits: Limits::default(),
        worker_lost_grace: Duration::from_secs(3),
        metrics: None,
        tls_cert: None,
        tls_key: None,
    };
    let mut engine = "simple".to_string();
    let mut content: Option<String> = None;
    for (name, vals) in pairs {
        let v = vals.first().cloned().unwrap_or_default();
        match name {
            "config" | "event-loop" | "io-threads" | "logging-config-file" => {}
            "object-storage-address" => o.storage = Some(Address::parse(&v)?),
            "advertised-object-storage-address" => o.advertised_storage = Some(Address::parse(&v)?),
            "monitor-address" => o.monitor = Some(Address::parse(&v)?),
            "status-report-interval-seconds" => {
                o.status_interval = Duration::from_secs_f64(seconds(&v, name, false)?)
            }
            "object-report-limit" => o.object_report_limit = int(&v, name)?,
            "protected" => o.protected = v != "false",
            "max-number-of-tasks-waiting" => {
                o.max_tasks_waiting = int(&v, name)?;
                if o.max_tasks_waiting < -1 {
                    return Err(format!("{name} must be >= -1"));
                }
            }
            "client-timeout-seconds" => {
                o.client_timeout = Duration::from_secs_f64(seconds(&v, name, false)?)
            }
            "worker-timeout-seconds" => {
                o.worker_timeout = Duration::from_secs_f64(seconds(&v, name, false)?)
            }
            "object-retention-seconds" => {
                seconds(&v, name, false)?;
            }
            "load-balance-seconds" => {
                let s = seconds(&v, name, true)?;
                if s == 0.0 {
                    return Err(
                        "load-balance-seconds must not be 0 (negative disables balancing)".into(),
                    );
                }
                o.load_balance = (s > 0.0).then(|| Duration::from_secs_f64(s));
            }
            "load-balance-trigger-times" => {
                o.load_balance_trigger_times = int(&v, name)?;
                if o.load_balance_trigger_times == 0 {
                    return Err(format!("{name} must be > 0"));
                }
            }
            "logging-paths" => o.logging_paths = vals,
            "logging-level" => {
                o.logging_level = match v.to_ascii_uppercase().as_str() {
                    "CRITICAL" | "ERROR" => log::LevelFilter::Error,
                    "WARNING" | "WARN" => log::LevelFilter::Warn,
                    "INFO" => log::LevelFilter::Info,
                    "DEBUG" => log::LevelFilter::Debug,
                    "NOTSET" | "TRACE" => log::LevelFilter::Trace,
                    _ => return Err(format!("invalid logging level {v}")),
                }
            }
            "policy-engine-type" => engine = v,
            "policy-content" => content = Some(v),
            "tls-cert" => o.tls_cert = Some(v),
            "tls-key" => o.tls_key = Some(v),
            "max-frame-bytes" => o.limits.max_frame = int(&v, name)?,
            "max-storage-frame-bytes" => o.limits.max_storage_frame = int(&v, name)?,
            "max-storage-link-frame-bytes" => o.limits.max_storage_link_frame = int(&v, name)?,
            "max-queued-bytes" => o.limits.max_queued_bytes = int(&v, name)?,
            "monitor-queue-bytes" => o.limits.monitor_queue_bytes = int(&v, name)?,
            "monitor-worker-limit" => o.monitor_worker_limit = int(&v, name)?,
            "max-connections" => o.limits.max_connections = int(&v, name)?,
            "large-frame-reserve-bytes" => o.limits.large_frame_reserve = int(&v, name)?,
            "metrics-address" => o.metrics = Some(Address::parse(&v)?),
            "worker-lost-grace-seconds" => {
                o.worker_lost_grace = Duration::from_secs_f64(seconds(&v, name, false)?)
            }
            other => return Err(format!("unhandled option {other}")),
        }
    }
    if o.tls_cert.is_some() != o.tls_key.is_some() {
        return Err("--tls-cert and --tls-key must be given together".into());
    }
    let (allocate, scaling) = crate::core::policy::parse(&engine, content.as_deref())?;
    o.allocate = allocate;
    o.scaling = scaling;
    Ok(Some(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn accepts_the_peer_harness_command_line() {
        let o = parse(&args(
            "tcp://127.0.0.1:2345 --object-storage-address tcp://127.0.0.1:2346 --monitor-address tcp://127.0.0.1:2347 \
             --protected --logging-level INFO --io-threads 1 --max-number-of-tasks-waiting -1 --client-timeout-seconds 60 \
             --worker-timeout-seconds 5 --object-retention-seconds 60 --load-balance-seconds 1 --load-balance-trigger-times 2 \
             --event-loop builtin --policy-engine-type simple --policy-content allocate=even_load;scaling=vanilla \
             --logging-paths /tmp/a.log /tmp/b.log",
        ))
        .unwrap()
        .unwrap();
        assert!(o.protected);
        assert_eq!(o.worker_timeout, Duration::from_secs(5));
        assert_eq!(o.storage.unwrap().port, 2346);
        assert_eq!(o.logging_paths, vec!["/tmp/a.log", "/tmp/b.log"]);
    }

    #[test]
    fn monitor_limits() {
        let o = parse(&args("tcp://127.0.0.1:8")).unwrap().unwrap();
        assert_eq!(o.monitor_worker_limit, 1000);
        assert_eq!(o.limits.monitor_queue_bytes, 16 << 20);
        let o = parse(&args(
            "tcp://127.0.0.1:8 --monitor-worker-limit 0 --monitor-queue-bytes 4096",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(o.monitor_worker_limit, 0);
        assert_eq!(o.limits.monitor_queue_bytes, 4096);
        assert!(parse(&args("tcp://127.0.0.1:8 --monitor-worker-limit -1")).is_err());
    }

    #[test]
    fn large_frame_reserve() {
        let o = parse(&args("tcp://127.0.0.1:8")).unwrap().unwrap();
        assert_eq!(o.limits.large_frame_reserve, 64 << 30);
        let o = parse(&args("tcp://127.0.0.1:8 --large-frame-reserve-bytes 0"))
            .unwrap()
            .unwrap();
        assert_eq!(o.limits.large_frame_reserve, 0);
        assert!(parse(&args("tcp://127.0.0.1:8 --large-frame-reserve-bytes -1")).is_err());
    }

    #[test]
    fn short_flags_and_validation() {
        let o = parse(&args("-osa tcp://127.0.0.1:9 -ls -1 tcp://127.0.0.1:8"))
            .unwrap()
            .unwrap();
        assert_eq!(o.load_balance, None);
        assert!(parse(&args("tcp://127.0.0.1:8 -ls 0")).is_err());
        assert!(parse(&args("tcp://127.0.0.1:8 --bogus 1")).is_err());
        assert!(parse(&args("tcp://127.0.0.1:8 -ct 0")).is_err());
        assert!(parse(&args("")).is_err());
    }
}
