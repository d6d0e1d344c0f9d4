//! Graph tasks (DAGs): dependency ordering, argument rewriting, intermediate-result cleanup, failure
//! propagation and cancel (SCHEDULER_SPEC.md §3.8, FLOWS F4/F5d).
//!
//! Unlike 2.9.0 (§9 "graph cancel hang"), a cancel cancels every node that has not started, including
//! nodes that only become ready after a running node is cancelled, so the umbrella confirm always comes.
use super::scheduler::{hex, Scheduler};
use super::task::Event;
use super::Output;
use crate::hash::{IdMap, IdSet};
use crate::wire::{
    encode as enc, CancelConfirmType, GraphTask, Kind, ResultType, Task, TaskArg, TaskResult,
};
use bytes::Bytes;
use log::{debug, warn};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Some dependency has not finished.
    Waiting,
    Running,
    Done,
    Canceled,
}

#[derive(Debug)]
pub struct Node {
    pub task: Task,
    pub deps: Vec<Bytes>,
    /// Nodes that still need this node's result (edges are removed as they finish).
    pub dependents: IdSet<Bytes>,
    pub pending_deps: usize,
    pub state: NodeState,
    pub results: Vec<Bytes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphStatus {
    Running,
    Canceling,
}

#[derive(Debug)]
pub struct Graph {
    pub client: Bytes,
    pub targets: IdSet<Bytes>,
    pub nodes: IdMap<Bytes, Node>,
    /// Node ids in submission order, so dispatch order is deterministic.
    pub order: Vec<Bytes>,
    pub status: GraphStatus,
    /// The client was removed: nothing more is sent to it for this graph.
    pub detached: bool,
}

impl Graph {
    fn new(g: &GraphTask) -> Graph {
        let ids: IdSet<&Bytes> = g.graph.iter().map(|t| &t.task_id).collect();
        let mut nodes: IdMap<Bytes, Node> = IdMap::default();
        for t in &g.graph {
            let mut deps: Vec<Bytes> = Vec::new();
            for a in t.args.iter().filter(|a| a.is_task && ids.contains(&a.data)) {
                if !deps.contains(&a.data) {
                    deps.push(a.data.clone());
                }
            }
            let pending = deps.len();
            nodes.insert(
                t.task_id.clone(),
                Node {
                    task: t.clone(),
                    deps,
                    dependents: IdSet::default(),
                    pending_deps: pending,
                    state: NodeState::Waiting,
                    results: Vec::new(),
                },
            );
        }
        let edges: Vec<(Bytes, Bytes)> = nodes
            .iter()
            .flat_map(|(id, n)| n.deps.iter().map(move |d| (d.clone(), id.clone())))
            .collect();
        for (dep, node) in edges {
            nodes
                .get_mut(&dep)
                .expect("dep is a node")
                .dependents
                .insert(node);
        }
        Graph {
            client: g.source.clone(),
            targets: g.targets.iter().cloned().collect(),
            nodes,
            order: g.graph.iter().map(|t| t.task_id.clone()).collect(),
            status: GraphStatus::Running,
            detached: false,
        }
    }

    fn ready(&self) -> Vec<Bytes> {
        self.order
            .iter()
            .filter(|id| {
                self.nodes[*id].state == NodeState::Waiting && self.nodes[*id].pending_deps == 0
            })
            .cloned()
            .collect()
    }

    fn running(&self) -> usize {
        self.nodes
            .values()
            .filter(|n| n.state == NodeState::Running)
            .count()
    }

    fn unfinished(&self) -> usize {
        self.nodes
            .values()
            .filter(|n| matches!(n.state, NodeState::Waiting | NodeState::Running))
            .count()
    }

    /// Marks `id` finished (done or canceled), unblocking its dependents.
    fn settle(&mut self, id: &Bytes, state: NodeState) {
        let Some(n) = self.nodes.get_mut(id) else {
            return;
        };
        if matches!(n.state, NodeState::Done | NodeState::Canceled) {
            return;
        }
        n.state = state;
        let dependents: Vec<Bytes> = n.dependents.iter().cloned().collect();
        for d in dependents {
            if let Some(dn) = self.nodes.get_mut(&d) {
                dn.pending_deps = dn.pending_deps.saturating_sub(1);
            }
        }
    }

    /// The node's task with every `task` argument replaced by that dependency's result object.
    fn rewritten(&self, id: &Bytes) -> Task {
        let mut t = self.nodes[id].task.clone();
        for a in &mut t.args {
            if a.is_task {
                let data = self
                    .nodes
                    .get(&a.data)
                    .and_then(|d| d.results.first().cloned())
                    .unwrap_or_else(|| a.data.clone());
                *a = TaskArg {
                    is_task: false,
                    data,
                };
            }
        }
        t
    }
}

#[derive(Debug, Default)]
pub struct Graphs {
    pub graphs: IdMap<Bytes, Graph>,
    /// Node id -> umbrella id, for every node of a live graph.
    pub node_of: IdMap<Bytes, Bytes>,
}

impl Graphs {
    /// The umbrella of a graph that `id` (umbrella or node) belongs to.
    pub fn graph_of(&self, id: &Bytes) -> Option<Bytes> {
        if self.graphs.contains_key(id) {
            return Some(id.clone());
        }
        self.node_of.get(id).cloned()
    }

