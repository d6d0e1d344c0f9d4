"""SchedulerConfig / SchedulerProcess arguments -> the scaler-rs command line, option by option."""

import dataclasses
import os
import signal
import subprocess
import time

from conftest import DATA, free_port
from scaler.config.common.logging import LoggingConfig
from scaler.config.common.security import SecurityConfig
from scaler.config.section.scheduler import PolicyConfig, SchedulerConfig
from scaler.config.types.address import AddressConfig

import scaler_rs
from scaler_rs._argv import HANDLED_FIELDS, scheduler_argv


def addr(text):
    return AddressConfig.from_string(text)


def test_every_scheduler_config_field_is_translated():
    # A field added to 2.9.0's SchedulerConfig that the translation does not know fails here.
    assert {f.name for f in dataclasses.fields(SchedulerConfig)} == set(HANDLED_FIELDS)


def test_defaults():
    config = SchedulerConfig(
        bind_address=addr("tcp://127.0.0.1:6378"), object_storage_address=addr("tcp://127.0.0.1:6379")
    )
    # fmt: off
    assert scheduler_argv("/bin/scaler-rs", config) == [
        "/bin/scaler-rs", "tcp://127.0.0.1:6378",
        "--object-storage-address", "tcp://127.0.0.1:6379",
        "--status-report-interval-seconds", "1",
        "--object-report-limit", "500",
        "--max-number-of-tasks-waiting", "-1",
        "--client-timeout-seconds", "60",
        "--worker-timeout-seconds", "60",
        "--object-retention-seconds", "60",
        "--load-balance-seconds", "1",
        "--load-balance-trigger-times", "2",
        "--event-loop", "builtin",
        "--io-threads", "1",
        "--policy-engine-type", "simple",
        "--policy-content", "allocate=even_load; scaling=vanilla",
        "--logging-level", "INFO",
        "--logging-paths", "/dev/stdout",
    ]
    # fmt: on


def every_option_config(port, tls=False):
    scheme = "tls" if tls else "tcp"
    return SchedulerConfig(
        bind_address=addr(f"{scheme}://127.0.0.1:{port}"),
        object_storage_address=addr(f"tcp://127.0.0.1:{port + 1}"),
        advertised_object_storage_address=addr(f"tcp://127.0.0.2:{port + 1}"),
        monitor_address=addr(f"{scheme}://127.0.0.1:{port + 2}"),
        status_report_interval_seconds=3,
        object_report_limit=7,
        protected=True,
        max_number_of_tasks_waiting=11,
        client_timeout_seconds=13,
        worker_timeout_seconds=17,
        object_retention_seconds=19,
        load_balance_seconds=-1,
        load_balance_trigger_times=5,
        event_loop="builtin",
        io_threads=2,
        logging_config=LoggingConfig(paths=("/dev/stdout", "/dev/stderr"), config_file=None, level="DEBUG"),
        policy=PolicyConfig(policy_engine_type="simple", policy_content="allocate=capability; scaling=no"),
        security=(
            SecurityConfig(
                tls_cert=os.path.join(DATA, "tls-test-cert.pem"), tls_key=os.path.join(DATA, "tls-test-key.pem")
            )
            if tls
            else SecurityConfig()
        ),
    )


def test_every_option():
    config = every_option_config(7000, tls=True)
    config.logging_config = LoggingConfig(paths=("/tmp/a.log",), config_file="/tmp/logging.conf", level="WARNING")
    cert, key = config.security.tls_cert, config.security.tls_key
    # fmt: off
    assert scheduler_argv("scaler-rs", config) == [
        "scaler-rs", "tls://127.0.0.1:7000",
        "--object-storage-address", "tcp://127.0.0.1:7001",
        "--advertised-object-storage-address", "tcp://127.0.0.2:7001",
        "--monitor-address", "tls://127.0.0.1:7002",
        "--protected",
        "--status-report-interval-seconds", "3",
        "--object-report-limit", "7",
        "--max-number-of-tasks-waiting", "11",
        "--client-timeout-seconds", "13",
        "--worker-timeout-seconds", "17",
        "--object-retention-seconds", "19",
        "--load-balance-seconds", "-1",
        "--load-balance-trigger-times", "5",
        "--event-loop", "builtin",
        "--io-threads", "2",
        "--policy-engine-type", "simple",
        "--policy-content", "allocate=capability; scaling=no",
        "--tls-cert", cert,
        "--tls-key", key,
        "--logging-config-file", "/tmp/logging.conf",
        "--logging-level", "WARNING",
        "--logging-paths", "/tmp/a.log",
    ]
    # fmt: on


