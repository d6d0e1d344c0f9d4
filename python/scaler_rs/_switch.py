"""SCALER_SCHEDULER=scaler-rs: make Scaler 2.9.0's own launchers start scaler-rs.

Scaler 2.9.0 starts its scheduler from Python in two places, and every launcher goes through one of them:
  * scaler.cluster.scheduler.SchedulerProcess - SchedulerClusterCombo (scaler.cluster.combo), and through it
    ray compat `scaler_init()` and parfun's `scaler_local` backend, plus code that uses SchedulerProcess itself;
  * scaler.entry_points.scheduler.main - the `scaler_scheduler` command, and the `scaler config.toml` launcher,
    whose scheduler child calls it (scaler.entry_points.scaler._run_scheduler).
`install()` rebinds those names (and SchedulerClusterCombo.__init__, to check the switch before it starts
anything and to stop the object storage server it started if the scheduler then fails). Modules not imported yet
are patched by an import hook right after they load, so the `.pth` file can install it at interpreter start
without importing Scaler.
"""

from __future__ import annotations  # no `typing` import at interpreter start (the .pth loads this)

import _thread
import functools
import os
import sys

from scaler_rs._argv import scheduler_argv
from scaler_rs._binary import binary_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional

ENV = "SCALER_SCHEDULER"
RUST = "scaler-rs"
PYTHON = "python"

_lock = _thread.RLock()  # not `threading`: this module is imported at interpreter start
_state: Dict[str, Any] = {"installed": False, "error": None, "originals": {}}


class SchedulerSwitchError(ValueError):
    """SCALER_SCHEDULER has a value other than 'scaler-rs' or 'python'."""


def _value_error(value: str) -> SchedulerSwitchError:
    return SchedulerSwitchError(
        f"{ENV}={value!r} is not a scheduler this environment knows: use {ENV}={RUST} to run scaler-rs, "
        f"{ENV}={PYTHON} (or unset it) to run Scaler's Python scheduler"
    )


def _check() -> None:
    """Raise now if a scheduler cannot be started as asked (bad switch value, no binary)."""
    if _state["error"] is not None:
        raise _state["error"]
    binary_path()


# --- the replacements ----------------------------------------------------------------------------------------------


def _patch_cluster_scheduler(module: Any) -> None:
    from scaler_rs._process import make_scheduler_process_class

    current = module.SchedulerProcess
    failing = _state["error"] is not None
    if getattr(current, "_scaler_rs_replacement", False) and current._scaler_rs_failing == failing:
        return
    # The first one seen is Scaler's own class; a later call (install() after a bad SCALER_SCHEDULER value at
    # start-up) replaces the error-raising stand-in and subclasses Scaler's class again.
    original = _state["originals"].setdefault((module.__name__, "SchedulerProcess"), current)
    if failing:
        replacement = _failing_class(original, _state["error"])
    else:
        replacement = make_scheduler_process_class(original)
    replacement._scaler_rs_replacement = True
    replacement._scaler_rs_failing = failing
    module.SchedulerProcess = replacement
    # Modules that did `from scaler.cluster.scheduler import SchedulerProcess` before install() was called.
    combo = sys.modules.get("scaler.cluster.combo")
    if combo is not None and getattr(combo, "SchedulerProcess", None) in (original, current):
        combo.SchedulerProcess = replacement


def _failing_class(original: type, error: Exception) -> type:
    class SchedulerProcessSwitchError(original):  # type: ignore[misc,valid-type]
        def __init__(self, *_args: Any, **_kwargs: Any):
            raise error

    return SchedulerProcessSwitchError


def _patch_combo(module: Any) -> None:
    scheduler_module = sys.modules.get("scaler.cluster.scheduler")
    if scheduler_module is not None:
        _patch_cluster_scheduler(scheduler_module)  # rebinds module.SchedulerProcess if combo loaded first
    combo_class = module.SchedulerClusterCombo
    original_init = combo_class.__init__
    if getattr(original_init, "_scaler_rs_replacement", False):
        return
    _state["originals"][(module.__name__, "SchedulerClusterCombo.__init__")] = original_init

    @functools.wraps(original_init)  # keeps inspect.signature(SchedulerClusterCombo) (parfun reads it)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        _check()  # before the object storage server is started
        try:
            original_init(self, *args, **kwargs)
        except BaseException:
            # 2.9.0's __init__ has no cleanup path: the object storage server it already started would be left
            # running (and multiprocessing's exit hook would wait for it forever), and __del__ -> shutdown() would
            # fail on the worker manager process that was never started.
            self._shutdown_called = True
            storage = getattr(self, "_object_storage", None)
            if storage is not None and storage.is_alive():
                storage.terminate()
                storage.join(10)
                if storage.is_alive():
                    storage.kill()
                    storage.join()
            raise

    __init__._scaler_rs_replacement = True  # type: ignore[attr-defined]
    combo_class.__init__ = __init__


