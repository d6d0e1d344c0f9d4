"""Scaler 2.9.0's own examples, unchanged, under SCALER_SCHEDULER=scaler-rs.

They come from the 2.9.0 source package, which scripts/python-package-test.sh downloads and unpacks when run
with SCALER_RS_TEST_EXAMPLES=1 (it then also installs parfun for libraries/count_words.py) and names in
SCALER_RS_EXAMPLES_DIR; without it these tests are skipped.
"""

import os
import subprocess
import sys

import pytest
from conftest import clean_env, lines_with

EXAMPLES = {
    "simple_client.py": "661.4629471031477",
    "map_client.py": "[11, 22, 33]",
    "graphtask_client.py": "{'a': 2, 'b': 2, 'c': 3, 'd': 4, 'e': 1,",
    "ray_compat/basic_local_cluster.py": None,  # asserts its own result
    "libraries/count_words.py": "Counter({'=': 6,",
}


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_runs_unchanged_on_scaler_rs(example):
    directory = os.environ.get("SCALER_RS_EXAMPLES_DIR")
    if not directory:
        pytest.skip("SCALER_RS_EXAMPLES_DIR is not set (SCALER_RS_TEST_EXAMPLES=1 scripts/python-package-test.sh)")
    result = subprocess.run(
        [sys.executable, example],
        cwd=directory,
        env=clean_env(SCALER_SCHEDULER="scaler-rs"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert len(lines_with(output, "[scaler_rs::transport::listeners] listening on")) == 2  # main and monitor
    assert lines_with(output, "[scaler_rs::transport::shutdown] scheduler stopped")
    assert not lines_with(output, "Scheduler: listen to")  # the Python scheduler's first line
    if EXAMPLES[example] is not None:
        assert EXAMPLES[example] in result.stdout
