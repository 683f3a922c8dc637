"""Segments in the durable state: exact across restarts, the bound's values remembered, and a
state dir of schema 2 (no segment columns) upgraded in place with every total kept.

Units of the store on a real SQLite file, then a real exporter process (slow): pushes with a
dimension, ``promtool check metrics`` on its /metrics, kill -9 and restart.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys

import pytest
import requests

from tests.conftest import REPO, samples
from tests.test_generated import promtool_check_metrics
from txwatch import contract
from txwatch.exporter import schema
from txwatch.exporter.bounds import TooManyLabels
from txwatch.exporter.config import Config
from txwatch.exporter.guard import CommitMark
from txwatch.exporter.lockfile import StateDirError
from txwatch.exporter.parsing import Batch, Counts
from txwatch.exporter.statedb import DB_NAME, StateDB
from txwatch.exporter.store import Store

NOW = 1_752_400_000.0
MINUTE = 1_752_327_900
TX = contract.TRANSACTIONS.path
FAMILY = contract.TRANSACTIONS.counter


def _store(path, **config) -> Store:
    config.setdefault("dimensions", ("acquirer",))
    return Store(Config(state_dir=path, **config), lambda: NOW, StateDB(path))


def _batch(default: dict[str, int] | None = None, **by_acquirer: dict[str, int]) -> Batch:
    """A validated batch: ``default`` counts, and each acquirer's (``acq_1`` is acq-1)."""
    batch = Batch(totals=dict(default or {}), records=1, newest_timestamp=float(MINUTE),
                  minutes={(MINUTE, s): n for s, n in (default or {}).items()})
    for index, (name, counts) in enumerate(by_acquirer.items()):
        value = name.replace("_", "-")
        batch.segments[f"acquirer={value}"] = Counts(
            dict(counts), {(MINUTE, s): n for s, n in counts.items()})
        batch.values.setdefault("acquirer", {})[value] = index
    return batch


def _segments(store: Store) -> dict[str, dict[str, int]]:
    """Each segment's non-zero transaction totals."""
    return {segment: {s: n for s, n in counts.items() if n}
            for segment, counts in store.snapshot().segments["transactions"].items()}


def test_restart_keeps_segment_totals_and_the_bounds_known_values(tmp_path, start_exporter):
    async def first() -> None:
        store = _store(tmp_path, max_segment_values=2)
        await store.commit("transactions", _batch({"failed": 2}, acq_1={"failed": 3}))
        await store.commit("auth_codes", _batch(acq_2={"91": 4}))  # a value seen in codes
        await store.close()

    asyncio.run(first())
    store = _store(tmp_path, max_segment_values=2)
    assert _segments(store) == {"acquirer=acq-1": {"failed": 3}}
    assert store.snapshot().totals["transactions"]["failed"] == 2
    assert store.snapshot().segments["auth_codes"]["acquirer=acq-2"]["91"] == 4
    assert store.snapshot().segment_last_minute == {"acquirer=acq-1": {"failed": 3}}

    async def second() -> None:
        with pytest.raises(TooManyLabels):  # acq-1 and acq-2 are known: acq-3 is the third
            await store.commit("transactions", _batch(acq_3={"approved": 1}))
        await store.commit("transactions", _batch(acq_2={"approved": 1}, acq_1={"failed": 1}))
        await store.close()

    asyncio.run(second())
    ex = start_exporter(Config(state_dir=tmp_path, dimensions=("acquirer",),
                               max_segment_values=2), now=NOW)  # a third start, over HTTP
    found = {tuple(sorted(s.labels.items())): s.value for s in samples(ex.metrics())
             if s.name == FAMILY and s.value}
    assert found == {(("status", "failed"),): 2,
                     (("acquirer", "acq-1"), ("status", "failed")): 4,
                     (("acquirer", "acq-2"), ("status", "approved")): 1}
    r = requests.post(ex.url + TX, json=[{"acquirer": "acq-3", "status": "failed"}], timeout=5)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "acquirer"


