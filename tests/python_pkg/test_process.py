"""SchedulerProcess on scaler-rs: started, stopped and reaped through the multiprocessing.Process API, as Scaler's
launchers do with the Python one."""

import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import socket

import pytest
from conftest import free_port
from scaler.config.section.scheduler import PolicyConfig
from scaler.config.types.address import AddressConfig

import scaler_rs
from scaler_rs import SchedulerStartError


def make_process(port, **overrides):
    import scaler.cluster.scheduler as scheduler

    scaler_rs.install()
    kwargs = dict(
        bind_address=AddressConfig.from_string(f"tcp://127.0.0.1:{port}"),
        object_storage_address=AddressConfig.from_string(f"tcp://127.0.0.1:{free_port()}"),
        advertised_object_storage_address=None,
        monitor_address=None,
        io_threads=1,
        max_number_of_tasks_waiting=-1,
        client_timeout_seconds=60,
        worker_timeout_seconds=60,
        object_retention_seconds=60,
        load_balance_seconds=1,
        load_balance_trigger_times=2,
        protected=True,
        policy=PolicyConfig(),
        event_loop="builtin",
        logging_paths=(),
        logging_config_file=None,
        logging_level="INFO",
    )
    kwargs.update(overrides)
    return scheduler.SchedulerProcess(**kwargs)


@pytest.fixture
def process():
    created = []

    def factory(port=None, **overrides):
        p = make_process(port or free_port(), **overrides)
        created.append(p)
        return p

    yield factory
    for p in created:
        try:
            alive = p.is_alive()
        except ValueError:  # closed by the test
            continue
        if alive:
            p.kill()
            p.join(10)


def test_start_runs_the_binary_and_terminate_stops_it_with_exit_code_0(process):
    p = process()
    assert isinstance(p, multiprocessing.process.BaseProcess)  # as the Python SchedulerProcess (a SpawnProcess)
    assert p.pid is None and p.exitcode is None and not p.is_alive()
    p.start()
    assert p.is_alive() and p.exitcode is None
    assert os.path.realpath(f"/proc/{p.pid}/exe") == os.path.realpath(scaler_rs.binary_path())
    assert p in multiprocessing.active_children()
    p.terminate()
    p.join(20)
    assert not p.is_alive()
    assert p.exitcode == 0  # scaler-rs shuts down gracefully on SIGTERM, as the Python scheduler does
    assert p not in multiprocessing.active_children()
    p.close()


def test_kill_gives_minus_signal_exit_code(process):
    p = process()
    p.start()
    p.kill()
    p.join(20)
    assert p.exitcode == -9


def test_sigint_is_a_graceful_stop(process):
    import signal

    p = process()
    p.start()
    os.kill(p.pid, signal.SIGINT)
    p.join(20)
    assert p.exitcode == 0


def test_join_with_timeout_returns_while_running_and_sentinel_wakes_on_exit(process):
    p = process()
    p.start()
    p.join(0.2)
    assert p.is_alive()
    assert multiprocessing.connection.wait([p.sentinel], timeout=0.2) == []
    p.terminate()
    assert multiprocessing.connection.wait([p.sentinel], timeout=20) == [p.sentinel]
    p.join()
    assert p.exitcode == 0


def test_start_twice_is_refused_as_by_multiprocessing(process):
    p = process()
    p.start()
    with pytest.raises(AssertionError, match="cannot start a process twice"):
        p.start()


def test_start_fails_clearly_when_the_port_is_taken(process):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = process(port)
        with pytest.raises(
            SchedulerStartError, match=rf"scaler-rs exited with code \d+ before listening on port {port}"
        ):
            p.start()
    assert not p.is_alive()
    assert p.exitcode not in (None, 0)


def test_start_fails_clearly_on_an_option_scaler_rs_rejects(process):
    # 2.9.0's Python side checks only the policy's shape when the scheduler starts; scaler-rs checks it at once.
    p = process(policy=PolicyConfig(policy_content="allocate=nonsense; scaling=vanilla"))
    with pytest.raises(SchedulerStartError, match="scaler-rs exited with code"):
        p.start()
    assert not p.is_alive()


def test_ready_timeout_must_be_a_number(process, monkeypatch):
    monkeypatch.setenv("SCALER_RS_READY_TIMEOUT", "soon")
    p = process()
    with pytest.raises(SchedulerStartError, match="SCALER_RS_READY_TIMEOUT='soon'"):
        p.start()
