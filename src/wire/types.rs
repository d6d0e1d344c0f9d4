//! Owned views of the `Message` members the scheduler acts on.
//!
//! Byte fields are `Bytes` slices of the received frame (see `decode`), so ids and payloads are never copied.
//! Only what the scheduler reads is kept; a Task is also kept as its raw frame so it can be forwarded
//! to a worker unchanged.
pub use super::list::{ArgList, DataList, ScalarList};
use bytes::Bytes;

/// The 27 members of the 2.9.0 `Message` union, by discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Kind {
    Task = 0,
    TaskCancel = 1,
    TaskCancelConfirm = 2,
    TaskResult = 3,
    TaskLog = 4,
    GraphTask = 5,
    ObjectInstruction = 6,
    ClientHeartbeat = 7,
    ClientHeartbeatEcho = 8,
    WorkerHeartbeat = 9,
    WorkerHeartbeatEcho = 10,
    StateClient = 11,
    StateObject = 12,
    StateBalanceAdvice = 13,
    StateScheduler = 14,
    StateWorker = 15,
    StateTask = 16,
    StateGraphTask = 17,
    ClientDisconnect = 18,
    ClientShutdownResponse = 19,
    ProcessorInitialized = 20,
    InformationRequest = 21,
    InformationResponse = 22,
    WorkerManagerHeartbeat = 23,
    WorkerManagerHeartbeatEcho = 24,
    WorkerManagerCommand = 25,
    WorkerDisconnectNotification = 26,
}

impl Kind {
    pub const COUNT: usize = 27;
    pub const ALL: [Kind; Kind::COUNT] = [
        Kind::Task,
        Kind::TaskCancel,
        Kind::TaskCancelConfirm,
        Kind::TaskResult,
        Kind::TaskLog,
        Kind::GraphTask,
        Kind::ObjectInstruction,
        Kind::ClientHeartbeat,
        Kind::ClientHeartbeatEcho,
        Kind::WorkerHeartbeat,
        Kind::WorkerHeartbeatEcho,
        Kind::StateClient,
        Kind::StateObject,
        Kind::StateBalanceAdvice,
        Kind::StateScheduler,
        Kind::StateWorker,
        Kind::StateTask,
        Kind::StateGraphTask,
        Kind::ClientDisconnect,
        Kind::ClientShutdownResponse,
        Kind::ProcessorInitialized,
        Kind::InformationRequest,
        Kind::InformationResponse,
        Kind::WorkerManagerHeartbeat,
        Kind::WorkerManagerHeartbeatEcho,
        Kind::WorkerManagerCommand,
        Kind::WorkerDisconnectNotification,
    ];

