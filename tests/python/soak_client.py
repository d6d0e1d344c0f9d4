"""A real Scaler 2.9.0 client for the soak test (tests/python/soak.py); it may be killed with SIGKILL any time.

Usage: python soak_client.py ADDRESS LOG STOP_FILE CAPABILITY
Submits batches of tasks (routed by CAPABILITY to the real workers), each with an argument stored once in the
object storage, checks every value, and counts at the client agent, where TaskResult messages arrive from the
scheduler, how many results each task got. Each batch appends cumulative counts to LOG with one unbuffered
write (so a SIGKILL loses at most the batch in flight):
    S <submitted>                                     after a batch is submitted
    A <submitted> <answered> <duplicates> <unknown> <wrong>   after its results are checked
    END <submitted> <answered> <duplicates> <unknown> <wrong> <missing>   on a clean exit (STOP_FILE exists)
"""
import collections
import os
import random
import sys
import threading
import time

from scaler import Client
from scaler.client.agent.task_manager import ClientTaskManager

address, log_path, stop_file, capability = sys.argv[1:5]
BATCH = 40

lock = threading.Lock()
submitted_ids = set()
results_per_task = collections.Counter()
unknown = 0

_on_new_task = ClientTaskManager.on_new_task
_on_task_result = ClientTaskManager.on_task_result


async def on_new_task(self, task):
    with lock:
        submitted_ids.add(bytes(task.taskId))
    await _on_new_task(self, task)


async def on_task_result(self, result):
    global unknown
    with lock:
        tid = bytes(result.taskId)
        if tid in submitted_ids:
            results_per_task[tid] += 1
        else:
            unknown += 1
    await _on_task_result(self, result)


# Counted before the agent's own filter (which drops a second result for a task silently).
ClientTaskManager.on_new_task = on_new_task
ClientTaskManager.on_task_result = on_task_result

log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def log(line):
    os.write(log_fd, (line + "\n").encode())


def counts():
    with lock:
        answered = len(results_per_task)
        dups = sum(n - 1 for n in results_per_task.values())
        return len(submitted_ids), answered, dups, unknown


def soak_task(x, blob):
    # A short, variable run time so that kills land on queued and running tasks alike.
    time.sleep(random.random() * 0.05)
    return x * 2 + len(blob)


def main():
    wrong = 0
    missing = 0
    with Client(address=address, timeout_seconds=30) as client:
        blob = list(range(random.randint(100, 5000)))
        ref = client.send_object(blob, name="soak-blob")
        caps = {capability: -1}
        n = 0
        while not os.path.exists(stop_file):
            xs = list(range(n, n + BATCH))
            n += BATCH
            futures = [client.submit_verbose(soak_task, (x, ref), {}, capabilities=caps) for x in xs]
            log("S %d" % counts()[0])
            for x, f in zip(xs, futures):
                try:
                    if f.result(timeout=180) != x * 2 + len(blob):
                        wrong += 1
                except Exception as e:  # noqa: BLE001 - a timeout or an error result is a missing answer
                    print(f"task {x}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                    missing += 1
            s, a, d, u = counts()
            log("A %d %d %d %d %d" % (s, a, d, u, wrong))
        # Linger so that a late duplicate of the last batch would still be counted.
        time.sleep(1.0)
    s, a, d, u = counts()
    log("END %d %d %d %d %d %d" % (s, a, d, u, wrong, max(missing, s - a)))
    return 0 if (s == a and d == 0 and u == 0 and wrong == 0 and missing == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
