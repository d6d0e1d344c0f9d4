//! The orchestrator's graph path: asks `core::graph::Graphs` what a graph event means and turns the
//! answer into node submissions, cancels and messages to the client.
use super::{hex, Scheduler};
use crate::core::graph::{fresh_object_id, NodeResult};
use crate::core::task::Event;
use crate::core::{Output, StorageOp};
use crate::wire::view::TaskResultView;
use crate::wire::{encode as enc, CancelConfirmType, GraphTask, Kind, ResultType};
use bytes::Bytes;
use log::{debug, warn};

impl Scheduler {
    pub(crate) fn on_graph_task(&mut self, g: GraphTask, out: &mut Vec<Output>) {
        if self.graphs.is_umbrella(&g.task_id)
            || g.graph
                .iter()
                .any(|t| self.tasks.contains(&t.task_id) || self.graphs.knows(&t.task_id))
        {
            warn!(
                "graph task {} reuses a live task id: dropped",
                hex(&g.task_id)
            );
            return;
        }
        self.clients.add_task(&g.source);
        for (node, target, deps) in self.graphs.add(&g) {
            self.publish_graph_node(&g.task_id, &node, target, &deps, out);
        }
        self.graph_dispatch(&g.task_id, out);
    }

    /// Submits every node whose dependencies are done; finishes the graph when nothing is left.
    pub(super) fn graph_dispatch(&mut self, umbrella: &Bytes, out: &mut Vec<Output>) {
        let Some((ready, finished)) = self.graphs.take_ready(umbrella) else {
            return;
        };
        for t in ready {
            let frame = enc::task(&t);
            self.submit(&t.view(), &frame, out);
        }
        if finished {
            self.finish_graph(umbrella, ResultType::Success, out);
        }
    }

    pub(super) fn finish_graph(
        &mut self,
        umbrella: &Bytes,
        result: ResultType,
        out: &mut Vec<Output>,
    ) {
        if let Some(Some(client)) = self.graphs.finish(umbrella) {
            self.send(
                out,
                &client,
                Kind::TaskResult,
                enc::task_result(umbrella, result, b"", &[]),
            );
            self.clients.remove_task(&client);
        }
    }

    /// Graph hook after a node's TaskResult was relayed to the client.
    #[inline]
    pub(crate) fn graph_node_result(
        &mut self,
        id: &Bytes,
        r: &TaskResultView<'_>,
        out: &mut Vec<Output>,
    ) {
        match self.graphs.node_result(id, r.results) {
            NodeResult::NotANode => {}
            NodeResult::Canceling(umbrella) => self.graph_node_canceled(&umbrella, id, out),
            NodeResult::Done {
                umbrella,
                client,
                garbage,
            } => {
                for obj in garbage {
                    self.objects.release(&client, &obj);
                }
                if r.result_type == ResultType::Success {
                    self.graph_dispatch(&umbrella, out);
                } else {
                    self.abort_graph(&umbrella, id, r, out);
                }
            }
        }
    }

    /// A node failed: every node that will now never run gets a copy of the failure, then the umbrella.
    pub(super) fn abort_graph(
        &mut self,
        umbrella: &Bytes,
        failed: &Bytes,
        r: &TaskResultView<'_>,
        out: &mut Vec<Output>,
    ) {
        let Some((client, detached, victims)) = self.graphs.abort_victims(umbrella, failed) else {
            return;
        };
        debug!(
            "graph {} aborted by node {}: failing {} node(s)",
            hex(umbrella),
            hex(failed),
            victims.len()
        );
        for id in victims {
            let mut copies = Vec::with_capacity(r.results.len());
            for orig in r.results.iter() {
                let new = fresh_object_id(orig, self.seeds.bytes16());
                out.push(Output::Storage(StorageOp::Duplicate {
                    new: new.clone(),
                    original: Bytes::copy_from_slice(orig),
                }));
                let (kind, name, size) = match self.objects.named(orig) {
                    Some((o, name)) => (o.kind, name.into_owned(), o.size),
                    None => (1, Vec::new(), 0),
                };
                self.objects.create(&new, &client, kind, &name, size);
                copies.push(new);
            }
            if !detached {
                self.send(
                    out,
                    &client,
                    Kind::TaskResult,
                    enc::task_result(&id, r.result_type, r.metadata, &copies),
                );
            }
        }
        self.finish_graph(umbrella, r.result_type, out);
    }

    /// TaskCancel naming the umbrella or a node (or the client went away).
    pub(crate) fn cancel_graph(&mut self, umbrella: &Bytes, out: &mut Vec<Output>) {
        let Some(running) = self.graphs.begin_cancel(umbrella) else {
            return;
        };
        for id in running {
            if self.tasks.contains(&id) {
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
        if self.graphs.node_canceled(umbrella, id) {
            self.graph_settle_canceled(umbrella, out);
        }
    }

    /// While canceling: every node that has not started is confirmed canceled; once nothing runs, the
    /// umbrella is confirmed too.
    pub(super) fn graph_settle_canceled(&mut self, umbrella: &Bytes, out: &mut Vec<Output>) {
        let Some(settled) = self.graphs.settle_canceled(umbrella) else {
            return;
        };
        let Some(client) = settled.client else {
            return;
        };
        for id in settled.canceled {
            self.send(
                out,
                &client,
                Kind::TaskCancelConfirm,
                enc::task_cancel_confirm(&id, CancelConfirmType::Canceled),
            );
        }
        if settled.done {
            self.send(
                out,
                &client,
                Kind::TaskCancelConfirm,
                enc::task_cancel_confirm(umbrella, CancelConfirmType::Canceled),
            );
            self.clients.remove_task(&client);
        }
    }
}