def test_concurrent_new_values_stop_exactly_at_the_bound(tmp_path):
    store = _store(tmp_path, max_segment_values=5)
    names = [f"acq_{i}" for i in range(20)]

    async def race() -> list:
        return await asyncio.gather(*(store.commit("transactions", _batch(**{n: {"failed": 1}}))
                                      for n in names), return_exceptions=True)

    results = asyncio.run(race())
    assert sum(isinstance(r, tuple) for r in results) == 5
    assert all(isinstance(r, (tuple, TooManyLabels)) for r in results)
    assert len(_segments(store)) == 5
    asyncio.run(store.close())


def test_a_dimension_dropped_from_the_flags_keeps_its_series_frozen(tmp_path, start_exporter):
    async def first() -> None:
        store = _store(tmp_path)
        await store.commit("transactions", _batch(acq_1={"denied": 7}))
        await store.close()

    asyncio.run(first())
    ex = start_exporter(Config(state_dir=tmp_path), now=NOW)  # no --segment.dimensions now
    assert f'{FAMILY}{{acquirer="acq-1",status="denied"}} 7.0' in ex.metrics()
    r = requests.post(ex.url + TX, json=[{"acquirer": "acq-1", "status": "denied"}], timeout=5)
    assert r.status_code == 422 and r.json()["errors"][0]["reason"] == "unknown_field"


# ---- a schema-2 state dir (before segments) ----------------------------------------------
V2_DDL = """
CREATE TABLE meta(name TEXT PRIMARY KEY, value REAL, crc INTEGER NOT NULL);
CREATE TABLE totals(kind TEXT, label TEXT, value INTEGER NOT NULL,
    crc INTEGER NOT NULL, PRIMARY KEY(kind, label)) WITHOUT ROWID;
CREATE TABLE minutes(minute INTEGER, label TEXT, value INTEGER NOT NULL,
    crc INTEGER NOT NULL, PRIMARY KEY(minute, label)) WITHOUT ROWID;
CREATE TABLE keys(key TEXT PRIMARY KEY, digest TEXT NOT NULL, wall REAL NOT NULL,
    accepted INTEGER NOT NULL, transactions INTEGER NOT NULL, crc INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE INDEX keys_by_wall ON keys(wall);
"""
V2_TOTALS = [("transactions", "approved", 116), ("transactions", "failed", 3),
             ("auth_codes", "00", 116), ("auth_codes", "91", 2)]


def _schema_2_state_dir(path, damaged: bool = False) -> None:
    """A state dir as the exporter wrote it before segments: tables, checksums, the mark."""
    conn = sqlite3.connect(path / DB_NAME)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(V2_DDL)
    meta = {"schema": 2.0, "commits": 3.0, "newest": float(MINUTE), "last_push": NOW - 5}
    conn.executemany("INSERT INTO meta VALUES (?,?,?)",
                     [(n, v, schema.crc(n, v)) for n, v in meta.items()])
    conn.executemany("INSERT INTO totals VALUES (?,?,?,?)",
                     [(k, lb, v + damaged, schema.crc(k, lb, v)) for k, lb, v in V2_TOTALS])
    conn.executemany("INSERT INTO minutes VALUES (?,?,?,?)",
                     [(MINUTE, lb, v, schema.crc(MINUTE, lb, v)) for _, lb, v in V2_TOTALS[:2]])
    key = ("transactions:k1", "d1", NOW - 5, 2, 119)
    conn.execute("INSERT INTO keys VALUES (?,?,?,?,?,?)", (*key, schema.crc(*key)))
    conn.commit()
    conn.close()
    mark = CommitMark(path)
    mark.open(3, fsync=False)
    mark.close()


def _layout(path) -> tuple[set[str], float]:
    conn = sqlite3.connect(path / DB_NAME)
    try:
        cols = {row[1] for row in conn.execute("PRAGMA table_info(totals)")}
        return cols, conn.execute("SELECT value FROM meta WHERE name='schema'").fetchone()[0]
    finally:
        conn.close()


