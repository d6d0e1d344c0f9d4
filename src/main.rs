//! `scaler-rs`: the scheduler binary (command line of `scaler_scheduler` 2.9.0).
use bytes::Bytes;
use log::{error, info};
use scaler_rs::cli;
use scaler_rs::core::{Config, Scheduler};
use scaler_rs::transport::{Server, StorageMode, STOP};
use scaler_rs::wire::encode::StorageAddress;
use std::sync::atomic::Ordering;
use std::time::Instant;

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match cli::parse(&args) {
        Ok(Some(o)) => o,
        Ok(None) => return,
        Err(e) => {
            eprintln!("scaler-rs: error: {e}");
            std::process::exit(2);
        }
    };
    if std::env::var("SCALER_NETWORK_BACKEND").is_ok_and(|b| b == "zmq") {
        eprintln!("scaler-rs: error: SCALER_NETWORK_BACKEND=zmq is not supported (YMQ only)");
        std::process::exit(2);
    }
    if let Err(e) = scaler_rs::logging::init(&opts.logging_paths, opts.logging_level) {
        eprintln!("scaler-rs: error: {e}");
        std::process::exit(2);
    }
    install_signal_handlers();

    let identity = Bytes::from(format!(
        "{}|scheduler|{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    let (storage_mode, storage_addr) = match &opts.storage {
        Some(a) => (StorageMode::External(a.clone()), a.clone()),
        None => {
            // Peers reach it at "/": the heartbeat echo carries only host, port and scheme.
            let a = opts
                .bind
                .with_port(opts.bind.port.wrapping_add(1))
                .at_root();
            (StorageMode::Embedded(a.clone()), a)
        }
    };
    let advertised = opts.advertised_storage.clone().unwrap_or(storage_addr);
    let monitor = opts
        .monitor
        .clone()
        .unwrap_or_else(|| opts.bind.with_port(opts.bind.port.wrapping_add(2)));

    let mut config = Config::new(StorageAddress {
        host: advertised.host.clone(),
        port: advertised.port,
        scheme: advertised.scheme.clone(),
    });
    config.protected = opts.protected;
    config.client_timeout = opts.client_timeout;
    config.worker_timeout = opts.worker_timeout;
    config.load_balance = opts.load_balance;
    config.load_balance_trigger_times = opts.load_balance_trigger_times;
    config.status_interval = opts.status_interval;
    config.object_report_limit = opts.object_report_limit;
    config.monitor_worker_limit = opts.monitor_worker_limit;
    config.max_tasks_waiting = opts.max_tasks_waiting;
    config.allocate = opts.allocate;
    config.scaling = opts.scaling.clone();
    config.worker_lost_grace = opts.worker_lost_grace;
    // The core's randomness (map keys, generated object ids) is seeded here, from the OS.
    config.seed = uuid::Uuid::new_v4().as_u64_pair().0;

    info!(
        "scaler-rs {} scheduler {} starting: bind {}, object storage {} ({}), monitor {}",
        env!("CARGO_PKG_VERSION"),
        String::from_utf8_lossy(&identity),
        opts.bind,
        advertised,
        if opts.storage.is_some() {
            "external"
        } else {
            "embedded"
        },
        monitor
    );
    info!("policy: allocate={:?} scaling={:?}; client timeout {:?}, worker timeout {:?}, balance {:?} x{}; max tasks waiting {}", config.allocate, config.scaling, config.client_timeout, config.worker_timeout, config.load_balance, config.load_balance_trigger_times, config.max_tasks_waiting);

    let core = Scheduler::new(config, Instant::now());
    let tls = match (&opts.tls_cert, &opts.tls_key) {
        (Some(c), Some(k)) => match scaler_rs::transport::tls::server_config(c, k) {
            Ok(cfg) => Some(cfg),
            Err(e) => {
                error!("{e}");
                eprintln!("scaler-rs: error: {e}");
                std::process::exit(2);
            }
        },
        _ => None,
    };
    let mut server = match Server::bind(
        &opts.bind,
        &monitor,
        storage_mode,
        core,
        identity,
        opts.limits.clone(),
        tls,
    ) {
        Ok(s) => s,
        Err(e) => {
            error!("{e}");
            eprintln!("scaler-rs: error: {e}");
            std::process::exit(1);
        }
    };
    if let Some(m) = &opts.metrics {
        if let Err(e) = server.listen_metrics(m) {
            error!("{e}");
            eprintln!("scaler-rs: error: {e}");
            std::process::exit(1);
        }
    }
    if let Err(e) = server.run() {
        error!("event loop failed: {e}");
        std::process::exit(1);
    }
}
