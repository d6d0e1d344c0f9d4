"""scaler-rs for Python: the scaler-rs scheduler executable, and the switch that makes Scaler 2.9.0 start it.

    export SCALER_SCHEDULER=scaler-rs      # every SchedulerClusterCombo / SchedulerProcess / `scaler` launcher,
                                           # ray compat scaler_init() and parfun scaler_local start scaler-rs

or, from code, before the cluster is created:

    import scaler_rs
    scaler_rs.install()

This module imports nothing from Scaler until a scheduler is started, so the .pth hook costs nothing otherwise.
"""

from scaler_rs._binary import BINARY_ENV, SchedulerBinaryNotFoundError, binary_path
from scaler_rs._switch import ENV, SchedulerSwitchError, active, install, uninstall

__all__ = [
    "BINARY_ENV",
    "ENV",
    "SchedulerBinaryNotFoundError",
    "SchedulerStartError",
    "SchedulerSwitchError",
    "active",
    "binary_path",
    "install",
    "scheduler_argv",
    "uninstall",
]


def __getattr__(name: str):  # the rest loads on first use
    if name == "SchedulerStartError":
        from scaler_rs._process import SchedulerStartError

        return SchedulerStartError
    if name == "scheduler_argv":
        from scaler_rs._argv import scheduler_argv

        return scheduler_argv
    raise AttributeError(f"module 'scaler_rs' has no attribute {name!r}")
