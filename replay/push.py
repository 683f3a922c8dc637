"""Replay CSV history to the exporter in time order, one batch per data minute.

Each batch carries a deterministic ``Idempotency-Key`` (kind, minute and a digest of its
rows), so a replay that is interrupted and started again, or a retried request, is not
counted twice. Pacing: ``speed`` data minutes per real minute (1 = real time, 60 = one
data minute per second, ``None`` = as fast as possible).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import requests

from txwatch.contract import KIND_BY_LABEL
from txwatch.history.dataset import read_frame
from txwatch.history.segments import dimension_columns


@dataclass
class Batch:
    minute: pd.Timestamp
    label: str
    body: str
    records: int
    transactions: int

    @property
    def key(self) -> str:
        digest = hashlib.sha256(self.body.encode()).hexdigest()[:16]
        return f"replay-{KIND_BY_LABEL[self.label].name}-{self.minute:%Y%m%dT%H%M}-{digest}"


@dataclass
class Summary:
    minutes: int = 0
    batches: int = 0
    records: int = 0
    transactions: int = 0
    replayed: int = 0
    retries: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [f"pushed {self.batches} batches over {self.minutes} data minutes in "
                f"{self.seconds:.1f} s", f"records {self.records}, transactions "
                f"{self.transactions}", f"already applied (idempotent replays) {self.replayed}, "
                f"retries {self.retries}, failed batches {len(self.failed)}"] + \
               [f"  failed: {f}" for f in self.failed[:10]]


def batches(files: list[str | Path]) -> list[list[Batch]]:
    """Batches grouped per data minute, in time order (the data set is sorted by status);
    a file's dimension columns, if any, are columns of its batches."""
    per_minute: dict[pd.Timestamp, list[Batch]] = {}
    for source in files:
        label, frame = read_frame(source)
        # Segment columns travel as CSV columns (an empty cell: the default segment), so an
        # exporter run with --segment.dimensions counts each segment apart; one without the
        # flag refuses the header (400, naming the columns it knows).
        dims = list(dimension_columns(frame.columns, label))
        frame = frame.assign(minute=frame["timestamp"].dt.floor("min"))
        for minute, rows in frame.groupby("minute", sort=True):
            lines = [",".join(["timestamp", *dims, label, "count"])] + [
                ",".join([f"{t:%Y-%m-%d %H:%M:%S}", *d, str(v), str(c)]) for t, *d, v, c in
                zip(rows["timestamp"], *(rows[n] for n in dims), rows[label], rows["count"],
                    strict=True)]
            per_minute.setdefault(minute, []).append(Batch(
                minute, label, "\n".join(lines) + "\n", len(rows), int(rows["count"].sum())))
    return [per_minute[m] for m in sorted(per_minute)]


def _send(session: requests.Session, url: str, batch: Batch, token: str | None,
          retries: int, summary: Summary, sleep: Callable[[float], None]) -> None:
    headers = {"Content-Type": "text/csv", "Idempotency-Key": batch.key}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    for attempt in range(retries + 1):
        try:
            r = session.post(url + KIND_BY_LABEL[batch.label].path, data=batch.body.encode(),
                             headers=headers, timeout=30)
        except requests.RequestException as exc:
            error = str(exc)
        else:
            if r.status_code == 200:
                summary.replayed += r.headers.get("Idempotent-Replayed") == "true"
                summary.records += batch.records
                summary.transactions += batch.transactions
                return
            error = f"HTTP {r.status_code}: {r.text[:200]}"
            if r.status_code < 500 and r.status_code not in (408, 429):
                break  # the exporter refused the data itself: retrying cannot help
        if attempt < retries:
            summary.retries += 1
            sleep(min(0.2 * 2 ** attempt, 5.0))
    summary.failed.append(f"{batch.key}: {error}")


def replica_for(key: str, urls: Sequence[str]) -> str:
    """The exporter replica an ``Idempotency-Key`` belongs to (rendezvous hashing).

    Idempotency keys are remembered per replica, so a retry must reach the replica that
    may have stored the first attempt: the key alone decides, the same on every run and
    whatever the order of ``urls``, and adding or removing a replica moves only the keys
    that belonged to it. A load balancer in front of several replicas must do the same
    (hash the ``Idempotency-Key`` header; docs/scaling.md)."""
    return max(urls, key=lambda u: hashlib.sha256(f"{key}\x00{u}".encode()).digest())


def push(files: list[str | Path], url: str | Sequence[str], speed: float | None = None,
         token: str | None = None, retries: int = 5, start_at: pd.Timestamp | None = None,
         progress: Callable[[Iterator[list[Batch]], int], Iterator[list[Batch]]] | None = None,
         clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> Summary:
    """Push every minute in time order, paced by ``speed``; return the summary. With
    several exporter URLs (replicas), each batch goes to :func:`replica_for` its key."""
    urls = [u.rstrip("/") for u in ([url] if isinstance(url, str) else url)]
    if not urls:
        raise ValueError("no exporter URL to push to")
    grouped = batches(files)
    if start_at is not None:
        grouped = [g for g in grouped if g[0].minute >= start_at]
    summary = Summary()
    started = clock()
    interval = 60.0 / speed if speed else 0.0
    iterator: Iterator[list[Batch]] = iter(grouped)
    if progress is not None:
        iterator = progress(iterator, len(grouped))
    with requests.Session() as session:
        for number, minute in enumerate(iterator):
            if interval:
                wait = started + number * interval - clock()
                if wait > 0:
                    sleep(wait)
            for batch in minute:
                _send(session, replica_for(batch.key, urls), batch, token, retries, summary,
                      sleep)
                summary.batches += 1
            summary.minutes += 1
    summary.seconds = clock() - started
    return summary
