//! The orchestrator's client path: heartbeats, disconnect and shutdown, removal and timeouts.
use super::{lossy, Scheduler};
use crate::core::task::Event;
use crate::core::Output;
use crate::wire::{encode as enc, ClientHeartbeat, Kind};
use bytes::Bytes;
use log::{info, warn};
use std::time::Instant;

impl Scheduler {
    pub(crate) fn on_client_heartbeat(
        &mut self,
        now: Instant,
        from: &Bytes,
        h: ClientHeartbeat,
        out: &mut Vec<Output>,
    ) {
        let echo = enc::client_heartbeat_echo(&self.config.storage_address);
        self.send(out, from, Kind::ClientHeartbeatEcho, echo);
        if self.clients.heartbeat(from, h, now) {
            info!("client {} connected", lossy(from));
        }
    }

    pub(crate) fn on_client_disconnect(
        &mut self,
        from: &Bytes,
        shutdown: bool,
        out: &mut Vec<Output>,
    ) {
        if !shutdown {
            info!("client {} disconnected", lossy(from));
            self.remove_client(from, out);
            return;
        }
        if self.config.protected {
            warn!(
                "client {} asked for shutdown, refused: scheduler is protected",
                lossy(from)
            );
            self.send(
                out,
                from,
                Kind::ClientShutdownResponse,
                enc::client_shutdown_response(false),
            );
            return;
        }
        info!(
            "client {} requested shutdown: shutting down workers and scheduler",
            lossy(from)
        );
        self.send(
            out,
            from,
            Kind::ClientShutdownResponse,
            enc::client_shutdown_response(true),
        );
        let keys: Vec<_> = self
            .workers
            .slab
            .iter()
            .map(|(k, w)| (k, w.id.clone()))
            .collect();
        let frame = enc::client_disconnect(true);
        for (k, id) in keys {
            self.send(out, &id, Kind::ClientDisconnect, frame.clone());
            self.remove_worker(k, "scheduler shutdown", out);
        }
        out.push(Output::Shutdown);
    }

    /// Forgets a client: force-cancels its tasks and releases its objects.
    pub fn remove_client(&mut self, client: &Bytes, out: &mut Vec<Output>) {
        self.clients.remove(client);
        // A scan of live tasks: clients leave rarely, and it spares every task an index entry.
        let mut ids = Vec::new();
        for (id, e) in self
            .tasks
            .iter_mut()
            .filter(|(_, e)| e.source == client && !e.detached)
        {
            e.detached = true;
            ids.push(id.clone());
        }
        for u in self.graphs.detach_client(client) {
            self.cancel_graph(&u, out);
        }
        for id in ids {
            if self.graphs.graph_of(&id).is_none() && self.tasks.contains(&id) {
                self.apply(
                    &id,
                    Event::TaskCancelRequested(enc::task_cancel(&id, true)),
                    out,
                );
            }
        }
        self.objects.release_client(client);
    }

    pub(crate) fn client_timeouts(&mut self, now: Instant, out: &mut Vec<Output>) {
        let limit = self.config.client_timeout;
        for id in self.clients.timed_out(now, limit) {
            warn!(
                "client {} timed out after {:?} without a heartbeat",
                lossy(&id),
                limit
            );
            self.remove_client(&id, out);
        }
    }
}
