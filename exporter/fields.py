"""Checks of one raw field value of a record, and the words that say what is wrong with it.

Kept apart from the record loop (:mod:`~txwatch.exporter.parsing`) so that loop stays
readable: here are the timestamp formats, the CSV count shortcut and the refusal messages
for a label. Pure functions: no state, no clock (the caller passes the bounds).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from txwatch.exporter.config import AUTH_CODE_PATTERN_FLAG
from txwatch.exporter.decode import MISSING

HUGE = "too many digits"  # a CSV count too long to be an int (int() refuses 4,300+ digits)


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


def csv_int(text: str) -> int | str:
    """A CSV count as an int; the text itself if it is none, :data:`HUGE` if too long."""
    stripped = text.strip()
    body = stripped[1:] if stripped[:1] == "-" else stripped
    if body.isdigit() and body.isascii():
        return int(stripped) if len(body) < 20 else HUGE
    return text


def show(value: Any) -> str:
    """A short description of a JSON value (repr of a deeply nested one would recurse)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        text = repr(value) if not isinstance(value, int) or value.bit_length() < 64 \
            else "a very large integer"
        return text[:64]
    return f"a JSON {'array' if isinstance(value, list) else 'object'}"


def label_problem(label_field: str, label: Any, allowed: frozenset[str],
                  pattern: re.Pattern[str] | None = None) -> tuple[str, str, str]:
    """(field, reason, message) for a missing, unlisted or off-pattern label."""
    if label is MISSING:
        return label_field, "missing_field", f"{label_field} is required"
    shown = repr(label[:64]) if isinstance(label, str) else show(label)
    if pattern is not None:
        rule = f"the accepted pattern {pattern.pattern} (set by {AUTH_CODE_PATTERN_FLAG})"
        return (label_field, f"invalid_{label_field}",
                f"{label_field} {shown} does not match {rule}" if isinstance(label, str) else
                f"{label_field} must be a string matching {rule}, got {shown}")
    return (label_field, f"unknown_{label_field}",
            f"unknown {label_field} {shown}; known: {', '.join(sorted(allowed))}")


def checked_timestamp(raw: Any, oldest: float, newest: float) -> float | str:
    """A valid timestamp as float, or ``"reason: message"`` (cached per distinct value)."""
    try:
        ts = parse_timestamp(raw)
    except (ValueError, TypeError, OverflowError):
        return f"invalid_timestamp: cannot parse timestamp {show(raw)}"
    if ts > newest:
        return f"future_timestamp: timestamp {show(raw)} is too far in the future"
    if ts < oldest:
        return f"ancient_timestamp: timestamp {show(raw)} is before 2000-01-01"
    return ts
