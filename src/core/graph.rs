//! Graph tasks (DAGs): dependency ordering, argument rewriting, intermediate-result cleanup, failure
//! propagation and cancel (docs/design.md, "Clients, objects, graphs, balancing, scaling").
//!
//! Unlike 2.9.0 (whose graph cancel can hang), a cancel cancels every node that has not started, including
//! nodes that only become ready after a running node is cancelled, so the umbrella confirm always comes.
use crate::hash::{IdBuild, IdMap, IdSet};
use crate::wire::list::DataRef;
use crate::wire::{GraphTask, Task, TaskArg};
use bytes::Bytes;

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
    fn new(g: &GraphTask, keys: IdBuild) -> Graph {
        let mut ids: IdSet<&Bytes> = IdSet::with_hasher(keys);
        ids.extend(g.graph.iter().map(|t| &t.task_id));
        let mut nodes: IdMap<Bytes, Node> = IdMap::with_hasher(keys);
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
                    dependents: IdSet::with_hasher(keys),
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
        let mut targets = IdSet::with_hasher(keys);
        targets.extend(g.targets.iter().cloned());
        Graph {
            client: g.source.clone(),
            targets,
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

    /// Drops the edges into finished node `id`; returns the results of dependencies that no remaining
    /// node needs and that are not targets.
    fn collect_intermediates(&mut self, id: &Bytes) -> Vec<Bytes> {
        let deps = self.nodes[id].deps.clone();
        let mut garbage = Vec::new();
        for d in deps {
            let Some(dn) = self.nodes.get_mut(&d) else {
                continue;
            };
            dn.dependents.remove(id);
            if dn.dependents.is_empty() && !self.targets.contains(&d) {
                garbage.extend(std::mem::take(&mut dn.results));
            }
        }
        garbage
    }

    /// The node's task with every `task` argument replaced by that dependency's result object.
    fn rewritten(&self, id: &Bytes) -> Task {
        let mut t = self.nodes[id].task.clone();
        t.args = t
            .args
            .iter()
            .map(|a| match a.is_task {
                true => TaskArg {
                    is_task: false,
                    data: self
                        .nodes
                        .get(&a.data)
                        .and_then(|d| d.results.first().cloned())
                        .unwrap_or(a.data),
                },
                false => a,
            })
            .collect();
        t
    }
}

#[derive(Debug)]
pub struct Graphs {
    pub graphs: IdMap<Bytes, Graph>,
    /// Node id -> umbrella id, for every node of a live graph.
    pub node_of: IdMap<Bytes, Bytes>,
    /// Keys for every map of every graph.
    keys: IdBuild,
}

impl Graphs {
    pub fn new(keys: IdBuild) -> Graphs {
        Graphs {
            graphs: IdMap::with_hasher(keys),
            node_of: IdMap::with_hasher(keys),
            keys,
        }
    }

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

    /// Whether `id` is an umbrella or a node of a live graph.
    pub fn knows(&self, id: &Bytes) -> bool {
        self.graphs.contains_key(id) || self.node_of.contains_key(id)
    }

    /// Takes a new graph in; returns (node, is target, dependencies) per node in submission order (what
    /// the monitor is told). The caller has checked that no id of `g` is live.
    pub fn add(&mut self, g: &GraphTask) -> Vec<(Bytes, bool, Vec<Bytes>)> {
        let graph = Graph::new(g, self.keys);
        let mut added = Vec::with_capacity(g.graph.len());
        for t in &g.graph {
            self.node_of.insert(t.task_id.clone(), g.task_id.clone());
            let target = graph.targets.contains(&t.task_id);
            added.push((
                t.task_id.clone(),
                target,
                graph.nodes[&t.task_id].deps.clone(),
            ));
        }
        self.graphs.insert(g.task_id.clone(), graph);
        added
    }

    /// Marks every node whose dependencies are done as running and returns their tasks (arguments
    /// rewritten to the dependencies' results), and whether the graph has nothing left to run.
    pub fn take_ready(&mut self, umbrella: &Bytes) -> Option<(Vec<Task>, bool)> {
        let g = self.graphs.get_mut(umbrella)?;
        let ready = g.ready();
        let mut submit = Vec::with_capacity(ready.len());
        for id in &ready {
            g.nodes.get_mut(id).expect("ready node").state = NodeState::Running;
            submit.push(g.rewritten(id));
        }
        Some((submit, g.unfinished() == 0))
    }

    /// Forgets a graph; returns its client unless the client was removed.
    pub fn finish(&mut self, umbrella: &Bytes) -> Option<Option<Bytes>> {
        let g = self.forget(umbrella)?;
        Some((!g.detached).then_some(g.client))
    }

    /// A node's result arrived (and was relayed to the client).
    #[inline]
    pub fn node_result(&mut self, id: &Bytes, results: DataRef<'_>) -> NodeResult {
        let Some(umbrella) = self.node_of.get(id).cloned() else {
            return NodeResult::NotANode;
        };
        let g = self
            .graphs
            .get_mut(&umbrella)
            .expect("node_of points at live graphs");
        if g.status == GraphStatus::Canceling {
            return NodeResult::Canceling(umbrella);
        }
        if let Some(n) = g.nodes.get_mut(id) {
            // Copies: a node's results live as long as its graph, the frame should not.
            n.results = results.to_owned_vec();
        }
        g.settle(id, NodeState::Done);
        self.node_of.remove(id);
        let garbage = g.collect_intermediates(id);
        NodeResult::Done {
            umbrella,
            client: g.client.clone(),
            garbage,
        }
    }

    /// A node failed: the nodes that will now never run, other than `failed`, in submission order, with
    /// the graph's client (`None` once it was removed).
    pub fn abort_victims(
        &self,
        umbrella: &Bytes,
        failed: &Bytes,
    ) -> Option<(Bytes, bool, Vec<Bytes>)> {
        let g = self.graphs.get(umbrella)?;
        let victims = g
            .order
            .iter()
            .filter(|id| {
                *id != failed
                    && matches!(g.nodes[*id].state, NodeState::Waiting | NodeState::Running)
            })
            .cloned()
            .collect();
        Some((g.client.clone(), g.detached, victims))
    }

    /// Starts canceling a graph; returns its running nodes (to cancel), or `None` if it is unknown or
    /// already canceling.
    pub fn begin_cancel(&mut self, umbrella: &Bytes) -> Option<Vec<Bytes>> {
        let g = self.graphs.get_mut(umbrella)?;
        if g.status == GraphStatus::Canceling {
            return None;
        }
        g.status = GraphStatus::Canceling;
        Some(
            g.order
                .iter()
                .filter(|id| g.nodes[*id].state == NodeState::Running)
                .cloned()
                .collect(),
        )
    }

    /// A running node's machine ended by cancel (or its result arrived while canceling).
    pub fn node_canceled(&mut self, umbrella: &Bytes, id: &Bytes) -> bool {
        let Some(g) = self.graphs.get_mut(umbrella) else {
            return false;
        };
        g.settle(id, NodeState::Canceled);
        self.node_of.remove(id);
        true
    }

    /// While canceling: every node that has not started is canceled; once nothing runs, the graph is
    /// forgotten. `None` unless the graph is live and canceling.
    pub fn settle_canceled(&mut self, umbrella: &Bytes) -> Option<Settled> {
        let g = self.graphs.get_mut(umbrella)?;
        if g.status != GraphStatus::Canceling {
            return None;
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
        let client = (!g.detached).then(|| g.client.clone());
        let done = g.running() == 0;
        for id in &waiting {
            self.node_of.remove(id);
        }
        if done {
            self.forget(umbrella);
        }
        Some(Settled {
            client,
            canceled: waiting,
            done,
        })
    }

    /// The client was removed: its graphs stop answering it; returns their umbrellas (to cancel).
    pub fn detach_client(&mut self, client: &Bytes) -> Vec<Bytes> {
        let mut umbrellas = Vec::new();
        for (u, g) in self
            .graphs
            .iter_mut()
            .filter(|(_, g)| g.client == client && !g.detached)
        {
            g.detached = true;
            umbrellas.push(u.clone());
        }
        umbrellas
    }

    fn forget(&mut self, umbrella: &Bytes) -> Option<Graph> {
        let g = self.graphs.remove(umbrella)?;
        for id in g.nodes.keys() {
            self.node_of.remove(id);
        }
        Some(g)
    }
}

/// What a node's result means for its graph.
#[derive(Debug, PartialEq, Eq)]
pub enum NodeResult {
    NotANode,
    /// The graph is being canceled: the node counts as canceled.
    Canceling(Bytes),
    /// The node is done; `garbage` are dependencies' results no remaining node needs (not targets),
    /// which `client` lets go of.
    Done {
        umbrella: Bytes,
        client: Bytes,
        garbage: Vec<Bytes>,
    },
}

/// The outcome of `Graphs::settle_canceled`.
#[derive(Debug, PartialEq, Eq)]
pub struct Settled {
    /// Where confirms go (`None` once the client was removed).
    pub client: Option<Bytes>,
    /// Nodes that had not started, now canceled, in submission order.
    pub canceled: Vec<Bytes>,
    /// Nothing runs any more: the graph was forgotten and its umbrella is confirmed.
    pub done: bool,
}

/// A new ObjectID for `client`. Scaler ids are md5(owner) ‖ 16 random bytes; the scheduler has no md5,
/// and only the uniqueness matters to the storage server, so the owner part is a hash of the client id.
pub fn fresh_object_id_for(client: &[u8], random: [u8; 16]) -> Bytes {
    use std::hash::{Hash, Hasher};
    let mut id = Vec::with_capacity(32);
    for salt in 0u8..2 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, client).hash(&mut h);
        id.extend_from_slice(&h.finish().to_be_bytes());
    }
    id.extend_from_slice(&random);
    Bytes::from(id)
}