def test_a_schema_2_state_dir_is_upgraded_once_and_keeps_everything(tmp_path):
    _schema_2_state_dir(tmp_path)
    store = _store(tmp_path)
    assert _layout(tmp_path) == ({"kind", "segment", "label", "value", "crc"}, 3.0)
    snap = store.snapshot()
    assert {k: v for k, v in snap.totals["transactions"].items() if v} == {
        "approved": 116, "failed": 3}
    assert {k: v for k, v in snap.totals["auth_codes"].items() if v} == {"00": 116, "91": 2}
    assert snap.last_minute == {"approved": 116, "failed": 3} and snap.idempotency_keys == 1
    assert (snap.newest_data_timestamp, snap.last_push_timestamp) == (MINUTE, NOW - 5)
    assert snap.segments == {"transactions": {}, "auth_codes": {}}

    async def push() -> tuple[dict, bool]:
        replay = await store.commit("transactions", _batch(acq_1={"failed": 1}), "k1", "d1")
        await store.commit("transactions", _batch({"failed": 1}, acq_1={"failed": 6}))
        await store.close()
        return replay

    assert asyncio.run(push()) == ({"accepted": 2, "transactions": 119}, True)  # the old key
    again = _store(tmp_path)  # the second start finds schema 3: nothing to upgrade
    assert again.snapshot().totals["transactions"]["failed"] == 4
    assert _segments(again) == {"acquirer=acq-1": {"failed": 6}}
    assert again.snapshot().totals["auth_codes"]["91"] == 2
    asyncio.run(again.close())


def test_a_failed_upgrade_leaves_schema_2_as_it_was(tmp_path, monkeypatch):
    _schema_2_state_dir(tmp_path)
    monkeypatch.setattr(schema, "MINUTES", "CREATE TABLE minutes(broken")  # after totals
    with pytest.raises(StateDirError):
        _store(tmp_path)
    assert _layout(tmp_path) == ({"kind", "label", "value", "crc"}, 2.0)
    monkeypatch.undo()
    store = _store(tmp_path)
    assert store.snapshot().totals["transactions"]["approved"] == 116
    asyncio.run(store.close())


def test_damage_in_a_schema_2_row_is_refused_before_any_upgrade(tmp_path):
    _schema_2_state_dir(tmp_path, damaged=True)
    with pytest.raises(StateDirError, match="corrupt.*checksum mismatch in table totals"):
        _store(tmp_path)
    assert _layout(tmp_path) == ({"kind", "label", "value", "crc"}, 2.0)


# ---- a real exporter process ---------------------------------------------------------------
@pytest.mark.slow
def test_a_real_exporter_exposes_segments_and_restarts_exactly(exporter_process, tmp_path):
    args = ("--segment.dimensions=acquirer", "--segment.max-values=2",
            f"--state.dir={tmp_path / 'state'}")
    ex = exporter_process(*args).start()
    body = "timestamp,acquirer,status,count\n2025-07-12 13:45:00,acq-1,failed,3\n" \
           "2025-07-12 13:45:00,,failed,2\n2025-07-12 13:45:00,acq-2,approved,5\n"
    r = requests.post(ex.url + TX, data=body, headers={"Content-Type": "text/csv"}, timeout=5)
    assert r.status_code == 200 and r.json() == {"accepted": 3, "transactions": 10}

    def lines() -> list[str]:
        text = requests.get(ex.url + "/metrics", timeout=5).text
        result = promtool_check_metrics(text)
        assert result.returncode == 0, result.stdout + result.stderr
        return sorted(line for line in text.splitlines() if line.startswith(FAMILY))

    before = lines()
    assert f'{FAMILY}{{acquirer="acq-1",status="failed"}} 3.0' in before
    assert f'{FAMILY}{{status="failed"}} 2.0' in before and len(before) == 18
    ex.kill9()
    ex.start()
    assert lines() == before
    past = requests.post(ex.url + TX, json=[{"acquirer": "acq-3", "status": "failed"}], timeout=5)
    assert past.status_code == 422 and past.json()["errors"][0]["reason"] == (
        "too_many_acquirer_values")
    assert lines() == before


@pytest.mark.slow
def test_a_bad_dimension_flag_stops_the_process_in_one_line():
    result = subprocess.run([sys.executable, "-m", "txwatch.exporter",
                             "--web.listen-address=127.0.0.1:0", "--segment.dimensions=job"],
                            cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--segment.dimensions: 'job' clashes" in result.stderr.splitlines()[-1]
