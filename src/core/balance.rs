//! Balance advice: which queued tasks to take back from busy workers so idle ones get work
//! (docs/design.md, "Clients, objects, graphs, balancing, scaling"). Pure functions of the worker table; acting on the advice (and the
//! "same advice N times in a row" stability rule) is the scheduler's job.
use super::worker::{WorkerKey, Workers};
use bytes::Bytes;
use std::collections::BTreeSet;

pub type Advice = Vec<(WorkerKey, Vec<Bytes>)>;

/// even_load: every worker keeps one task (presumed executing); the surplus above the mean moves, topped
/// up in worker order so that every idle worker can get something.
pub fn even_load(workers: &Workers) -> Advice {
    let order = workers.ids_in_order();
    let q: Vec<usize> = order
        .iter()
        .map(|k| (workers.slab[*k].tasks.len()).saturating_sub(1))
        .collect();
    let total: usize = q.iter().sum();
    let idle = order
        .iter()
        .filter(|k| workers.slab[**k].tasks.is_empty())
        .count();
    if total == 0 || idle == 0 {
        return Vec::new();
    }
    let mean = total.div_ceil(order.len());
    let mut moves: Vec<usize> = q.iter().map(|&x| x.saturating_sub(mean)).collect();
    let need = idle.min(total);
    let mut planned: usize = moves.iter().sum();
    if planned < need {
        for i in 0..order.len() {
            if planned >= need {
                break;
            }
            let spare = q[i] - moves[i];
            if spare >= 1 {
                let extra = spare.min(need - planned);
                moves[i] += extra;
                planned += extra;
            }
        }
    }
    order
        .iter()
        .zip(moves)
        .filter(|(_, m)| *m > 0)
        .map(|(k, m)| {
            let mut ids: Vec<Bytes> = workers.slab[*k]
                .tasks
                .values()
                .rev()
                .take(m)
                .cloned()
                .collect();
            ids.reverse();
            (*k, ids)
        })
        .collect()
}

/// capability: move the youngest tasks of overloaded workers to underloaded workers able to run them.
pub fn capability(workers: &Workers, required: &dyn Fn(&Bytes) -> BTreeSet<String>) -> Advice {
    let order = workers.ids_in_order();
    if !order.iter().any(|k| workers.slab[*k].tasks.is_empty()) {
        return Vec::new();
    }
    let total: usize = order.iter().map(|k| workers.slab[*k].tasks.len()).sum();
    let target = (total as f64 / order.len() as f64).max(1.0);
    let mut load: Vec<(WorkerKey, f64)> = order
        .iter()
        .map(|k| (*k, workers.slab[*k].tasks.len() as f64))
        .collect();
    let mut advice: Advice = Vec::new();
    let mut skipped: BTreeSet<Bytes> = BTreeSet::new();
    let mut moved: BTreeSet<Bytes> = BTreeSet::new();
    // Most loaded worker still at least one task above target.
    while let Some(src) = load
        .iter()
        .enumerate()
        .filter(|(_, (_, n))| n - target >= 1.0)
        .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
        .map(|(i, _)| i)
    {
        let src_key = load[src].0;
        let mut receivers: Vec<usize> = (0..load.len())
            .filter(|&i| target - load[i].1 >= 1.0)
            .collect();
        receivers.sort_by(|a, b| load[*a].1.total_cmp(&load[*b].1));
        let mut found = None;
        for t in workers.slab[src_key].tasks.values().rev() {
            if skipped.contains(t) || moved.contains(t) {
                continue;
            }
            let need = required(t);
            if let Some(&r) = receivers
                .iter()
                .find(|&&r| need.is_subset(&workers.slab[load[r].0].capability_names))
            {
                found = Some((t.clone(), r));
                break;
            }
            skipped.insert(t.clone());
        }
        let Some((task, r)) = found else {
            // Nothing on the most loaded worker can move: stop considering it.
            load[src].1 = target;
            continue;
        };
        moved.insert(task.clone());
        load[src].1 -= 1.0;
        load[r].1 += 1.0;
        match advice.iter_mut().find(|(k, _)| *k == src_key) {
            Some((_, v)) => v.push(task),
            None => advice.push((src_key, vec![task])),
        }
    }
    advice
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WorkerHeartbeat;
    use std::time::Instant;

    fn workers(loads: &[usize]) -> Workers {
        let mut ws = Workers::new(crate::hash::IdBuild::with_keys(1, 2));
        let now = Instant::now();
        for (i, n) in loads.iter().enumerate() {
            let k = ws.add(
                Bytes::from(format!("w{i}")),
                WorkerHeartbeat {
                    queue_size: 1000,
                    ..Default::default()
                },
                now,
            );
            for j in 0..*n {
                ws.assign(k, Bytes::from(format!("w{i}t{j}")));
            }
        }
        ws
    }

    #[test]
    fn flow_f10_moves_three_youngest() {
        // W1 holds 8 (1 executing, 7 queued), W2 idle: mean = ceil(7/2) = 4, move 3 (2.9.0's even-load rule).
        let ws = workers(&[8, 0]);
        let advice = even_load(&ws);
        assert_eq!(advice.len(), 1);
        let ids: Vec<&[u8]> = advice[0].1.iter().map(|b| b.as_ref()).collect();
        assert_eq!(ids, vec![&b"w0t5"[..], b"w0t6", b"w0t7"]);
    }

    #[test]
    fn no_advice_without_idle_worker_or_backlog() {
        assert!(even_load(&workers(&[3, 1])).is_empty());
        assert!(even_load(&workers(&[1, 0])).is_empty());
        assert!(even_load(&workers(&[])).is_empty());
    }

    #[test]
    fn top_up_gives_every_idle_worker_something() {
        // q = [1, 1], mean 1 -> no surplus, but two idle workers need work: top-up moves one from each.
        let ws = workers(&[2, 2, 0, 0]);
        let total: usize = even_load(&ws).iter().map(|(_, v)| v.len()).sum();
        assert_eq!(total, 2);
    }

    #[test]
    fn capability_moves_only_to_capable_workers() {
        let ws = workers(&[6, 0]);
        let none = |_: &Bytes| BTreeSet::from(["gpu".to_string()]);
        assert!(capability(&ws, &none).is_empty());
        let any = |_: &Bytes| BTreeSet::new();
        let advice = capability(&ws, &any);
        assert_eq!(advice[0].1.len(), 3);
    }
}