    pub fn is_umbrella(&self, id: &Bytes) -> bool {
        self.graphs.contains_key(id)
    }

    fn forget(&mut self, umbrella: &Bytes) -> Option<Graph> {
        let g = self.graphs.remove(umbrella)?;
        for id in g.nodes.keys() {
            self.node_of.remove(id);
        }
        Some(g)
    }
}

impl Scheduler {
    pub(crate) fn on_graph_task(&mut self, g: GraphTask, out: &mut Vec<Output>) {
        if self.graphs.graphs.contains_key(&g.task_id)
            || g.graph.iter().any(|t| {
                self.tasks.contains_key(&t.task_id) || self.graphs.node_of.contains_key(&t.task_id)
            })
        {
            warn!(
                "graph task {} reuses a live task id: dropped",
                hex(&g.task_id)
            );
            return;
        }
        let graph = Graph::new(&g);
        self.clients.add_task(&g.source);
        for t in &g.graph {
            self.graphs
                .node_of
                .insert(t.task_id.clone(), g.task_id.clone());
            let target = graph.targets.contains(&t.task_id);
            self.publish_graph_node(
                &g.task_id,
                &t.task_id,
                target,
                &graph.nodes[&t.task_id].deps,
                out,
            );
        }
        self.graphs.graphs.insert(g.task_id.clone(), graph);
        self.graph_dispatch(&g.task_id, out);
    }

    /// Submits every node whose dependencies are done; finishes the graph when nothing is left.
    fn graph_dispatch(&mut self, umbrella: &Bytes, out: &mut Vec<Output>) {
        let Some(g) = self.graphs.graphs.get_mut(umbrella) else {
            return;
        };
        let ready = g.ready();
        let mut submit = Vec::with_capacity(ready.len());
        for id in &ready {
            g.nodes.get_mut(id).expect("ready node").state = super::graph::NodeState::Running;
            submit.push(g.rewritten(id));
        }
        let finished = g.unfinished() == 0;
        for t in submit {
            let frame = enc::task(&t);
            self.submit(t, frame, out);
        }
        if finished {
            self.finish_graph(umbrella, ResultType::Success, out);
        }
    }

    fn finish_graph(&mut self, umbrella: &Bytes, result: ResultType, out: &mut Vec<Output>) {
        let Some(g) = self.graphs.forget(umbrella) else {
            return;
        };
        if !g.detached {
            self.send(
                out,
                &g.client,
                Kind::TaskResult,
                enc::task_result(umbrella, result, b"", &[]),
            );
            self.clients.remove_task(&g.client);
        }
    }

    /// Graph hook after a node's TaskResult was relayed to the client.
    pub(crate) fn graph_node_result(&mut self, id: &Bytes, r: &TaskResult, out: &mut Vec<Output>) {
        let Some(umbrella) = self.graphs.node_of.get(id).cloned() else {
            return;
        };
        let g = self
            .graphs
            .graphs
            .get_mut(&umbrella)
            .expect("node_of points at live graphs");
        if g.status == GraphStatus::Canceling {
            self.graph_node_canceled(&umbrella, id, out);
            return;
        }
        if let Some(n) = g.nodes.get_mut(id) {
            n.results = r.results.clone();
        }
        g.settle(id, NodeState::Done);
        self.graphs.node_of.remove(id);
        self.collect_intermediates(&umbrella, id);
        if r.result_type == ResultType::Success {
            self.graph_dispatch(&umbrella, out);
        } else {
            self.abort_graph(&umbrella, id, r, out);
        }
    }

    /// Deletes results of dependencies that no remaining node needs and that are not targets.
    fn collect_intermediates(&mut self, umbrella: &Bytes, id: &Bytes) {
        let g = self.graphs.graphs.get_mut(umbrella).expect("live graph");
        let deps = g.nodes[id].deps.clone();
        let mut garbage = Vec::new();
        for d in deps {
            let Some(dn) = g.nodes.get_mut(&d) else {
                continue;
            };
            dn.dependents.remove(id);
            if dn.dependents.is_empty() && !g.targets.contains(&d) {
                garbage.extend(std::mem::take(&mut dn.results));
            }
        }
        let client = g.client.clone();
        for obj in garbage {
            self.objects.release(&client, &obj);
        }
    }

