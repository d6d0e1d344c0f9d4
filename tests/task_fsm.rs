//! The task state machine as data: `tests/data/task_fsm.golden` is `core::task::listing()` (every
//! (state, event) cell of the table), and the table is compared with Scaler 2.9.0's actions as printed
//! by `tests/python/task_fsm_2_9_0.py` into `tests/data/task_fsm_2_9_0.txt`.
use bytes::Bytes;
use scaler_rs::core::task::{
    listing, transition, Difference, EventKind, TaskState, DIFFERS_FROM_2_9_0,
};
use scaler_rs::core::{Config, Output, Scheduler};
use scaler_rs::wire::encode::{self as enc, StorageAddress};
use scaler_rs::wire::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

const GOLDEN: &str = "tests/data/task_fsm.golden";
const REFERENCE: &str = "tests/data/task_fsm_2_9_0.txt";

#[test]
fn golden_listing_matches_the_table() {
    let path = format!("{}/{GOLDEN}", env!("CARGO_MANIFEST_DIR"));
    let now = listing();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &now).unwrap();
    }
    let golden = std::fs::read_to_string(&path).expect("golden file");
    assert!(
        golden == now,
        "{GOLDEN} is stale (regenerate with UPDATE_GOLDEN=1 cargo test --test task_fsm):\n{}",
        first_difference(&golden, &now)
    );
    let cells = now.lines().filter(|l| !l.starts_with([' ', '#'])).count();
    assert_eq!(cells, TaskState::COUNT * EventKind::COUNT);
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  file:  {x}\n  table: {y}", i + 1);
        }
    }
    format!(
        "lengths differ: {} vs {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

/// (state, event) -> target names (with `refused` for a cell that can refuse).
fn reference() -> BTreeMap<(String, String), BTreeSet<String>> {
    let text = std::fs::read_to_string(format!("{}/{REFERENCE}", env!("CARGO_MANIFEST_DIR")))
        .expect("2.9.0 reference listing");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 3, "bad reference line {l:?}");
            let targets = f[2].split(',').map(str::to_string).collect();
            ((f[0].to_string(), f[1].to_string()), targets)
        })
        .collect()
}

fn ours(s: TaskState, e: EventKind) -> BTreeSet<String> {
    match transition(s, e) {
        Some(tr) => tr
            .target
            .states()
            .iter()
            .map(|s| s.name().to_string())
            .collect(),
        None => BTreeSet::from(["refused".to_string()]),
    }
}

#[test]
fn table_matches_2_9_0_except_the_marked_cells() {
    let reference = reference();
    assert_eq!(reference.len(), TaskState::COUNT * EventKind::COUNT);
    let mut unmarked = Vec::new();
    for s in TaskState::ALL {
        for e in EventKind::ALL {
            let theirs = &reference[&(s.name().to_string(), e.name().to_string())];
            let mine = ours(s, e);
            let marked = DIFFERS_FROM_2_9_0
                .iter()
                .any(|(ds, de, kind, _)| *ds == s && *de == e && *kind == Difference::Targets);
            if (mine != *theirs) != marked {
                unmarked.push(format!(
                    "{} {}: scaler-rs {mine:?}, 2.9.0 {theirs:?}, marked as differing: {marked}",
                    s.name(),
                    e.name()
                ));
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "cells where the table and DIFFERS_FROM_2_9_0 disagree with 2.9.0:\n{}",
        unmarked.join("\n")
    );
    for (s, e, _, why) in DIFFERS_FROM_2_9_0 {
        assert!(!why.is_empty() && !s.is_terminal(), "{s:?} {e:?}");
    }
}

#[test]
fn refused_events_are_counted_by_state_and_event_and_exposed_as_metrics() {
    let now = Instant::now();
    let mut s = Scheduler::new(
        Config::new(StorageAddress {
            host: "127.0.0.1".into(),
            port: 1,
            scheme: "tcp".into(),
        }),
        now,
    );
    let mut out: Vec<Output> = Vec::new();
    let mut send = |s: &mut Scheduler, from: &str, frame: Bytes| {
        let from = Bytes::copy_from_slice(from.as_bytes());
        s.handle(now, &from, decode(&frame).unwrap(), &frame, &mut out);
    };
    let client = "Client|1";
    send(
        &mut s,
        client,
        enc::client_heartbeat(&ClientHeartbeat::default()),
    );
    send(
        &mut s,
        "Worker|a",
        enc::worker_heartbeat(&WorkerHeartbeat {
            queue_size: 4,
            ..Default::default()
        }),
    );
    let task = Task {
        task_id: Bytes::from_static(b"t1"),
        source: Bytes::from_static(b"Client|1"),
        metadata: Bytes::new(),
        func_object_id: Bytes::from(vec![1; 32]),
        args: vec![].into(),
        capabilities: vec![],
    };
    send(&mut s, client, enc::task(&task));
    send(&mut s, client, enc::task_cancel(b"t1", true));
    // Canceling: a result from the holder is refused (the cancel confirm will end the task).
    send(
        &mut s,
        "Worker|a",
        enc::task_result(b"t1", ResultType::Success, b"", &[]),
    );
    let (st, ev) = (TaskState::Canceling, EventKind::TaskResultReceived);
    assert_eq!(s.counters.refused[st as usize][ev as usize], 1);
    let total: u64 = s.counters.refused.iter().flatten().sum();
    assert_eq!(total, 1, "only that event was refused");
    let text = scaler_rs::metrics::render(&s, &Default::default());
    assert!(
        text.contains(
            "scaler_task_transitions_refused_total{state=\"canceling\",event=\"TaskResultReceived\"} 1"
        ),
        "{text}"
    );
}
