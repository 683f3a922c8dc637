"""Pure validation of decoded ingest records (see :mod:`txwatch.exporter.decode`).

Nothing here touches state, the clock or the network: the caller passes ``now`` and the
limits, and gets back either an aggregated :class:`Batch` or the list of what is wrong, so a
request is applied whole or not at all. Aggregation happens in the same pass as validation
because batches of 10,000 records must cost only a few microseconds per record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from txwatch.exporter import segments
from txwatch.exporter.config import Limits
from txwatch.exporter.decode import MISSING
from txwatch.exporter.fields import HUGE, checked_timestamp, csv_int, label_problem, show
from txwatch.exporter.fields import parse_timestamp as parse_timestamp  # re-exported

MAX_REPORTED_ERRORS = 50

@dataclass(frozen=True)
class RecordError:
    """One invalid field of one record; ``index`` is the 0-based position in the batch."""

    index: int | None
    field: str
    reason: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason,
                "message": self.message}


@dataclass
class Counts:
    """One segment's counts, summed per label and per (data minute, label)."""

    totals: dict[str, int] = field(default_factory=dict)
    minutes: dict[tuple[int, str], int] = field(default_factory=dict)


@dataclass
class Batch(Counts):
    """A validated request: the default segment's counts, and each other segment's."""

    records: int = 0
    newest_timestamp: float = 0.0
    # label -> index of the first record carrying it: a refusal by the store (too many
    # distinct labels) must name a record, and the store never sees the records.
    firsts: dict[str, int] = field(default_factory=dict)
    # segment (see txwatch.exporter.segments) -> its counts; the default one is ``self``.
    segments: dict[str, Counts] = field(default_factory=dict)
    # dimension -> value -> index of the first record carrying it (for the same reason).
    values: dict[str, dict[str, int]] = field(default_factory=dict)

    def parts(self) -> list[tuple[str, Counts]]:
        """Every segment's counts, the default one (``""``) first."""
        return [("", self), *self.segments.items()]


def validate(raw_records: Iterable[Any], label_field: str, allowed: frozenset[str],
             now: float, limits: Limits, pattern: re.Pattern[str] | None = None,
             dimensions: tuple[str, ...] = (),
             ) -> tuple[Batch, list[RecordError], int]:
    """Check every record; return the aggregated batch, up to 50 errors and the error count.

    A label is valid if ``allowed`` lists it or, when given, ``pattern`` matches all of it.
    A record may carry a value for each of ``dimensions`` (decoded CSV rows: after the
    three columns, in that order). How many distinct labels and values the state may hold
    is the store's to check, not this pure pass.
    """
    batch = Batch()
    minutes = batch.minutes
    firsts = batch.firsts
    reader = segments.Reader(dimensions) if dimensions else None
    parts, values, segment = batch.segments, batch.values, ""
    absent = (MISSING,) * len(dimensions)
    known = set(allowed)  # grows by the labels the pattern admitted: matched once each
    match = pattern.fullmatch if pattern is not None else None
    errors: list[RecordError] = []
    n_errors = 0
    ts_cache: dict[Any, tuple[float, int] | str] = {}
    keys = frozenset(("timestamp", label_field, "count", *dimensions))
    max_ts = now + limits.max_future_seconds
    newest = 0.0  # of the timestamps not cached (MISSING, or unhashable and refused anyway)
    index = -1
    for index, raw in enumerate(raw_records):
        if index >= limits.max_records:
            raise OverflowError(f"batch has more than {limits.max_records} records")
        if isinstance(raw, tuple):
            if reader is None:
                ts_raw, label, count = raw
            else:
                ts_raw, label, count, dims = raw[0], raw[1], raw[2], raw[3:]
            if count is not MISSING:
                count = int(count) if count.isdigit() and count.isascii() and len(count) < 20 \
                    else csv_int(count)
            if ts_raw == "":
                ts_raw = MISSING
        elif isinstance(raw, dict):
            if not raw.keys() <= keys:
                extra = sorted(str(k) for k in raw.keys() - keys)[0]
                problem = RecordError(index, extra, "unknown_field",
                                      f"unknown field {extra!r}; allowed: {sorted(keys)}")
                n_errors += 1
                if len(errors) < MAX_REPORTED_ERRORS:
                    errors.append(problem)
                continue
            ts_raw = raw.get("timestamp", MISSING)
            label = raw.get(label_field, MISSING)
            count = raw.get("count", MISSING)
            if reader is not None:
                dims = tuple(map(raw.get, dimensions, absent))
        else:
            n_errors += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(RecordError(index, "record", "not_an_object",
                                          "record must be a JSON object"))
            continue
        problem = None
        if count is MISSING:
            count = 1
        if label.__class__ is not str or label not in known and not _fits(label, match, known):
            problem = RecordError(index, *label_problem(label_field, label, allowed, pattern))
        elif type(count) is not int:
            problem = RecordError(index, "count", "count_too_large", "count has more than 19 "
                                  f"digits; the limit is {limits.max_count}") \
                if count is HUGE else RecordError(index, "count", "not_an_integer",
                                                   f"count must be an integer, got {show(count)}")
        elif count < 0:
            problem = RecordError(index, "count", "negative_count",
                                  f"count must be >= 0, got {count}")
        elif count > limits.max_count:
            problem = RecordError(index, "count", "count_too_large",
                                  f"count {count} exceeds the limit {limits.max_count}")
        if problem is None and reader is not None:
            segment = reader.segment(dims, csv=raw.__class__ is tuple)
            if segment.__class__ is not str:
                problem = RecordError(index, *segment)
        if problem is None:
            # Keyed by type and value: the string "20250712" is a date, the number is not.
            cls = ts_raw.__class__
            key = (cls, ts_raw) if cls is str or cls is int or cls is float else None
            when = ts_cache.get(key) if key is not None else None
            if when is None:
                checked = now if ts_raw is MISSING else checked_timestamp(
                    ts_raw, limits.min_timestamp, max_ts)
                when = checked if isinstance(checked, str) else (checked,
                                                                 int(checked // 60) * 60)
                if key is not None:
                    ts_cache[key] = when
                else:
                    newest = max(newest, when[0]) if when.__class__ is tuple else newest
            if when.__class__ is str:
                reason, message = when.split(":", 1)
                problem = RecordError(index, "timestamp", reason, message.strip())
        if problem is not None:
            n_errors += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(problem)
            continue
        if n_errors:
            continue
        counted = minutes
        if segment:
            part = parts.get(segment)
            if part is None:
                part = parts[segment] = Counts()
                for name, value in segments.pairs(segment):
                    values.setdefault(name, {}).setdefault(value, index)
            counted = part.minutes
        mkey = (when[1], label)
        before = counted.get(mkey)
        if before is None:
            counted[mkey] = count
            if label not in firsts:
                firsts[label] = index
        else:
            counted[mkey] = before + count
    for _segment, counts in batch.parts():
        totals = counts.totals
        for (_minute, label), n in counts.minutes.items():
            totals[label] = totals.get(label, 0) + n
    batch.records = index + 1
    batch.newest_timestamp = max((w[0] for w in ts_cache.values() if w.__class__ is tuple),
                                 default=newest)
    batch.newest_timestamp = max(batch.newest_timestamp, newest)
    return batch, errors, n_errors


def _fits(label: str, match: Any, known: set[str]) -> bool:
    """Whether the pattern admits an unlisted label (remembered: checked once per batch)."""
    if match is None or match(label) is None:
        return False
    known.add(label)
    return True