def _patch_scheduler_entry_point(module: Any) -> None:
    original_main = module.main
    if getattr(original_main, "_scaler_rs_replacement", False):
        return
    _state["originals"][(module.__name__, "main")] = original_main

    @functools.wraps(original_main)
    def main(scheduler_config: Optional[Any] = None) -> None:
        _check()
        if scheduler_config is None:
            from scaler.config.section.scheduler import SchedulerConfig

            scheduler_config = SchedulerConfig.parse("Scaler Scheduler", "scheduler")
        argv = scheduler_argv(binary_path(), scheduler_config)
        # Become scaler-rs: same pid, so the signals that stop `scaler_scheduler` (or the `scaler` launcher's
        # scheduler child) reach it directly and its exit code is the process's.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, ValueError):
                pass
        os.execv(argv[0], argv)

    main._scaler_rs_replacement = True  # type: ignore[attr-defined]
    module.main = main


PATCHES: Dict[str, Callable[[Any], None]] = {
    "scaler.cluster.scheduler": _patch_cluster_scheduler,
    "scaler.cluster.combo": _patch_combo,
    "scaler.entry_points.scheduler": _patch_scheduler_entry_point,
}


# --- the import hook -----------------------------------------------------------------------------------------------


class _PatchingLoader:
    def __init__(self, loader: Any, patch: Callable[[Any], None]):
        self._loader = loader
        self._patch = patch

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        with _lock:
            self._patch(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_code, ... for tracebacks and inspect
        return getattr(self._loader, name)


class _PatchingFinder:
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        patch = PATCHES.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or isinstance(finder, _PatchingFinder):
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


_FINDER = _PatchingFinder()


# --- public --------------------------------------------------------------------------------------------------------


def install(value: str = RUST, *, propagate: bool = True) -> bool:
    """Start scaler-rs wherever Scaler 2.9.0 would start its Python scheduler, from now on in this process.

    With `propagate` (the default) SCALER_SCHEDULER is also set in os.environ, so processes started afterwards
    (the `scaler` launcher's children, subprocesses) do the same. Returns True when scaler-rs is in use, False for
    `value='python'`. An unknown value raises SchedulerSwitchError; a missing executable raises
    SchedulerBinaryNotFoundError.
    """
    if value == PYTHON:
        return False
    if value != RUST:
        raise _value_error(value)
    binary_path()  # raises, naming the places it looked
    with _lock:
        _state["error"] = None
        _activate()
    if propagate:
        os.environ[ENV] = RUST
    return True


def _activate() -> None:
    if not _state["installed"]:
        sys.meta_path.insert(0, _FINDER)
        _state["installed"] = True
    for name, patch in PATCHES.items():
        module = sys.modules.get(name)
        if module is not None:
            patch(module)


def activate_from_environment() -> None:
    """Called by scaler_rs.pth at interpreter start. Never raises: errors surface where a scheduler would start."""
    value = os.environ.get(ENV, "").strip()
    if not value or value == PYTHON:
        return
    with _lock:
        _state["error"] = None if value == RUST else _value_error(value)
        _activate()


def active() -> bool:
    """True when Scaler's launchers in this process start scaler-rs."""
    return _state["installed"] and _state["error"] is None


def uninstall() -> None:
    """Undo install() in this process (modules imported since keep the Python scheduler)."""
    with _lock:
        if _FINDER in sys.meta_path:
            sys.meta_path.remove(_FINDER)
        for (module_name, attribute), original in _state["originals"].items():
            module = sys.modules.get(module_name)
            if module is None:
                continue
            if attribute == "SchedulerClusterCombo.__init__":
                module.SchedulerClusterCombo.__init__ = original
            else:
                setattr(module, attribute, original)
                if attribute == "SchedulerProcess":
                    combo = sys.modules.get("scaler.cluster.combo")
                    if combo is not None and getattr(combo.SchedulerProcess, "_scaler_rs_replacement", False):
                        combo.SchedulerProcess = original
        _state["originals"].clear()
        _state["installed"] = False
        _state["error"] = None
        if os.environ.get(ENV) == RUST:
            del os.environ[ENV]
