"""End to end: Scaler 2.9.0's own launchers, unchanged, start scaler-rs under SCALER_SCHEDULER=scaler-rs.

Each program runs in a fresh interpreter and reports which executable its scheduler process is
(/proc/PID/exe) and how it ended; the test also looks for scaler-rs's own log lines ("[scaler_rs...]"), which
the Python scheduler never writes.
"""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from conftest import clean_env, free_port, lines_with, run_python

import scaler_rs

BINARY = os.path.realpath(scaler_rs.binary_path())

COMBO_PROGRAM = """
import math, os
from scaler import Client
from scaler.cluster.combo import SchedulerClusterCombo

cluster = SchedulerClusterCombo(n_workers=2)
scheduler = cluster._scheduler
print("SCHEDULER", type(scheduler).__name__, os.path.realpath(f"/proc/{scheduler.pid}/exe"))
with Client(address=cluster.get_address()) as client:
    print("RESULT", sum(client.map(math.sqrt, range(100))))
    print("GRAPH", client.get({"a": 2, "b": (lambda x: x + 1, "a")}, keys=["b"]))
cluster.shutdown()
print("EXITCODE", scheduler.exitcode)
"""

RAY_PROGRAM = """
import os
import ray
import scaler.compat.ray as compat

@ray.remote
def double(x):
    return 2 * x

assert ray.get([double.remote(i) for i in range(20)]) == [2 * i for i in range(20)]  # implicit scaler_init()
scheduler = compat.combo._scheduler
print("SCHEDULER", type(scheduler).__name__, os.path.realpath(f"/proc/{scheduler.pid}/exe"))
ray.shutdown()
print("EXITCODE", scheduler.exitcode)
"""


def value(output, key):
    found = [line.split(" ", 1)[1] for line in output.splitlines() if line.startswith(key + " ")]
    assert found, f"no {key} line in:\n{output}"
    return found[0]


def assert_ran_scaler_rs(result):
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert value(output, "SCHEDULER") == f"ScalerRsSchedulerProcess {BINARY}"
    assert value(output, "EXITCODE") == "0"  # terminate()d by shutdown, exited gracefully
    assert lines_with(output, "[scaler_rs::transport::listeners] listening on"), "no scaler-rs log line"
    return output


def test_scheduler_cluster_combo_program():
    result = run_python(COMBO_PROGRAM, timeout=180, SCALER_SCHEDULER="scaler-rs")
    output = assert_ran_scaler_rs(result)
    assert value(output, "RESULT") == "661.4629471031477"
    assert value(output, "GRAPH") == "{'b': 3}"


def test_same_program_without_the_switch_runs_the_python_scheduler():
    result = run_python(COMBO_PROGRAM, timeout=180)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert value(output, "SCHEDULER") == f"SchedulerProcess {os.path.realpath(sys.executable)}"
    assert not lines_with(output, "[scaler_rs")


def test_ray_compat_program():
    if os.environ.get("SCALER_RS_TEST_RAY") != "1":
        pytest.importorskip("ray")  # scripts/python-package-test.sh installs ray and sets SCALER_RS_TEST_RAY=1
    result = run_python(RAY_PROGRAM, timeout=240, SCALER_SCHEDULER="scaler-rs")
    assert_ran_scaler_rs(result)


