//! The orchestrator's object path: object instructions from clients and the batched deletions.
use super::{lossy, Scheduler};
use crate::core::object::ObjectKey;
use crate::core::{Output, StorageOp};
use crate::wire::{encode as enc, InstructionType, Kind};
use bytes::Bytes;
use log::error;

impl Scheduler {
    pub(super) fn on_object_instruction(
        &mut self,
        from: &Bytes,
        o: crate::wire::view::ObjectInstructionView<'_>,
    ) {
        match o.kind {
            InstructionType::Create => {
                if !self.clients.is_registered(o.object_user) {
                    error!(
                        "object create for unknown client {} from {}: ignored",
                        lossy(o.object_user),
                        lossy(from)
                    );
                    return;
                }
                for (i, id) in o.ids.iter().enumerate() {
                    let kind = o.types.get(i).unwrap_or(1);
                    let name = o.names.get(i).unwrap_or_default();
                    let size = o.sizes.get(i).unwrap_or(0);
                    self.objects.create(id, o.object_user, kind, name, size);
                }
            }
            InstructionType::Delete => {
                for id in o.ids.iter() {
                    self.objects.release(o.object_user, id);
                }
            }
            InstructionType::Clear => error!(
                "clear object instruction from {} ignored (as 2.9.0)",
                lossy(from)
            ),
        }
    }

    /// A peer of the embedded object storage server deleted `id` there. A 2.9.0 client deletes each
    /// simple task's result in the storage server after fetching it and never tells the scheduler, so
    /// without this the record of every result stays until its client leaves (2.9.0's scheduler keeps
    /// them too): memory that grows with every task a long-lived client runs. The object is gone, so
    /// nothing is sent: its creator's leaving would only have deleted it again. With an external
    /// storage server the scheduler does not see these deletions; the records stay, as in 2.9.0.
    pub fn on_deleted_in_storage(&mut self, id: &ObjectKey) {
        self.objects.forget(id);
    }

    /// Sends the batched deletions to every worker and to the object storage server.
    pub(crate) fn flush_object_deletes(&mut self, out: &mut Vec<Output>) {
        if !self.objects.has_pending_deletes() {
            return;
        }
        let keys = self.objects.take_pending_deletes();
        let frame = enc::object_delete(&keys);
        let workers: Vec<Bytes> = self
            .workers
            .slab
            .iter()
            .map(|(_, w)| w.id.clone())
            .collect();
        for w in workers {
            self.send(out, &w, Kind::ObjectInstruction, frame.clone());
        }
        out.extend(
            keys.into_iter()
                .map(|id| Output::Storage(StorageOp::Delete(id))),
        );
    }
}
