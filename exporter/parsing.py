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
from datetime import UTC, datetime
from typing import Any

from txwatch.exporter.config import AUTH_CODE_PATTERN_FLAG, Limits
from txwatch.exporter.decode import MISSING

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
class Batch:
    """A validated request, already summed per label and per (data minute, label)."""

    totals: dict[str, int] = field(default_factory=dict)
    minutes: dict[tuple[int, str], int] = field(default_factory=dict)
    records: int = 0
    newest_timestamp: float = 0.0
    # label -> index of the first record carrying it: a refusal by the store (too many
    # distinct labels) must name a record, and the store never sees the records.
    firsts: dict[str, int] = field(default_factory=dict)


def parse_timestamp(raw: Any) -> float:
    """ISO-8601 (with or without zone), ``YYYY-MM-DD HH:MM:SS`` (UTC) or Unix seconds."""
    if isinstance(raw, bool):
        raise ValueError("not a timestamp")
    if isinstance(raw, (int, float)):
        value = float(raw)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("not a finite number")
        return value
    if not isinstance(raw, str):
        raise ValueError("not a string")
    parsed = datetime.fromisoformat(raw.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def validate(raw_records: Iterable[Any], label_field: str, allowed: frozenset[str],
             now: float, limits: Limits, pattern: re.Pattern[str] | None = None,
             ) -> tuple[Batch, list[RecordError], int]:
    """Check every record; return the aggregated batch, up to 50 errors and the error count.

    A label is valid if ``allowed`` lists it or, when given, ``pattern`` matches all of it.
    How many distinct labels the state may hold is the store's to check, not this pure pass.
    """
    batch = Batch()
    totals = batch.totals
    minutes = batch.minutes
    firsts = batch.firsts
    known = set(allowed)  # grows by the labels the pattern admitted: matched once each
    match = pattern.fullmatch if pattern is not None else None
    errors: list[RecordError] = []
    n_errors = 0
    ts_cache: dict[Any, tuple[float, int] | str] = {}
    keys = frozenset(("timestamp", label_field, "count"))
    max_ts = now + limits.max_future_seconds
    newest = 0.0  # of the timestamps not cached (MISSING, or unhashable and refused anyway)
    index = -1
    for index, raw in enumerate(raw_records):
        if index >= limits.max_records:
            raise OverflowError(f"batch has more than {limits.max_records} records")
        if isinstance(raw, tuple):
            ts_raw, label, count = raw
            if count is not MISSING:
                count = int(count) if count.isdigit() and count.isascii() and len(count) < 20 \
                    else _csv_int(count)
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
            problem = _label_error(index, label_field, label, allowed, pattern)
        elif type(count) is not int:
            problem = RecordError(index, "count", "count_too_large", "count has more than 19 "
                                  f"digits; the limit is {limits.max_count}") \
                if count is _HUGE else RecordError(index, "count", "not_an_integer",
                                                   f"count must be an integer, got {_show(count)}")
        elif count < 0:
            problem = RecordError(index, "count", "negative_count",
                                  f"count must be >= 0, got {count}")
        elif count > limits.max_count:
            problem = RecordError(index, "count", "count_too_large",
                                  f"count {count} exceeds the limit {limits.max_count}")
        if problem is None:
            # Keyed by type and value: the string "20250712" is a date, the number is not.
            cls = ts_raw.__class__
            key = (cls, ts_raw) if cls is str or cls is int or cls is float else None
            when = ts_cache.get(key) if key is not None else None
            if when is None:
                checked = now if ts_raw is MISSING else _checked_timestamp(
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
        mkey = (when[1], label)
        before = minutes.get(mkey)
        if before is None:
            minutes[mkey] = count
            if label not in firsts:
                firsts[label] = index
        else:
            minutes[mkey] = before + count
    for (_minute, label), n in minutes.items():
        totals[label] = totals.get(label, 0) + n
    batch.records = index + 1
    batch.newest_timestamp = max((w[0] for w in ts_cache.values() if w.__class__ is tuple),
                                 default=newest)
    batch.newest_timestamp = max(batch.newest_timestamp, newest)
    return batch, errors, n_errors


_HUGE = "too many digits"  # a CSV count too long to be an int (int() refuses 4,300+ digits)


def _csv_int(text: str) -> int | str:
    stripped = text.strip()
    body = stripped[1:] if stripped[:1] == "-" else stripped
    if body.isdigit() and body.isascii():
        return int(stripped) if len(body) < 20 else _HUGE
    return text


def _show(value: Any) -> str:
    """A short description of a JSON value (repr of a deeply nested one would recurse)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        text = repr(value) if not isinstance(value, int) or value.bit_length() < 64 \
            else "a very large integer"
        return text[:64]
    return f"a JSON {'array' if isinstance(value, list) else 'object'}"


def _fits(label: str, match: Any, known: set[str]) -> bool:
    """Whether the pattern admits an unlisted label (remembered: checked once per batch)."""
    if match is None or match(label) is None:
        return False
    known.add(label)
    return True


def _label_error(index: int, label_field: str, label: Any, allowed: frozenset[str],
                 pattern: re.Pattern[str] | None = None) -> RecordError:
    if label is MISSING:
        return RecordError(index, label_field, "missing_field", f"{label_field} is required")
    shown = repr(label[:64]) if isinstance(label, str) else _show(label)
    if pattern is not None:
        rule = f"the accepted pattern {pattern.pattern} (set by {AUTH_CODE_PATTERN_FLAG})"
        return RecordError(index, label_field, f"invalid_{label_field}",
                           f"{label_field} {shown} does not match {rule}"
                           if isinstance(label, str) else
                           f"{label_field} must be a string matching {rule}, got {shown}")
    return RecordError(index, label_field, f"unknown_{label_field}",
                       f"unknown {label_field} {shown}; known: {', '.join(sorted(allowed))}")


def _checked_timestamp(raw: Any, oldest: float, newest: float) -> float | str:
    """A valid timestamp as float, or ``"reason: message"`` (cached per distinct value)."""
    try:
        ts = parse_timestamp(raw)
    except (ValueError, TypeError, OverflowError):
        return f"invalid_timestamp: cannot parse timestamp {_show(raw)}"
    if ts > newest:
        return f"future_timestamp: timestamp {_show(raw)} is too far in the future"
    if ts < oldest:
        return f"ancient_timestamp: timestamp {_show(raw)} is before 2000-01-01"
    return ts