def test_install_from_code_runs_a_combo_on_scaler_rs():
    result = run_python("import scaler_rs; scaler_rs.install()\n" + COMBO_PROGRAM, timeout=180)
    assert_ran_scaler_rs(result)


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_scaler_toml_launcher(tmp_path):
    """`scaler config.toml` (the all-in-one launcher) with Scaler's own section names; stopped with SIGTERM."""
    scheduler_port, monitor_port, storage_port = free_port(), free_port(), free_port()
    config = tmp_path / "cluster.toml"
    config.write_text(f"""
[object_storage_server]
bind_address = "tcp://127.0.0.1:{storage_port}"

[scheduler]
bind_address = "tcp://127.0.0.1:{scheduler_port}"
object_storage_address = "tcp://127.0.0.1:{storage_port}"
monitor_address = "tcp://127.0.0.1:{monitor_port}"
client_timeout_seconds = 30
logging_level = "DEBUG"

[[worker_manager]]
type = "baremetal_native"
scheduler_address = "tcp://127.0.0.1:{scheduler_port}"
worker_manager_id = "wm-scaler-rs-test"
object_storage_address = "tcp://127.0.0.1:{storage_port}"
mode = "fixed"
max_task_concurrency = 1
""")
    log = tmp_path / "launcher.log"
    launcher_exe = os.path.join(os.path.dirname(sys.executable), "scaler")
    with open(log, "wb") as out:
        launcher = subprocess.Popen(
            [launcher_exe, str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(SCALER_SCHEDULER="scaler-rs"),
            start_new_session=True,
        )
    try:

        def scheduler_child():
            for child in psutil.Process(launcher.pid).children(recursive=True):
                try:
                    if os.path.realpath(child.exe()) == BINARY and any(
                        c.status == psutil.CONN_LISTEN and c.laddr.port == scheduler_port
                        for c in child.net_connections(kind="inet")
                    ):
                        return child
                except psutil.NoSuchProcess:
                    pass
            assert launcher.poll() is None, log.read_text()[-4000:]
            return None

        child = _wait_for(scheduler_child, 60, "the launcher's scheduler child to be scaler-rs, listening")
        assert "--client-timeout-seconds" in child.cmdline()
        assert child.cmdline()[child.cmdline().index("--client-timeout-seconds") + 1] == "30"
        assert child.cmdline()[child.cmdline().index("--logging-level") + 1] == "DEBUG"

        client = run_python(
            f"from scaler import Client\n"
            f"with Client(address='tcp://127.0.0.1:{scheduler_port}') as c:\n"
            f"    print('RESULT', c.submit(abs, -7).result())",
            timeout=120,
        )
        assert value(client.stdout, "RESULT") == "7", client.stdout + client.stderr

        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(60) == 0
        assert psutil.wait_procs([child], timeout=10)[1] == [], "scaler-rs outlived the launcher"
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    assert lines_with(log.read_text(), "[scaler_rs::transport::listeners] listening on")


def test_scaler_scheduler_command_becomes_scaler_rs(tmp_path):
    """`scaler_scheduler` under the switch parses its options as 2.9.0 does, then execs scaler-rs (same pid)."""
    port = free_port()
    command = [
        os.path.join(os.path.dirname(sys.executable), "scaler_scheduler"),
        f"tcp://127.0.0.1:{port}",
        "--object-storage-address",
        f"tcp://127.0.0.1:{free_port()}",
        "-wt",
        "9",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=clean_env(SCALER_SCHEDULER="scaler-rs")
    )
    try:
        _wait_for(lambda: os.path.realpath(f"/proc/{process.pid}/exe") == BINARY, 30, "the exec of scaler-rs")
        argv = psutil.Process(process.pid).cmdline()
        assert argv[argv.index("--worker-timeout-seconds") + 1] == "9"
        # Listening means its signal handlers are in place (they come first): a SIGTERM sent right after
        # the exec could otherwise land before them, and end it with -15 instead of a clean stop.
        _wait_for(
            lambda: any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == port
                for c in psutil.Process(process.pid).net_connections(kind="inet")
            ),
            30,
            "scaler-rs to listen",
        )
    finally:
        process.terminate()
        code = process.wait(30)
    assert code == 0
    assert "[scaler_rs" in process.stdout.read().decode()


def test_scaler_scheduler_command_wrong_switch_value():
    command = [
        os.path.join(os.path.dirname(sys.executable), "scaler_scheduler"),
        "tcp://127.0.0.1:1",
        "--object-storage-address",
        "tcp://127.0.0.1:2",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=clean_env(SCALER_SCHEDULER="Scaler-RS")
    )
    assert result.returncode == 1
    assert "SchedulerSwitchError: SCALER_SCHEDULER='Scaler-RS' is not a scheduler" in result.stderr


def test_parfun_scaler_local():
    if os.environ.get("SCALER_RS_TEST_PARFUN") != "1":
        pytest.importorskip("parfun")  # SCALER_RS_TEST_PARFUN=1 scripts/python-package-test.sh installs it
    code = """
import os
from collections import Counter
import parfun as pf
import scaler.cluster.combo as combo

seen = []
original = combo.SchedulerClusterCombo.__init__
def spy(self, *a, **k):
    original(self, *a, **k)
    seen.append(os.path.realpath(f"/proc/{self._scheduler.pid}/exe"))
combo.SchedulerClusterCombo.__init__ = spy

@pf.parallel(split=pf.per_argument(lines=pf.py_list.by_chunk), combine_with=lambda rs: sum(rs, start=Counter()))
def count(lines):
    return Counter(w for line in lines for w in line.split())

with pf.set_parallel_backend_context("scaler_local", n_workers=2):
    print("RESULT", count(["a b", "b c"] * 50)["b"])
print("EXE", seen[0])
"""
    result = run_python(code, timeout=240, SCALER_SCHEDULER="scaler-rs")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert value(output, "RESULT") == "100"
    assert value(output, "EXE") == BINARY


def test_combo_whose_scheduler_cannot_start_raises_and_leaves_nothing_running():
    code = """
import multiprocessing, socket
from scaler.cluster.combo import SchedulerClusterCombo
taken = socket.socket()
taken.bind(("127.0.0.1", 0))
taken.listen()
try:
    SchedulerClusterCombo(n_workers=1, address=f"tcp://127.0.0.1:{taken.getsockname()[1]}")
except Exception as e:
    print("ERROR", type(e).__name__, str(e)[:60])
print("CHILDREN", len(multiprocessing.active_children()))
"""
    # The interpreter must also exit: a left-over object storage server would make multiprocessing wait forever.
    result = run_python(code, timeout=90, SCALER_SCHEDULER="scaler-rs")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert value(output, "ERROR").startswith("SchedulerStartError scaler-rs exited with code 1 before listening")
    assert value(output, "CHILDREN") == "0"
