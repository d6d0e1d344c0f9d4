"""Real Scaler 2.9.0 peers over ws:// or wss:// (issue 12).

Usage: python ws_check.py SCHEDULER SCHEME CERT KEY
  SCHEDULER  the scaler-rs binary, or `python` to run 2.9.0's own scheduler (to check this script)
  SCHEME     ws or wss (wss uses CERT/KEY on every listener; 2.9.0 connectors do not verify)

Checks, each printed as PASS/FAIL:
  external  the real scaler_object_storage_server bound to SCHEME://127.0.0.1:S/, the scheduler bound to
            SCHEME://127.0.0.1:A/ymq (a path) and connected to that storage server, a native worker
            manager and a client: a task, a map, send_object, a graph.
  top       scaler_top against the default monitor address SCHEME://127.0.0.1:A+2/ymq (port + 2, same
            path) draws a status screen.
  embedded  (scaler-rs only) the scheduler's embedded object storage server: the heartbeat echo carries
            only host, port and scheme, so client and worker reach it at SCHEME://127.0.0.1:B+1/.
"""
import os
import pty
import select
import signal
import subprocess
import sys
import time

from harness import free_port, wait_port

SCHED, SCHEME, CERT, KEY = sys.argv[1:5]
VENV_BIN = os.path.dirname(sys.executable)
TLS = ["--tls-cert", CERT, "--tls-key", KEY] if SCHEME == "wss" else []
QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}

procs = []
results = []


def spawn(args, **kw):
    p = subprocess.Popen(args, **{**QUIET, **kw})
    procs.append(p)
    return p


def scheduler(bind, storage):
    if SCHED == "python":
        cmd = [os.path.join(VENV_BIN, "scaler_scheduler"), bind, "--object-storage-address", storage, *TLS]
    else:
        cmd = [SCHED, bind, *TLS, "--logging-level", "WARNING"]
        if storage is not None:
            cmd += ["--object-storage-address", storage]
    return spawn(cmd)


def worker_manager(address, name):
    return spawn([os.path.join(VENV_BIN, "scaler_worker_manager"), "baremetal_native", "--mode", "fixed",
                  "--max-task-concurrency", "1", "--worker-manager-id", name, address])


def inc(x):
    return x + 1


def add(a, b):
    return a + b


def check(name, fn):
    try:
        fn()
        print(f"PASS {name}")
        results.append(True)
    except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
        print(f"FAIL {name}: {type(e).__name__}: {e}")
        results.append(False)
    sys.stdout.flush()


def client_work(address):
    from scaler import Client

    with Client(address=address) as client:
        assert client.submit(inc, 41).result(timeout=60) == 42
        assert client.map(inc, range(20)) == list(range(1, 21))
        ref = client.send_object(list(range(1000)), name="big")
        assert client.submit(len, ref).result(timeout=60) == 1000
        graph = {"a": 1, "b": 2, "c": (add, "a", "b"), "d": (inc, "c")}
        assert client.get(graph, keys=["c", "d"]) == {"c": 3, "d": 4}


def top_screen(monitor):
    """Runs scaler_top in a pseudo-terminal for a few seconds; returns what it drew."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm"
        os.environ["COLUMNS"], os.environ["LINES"] = "160", "50"
        os.execv(os.path.join(VENV_BIN, "scaler_top"), ["scaler_top", monitor])
    out = b""
    deadline = time.time() + 15
    try:
        while time.time() < deadline and b"Shortcuts:" not in out:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    break
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    return out.decode("utf-8", "replace")


def top_check(monitor):
    screen = top_screen(monitor)
    assert "Shortcuts:" in screen and "scheduler" in screen, f"no status screen from {monitor}: {screen[-300:]!r}"


try:
    # external: the real 2.9.0 object storage server over SCHEME.
    s, a = free_port(1), free_port(3)
    storage = f"{SCHEME}://127.0.0.1:{s}/"
    spawn([os.path.join(VENV_BIN, "scaler_object_storage_server"), storage, *TLS, "--logging-level", "WARNING"])
    wait_port(s)
    address = f"{SCHEME}://127.0.0.1:{a}/ymq"
    scheduler(address, storage)
    wait_port(a)
    wait_port(a + 2)
    worker_manager(address, f"ws-ext-{a}")
    check(f"external: client, worker and object storage server over {SCHEME}:// (path /ymq)",
          lambda: client_work(address))
    check(f"top: scaler_top against the default monitor {SCHEME}://127.0.0.1:{a + 2}/ymq",
          lambda: top_check(f"{SCHEME}://127.0.0.1:{a + 2}/ymq"))

    if SCHED != "python":
        b = free_port(3)
        address = f"{SCHEME}://127.0.0.1:{b}/"
        scheduler(address, None)
        wait_port(b)
        wait_port(b + 1)
        worker_manager(address, f"ws-emb-{b}")
        check(f"embedded: client and worker reach the embedded storage at {SCHEME}://127.0.0.1:{b + 1}/",
              lambda: client_work(address))
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

print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
sys.exit(0 if all(results) else 1)
