use super::*;

fn table() -> TaskTable {
    TaskTable::new(IdBuild::with_keys(1, 2))
}

fn id(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn add(t: &mut TaskTable, name: &str) -> Bytes {
    let k = id(name);
    t.insert(
        k.clone(),
        TaskEntry::new(id("Client|c"), Bytes::new(), BTreeSet::new()),
    );
    k
}

/// What a worker taking the task does to its entry.
fn place(t: &mut TaskTable, k: &Bytes) {
    let e = t.place(k, (0, 1), TaskState::Running);
    assert_eq!((e.holder, e.state()), (Some((0, 1)), TaskState::Running));
}

/// Pops the FIFO as the orchestrator's dispatch loop does: every live head, in order.
fn drain(t: &mut TaskTable) -> Vec<Bytes> {
    let mut order = Vec::new();
    while let Some(k) = t.next_queued() {
        t.pop_queued();
        place(t, &k);
        order.push(k);
        t.check_invariants();
    }
    order
}

#[test]
fn a_new_task_is_inactive_and_not_queued_until_enqueued() {
    let mut t = table();
    let a = add(&mut t, "a");
    let e = t.get(&a).unwrap();
    assert_eq!(e.state(), TaskState::Inactive);
    assert!(!e.is_queued() && e.holder.is_none());
    assert_eq!(t.queued(), 0);
    assert_eq!(t.next_queued(), None, "not in the FIFO");
    t.enqueue(&a);
    assert!(t.get(&a).unwrap().is_queued());
    assert_eq!(t.queued(), 1);
    t.check_invariants();
}

#[test]
fn the_fifo_hands_out_tasks_in_arrival_order_and_counts_them() {
    let mut t = table();
    let ids: Vec<Bytes> = ["a", "b", "c"].iter().map(|n| add(&mut t, n)).collect();
    for k in &ids {
        t.enqueue(k);
    }
    assert_eq!(t.queued(), 3);
    assert_eq!(t.next_queued(), Some(ids[0].clone()));
    assert_eq!(
        t.next_queued(),
        Some(ids[0].clone()),
        "stays at the head until popped"
    );
    assert_eq!(drain(&mut t), ids);
    assert_eq!(t.queued(), 0);
}

#[test]
fn canceled_and_removed_tasks_leave_stale_slots_that_are_skipped() {
    let mut t = table();
    let ids: Vec<Bytes> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| add(&mut t, n))
        .collect();
    for k in &ids {
        t.enqueue(k);
    }
    // "a" canceled while waiting, then deleted; "c" deleted outright (its client left).
    t.dequeue(&ids[0]);
    assert_eq!(t.queued(), 3);
    assert!(t.remove(&ids[0]).is_some());
    assert_eq!(t.queued(), 3, "a dequeued task is not counted twice");
    assert!(t.remove(&ids[2]).is_some());
    assert_eq!(t.queued(), 2);
    t.check_invariants();
    assert_eq!(drain(&mut t), vec![ids[1].clone(), ids[3].clone()]);
}

#[test]
fn a_task_queued_again_waits_at_the_back_and_its_old_slot_is_stale() {
    let mut t = table();
    let a = add(&mut t, "a");
    let b = add(&mut t, "b");
    t.enqueue(&a);
    t.enqueue(&b);
    // "a" is placed straight from the middle (a capable worker appeared), then its worker dies and
    // it is queued again: behind "b", not in its old place.
    place(&mut t, &a);
    assert_eq!(t.queued(), 1);
    t.get_mut(&a).unwrap().holder = None;
    t.enqueue(&a);
    t.set_state(&a, TaskState::Inactive);
    assert_eq!(t.queued(), 2);
    t.check_invariants();
    assert_eq!(drain(&mut t), vec![b, a]);
}

#[test]
fn dispatching_a_task_that_never_waited_leaves_the_count_alone() {
    let mut t = table();
    let a = add(&mut t, "a");
    let b = add(&mut t, "b");
    t.enqueue(&b);
    place(&mut t, &a);
    assert_eq!(t.queued(), 1);
    t.check_invariants();
}

#[test]
fn counts_are_by_state_of_the_live_tasks() {
    let mut t = table();
    let a = add(&mut t, "a");
    let b = add(&mut t, "b");
    add(&mut t, "c");
    t.enqueue(&b);
    place(&mut t, &a);
    t.set_state(&a, TaskState::Canceling);
    let c = t.counts();
    assert_eq!(c[TaskState::Inactive as usize], 2);
    assert_eq!(c[TaskState::Canceling as usize], 1);
    assert_eq!(c.iter().sum::<u64>(), 3);
}

#[test]
#[should_panic(expected = "task without holder")]
fn a_running_task_without_a_holder_breaks_the_invariants() {
    let mut t = table();
    let a = add(&mut t, "a");
    t.set_state(&a, TaskState::Running);
    t.check_invariants();
}
