//! Round trips through encode -> decode for every member the scheduler reads, plus hostile inputs.
use super::encode as enc;
use super::*;
use bytes::Bytes;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn sample_task(id: &str) -> Task {
    Task {
        task_id: b(id),
        source: b("Client|abc"),
        metadata: Bytes::from_static(&[1, 0, 0, 0, 0, 0]),
        func_object_id: Bytes::from(vec![7u8; 32]),
        args: vec![
            TaskArg {
                is_task: false,
                data: Bytes::from(vec![9u8; 32]),
            },
            TaskArg {
                is_task: true,
                data: b("t0"),
            },
        ]
        .into(),
        capabilities: vec![Capability {
            name: "gpu".into(),
            value: -1,
        }],
    }
}

#[test]
fn every_scheduler_input_round_trips() {
    let task = sample_task("t1");
    let result = TaskResult {
        task_id: b("t1"),
        result_type: ResultType::Failed,
        metadata: b("meta"),
        results: vec![Bytes::from(vec![3u8; 32])].into(),
    };
    let graph = GraphTask {
        task_id: b("U"),
        source: b("Client|abc"),
        targets: vec![b("t2")],
        graph: vec![task.clone(), sample_task("t2")],
    };
    let oi = ObjectInstruction {
        kind: InstructionType::Create,
        object_user: b("Client|abc"),
        ids: vec![Bytes::from(vec![1u8; 32])].into(),
        types: vec![0].into(),
        names: vec![b("<serializer>")].into(),
        sizes: vec![42].into(),
    };
    let ch = ClientHeartbeat {
        resource: Resource { cpu: 5, rss: 6 },
        latency_us: 7,
        hostname: "h".into(),
    };
    let wh = WorkerHeartbeat {
        queue_size: 1000,
        queued_tasks: 3,
        processors: vec![ProcessorStatus {
            pid: 9,
            initialized: true,
            current_task_id: b("t1"),
            ..Default::default()
        }],
        capabilities: vec![Capability {
            name: "linux".into(),
            value: -1,
        }],
        worker_manager_id: b("wm"),
        hostname: "host".into(),
        net_sent_bytes: 11,
        ..Default::default()
    };
    let wmh = WorkerManagerHeartbeat {
        max_task_concurrency: 4,
        capabilities: vec![],
        worker_manager_id: b("wm"),
    };
    let cases: Vec<(Bytes, Message)> = vec![
        (enc::task(&task), Message::Task(task.clone())),
        (
            enc::task_cancel(b"t1", true),
            Message::TaskCancel {
                task_id: b("t1"),
                force: true,
            },
        ),
        (
            enc::task_cancel_confirm(b"t1", CancelConfirmType::CancelNotFound),
            Message::TaskCancelConfirm {
                task_id: b("t1"),
                kind: CancelConfirmType::CancelNotFound,
            },
        ),
        (
            enc::task_result(
                b"t1",
                ResultType::Failed,
                b"meta",
                &result.results.to_owned_vec(),
            ),
            Message::TaskResult(result.clone()),
        ),
        (
            enc::task_log(b"t1", true, "boom"),
            Message::TaskLog { task_id: b("t1") },
        ),
        (enc::graph_task(&graph), Message::GraphTask(graph.clone())),
        (
            enc::object_instruction(&oi),
            Message::ObjectInstruction(oi.clone()),
        ),
        (
            enc::client_heartbeat(&ch),
            Message::ClientHeartbeat(ch.clone()),
        ),
        (
            enc::worker_heartbeat(&wh),
            Message::WorkerHeartbeat(wh.clone()),
        ),
        (
            enc::client_disconnect(true),
            Message::ClientDisconnect { shutdown: true },
        ),
        (
            enc::client_disconnect(false),
            Message::ClientDisconnect { shutdown: false },
        ),
        (enc::information_request(b"x"), Message::InformationRequest),
        (
            enc::worker_manager_heartbeat(&wmh),
            Message::WorkerManagerHeartbeat(wmh.clone()),
        ),
        (
            enc::worker_disconnect_notification(),
            Message::WorkerDisconnectNotification,
        ),
        (
            enc::client_shutdown_response(true),
            Message::NotForScheduler(Kind::ClientShutdownResponse),
        ),
        (
            enc::worker_manager_heartbeat_echo(),
            Message::NotForScheduler(Kind::WorkerManagerHeartbeatEcho),
        ),
        (
            enc::worker_manager_command(&[(3, vec![])]),
            Message::NotForScheduler(Kind::WorkerManagerCommand),
        ),
    ];
    for (frame, want) in cases {
        let got = decode(&frame).unwrap_or_else(|e| panic!("{want:?}: {e}"));
        assert_eq!(got, want);
        assert_eq!(got.kind(), want.kind());
    }
}