def test_explicit_logging_overrides_config_and_empty_paths_mean_no_sink():
    config = every_option_config(7000)
    argv = scheduler_argv("scaler-rs", config, logging_paths=(), logging_config_file=None, logging_level="ERROR")
    assert argv[-3:] == ["--logging-level", "ERROR", "--logging-paths"]
    assert "--tls-cert" not in argv and "--logging-config-file" not in argv


def test_scheduler_process_kwargs_as_combo_passes_them():
    """SchedulerClusterCombo's exact keyword set (2.9.0) -> argv, without starting anything."""
    from scaler.cluster.scheduler import SchedulerProcess
    from scaler_rs._process import make_scheduler_process_class

    cls = make_scheduler_process_class(SchedulerProcess)
    process = cls(
        bind_address=addr("tcp://127.0.0.1:6000"),
        object_storage_address=addr("tcp://127.0.0.1:6001"),
        advertised_object_storage_address=None,
        monitor_address=None,
        io_threads=1,
        max_number_of_tasks_waiting=-1,
        client_timeout_seconds=60,
        worker_timeout_seconds=60,
        object_retention_seconds=3600,
        load_balance_seconds=1,
        load_balance_trigger_times=2,
        protected=True,
        event_loop="builtin",
        logging_paths=("/dev/stdout",),
        logging_config_file=None,
        logging_level="INFO",
        policy=PolicyConfig(policy_content="allocate=even_load; scaling=no"),
        shutdown_event=None,
        security_config=None,
    )
    argv = process.argv
    assert argv[0] == scaler_rs.binary_path()
    assert argv[1:4] == ["tcp://127.0.0.1:6000", "--object-storage-address", "tcp://127.0.0.1:6001"]
    assert "--monitor-address" not in argv  # scaler-rs defaults to bind port + 2, as the Python scheduler does
    assert "--protected" in argv
    assert argv[argv.index("--object-retention-seconds") + 1] == "3600"
    assert argv[argv.index("--policy-content") + 1] == "allocate=even_load; scaling=no"
    assert argv[-2:] == ["--logging-paths", "/dev/stdout"]
    assert process.name == "Scheduler"


def test_python_validation_still_applies():
    """The parent builds 2.9.0's SchedulerConfig, so its checks raise exactly as with the Python scheduler."""
    import pytest
    from scaler.cluster.scheduler import SchedulerProcess
    from scaler_rs._process import make_scheduler_process_class

    cls = make_scheduler_process_class(SchedulerProcess)
    with pytest.raises(ValueError, match="positive"):
        cls(
            bind_address=addr("tcp://127.0.0.1:6000"),
            object_storage_address=addr("tcp://127.0.0.1:6001"),
            advertised_object_storage_address=None,
            monitor_address=None,
            io_threads=1,
            max_number_of_tasks_waiting=-1,
            client_timeout_seconds=0,
            worker_timeout_seconds=60,
            object_retention_seconds=60,
            load_balance_seconds=1,
            load_balance_trigger_times=2,
            protected=False,
            policy=PolicyConfig(),
            event_loop="builtin",
            logging_paths=(),
            logging_config_file=None,
            logging_level="INFO",
        )


def _listening_ports(pid):
    import psutil

    return {c.laddr.port for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}


def test_the_binary_accepts_every_option(tmp_path):
    """The full translated command line (TLS included) is one scaler-rs accepts: it listens on the bind and the
    given monitor port, then exits 0 on SIGTERM. scaler-rs rejects unknown options and bad values, so a flag
    spelled differently from its CLI fails here."""
    port = free_port()
    config = every_option_config(port, tls=True)
    log = tmp_path / "scheduler.log"
    argv = scheduler_argv(scaler_rs.binary_path(), config, logging_paths=(str(log),))
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not {port, port + 2} <= _listening_ports(process.pid):
            assert process.poll() is None, process.stdout.read().decode()
            assert time.monotonic() < deadline, "scaler-rs did not listen on the bind and monitor ports"
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(20)
    assert code == 0
    assert log.read_text().strip(), "the --logging-paths file got no lines"
