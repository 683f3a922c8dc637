"""Segments: the dimensions (acquirer, card brand, payment method...) pushed records may carry.

One exporter watches every segment of a flow: the operator names the dimensions at start
(``--segment.dimensions``), a record may carry a value for each, and its counts go to the
series labelled with them. A record without any counts in the *default segment*, whose
series keep exactly today's labels (Prometheus treats a missing label and an empty one
alike), so rules that ``sum by (job, status)`` still see the whole flow.

Inside the exporter and in the state database a segment is one canonical string, its
pairs sorted by name: ``"acquirer=acq-1,method=credit"``, ``""`` for the default one.
Names are label names and values short tokens: neither can hold ``=`` or ``,``, so the
string decodes back exactly and a segment has one spelling whatever the flag order.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

from txwatch import contract
from txwatch.exporter.decode import MISSING

DIMENSIONS_FLAG = "--segment.dimensions"
MAX_VALUES_FLAG = "--segment.max-values"
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
VALUE = re.compile(contract.SEGMENT_VALUE_PATTERN)
VALUE_RULE = "1 to 64 letters, digits or _.:- starting with a letter or digit"
Problem = tuple[str, str, str]  # (field, reason, message) of a record's first bad value


def check_dimensions(names: Iterable[str]) -> tuple[str, ...]:
    """The names, if each is a label name free to use; else ValueError naming the first bad.

    Checked at start so that a typo stops the exporter with a clear line instead of
    exposing a label Prometheus refuses, or one that silently merges with ``job`` or
    ``status`` in every rule.
    """
    seen: list[str] = []
    for name in names:
        if not LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise ValueError(f"{DIMENSIONS_FLAG}: {name!r} is not a Prometheus label name "
                             "([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
        if name in contract.RESERVED_LABELS or name.startswith("exported_"):
            raise ValueError(f"{DIMENSIONS_FLAG}: {name!r} clashes with a label Prometheus, "
                             "the counters or the rules use (reserved: "
                             f"{', '.join(sorted(contract.RESERVED_LABELS))}, exported_*)")
        if name in seen:
            raise ValueError(f"{DIMENSIONS_FLAG}: {name!r} is named twice")
        seen.append(name)
    return tuple(seen)


def encode(pairs: Iterable[tuple[str, str]]) -> str:
    """The canonical string of a segment's (name, value) pairs."""
    return ",".join(f"{name}={value}" for name, value in sorted(pairs))


@functools.lru_cache(maxsize=8192)
def pairs(segment: str) -> tuple[tuple[str, str], ...]:
    """The (name, value) pairs of a canonical segment string (cached: read every scrape)."""
    if not segment:
        return ()
    return tuple((name, value) for name, _, value in
                 (item.partition("=") for item in segment.split(",")))


def bound_key(dimension: str) -> str:
    """A dimension's key among the writer's bounds (a kind's name has no dot)."""
    return f"segment.{dimension}"


class Reader:
    """Turns the raw dimension values of a record into its segment.

    Each distinct tuple of raw values is checked once per request and remembered, as the
    parser does for timestamps: a batch of 10,000 records carries a handful of segments.
    """

    def __init__(self, dimensions: tuple[str, ...]) -> None:
        self.dimensions = dimensions
        self._cache: dict[tuple[Any, ...], str | Problem] = {}

    def segment(self, raw: tuple[Any, ...], csv: bool = False) -> str | Problem:
        """The canonical segment (``""``: none carried), or the first bad value's problem.

        ``MISSING`` stands for an absent field, and so does an empty cell of a CSV row (a
        row cannot leave a column out): neither is in the segment. One request is all CSV
        or all JSON, so the cache needs no mode in its key.
        """
        try:
            found = self._cache.get(raw)
        except TypeError:  # a JSON array or object as a value: refused below, not cached
            return self._read(raw, csv)
        if found is None:
            found = self._cache[raw] = self._read(raw, csv)
        return found

    def _read(self, raw: tuple[Any, ...], csv: bool) -> str | Problem:
        carried = []
        for name, value in zip(self.dimensions, raw, strict=True):
            if value is MISSING or csv and value == "":
                continue
            if value.__class__ is not str or VALUE.fullmatch(value) is None:
                return name, f"invalid_{name}", _invalid(name, value)
            carried.append((name, value))
        return encode(carried)


_JSON_TYPES = {bool: "a boolean", int: "a number", float: "a number", list: "an array",
               dict: "an object"}


def _invalid(name: str, value: Any) -> str:
    if not isinstance(value, str):
        shown = "null" if value is None else _JSON_TYPES.get(type(value), "a non-string")
        return f"{name} must be a string of {VALUE_RULE}, got {shown}"
    if not value:
        return (f"{name} is empty: omit the field (or leave the CSV cell empty) to count in "
                f"the default segment")
    return f"{name} {value[:64]!r} is not a segment value: {VALUE_RULE}"
