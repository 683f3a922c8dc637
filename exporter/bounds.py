"""The bound on how many distinct label values (series) a kind of count may reach.

Any auth code of the right shape is accepted, so without a bound one faulty or hostile feed
could create thousands of ``payment_auth_codes_total`` series and slow every Prometheus
query. Whether a batch fits depends on the state (the codes already stored, and those of the
batches committed just before it in the same group), so the check runs in the store's single
writer, in commit order, before the group is written: the check and the add are one step,
and a batch that does not fit is refused whole while the others of its group go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from txwatch.exporter.parsing import MAX_REPORTED_ERRORS, RecordError


class TooManyLabels(ValueError):
    """A batch would take a kind past its bound; nothing of it was applied."""

    def __init__(self, message: str, errors: list[RecordError]) -> None:
        super().__init__(message)
        self.errors = errors


@dataclass(frozen=True)
class Bound:
    """At most ``limit`` distinct values of ``label_field``; ``flag`` raises the limit."""

    limit: int
    flag: str
    label_field: str


class Waiting(Protocol):
    """A request waiting for the writer (the store's pending entry and its future)."""

    entry: dict[str, Any] | None
    future: asyncio.Future[None]


W = TypeVar("W", bound=Waiting)


def admitted(pendings: list[W], totals: Mapping[str, Mapping[str, int]],
             bounds: Mapping[str, Bound]) -> list[W]:
    """The requests that fit the bounds, in order; each other one fails alone, right away.

    Called by the single writer with the applied totals, just before it builds a group.
    """
    admission, kept = Admission(totals, bounds), []
    for pending in pendings:
        entry = pending.entry
        refusal = None if entry is None else admission.check(
            entry["kind"], entry["totals"], entry.get("firsts", {}))
        if refusal is None:
            kept.append(pending)
        elif not pending.future.done():
            pending.future.set_exception(refusal)
    return kept


class Admission:
    """The labels known while one commit group is built, kind by kind.

    Starts from the applied state and grows with each admitted batch, so two batches of one
    group that bring different new codes are counted together.
    """

    def __init__(self, totals: Mapping[str, Mapping[str, int]],
                 bounds: Mapping[str, Bound]) -> None:
        self._totals = totals
        self._bounds = bounds
        self._known: dict[str, set[str]] = {}

    def check(self, kind: str, labels: Iterable[str],
              firsts: Mapping[str, int]) -> TooManyLabels | None:
        """Admit the batch's labels (None), or the refusal naming the records past the bound."""
        bound = self._bounds.get(kind)
        if bound is None:
            return None
        known = self._known.get(kind)
        if known is None:
            known = self._known[kind] = set(self._totals.get(kind, ()))
        new = sorted((label for label in labels if label not in known),
                     key=lambda label: firsts.get(label, -1))
        room = max(bound.limit - len(known), 0)
        if len(new) <= room:
            known.update(new)
            return None
        field = bound.label_field
        errors = [RecordError(
            firsts.get(label), field, f"too_many_{field}s",
            f"{field} {label!r} would be distinct {field} number {len(known) + room + i + 1}; "
            f"at most {bound.limit} are kept (raise the bound with {bound.flag})")
            for i, label in enumerate(new[room:room + MAX_REPORTED_ERRORS])]
        return TooManyLabels(
            f"{len(new) - room} new {field} value(s) past the bound of {bound.limit} distinct "
            f"values ({len(known)} already known; {bound.flag}); nothing was applied", errors)
