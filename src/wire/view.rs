//! Borrowed forms of the three messages every task brings (Task, TaskResult, ObjectInstruction), for
//! the time the scheduler handles them.
//!
//! Why: as owned `Message`s, each byte field and list of these members was a `Bytes` slice of the
//! frame, so a task paid about a dozen reference-count increments and decrements (locked instructions
//! on the frame's shared counter) for fields that are read once and dropped. A view holds plain
//! slices of the frame instead; the scheduler copies what it keeps (a Task's frame, an object's name),
//! and `to_message` turns a view back into the owned `Message` the generic decoder would produce.
use super::list::{ArgsRef, DataRef, ScalarRef};
use super::types::*;
use bytes::Bytes;
use std::borrow::Cow;

#[derive(Clone)]
pub struct TaskView<'a> {
    pub task_id: &'a [u8],
    pub source: &'a [u8],
    pub metadata: &'a [u8],
    pub func_object_id: &'a [u8],
    pub args: ArgsRef<'a>,
    pub capabilities: Cow<'a, [Capability]>,
}

#[derive(Clone, Copy)]
pub struct TaskResultView<'a> {
    pub task_id: &'a [u8],
    pub result_type: ResultType,
    pub metadata: &'a [u8],
    pub results: DataRef<'a>,
}

#[derive(Clone, Copy)]
pub struct ObjectInstructionView<'a> {
    pub kind: InstructionType,
    pub object_user: &'a [u8],
    pub ids: DataRef<'a>,
    /// 0 = serializer, 1 = object; shorter than `ids` when the sender sent fewer.
    pub types: ScalarRef<'a, u16>,
    pub names: DataRef<'a>,
    pub sizes: ScalarRef<'a, u64>,
}

/// A hot member read in place by `fast::decode_view`.
#[derive(Clone)]
pub enum HotMessage<'a> {
    Task(TaskView<'a>),
    TaskResult(TaskResultView<'a>),
    ObjectInstruction(ObjectInstructionView<'a>),
}

/// `frame`'s bytes `b` as a `Bytes` sharing it (a field of an owned `Message`); `b` not inside `frame`
/// (a view of an owned message) is copied.
fn share(frame: &Bytes, b: &[u8]) -> Bytes {
    let inside = frame.as_ptr_range();
    if b.is_empty() {
        Bytes::new()
    } else if inside.contains(&b.as_ptr()) && b.as_ptr_range().end <= inside.end {
        frame.slice_ref(b)
    } else {
        Bytes::copy_from_slice(b)
    }
}

impl TaskView<'_> {
    pub fn to_task(&self, frame: &Bytes) -> Task {
        Task {
            task_id: share(frame, self.task_id),
            source: share(frame, self.source),
            metadata: share(frame, self.metadata),
            func_object_id: share(frame, self.func_object_id),
            args: self.args.to_list(),
            capabilities: self.capabilities.to_vec(),
        }
    }
}

impl TaskResultView<'_> {
    pub fn to_task_result(&self, frame: &Bytes) -> TaskResult {
        TaskResult {
            task_id: share(frame, self.task_id),
            result_type: self.result_type,
            metadata: share(frame, self.metadata),
            results: self.results.to_list(),
        }
    }
}

impl ObjectInstructionView<'_> {
    pub fn to_object_instruction(&self, frame: &Bytes) -> ObjectInstruction {
        ObjectInstruction {
            kind: self.kind,
            object_user: share(frame, self.object_user),
            ids: self.ids.to_list(),
            types: self.types.to_list(),
            names: self.names.to_list(),
            sizes: self.sizes.to_list(),
        }
    }
}

impl HotMessage<'_> {
    /// The owned message, its fields sharing `frame` (the frame this view was read from).
    pub fn to_message(&self, frame: &Bytes) -> Message {
        match self {
            HotMessage::Task(t) => Message::Task(t.to_task(frame)),
            HotMessage::TaskResult(r) => Message::TaskResult(r.to_task_result(frame)),
            HotMessage::ObjectInstruction(o) => {
                Message::ObjectInstruction(o.to_object_instruction(frame))
            }
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            HotMessage::Task(_) => Kind::Task,
            HotMessage::TaskResult(_) => Kind::TaskResult,
            HotMessage::ObjectInstruction(_) => Kind::ObjectInstruction,
        }
    }
}

impl Task {
    pub fn view(&self) -> TaskView<'_> {
        TaskView {
            task_id: &self.task_id,
            source: &self.source,
            metadata: &self.metadata,
            func_object_id: &self.func_object_id,
            args: ArgsRef::list(&self.args),
            capabilities: Cow::Borrowed(&self.capabilities),
        }
    }
}

impl TaskResult {
    pub fn view(&self) -> TaskResultView<'_> {
        TaskResultView {
            task_id: &self.task_id,
            result_type: self.result_type,
            metadata: &self.metadata,
            results: self.results.view(),
        }
    }
}

impl ObjectInstruction {
    pub fn view(&self) -> ObjectInstructionView<'_> {
        ObjectInstructionView {
            kind: self.kind,
            object_user: &self.object_user,
            ids: self.ids.view(),
            types: self.types.view(),
            names: self.names.view(),
            sizes: self.sizes.view(),
        }
    }
}
