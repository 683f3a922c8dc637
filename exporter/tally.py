"""The applied counts, in memory: totals per kind and segment, recent data minutes, and the
values each bound has seen.

The store's writer asks it what new row values a commit group writes (:meth:`Tally.add`),
applies the group once durable (:meth:`Tally.apply`) and readers get a :class:`Snapshot`.
Kept apart from the store so the writer's protocol (groups, keys, failures) and the shape
of the counts (segments, minutes) each read in one place. Every segment's totals start
with the listed statuses (or codes) at 0, like the default segment's, so a segment's
shares are defined from its first push on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from txwatch import contract
from txwatch.exporter import segments
from txwatch.exporter.config import Config
from txwatch.exporter.schema import Group, Loaded


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the state for readers.

    ``totals`` and ``last_minute`` are the default segment's (records without dimensions);
    ``segments`` and ``segment_last_minute`` hold every other segment's, by its string.
    """

    totals: dict[str, dict[str, int]]
    last_minute: dict[str, int]
    last_minute_start: float | None
    newest_data_timestamp: float | None
    last_push_timestamp: float | None
    idempotency_keys: int
    segments: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    segment_last_minute: dict[str, dict[str, int]] = field(default_factory=dict)


class Tally:
    """Totals by kind, segment and label; minutes by minute and (segment, label)."""

    def __init__(self, config: Config, loaded: Loaded) -> None:
        self._listed = {kind.name: config.labels(kind) for kind in contract.KINDS}
        self._kept = config.minutes_kept
        # bound key (a kind's name, or a dimension's key) -> the values the state holds
        self.seen: dict[str, set[str]] = {kind: set(ls) for kind, ls in self._listed.items()}
        self.totals: dict[str, dict[str, dict[str, int]]] = {
            kind: {"": dict.fromkeys(listed, 0)} for kind, listed in self._listed.items()}
        self.minutes: dict[int, dict[tuple[str, str], int]] = {}
        for (kind, segment, label), value in loaded.totals.items():
            self._set(kind, segment, label, value)
        for (minute, segment, label), value in loaded.minutes.items():
            self.minutes.setdefault(minute, {})[segment, label] = value

    def _set(self, kind: str, segment: str, label: str, value: int) -> None:
        by_segment = self.totals.setdefault(kind, {})
        counts = by_segment.get(segment)
        if counts is None:  # a segment first seen: its dimension values count for the bound
            counts = by_segment[segment] = dict.fromkeys(self._listed.get(kind, ()), 0)
            for name, dim_value in segments.pairs(segment):
                self.seen.setdefault(segments.bound_key(name), set()).add(dim_value)
        counts[label] = value
        self.seen.setdefault(kind, set()).add(label)

    def add(self, group: Group, kind: str, totals: Iterable[tuple[str, str, int]],
            minutes: Iterable[tuple[int, str, str, int]]) -> None:
        """Add one batch's counts to the group's new row values (nothing applied yet)."""
        rows = group.totals
        for segment, label, n in totals:
            key = (kind, segment, label)
            before = rows.get(key)
            if before is None:
                before = self.totals.get(kind, {}).get(segment, {}).get(label, 0)
            rows[key] = before + n
        recent = group.minutes
        for minute, segment, label, n in minutes:
            mkey = (minute, segment, label)
            before = recent.get(mkey)
            if before is None:
                before = self.minutes.get(minute, {}).get((segment, label), 0)
            recent[mkey] = before + n

    def prune(self, group: Group) -> None:
        """Let the group drop old minutes once twice as many as are kept are held."""
        every = set(self.minutes) | {minute for minute, _, _ in group.minutes}
        if len(every) > 2 * self._kept:
            group.prune_minutes_before = sorted(every)[-self._kept]

    def apply(self, group: Group) -> None:
        """Take a durable group's row values."""
        for (kind, segment, label), value in group.totals.items():
            self._set(kind, segment, label, value)
        for (minute, segment, label), value in group.minutes.items():
            self.minutes.setdefault(minute, {})[segment, label] = value
        if group.prune_minutes_before is not None:
            for minute in [m for m in self.minutes if m < group.prune_minutes_before]:
                del self.minutes[minute]

    def snapshot(self, now: float, **meta: Any) -> Snapshot:
        """A copy for readers; ``meta`` gives the timestamps and key count."""
        totals = {kind: dict(by_segment.get("", {})) for kind, by_segment in self.totals.items()}
        others = {kind: {segment: dict(counts) for segment, counts in by_segment.items()
                         if segment} for kind, by_segment in self.totals.items()}
        # Only a minute that has ended is complete (data may lead the clock).
        complete = max((m for m in self.minutes if m + 60 <= now), default=None)
        last: dict[str, int] = {}
        segment_last: dict[str, dict[str, int]] = {}
        for (segment, label), n in (self.minutes[complete].items() if complete is not None
                                    else ()):
            (segment_last.setdefault(segment, {}) if segment else last)[label] = n
        return Snapshot(totals, last, complete, segments=others,
                        segment_last_minute=segment_last, **meta)