    /// The Python class name, which is how the monitor's BinderStatus counters are keyed.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Task => "Task",
            Kind::TaskCancel => "TaskCancel",
            Kind::TaskCancelConfirm => "TaskCancelConfirm",
            Kind::TaskResult => "TaskResult",
            Kind::TaskLog => "TaskLog",
            Kind::GraphTask => "GraphTask",
            Kind::ObjectInstruction => "ObjectInstruction",
            Kind::ClientHeartbeat => "ClientHeartbeat",
            Kind::ClientHeartbeatEcho => "ClientHeartbeatEcho",
            Kind::WorkerHeartbeat => "WorkerHeartbeat",
            Kind::WorkerHeartbeatEcho => "WorkerHeartbeatEcho",
            Kind::StateClient => "StateClient",
            Kind::StateObject => "StateObject",
            Kind::StateBalanceAdvice => "StateBalanceAdvice",
            Kind::StateScheduler => "StateScheduler",
            Kind::StateWorker => "StateWorker",
            Kind::StateTask => "StateTask",
            Kind::StateGraphTask => "StateGraphTask",
            Kind::ClientDisconnect => "ClientDisconnect",
            Kind::ClientShutdownResponse => "ClientShutdownResponse",
            Kind::ProcessorInitialized => "ProcessorInitialized",
            Kind::InformationRequest => "InformationRequest",
            Kind::InformationResponse => "InformationResponse",
            Kind::WorkerManagerHeartbeat => "WorkerManagerHeartbeat",
            Kind::WorkerManagerHeartbeatEcho => "WorkerManagerHeartbeatEcho",
            Kind::WorkerManagerCommand => "WorkerManagerCommand",
            Kind::WorkerDisconnectNotification => "WorkerDisconnectNotification",
        }
    }

    pub fn from_u16(d: u16) -> Option<Kind> {
        Kind::ALL.get(d as usize).copied()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Capability {
    pub name: String,
    pub value: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskArg {
    /// `true` for a graph reference to another task's result, `false` for an ObjectID.
    pub is_task: bool,
    pub data: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub task_id: Bytes,
    pub source: Bytes,
    pub metadata: Bytes,
    pub func_object_id: Bytes,
    pub args: ArgList,
    pub capabilities: Vec<Capability>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultType {
    Success = 0,
    Failed = 1,
    FailedWorkerDied = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskResult {
    pub task_id: Bytes,
    pub result_type: ResultType,
    pub metadata: Bytes,
    pub results: DataList,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelConfirmType {
    Canceled = 0,
    CancelFailed = 1,
    CancelNotFound = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphTask {
    pub task_id: Bytes,
    pub source: Bytes,
    pub targets: Vec<Bytes>,
    pub graph: Vec<Task>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstructionType {
    Create = 0,
    Delete = 1,
    Clear = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInstruction {
    pub kind: InstructionType,
    pub object_user: Bytes,
    pub ids: DataList,
    /// 0 = serializer, 1 = object; shorter than `ids` when the sender sent fewer.
    pub types: ScalarList<u16>,
    pub names: DataList,
    pub sizes: ScalarList<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resource {
    pub cpu: u16,
    pub rss: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHeartbeat {
    pub resource: Resource,
    pub latency_us: u32,
    pub hostname: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessorStatus {
    pub pid: u32,
    pub initialized: bool,
    pub has_task: bool,
    pub suspended: bool,
    pub resource: Resource,
    pub current_task_id: Bytes,
    pub task_age_seconds: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerHeartbeat {
    pub agent: Resource,
    pub rss_free: u64,
    pub queue_size: u32,
    pub queued_tasks: u32,
    pub latency_us: u32,
    pub task_lock: bool,
    pub processors: Vec<ProcessorStatus>,
    pub capabilities: Vec<Capability>,
    pub worker_manager_id: Bytes,
    pub mem_limit: u64,
    pub hostname: String,
    pub net_sent_bytes: u64,
    pub net_recv_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerManagerHeartbeat {
    pub max_task_concurrency: u32,
    pub capabilities: Vec<Capability>,
    pub worker_manager_id: Bytes,
}

/// A decoded `Message`. Members only the scheduler sends (echoes, monitor states, commands) decode to
/// `NotForScheduler` after their pointer has been validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Task(Task),
    TaskCancel {
        task_id: Bytes,
        force: bool,
    },
    TaskCancelConfirm {
        task_id: Bytes,
        kind: CancelConfirmType,
    },
    TaskResult(TaskResult),
    TaskLog {
        task_id: Bytes,
    },
    GraphTask(GraphTask),
    ObjectInstruction(ObjectInstruction),
    ClientHeartbeat(ClientHeartbeat),
    WorkerHeartbeat(WorkerHeartbeat),
    ClientDisconnect {
        shutdown: bool,
    },
    InformationRequest,
    WorkerManagerHeartbeat(WorkerManagerHeartbeat),
    WorkerDisconnectNotification,
    NotForScheduler(Kind),
}

impl Message {
    pub fn kind(&self) -> Kind {
        match self {
            Message::Task(_) => Kind::Task,
            Message::TaskCancel { .. } => Kind::TaskCancel,
            Message::TaskCancelConfirm { .. } => Kind::TaskCancelConfirm,
            Message::TaskResult(_) => Kind::TaskResult,
            Message::TaskLog { .. } => Kind::TaskLog,
            Message::GraphTask(_) => Kind::GraphTask,
            Message::ObjectInstruction(_) => Kind::ObjectInstruction,
            Message::ClientHeartbeat(_) => Kind::ClientHeartbeat,
            Message::WorkerHeartbeat(_) => Kind::WorkerHeartbeat,
            Message::ClientDisconnect { .. } => Kind::ClientDisconnect,
            Message::InformationRequest => Kind::InformationRequest,
            Message::WorkerManagerHeartbeat(_) => Kind::WorkerManagerHeartbeat,
            Message::WorkerDisconnectNotification => Kind::WorkerDisconnectNotification,
            Message::NotForScheduler(k) => *k,
        }
    }
}