/// A new ObjectID owned by the same client as `like`: Scaler ids are md5(owner) ‖ 16 random bytes.
pub fn fresh_object_id(like: &[u8], random: [u8; 16]) -> Bytes {
    let mut id = Vec::with_capacity(32);
    id.extend_from_slice(&like[..like.len().min(16)]);
    id.extend_from_slice(&random);
    Bytes::from(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::DataList;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    /// A graph `g` of client `c` whose nodes name their dependencies as task arguments.
    fn graph(nodes: &[(&str, &[&str])], targets: &[&str]) -> GraphTask {
        GraphTask {
            task_id: b("g"),
            source: b("Client|c"),
            targets: targets.iter().map(|t| b(t)).collect(),
            graph: nodes
                .iter()
                .map(|(id, deps)| Task {
                    task_id: b(id),
                    source: b("Client|c"),
                    metadata: Bytes::new(),
                    func_object_id: Bytes::from(vec![1; 32]),
                    args: deps
                        .iter()
                        .map(|d| TaskArg {
                            is_task: true,
                            data: b(d),
                        })
                        .chain(std::iter::once(TaskArg {
                            is_task: false,
                            data: b("plain-object"),
                        }))
                        .collect(),
                    capabilities: vec![],
                })
                .collect(),
        }
    }

    fn graphs() -> Graphs {
        Graphs::new(IdBuild::with_keys(3, 4))
    }

    fn ids(tasks: &[Task]) -> Vec<Bytes> {
        tasks.iter().map(|t| t.task_id.clone()).collect()
    }

    #[test]
    fn nodes_run_in_dependency_order_with_arguments_rewritten_to_results() {
        let mut gs = graphs();
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["a", "b"])], &["c"]);
        let added = gs.add(&g);
        assert_eq!(added[2], (b("c"), true, vec![b("a"), b("b")]));
        assert!(gs.knows(&b("g")) && gs.knows(&b("b")) && !gs.knows(&b("x")));
        assert_eq!(gs.graph_of(&b("b")), Some(b("g")));
        let (ready, finished) = gs.take_ready(&b("g")).unwrap();
        assert_eq!((ids(&ready), finished), (vec![b("a")], false));
        assert_eq!(gs.take_ready(&b("g")).unwrap().0, vec![], "a runs once");

        let done = gs.node_result(&b("a"), DataList::from(vec![b("ra")]).view());
        assert!(matches!(done, NodeResult::Done { ref garbage, .. } if garbage.is_empty()));
        let (ready, _) = gs.take_ready(&b("g")).unwrap();
        assert_eq!(ids(&ready), vec![b("b")]);
        let arg = &ready[0].args.get(0).unwrap();
        assert_eq!((arg.is_task, &arg.data[..]), (false, &b"ra"[..]));
        assert_eq!(ready[0].args.get(1).unwrap().data, b("plain-object"));

        // b done: a is still needed by c, nothing to collect yet.
        gs.node_result(&b("b"), DataList::from(vec![b("rb")]).view());
        let (ready, _) = gs.take_ready(&b("g")).unwrap();
        assert_eq!(ids(&ready), vec![b("c")]);
        let args: Vec<Bytes> = ready[0].args.iter().map(|a| a.data).collect();
        assert_eq!(args, vec![b("ra"), b("rb"), b("plain-object")]);

        // c done: a and b are intermediates nobody needs; c is a target and is kept.
        let NodeResult::Done {
            umbrella,
            client,
            mut garbage,
        } = gs.node_result(&b("c"), DataList::from(vec![b("rc")]).view())
        else {
            panic!("c is a node")
        };
        garbage.sort();
        assert_eq!(
            (umbrella, client, garbage),
            (b("g"), b("Client|c"), vec![b("ra"), b("rb")])
        );
        assert_eq!(gs.take_ready(&b("g")), Some((vec![], true)), "nothing left");
        assert_eq!(gs.finish(&b("g")), Some(Some(b("Client|c"))));
        assert!(gs.graphs.is_empty() && gs.node_of.is_empty());
        assert_eq!(
            gs.node_result(&b("c"), DataList::default().view()),
            NodeResult::NotANode
        );
    }

    #[test]
    fn a_failure_names_every_node_that_will_not_run() {
        let mut gs = graphs();
        gs.add(&graph(
            &[("a", &[]), ("b", &[]), ("c", &["a"]), ("d", &["b"])],
            &["c", "d"],
        ));
        gs.take_ready(&b("g"));
        gs.node_result(&b("b"), DataList::from(vec![b("rb")]).view());
        gs.take_ready(&b("g"));
        let (client, detached, victims) = gs.abort_victims(&b("g"), &b("a")).unwrap();
        assert_eq!((client, detached), (b("Client|c"), false));
        assert_eq!(
            victims,
            vec![b("c"), b("d")],
            "b finished; a is the failed node"
        );
    }

    #[test]
    fn cancel_confirms_waiting_nodes_and_ends_when_nothing_runs() {
        let mut gs = graphs();
        gs.add(&graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"])], &["c"]));
        gs.take_ready(&b("g"));
        assert_eq!(gs.begin_cancel(&b("g")), Some(vec![b("a")]));
        assert_eq!(gs.begin_cancel(&b("g")), None, "already canceling");
        let s = gs.settle_canceled(&b("g")).unwrap();
        assert_eq!(
            s,
            Settled {
                client: Some(b("Client|c")),
                canceled: vec![b("b"), b("c")],
                done: false
            },
            "a still runs"
        );
        // a's result while canceling counts as canceled, and ends the graph.
        assert_eq!(
            gs.node_result(&b("a"), DataList::from(vec![b("ra")]).view()),
            NodeResult::Canceling(b("g"))
        );
        assert!(gs.node_canceled(&b("g"), &b("a")));
        let s = gs.settle_canceled(&b("g")).unwrap();
        assert_eq!((s.canceled, s.done), (vec![], true));
        assert!(gs.graphs.is_empty() && gs.node_of.is_empty());
        assert!(!gs.node_canceled(&b("g"), &b("a")));
    }

    #[test]
    fn settling_needs_a_canceling_graph_and_detached_graphs_answer_nobody() {
        let mut gs = graphs();
        gs.add(&graph(&[("a", &[]), ("b", &["a"])], &["b"]));
        gs.take_ready(&b("g"));
        assert_eq!(gs.settle_canceled(&b("g")), None, "not canceling");
        assert_eq!(gs.detach_client(&b("Client|other")), Vec::<Bytes>::new());
        assert_eq!(gs.detach_client(&b("Client|c")), vec![b("g")]);
        assert_eq!(
            gs.detach_client(&b("Client|c")),
            Vec::<Bytes>::new(),
            "once"
        );
        gs.begin_cancel(&b("g"));
        let s = gs.settle_canceled(&b("g")).unwrap();
        assert_eq!((s.client, s.canceled), (None, vec![b("b")]));
        assert_eq!(gs.abort_victims(&b("g"), &b("a")).map(|v| v.1), Some(true));
        assert_eq!(gs.finish(&b("g")), Some(None));
        assert_eq!(gs.finish(&b("g")), None);
    }
}