    /// A node failed: every node that will now never run gets a copy of the failure, then the umbrella.
    fn abort_graph(
        &mut self,
        umbrella: &Bytes,
        failed: &Bytes,
        r: &TaskResult,
        out: &mut Vec<Output>,
    ) {
        let Some(g) = self.graphs.graphs.get(umbrella) else {
            return;
        };
        let client = g.client.clone();
        let detached = g.detached;
        let victims: Vec<Bytes> = g
            .order
            .iter()
            .filter(|id| {
                *id != failed
                    && matches!(g.nodes[*id].state, NodeState::Waiting | NodeState::Running)
            })
            .cloned()
            .collect();
        debug!(
            "graph {} aborted by node {}: failing {} node(s)",
            hex(umbrella),
            hex(failed),
            victims.len()
        );
        for id in victims {
            let mut copies = Vec::with_capacity(r.results.len());
            for orig in &r.results {
                let new = fresh_object_id(orig);
                out.push(Output::Storage(super::StorageOp::Duplicate {
                    new: new.clone(),
                    original: orig.clone(),
                }));
                let (kind, name, size) = self
                    .objects
                    .get(orig)
                    .map(|o| (o.kind, o.name.clone(), o.size))
                    .unwrap_or((1, Box::default(), 0));
                let creator = self.clients.interned(&client);
                self.objects.create(&new, creator, kind, &name, size);
                copies.push(new);
            }
            if !detached {
                self.send(
                    out,
                    &client,
                    Kind::TaskResult,
                    enc::task_result(&id, r.result_type, &r.metadata, &copies),
                );
            }
        }
        self.finish_graph(umbrella, r.result_type, out);
    }

    /// TaskCancel naming the umbrella or a node (or the client went away).
    pub(crate) fn cancel_graph(&mut self, umbrella: &Bytes, out: &mut Vec<Output>) {
        let Some(g) = self.graphs.graphs.get_mut(umbrella) else {
            return;
        };
        if g.status == GraphStatus::Canceling {
            return;
        }
        g.status = GraphStatus::Canceling;
        let running: Vec<Bytes> = g
            .order
            .iter()
            .filter(|id| g.nodes[*id].state == NodeState::Running)
            .cloned()
            .collect();
        for id in running {
            if self.tasks.contains_key(&id) {
                self.apply(
                    &id,
                    Event::TaskCancelRequested(enc::task_cancel(&id, true)),
                    out,
                );
            }
        }
        self.graph_settle_canceled(umbrella, out);
    }

    /// A running node's machine ended by cancel (or its result arrived while canceling).
    pub(crate) fn graph_node_canceled(
        &mut self,
        umbrella: &Bytes,
        id: &Bytes,
        out: &mut Vec<Output>,
    ) {
        let Some(g) = self.graphs.graphs.get_mut(umbrella) else {
            return;
        };
        g.settle(id, NodeState::Canceled);
        self.graphs.node_of.remove(id);
        self.graph_settle_canceled(umbrella, out);
    }

    /// While canceling: every node that has not started is confirmed canceled; once nothing runs, the
    /// umbrella is confirmed and the graph forgotten.
    fn graph_settle_canceled(&mut self, umbrella: &Bytes, out: &mut Vec<Output>) {
        let Some(g) = self.graphs.graphs.get_mut(umbrella) else {
            return;
        };
        if g.status != GraphStatus::Canceling {
            return;
        }
        let waiting: Vec<Bytes> = g
            .order
            .iter()
            .filter(|id| g.nodes[*id].state == NodeState::Waiting)
            .cloned()
            .collect();
        for id in &waiting {
            g.settle(id, NodeState::Canceled);
        }
        let client = g.client.clone();
        let detached = g.detached;
        let done = g.running() == 0;
        for id in waiting {
            self.graphs.node_of.remove(&id);
            if !detached {
                self.send(
                    out,
                    &client,
                    Kind::TaskCancelConfirm,
                    enc::task_cancel_confirm(&id, CancelConfirmType::Canceled),
                );
            }
        }
        if done {
            let g = self.graphs.forget(umbrella).expect("live graph");
            if !g.detached {
                self.send(
                    out,
                    &g.client,
                    Kind::TaskCancelConfirm,
                    enc::task_cancel_confirm(umbrella, CancelConfirmType::Canceled),
                );
                self.clients.remove_task(&g.client);
            }
        }
    }
}

/// A new ObjectID for `client`. Scaler ids are md5(owner) ‖ 16 random bytes; the scheduler has no md5,
/// and only the uniqueness matters to the storage server, so the owner part is a hash of the client id.
pub fn fresh_object_id_for(client: &[u8]) -> Bytes {
    use std::hash::{Hash, Hasher};
    let mut id = Vec::with_capacity(32);
    for salt in 0u8..2 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, client).hash(&mut h);
        id.extend_from_slice(&h.finish().to_be_bytes());
    }
    id.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    Bytes::from(id)
}

/// A new ObjectID owned by the same client as `like`: Scaler ids are md5(owner) ‖ 16 random bytes.
fn fresh_object_id(like: &[u8]) -> Bytes {
    let mut id = Vec::with_capacity(32);
    id.extend_from_slice(&like[..like.len().min(16)]);
    id.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    Bytes::from(id)
}
