//! Writes the seed corpus of `fuzz/corpus/message_decode` (one encoded message per member the scheduler
//! reads). Run with `cargo test --test fuzz_seeds -- --ignored` after a schema change.
use bytes::Bytes;
use scaler_rs::wire::encode as enc;
use scaler_rs::wire::*;

#[test]
#[ignore]
fn write_fuzz_seeds() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/message_decode");
    std::fs::create_dir_all(dir).unwrap();
    let t = Task {
        task_id: Bytes::from_static(b"0123456789abcdef"),
        source: Bytes::from_static(b"Client|x"),
        metadata: Bytes::from_static(&[1, 0, 0, 0, 0, 0]),
        func_object_id: Bytes::from(vec![1; 32]),
        args: vec![TaskArg {
            is_task: true,
            data: Bytes::from_static(b"dep"),
        }]
        .into(),
        capabilities: vec![Capability {
            name: "gpu".into(),
            value: -1,
        }],
    };
    let seeds: Vec<(&str, Bytes)> = vec![
        ("task", enc::task(&t)),
        (
            "graph",
            enc::graph_task(&GraphTask {
                task_id: Bytes::from_static(b"U"),
                source: t.source.clone(),
                targets: vec![t.task_id.clone()],
                graph: vec![t.clone()],
            }),
        ),
        (
            "result",
            enc::task_result(b"t", ResultType::Success, b"m", &[Bytes::from(vec![2; 32])]),
        ),
        ("cancel", enc::task_cancel(b"t", true)),
        (
            "confirm",
            enc::task_cancel_confirm(b"t", CancelConfirmType::Canceled),
        ),
        (
            "client_hb",
            enc::client_heartbeat(&ClientHeartbeat {
                hostname: "h".into(),
                ..Default::default()
            }),
        ),
        (
            "worker_hb",
            enc::worker_heartbeat(&WorkerHeartbeat {
                queue_size: 10,
                processors: vec![ProcessorStatus::default()],
                ..Default::default()
            }),
        ),
        (
            "wm_hb",
            enc::worker_manager_heartbeat(&WorkerManagerHeartbeat {
                max_task_concurrency: 2,
                capabilities: vec![],
                worker_manager_id: Bytes::from_static(b"wm"),
            }),
        ),
        (
            "object",
            enc::object_instruction(&ObjectInstruction {
                kind: InstructionType::Create,
                object_user: t.source.clone(),
                ids: vec![Bytes::from(vec![3; 32])].into(),
                types: vec![1].into(),
                names: vec![Bytes::from_static(b"n")].into(),
                sizes: vec![1].into(),
            }),
        ),
        ("disconnect", enc::client_disconnect(false)),
        ("worker_gone", enc::worker_disconnect_notification()),
        ("log", enc::task_log(b"t", false, "hello")),
    ];
    for (name, bytes) in seeds {
        std::fs::write(format!("{dir}/{name}"), &bytes).unwrap();
    }
}
