"""The SCALER_SCHEDULER switch, the binary lookup and their errors. Each case runs in a fresh interpreter, because
the switch is read by scaler_rs.pth when the interpreter starts."""

import os
import sys
import sysconfig

import pytest
from conftest import run_python

import scaler_rs
from scaler_rs import SchedulerBinaryNotFoundError, SchedulerSwitchError

WHICH_CLASSES = """
import sys
import scaler.cluster.combo as combo, scaler.cluster.scheduler as scheduler
from scaler import SchedulerClusterCombo
print(scheduler.SchedulerProcess.__module__, combo.SchedulerProcess.__module__, SchedulerClusterCombo is combo.SchedulerClusterCombo)
print('scaler_rs' in sys.modules)
"""


def test_unset_changes_nothing():
    result = run_python(WHICH_CLASSES)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["scaler.cluster.scheduler", "scaler.cluster.scheduler", "True", "False"]


def test_python_value_changes_nothing():
    result = run_python(WHICH_CLASSES, SCALER_SCHEDULER="python")
    assert result.stdout.split() == ["scaler.cluster.scheduler", "scaler.cluster.scheduler", "True", "False"]


def test_scaler_rs_value_patches_both_modules():
    result = run_python(WHICH_CLASSES, SCALER_SCHEDULER="scaler-rs")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["scaler_rs._process", "scaler_rs._process", "True", "True"]


def test_entry_point_and_signature_under_the_switch():
    code = """
import inspect
import scaler.entry_points.scheduler as entry
from scaler.cluster.combo import SchedulerClusterCombo
print(getattr(entry.main, '_scaler_rs_replacement', False), entry.main.__wrapped__.__module__)
print(sorted(inspect.signature(SchedulerClusterCombo).parameters)[:3])
"""
    result = run_python(code, SCALER_SCHEDULER="scaler-rs")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == "True scaler.entry_points.scheduler"
    # parfun's scaler_local filters its keyword arguments through this signature.
    assert second == "['address', 'client_timeout_seconds', 'death_timeout_seconds']"


def test_wrong_value_is_an_error_where_a_scheduler_would_start_and_nothing_is_left_running():
    code = """
import multiprocessing
from scaler.cluster.combo import SchedulerClusterCombo
try:
    SchedulerClusterCombo(n_workers=1)
except Exception as e:
    print(type(e).__name__, e)
print('children', len(multiprocessing.active_children()))
"""
    result = run_python(code, timeout=60, SCALER_SCHEDULER="scaler_rs")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first.startswith("SchedulerSwitchError SCALER_SCHEDULER='scaler_rs' is not a scheduler")
    assert "SCALER_SCHEDULER=scaler-rs" in first
    assert second == "children 0"


def test_wrong_value_for_scheduler_process_directly():
    code = """
from scaler.cluster.scheduler import SchedulerProcess
try:
    SchedulerProcess()
except Exception as e:
    print(type(e).__name__, e)
"""
    result = run_python(code, SCALER_SCHEDULER="rust")
    assert result.stdout.startswith("SchedulerSwitchError SCALER_SCHEDULER='rust'"), result.stdout + result.stderr


def test_missing_binary_is_an_error_before_anything_starts():
    code = """
import multiprocessing
from scaler.cluster.combo import SchedulerClusterCombo
try:
    SchedulerClusterCombo(n_workers=1)
except Exception as e:
    print(type(e).__name__, e)
print('children', len(multiprocessing.active_children()))
"""
    result = run_python(code, timeout=60, SCALER_SCHEDULER="scaler-rs", SCALER_RS_BINARY="/nonexistent/scaler-rs")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first.startswith(
        "SchedulerBinaryNotFoundError SCALER_RS_BINARY='/nonexistent/scaler-rs' is not an " "executable file"
    )
    assert second == "children 0"


def test_binary_lookup_finds_the_installed_one():
    path = scaler_rs.binary_path()
    assert os.access(path, os.X_OK)
    assert path == os.path.join(sysconfig.get_path("scripts"), "scaler-rs")


def test_binary_not_installed_anywhere_names_the_places(monkeypatch, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setattr(sysconfig, "get_path", lambda name, scheme=None: str(empty))
    monkeypatch.setattr(sys, "executable", str(empty / "python"))
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(SchedulerBinaryNotFoundError) as excinfo:
        scaler_rs.binary_path()
    message = str(excinfo.value)
    assert str(empty / "scaler-rs") in message
    assert "pip install" in message and "SCALER_RS_BINARY" in message


def test_binary_override(monkeypatch):
    monkeypatch.setenv("SCALER_RS_BINARY", sys.executable)  # any executable file is taken as given
    assert scaler_rs.binary_path() == os.path.abspath(sys.executable)


def test_install_from_code_patches_modules_already_imported(monkeypatch):
    import scaler.cluster.combo as combo
    import scaler.cluster.scheduler as scheduler

    python_class = scheduler.SchedulerProcess
    assert scaler_rs.install() is True
    assert os.environ["SCALER_SCHEDULER"] == "scaler-rs"
    assert scaler_rs.active()
    assert scheduler.SchedulerProcess.__name__ == "ScalerRsSchedulerProcess"
    assert combo.SchedulerProcess is scheduler.SchedulerProcess
    assert issubclass(scheduler.SchedulerProcess, python_class)
    scaler_rs.uninstall()
    assert scheduler.SchedulerProcess is python_class and combo.SchedulerProcess is python_class
    assert "SCALER_SCHEDULER" not in os.environ
    assert not scaler_rs.active()


def test_install_from_code_before_import():
    code = """
import scaler_rs
scaler_rs.install()
from scaler.cluster.combo import SchedulerProcess
print(SchedulerProcess.__name__)
"""
    result = run_python(code)
    assert result.stdout.strip() == "ScalerRsSchedulerProcess", result.stderr


def test_install_errors(monkeypatch):
    with pytest.raises(SchedulerSwitchError, match="'rust' is not a scheduler"):
        scaler_rs.install("rust")
    monkeypatch.setenv("SCALER_RS_BINARY", "/nonexistent")
    with pytest.raises(SchedulerBinaryNotFoundError):
        scaler_rs.install()
    assert not scaler_rs.active()
    assert scaler_rs.install("python") is False


def test_install_from_code_replaces_the_error_of_a_wrong_value_at_start():
    code = """
import scaler_rs
from scaler.cluster.combo import SchedulerProcess as before
import scaler.cluster.combo as combo, scaler.cluster.scheduler as scheduler
scaler_rs.install()
print(before.__name__, scheduler.SchedulerProcess.__name__, combo.SchedulerProcess is scheduler.SchedulerProcess)
print(scheduler.SchedulerProcess.__mro__[1].__module__)
"""
    result = run_python(code, SCALER_SCHEDULER="typo")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "SchedulerProcessSwitchError ScalerRsSchedulerProcess True",
        "scaler.cluster.scheduler",
    ]
