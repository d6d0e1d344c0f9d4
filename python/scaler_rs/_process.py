"""SchedulerProcess that runs the scaler-rs executable instead of a Python child.

The class subclasses Scaler's own SchedulerProcess (so its __init__ builds and validates the same SchedulerConfig
and `isinstance(p, multiprocessing.Process)` still holds) and replaces only `_Popen`, the hook through which
`multiprocessing.Process.start()` creates its child. Everything else - start, terminate, kill, join(timeout),
is_alive, exitcode (-N when killed by signal N), pid, sentinel, close, active_children() and the interpreter-exit
join of non-daemon children - is the standard library's own code running on the object returned here.
"""

import multiprocessing.util
import os
import signal
import subprocess
import sys
import time
from typing import Any, List, Optional

from scaler_rs._argv import scheduler_argv
from scaler_rs._binary import binary_path

READY_TIMEOUT_ENV = "SCALER_RS_READY_TIMEOUT"
DEFAULT_READY_TIMEOUT_SECONDS = 30.0


class SchedulerStartError(RuntimeError):
    """scaler-rs exited, or did not listen, right after it was started."""


class ScalerRsPopen:
    """The `multiprocessing` Popen interface (popen_fork.Popen's) over a subprocess running scaler-rs.

    The sentinel is the read end of a pipe whose only write end the child holds, as multiprocessing's own spawn
    Popen does, so `multiprocessing.connection.wait([p.sentinel])` (the `scaler` launcher waits on it) wakes when
    scaler-rs exits.
    """

    method = "scaler-rs"

    def __init__(self, argv: List[str]):
        self.argv = argv
        self.returncode: Optional[int] = None
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, ValueError):
                pass
        read_end, write_end = os.pipe()
        try:
            # stdin from /dev/null as multiprocessing gives its children; stdout/stderr inherited, as the Python
            # scheduler's are; same process group, so a terminal's Ctrl-C reaches it as it reaches the Python one.
            self._child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, pass_fds=(write_end,), close_fds=True)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self.pid = self._child.pid
        self.sentinel = read_end
        # Closes the sentinel when this object is collected or close()d, as multiprocessing's own Popen does.
        self.finalizer = multiprocessing.util.Finalize(self, multiprocessing.util.close_fds, (read_end,))

    def duplicate_for_child(self, fd: int) -> int:
        return fd

    def poll(self, flag: int = os.WNOHANG) -> Optional[int]:
        if self.returncode is None:
            if flag == os.WNOHANG:
                self.returncode = self._child.poll()
            else:
                self.returncode = self._child.wait()
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        if self.returncode is None:
            try:
                self.returncode = self._child.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        return self.returncode

    def _send_signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self._send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self._send_signal(signal.SIGKILL)

    def close(self) -> None:
        self.finalizer()


def _ready_timeout() -> float:
    raw = os.environ.get(READY_TIMEOUT_ENV)
    if not raw:
        return DEFAULT_READY_TIMEOUT_SECONDS
    try:
        return float(raw)
    except ValueError:
        raise SchedulerStartError(f"{READY_TIMEOUT_ENV}={raw!r} is not a number of seconds") from None


def _listening(pid: int, port: int) -> Optional[bool]:
    """Whether process `pid` has a listening socket on `port`; None if this cannot be known here."""
    import psutil  # a dependency of opengris-scaler

    try:
        proc = psutil.Process(pid)
        connections = proc.net_connections(kind="inet") if hasattr(proc, "net_connections") else proc.connections()
    except psutil.AccessDenied:
        return None
    except psutil.NoSuchProcess:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in connections)


def wait_until_listening(popen: ScalerRsPopen, port: Optional[int], timeout: float) -> None:
    """Return once scaler-rs listens on its bind port; raise (after killing it) if it exits or times out first.

    The Python SchedulerProcess does not wait, and clients and workers retry their connections anyway; waiting only
    turns a scheduler that cannot start (port taken, bad option) into an error at start() instead of a hang.
    """
    if not port or timeout <= 0:
        return
    deadline = time.monotonic() + timeout
    while True:
        if popen.wait(0.0) is not None:
            raise SchedulerStartError(
                f"scaler-rs exited with code {popen.returncode} before listening on port {port} "
                f"(its reason is in the output above); command: {' '.join(popen.argv)}"
            )
        state = _listening(popen.pid, port)
        if state or state is None:
            return
        if time.monotonic() > deadline:
            popen.kill()
            popen.wait()
            raise SchedulerStartError(
                f"scaler-rs did not listen on port {port} within {timeout:g} s ({READY_TIMEOUT_ENV}); "
                f"killed it; command: {' '.join(popen.argv)}"
            )
        time.sleep(0.01)


def make_scheduler_process_class(python_scheduler_process: type) -> type:
    """A subclass of Scaler's SchedulerProcess (passed in, so this module imports no Scaler code)."""

    class ScalerRsSchedulerProcess(python_scheduler_process):  # type: ignore[misc,valid-type]
        __doc__ = (
            "Scaler's SchedulerProcess, running the scaler-rs executable (installed by scaler_rs, "
            "SCALER_SCHEDULER=scaler-rs)."
        )

        def __init__(self, *args: Any, **kwargs: Any):
            # Resolve the executable first: a missing one is an error here, before anything else is started.
            self._scaler_rs_binary = binary_path()
            super().__init__(*args, **kwargs)

        @property
        def argv(self) -> List[str]:
            return scheduler_argv(
                self._scaler_rs_binary,
                self._scheduler_config,
                self._logging_paths,
                self._logging_config_file,
                self._logging_level,
            )

        @staticmethod
        def _Popen(process_obj: "ScalerRsSchedulerProcess") -> ScalerRsPopen:  # noqa: N802 (multiprocessing's name)
            return ScalerRsPopen(process_obj.argv)

        def start(self) -> None:
            super().start()
            wait_until_listening(
                self._popen, getattr(self._scheduler_config.bind_address, "port", None), _ready_timeout()
            )

        def run(self) -> None:
            # Only reached when run() is called directly (in this process), which for the Python class means
            # "serve until shut down": do the same with scaler-rs as a child and report a failure.
            code = subprocess.call(self.argv, stdin=subprocess.DEVNULL)
            if code != 0:
                raise SchedulerStartError(f"scaler-rs exited with code {code}; command: {' '.join(self.argv)}")

    ScalerRsSchedulerProcess.__module__ = __name__
    ScalerRsSchedulerProcess.__qualname__ = "ScalerRsSchedulerProcess"
    return ScalerRsSchedulerProcess
