"""Scaler 2.9.0's scheduler settings -> the scaler-rs command line.

Every launcher in Scaler 2.9.0 ends in one `SchedulerConfig` (SchedulerProcess builds one from its keyword
arguments; the `scaler` TOML launcher and `scaler_scheduler` parse one) plus three logging settings, so this one
function is the whole translation. It only reads attributes, so it needs no Scaler import.
"""

from __future__ import annotations  # no `typing` import at interpreter start (the .pth loads this)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Sequence


# SchedulerConfig field -> scaler-rs long option, for the fields that are a single value.
VALUE_OPTIONS = (
    ("status_report_interval_seconds", "--status-report-interval-seconds"),
    ("object_report_limit", "--object-report-limit"),
    ("max_number_of_tasks_waiting", "--max-number-of-tasks-waiting"),
    ("client_timeout_seconds", "--client-timeout-seconds"),
    ("worker_timeout_seconds", "--worker-timeout-seconds"),
    ("object_retention_seconds", "--object-retention-seconds"),
    ("load_balance_seconds", "--load-balance-seconds"),
    ("load_balance_trigger_times", "--load-balance-trigger-times"),
    ("event_loop", "--event-loop"),
    ("io_threads", "--io-threads"),
)

# Every SchedulerConfig field this module turns into arguments. The tests compare it with 2.9.0's dataclass so a
# field added upstream cannot be dropped silently.
HANDLED_FIELDS = frozenset(
    {
        "bind_address",
        "object_storage_address",
        "advertised_object_storage_address",
        "monitor_address",
        "protected",
        "logging_config",
        "policy",
        "security",
        *(name for name, _ in VALUE_OPTIONS),
    }
)


def address(value: Any) -> str:
    # AddressConfig.__repr__ is the canonical "tcp://host:port" form (its __str__ is the same); a plain string
    # passes through.
    return value if isinstance(value, str) else repr(value)


def scheduler_argv(
    binary: str,
    config: Any,
    logging_paths: Optional[Sequence[str]] = None,
    logging_config_file: Optional[str] = None,
    logging_level: Optional[str] = None,
) -> List[str]:
    """The argv that starts scaler-rs with the settings the Python scheduler would have run with.

    `config` is a `scaler.config.section.scheduler.SchedulerConfig` (or anything with its attributes). The
    logging settings default to `config.logging_config`, as `scaler_scheduler` reads them; SchedulerProcess
    passes its own.
    """
    logging = getattr(config, "logging_config", None)
    if logging_paths is None:
        logging_paths = logging.paths if logging is not None else ()
    if logging_config_file is None and logging is not None:
        logging_config_file = logging.config_file
    if logging_level is None and logging is not None:
        logging_level = logging.level

    argv = [binary, address(config.bind_address), "--object-storage-address", address(config.object_storage_address)]
    if getattr(config, "advertised_object_storage_address", None) is not None:
        argv += ["--advertised-object-storage-address", address(config.advertised_object_storage_address)]
    if getattr(config, "monitor_address", None) is not None:
        argv += ["--monitor-address", address(config.monitor_address)]
    if getattr(config, "protected", False):
        argv.append("--protected")
    for field, option in VALUE_OPTIONS:
        value = getattr(config, field, None)
        if value is not None:
            argv += [option, str(value)]

    policy = getattr(config, "policy", None)
    if policy is not None:
        argv += ["--policy-engine-type", str(policy.policy_engine_type), "--policy-content", str(policy.policy_content)]

    security = getattr(config, "security", None)
    if security is not None and (security.tls_cert is not None or security.tls_key is not None):
        # SecurityConfig already insists on both; scaler-rs repeats that check and names the missing one.
        if security.tls_cert is not None:
            argv += ["--tls-cert", str(security.tls_cert)]
        if security.tls_key is not None:
            argv += ["--tls-key", str(security.tls_key)]

    if logging_config_file:
        argv += ["--logging-config-file", str(logging_config_file)]
    if logging_level:
        argv += ["--logging-level", str(logging_level)]
    # nargs="*": last, so that no later option is read as a path; no paths at all means no log sink, as in Python.
    argv += ["--logging-paths", *(str(p) for p in logging_paths)]
    return argv
