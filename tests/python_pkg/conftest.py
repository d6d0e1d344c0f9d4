"""Tests of the scaler_rs Python package, run in an environment where the wheel and opengris-scaler 2.9.0 are
installed (scripts/python-package-test.sh makes one)."""

import os
import socket
import subprocess
import sys
from typing import Dict, List, Optional

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")
SWITCH_VARIABLES = ("SCALER_SCHEDULER", "SCALER_RS_BINARY", "SCALER_RS_READY_TIMEOUT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: Optional[str]) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SWITCH_VARIABLES}
    for key, value in extra.items():
        if value is not None:
            env[key] = value
    return env


def run_python(code: str, timeout: float = 120, **env: Optional[str]) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter of this environment (so scaler_rs.pth runs at its start)."""
    return subprocess.run(
        [sys.executable, "-c", code], env=clean_env(**env), capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(autouse=True)
def _no_switch_in_this_process(monkeypatch):
    """Each test starts with the switch off in the test process and leaves it off."""
    for name in SWITCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    import scaler_rs

    scaler_rs.uninstall()
    yield
    scaler_rs.uninstall()


def lines_with(text: str, needle: str) -> List[str]:
    return [line for line in text.splitlines() if needle in line]
