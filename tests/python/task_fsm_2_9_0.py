"""Prints Scaler 2.9.0's task state machine as (state, event) -> possible targets.

2.9.0 has no transition table: each event's action in VanillaTaskController answers every source state and
returns the target (or None = not permitted). This script runs every action against every source state
with mocked collaborators, over every outcome an action can branch on (a worker free or not, the holder
still known or not, each result type), and prints the union of targets. Its output is committed as
tests/data/task_fsm_2_9_0.txt and compared with scaler-rs's table by tests/task_fsm.rs.

    "$(scripts/python-env.sh)/bin/python" tests/python/task_fsm_2_9_0.py > tests/data/task_fsm_2_9_0.txt
"""
import asyncio
import importlib.metadata
import itertools
import logging
from collections import deque
from types import SimpleNamespace
from unittest.mock import AsyncMock, MagicMock

from scaler.protocol.capnp import TaskResultType, TaskState
from scaler.scheduler.controllers.task_controller import VanillaTaskController
from scaler.scheduler.task import task_event as ev
from scaler.utility.identifiers import TaskID, WorkerID

logging.disable(logging.CRITICAL)

EVENTS = [
    "HasCapacity",
    "TaskCancelRequested",
    "BalanceCancelRequested",
    "TaskResultReceived",
    "CancelConfirmCanceled",
    "CancelConfirmFailed",
    "CancelConfirmNotFound",
    "WorkerDisconnected",
]
ACTIONS = {
    "HasCapacity": "on_has_capacity",
    "TaskCancelRequested": "on_task_cancel",
    "BalanceCancelRequested": "on_balance_task_cancel",
    "TaskResultReceived": "on_task_result",
    "CancelConfirmCanceled": "on_cancel_confirm_canceled",
    "CancelConfirmFailed": "on_cancel_confirm_failed",
    "CancelConfirmNotFound": "on_cancel_confirm_not_found",
    "WorkerDisconnected": "on_worker_disconnect",
}
STATES = [
    "inactive",
    "running",
    "canceling",
    "balanceCanceling",
    "success",
    "failed",
    "failedWorkerDied",
    "canceled",
    "canceledNotFound",
]


def controller(worker_free: bool, holder_known: bool, task_id):
    c = VanillaTaskController(MagicMock())
    worker = WorkerID(b"Worker|w") if worker_free else WorkerID.invalid_worker_id()
    holder = WorkerID(b"Worker|w") if holder_known else WorkerID.invalid_worker_id()
    wc = MagicMock()
    wc.acquire_worker = MagicMock(return_value=worker)
    wc.on_task_cancel = AsyncMock(return_value=holder)
    wc.on_task_done = AsyncMock()
    c._worker_controller = wc
    c._client_controller = MagicMock()
    c._binder = MagicMock(send=AsyncMock())
    c._binder_monitor = MagicMock(send=AsyncMock())
    c._graph_controller = MagicMock(is_graph_subtask=MagicMock(return_value=False))
    c._task_id_to_task = {task_id: MagicMock()}
    c._unassigned = deque()
    c._VanillaTaskController__retry_unassignable = AsyncMock()
    return c


def event(name: str, task_id, result_type):
    w = WorkerID(b"Worker|w")
    result = SimpleNamespace(taskId=task_id, resultType=result_type, metadata=b"")
    confirm = MagicMock()
    return {
        "HasCapacity": lambda: ev.HasCapacity(task_id, w),
        "TaskCancelRequested": lambda: ev.TaskCancelRequested(task_id, MagicMock(), MagicMock()),
        "BalanceCancelRequested": lambda: ev.BalanceCancelRequested(task_id),
        "TaskResultReceived": lambda: ev.TaskResultReceived(task_id, w, result),
        "CancelConfirmCanceled": lambda: ev.CancelConfirmCanceled(task_id, w, confirm),
        "CancelConfirmFailed": lambda: ev.CancelConfirmFailed(task_id, w, confirm),
        "CancelConfirmNotFound": lambda: ev.CancelConfirmNotFound(task_id, w, confirm),
        "WorkerDisconnected": lambda: ev.WorkerDisconnected(task_id, w),
    }[name]()


async def outcomes(state: str, name: str):
    targets = set()
    task_id = TaskID(b"t" * 32)
    for worker_free, holder_known, result_type in itertools.product(
        (True, False), (True, False), (TaskResultType.success, TaskResultType.failed, TaskResultType.failedWorkerDied)
    ):
        c = controller(worker_free, holder_known, task_id)
        action = getattr(c, f"_VanillaTaskController__{ACTIONS[name]}")
        target = await action(getattr(TaskState, state), event(name, task_id, result_type))
        targets.add("refused" if target is None else target.name)
    return sorted(targets)


async def main():
    print(f"# Scaler {importlib.metadata.version('opengris-scaler')} task state machine, printed by")
    print("# tests/python/task_fsm_2_9_0.py from the installed VanillaTaskController actions.")
    print("# state event targets (`refused` = the action returns None: event not permitted)")
    for state in STATES:
        for name in EVENTS:
            print(state, name, ",".join(await outcomes(state, name)))


asyncio.run(main())
