//! The orchestrator's object path: object instructions from clients and the batched deletions.
use super::{lossy, Scheduler};
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
