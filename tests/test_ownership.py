"""The state dir's files deleted or replaced under a running exporter (real processes).

Each case once lost acknowledged records: ``rm lock`` let a second exporter in (two writers,
last one wins), and ``rm`` of the database, its WAL or the whole directory let pushes go on
being acknowledged into unlinked files. Now nothing is acknowledged that is not durable.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import requests

from tests.conftest import REPO
from tests.test_durability import push, totals
from txwatch.exporter.statedb import DB_NAME


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


@pytest.mark.parametrize("victim", [DB_NAME, DB_NAME + "-wal", "the state dir"])
def test_state_deleted_while_running_is_never_acknowledged(exporter_process, tmp_path, victim):
    state = tmp_path / "state"
    ex = exporter_process(f"--state.dir={state}").start()
    assert push(ex.url, "approved", 2, key="a").status_code == 200
    if victim == "the state dir":
        shutil.rmtree(state)
    else:
        (state / victim).unlink()
    named = str(state if victim == "the state dir" else state / victim)
    ready = requests.get(ex.url + "/-/ready", timeout=5)  # before any push found out
    assert ready.status_code == 503 and named in ready.text and "deleted" in ready.text
    for key in ("b", "a", None):  # a new key, the retry of an acknowledged one, no key
        r = push(ex.url, "approved", 3, key=key)
        assert r.status_code == 503, (key, r.text)
        assert r.json()["error"] == "storage_error" and named in r.json()["message"]
        assert "restart" in r.json()["message"]
    assert totals(ex.url)["approved"] == 2
    if victim == "the state dir":  # a new one of that name is not the one locked
        state.mkdir()
        r = push(ex.url, "approved", 3)
        assert r.status_code == 503 and "deleted or replaced" in r.json()["message"]
    assert requests.get(ex.url + "/-/ready", timeout=5).status_code == 503
    ex.kill9()
    if victim == "the state dir":  # gone with everything in it: nothing since was answered
        ex.start()
        assert totals(ex.url)["approved"] == 0
    else:  # what the deleted file held is missing: refused, with how to recover
        err = _refused_start(f"--state.dir={state}")
        assert "corrupt" in err and "restore" in err, err


def test_a_replaced_state_dir_keeps_the_new_owner_whole(exporter_process, tmp_path):
    """Moved aside under a running exporter, a new one started on the name: stopping the
    old one does not touch the new one's files (a guard: SQLite itself sees the move)."""
    state = tmp_path / "state"
    old = exporter_process(f"--state.dir={state}").start()
    assert push(old.url, "failed", 1).status_code == 200
    state.rename(tmp_path / "aside")
    new = exporter_process(f"--state.dir={state}").start()
    assert push(new.url, "failed", 4, key="n").status_code == 200
    old.stop()  # SQLite neither checkpoints nor unlinks the WAL of a moved database
    assert (state / (DB_NAME + "-wal")).exists()
    assert push(new.url, "failed", 5).status_code == 200
    new.kill9()
    new.start()
    assert totals(new.url)["failed"] == 9
