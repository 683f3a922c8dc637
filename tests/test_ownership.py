"""The state dir's files deleted or replaced under a running exporter (real processes).

Each case once lost acknowledged records: ``rm lock`` let a second exporter in (two writers,
last one wins), and ``rm`` of the database, its WAL or the whole directory let pushes go on
being acknowledged into unlinked files. Now nothing is acknowledged that is not durable.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.test_durability import push, totals


def _refused_start(*args: str) -> str:
    """Run an exporter that must refuse to start; return its one-line stderr."""
    try:  # run() kills the child on timeout: a second writer never outlives the test
        proc = subprocess.run([sys.executable, "-m", "txwatch.exporter",
                               "--web.listen-address=127.0.0.1:0", *args], cwd=REPO,
                              capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("a second exporter started on a state dir in use")
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


def test_deleting_the_lock_file_lets_no_second_exporter_in(exporter_process, tmp_path):
    state = tmp_path / "state"
    first = exporter_process(f"--state.dir={state}").start()
    assert push(first.url, "approved", 2, key="a").status_code == 200
    (state / "lock").unlink()
    err = _refused_start(f"--state.dir={state}")
    assert f"{state} is in use by another exporter" in err
    assert push(first.url, "approved", 3, key="b").status_code == 200
    first.kill9()
    first.start()
    assert totals(first.url)["approved"] == 5
