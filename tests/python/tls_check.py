"""A real Scaler 2.9.0 client and native worker run a task through scaler-rs over tls://.

Usage: python tls_check.py SCALER_RS_BIN CERT KEY
Scheduler A binds tls:// and uses scheduler B's embedded object storage server over tls:// as its
external storage, so both TLS sides of scaler-rs are exercised (server towards peers, client towards
storage).
"""
import os
import signal
import subprocess
import sys
import time

from harness import free_port, wait_port

BIN, CERT, KEY = sys.argv[1:4]
VENV_BIN = os.path.dirname(sys.executable)


a, b = free_port(3), free_port(3)
procs = []
try:
    tls = ["--tls-cert", CERT, "--tls-key", KEY]
    procs.append(subprocess.Popen([BIN, f"tls://127.0.0.1:{b}", *tls, "--logging-level", "WARNING"], start_new_session=True))
    wait_port(b + 1)
    procs.append(subprocess.Popen([BIN, f"tls://127.0.0.1:{a}", *tls, "--object-storage-address", f"tls://127.0.0.1:{b + 1}",
                                   "--logging-level", "WARNING"], start_new_session=True))
    wait_port(a)
    procs.append(subprocess.Popen([os.path.join(VENV_BIN, "scaler_worker_manager"), "baremetal_native", "--mode", "fixed",
                                   "--max-task-concurrency", "1", "--worker-manager-id", f"tls-{a}", f"tls://127.0.0.1:{a}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    from scaler import Client

    def inc(x):
        return x + 1

    with Client(address=f"tls://127.0.0.1:{a}") as client:
        assert client.submit(inc, 41).result(timeout=60) == 42
        assert client.map(inc, range(20)) == list(range(1, 21))
    print("PASS tls: real 2.9.0 client and worker over tls://, storage over tls://")
    print("1 passed, 0 failed")
finally:
    for p in reversed(procs):
        try:
            os.killpg(p.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
    time.sleep(1)
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