#[test]
fn decoded_fields_borrow_the_frame() {
    let frame = enc::task(&sample_task("abcdefgh"));
    let Message::Task(t) = decode(&frame).unwrap() else {
        panic!()
    };
    let range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
    assert!(
        range.contains(&(t.task_id.as_ptr() as usize)),
        "task id must be a slice of the frame, not a copy"
    );
}

#[test]
fn multi_segment_messages_decode() {
    // Force many segments: a 1-word first segment makes every allocation spill into a new segment.
    let mut mb = capnp::message::Builder::new(
        capnp::message::HeapAllocator::new()
            .first_segment_words(1)
            .allocation_strategy(capnp::message::AllocationStrategy::FixedSize),
    );
    let g = GraphTask {
        task_id: b("U"),
        source: b("c"),
        targets: vec![],
        graph: (0..50).map(|i| sample_task(&format!("t{i}"))).collect(),
    };
    {
        let m: crate::schema::message_capnp::message::Builder = mb.init_root();
        let mut gb = m.init_graph_task();
        gb.set_task_id(&g.task_id);
        gb.set_source(&g.source);
        gb.reborrow().init_targets(0);
        let mut list = gb.init_graph(g.graph.len() as u32);
        for (i, t) in g.graph.iter().enumerate() {
            enc::fill_task(list.reborrow().get(i as u32), t);
        }
    }
    assert!(mb.get_segments_for_output().len() > 10);
    let frame = enc::finish(&mb);
    assert_eq!(decode(&frame).unwrap(), Message::GraphTask(g));
}

#[test]
fn every_member_kind_is_numbered_as_in_2_9_0() {
    assert_eq!(Kind::WorkerDisconnectNotification as u16, 26);
    assert_eq!(Kind::StateClient as u16, 11);
    for (i, k) in Kind::ALL.iter().enumerate() {
        assert_eq!(*k as usize, i);
        assert_eq!(Kind::from_u16(i as u16), Some(*k));
    }
    assert_eq!(Kind::from_u16(27), None);
}

#[test]
fn unknown_union_member_is_a_typed_error() {
    let mut frame = enc::worker_disconnect_notification().to_vec();
    // Segment table (8 bytes) + root pointer (8 bytes): the discriminant is the first data word of the root.
    frame[16] = 99;
    assert_eq!(
        decode(&Bytes::from(frame)),
        Err(DecodeError::UnknownMember(99))
    );
}

#[test]
fn garbage_and_truncation_never_panic() {
    let good = enc::task(&sample_task("t1"));
    for cut in 0..good.len() {
        let _ = decode(&good.slice(..cut));
    }
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for len in [0usize, 1, 7, 8, 16, 64, 300] {
        for _ in 0..200 {
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = decode(&Bytes::from(v));
        }
    }
    // A segment table announcing 2^32-1 segments must be refused, not allocated.
    assert!(decode(&Bytes::from(vec![0xff; 16])).is_err());
}

#[test]
fn the_delete_broadcast_carries_exactly_the_ids() {
    let keys = [[1u8; 32], [2u8; 32], [3u8; 32]];
    let frame = enc::object_delete(&keys);
    // Both readers agree (fast == generic is the contract), and read back what was built.
    for m in [
        decode(&frame).unwrap(),
        decode::decode_generic(&frame).unwrap(),
    ] {
        let Message::ObjectInstruction(o) = m else {
            panic!("not an object instruction: {m:?}");
        };
        assert_eq!(o.kind, InstructionType::Delete);
        assert!(o.object_user.is_empty());
        let ids: Vec<&[u8]> = o.ids.iter().collect();
        assert_eq!(ids, keys.iter().map(|k| &k[..]).collect::<Vec<_>>());
        assert_eq!((o.types.len(), o.names.len(), o.sizes.len()), (0, 0, 0));
    }
    assert!(matches!(
        decode(&enc::object_delete(&[])).unwrap(),
        Message::ObjectInstruction(o) if o.ids.is_empty()
    ));
}
