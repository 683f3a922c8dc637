"""The bounds on how many distinct values (series) a label may reach.

Any auth code of the right shape is accepted, and so is any acquirer (or other dimension)
value of the right shape, so without a bound one faulty or hostile feed could create
thousands of series and slow every Prometheus query: auth codes are bounded per kind
(``--payment.max-auth-codes``), each dimension's values across both kinds
(``--segment.max-values``). Whether a batch fits depends on the state (the values already
stored, and those of the batches committed just before it in the same group), so the check
runs in the store's single writer, in commit order, before the group is written: the check
and the add are one step, and a batch that does not fit is refused whole while the others
of its group go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from txwatch.exporter.parsing import MAX_REPORTED_ERRORS, RecordError


class TooManyLabels(ValueError):
    """A batch would take a label past its bound; nothing of it was applied."""

    def __init__(self, message: str, errors: list[RecordError]) -> None:
        super().__init__(message)
        self.errors = errors


@dataclass(frozen=True)
class Bound:
    """At most ``limit`` distinct values of ``label_field``; ``flag`` raises the limit."""

    limit: int
    flag: str
    label_field: str
    reason: str = ""  # of each record error; default ``too_many_<label_field>s``


class Waiting(Protocol):
    """A request waiting for the writer (the store's pending entry and its future)."""

    entry: dict[str, Any] | None
    future: asyncio.Future[None]


W = TypeVar("W", bound=Waiting)
# What one batch brings under the bounds: (bound key, its values, value -> first record).
Wanted = Iterable[tuple[str, Iterable[str], Mapping[str, int]]]


def admitted(pendings: list[W], known: Mapping[str, Iterable[str]],
             bounds: Mapping[str, Bound]) -> list[W]:
    """The requests that fit the bounds, in order; each other one fails alone, right away.

    Called by the single writer with the values the applied state holds, by bound key
    (a kind's labels, a dimension's values), just before it builds a group. An entry
    lists what it brings under ``"wanted"``.
    """
    admission, kept = Admission(known, bounds), []
    for pending in pendings:
        entry = pending.entry
        refusal = None if entry is None else admission.admit(entry.get("wanted", ()))
        if refusal is None:
            kept.append(pending)
        elif not pending.future.done():
            pending.future.set_exception(refusal)
    return kept


class Admission:
    """The values known while one commit group is built, bound by bound.

    Starts from the applied state and grows with each admitted batch, so two batches of one
    group that bring different new codes (or acquirers) are counted together.
    """

    def __init__(self, known: Mapping[str, Iterable[str]],
                 bounds: Mapping[str, Bound]) -> None:
        self._applied = known
        self._bounds = bounds
        self._known: dict[str, set[str]] = {}

    def check(self, key: str, labels: Iterable[str],
              firsts: Mapping[str, int]) -> TooManyLabels | None:
        """Admit the values of one bound (None), or the refusal naming the records past it."""
        return self.admit([(key, labels, firsts)])

    def admit(self, wanted: Wanted) -> TooManyLabels | None:
        """Admit all a batch brings (None), or refuse it whole: then it adds nothing to any
        bound, so a batch refused for its acquirers leaves no auth code counted."""
        adds: list[tuple[set[str], list[str]]] = []
        summaries: list[str] = []
        errors: list[RecordError] = []
        for key, labels, firsts in wanted:
            bound = self._bounds.get(key)
            if bound is None:
                continue
            known = self._known.get(key)
            if known is None:
                known = self._known[key] = set(self._applied.get(key, ()))
            new = sorted((label for label in labels if label not in known),
                         key=lambda label: firsts.get(label, -1))
            room = max(bound.limit - len(known), 0)
            if len(new) <= room:
                adds.append((known, new))
                continue
            field = bound.label_field
            errors += [RecordError(
                firsts.get(label), field, bound.reason or f"too_many_{field}s",
                f"{field} {label!r} would be distinct {field} number "
                f"{len(known) + room + i + 1}; at most {bound.limit} are kept (raise the "
                f"bound with {bound.flag})")
                for i, label in enumerate(new[room:room + MAX_REPORTED_ERRORS])]
            summaries.append(f"{len(new) - room} new {field} value(s) past the bound of "
                             f"{bound.limit} distinct values ({len(known)} already known; "
                             f"{bound.flag})")
        if summaries:
            return TooManyLabels("; ".join(summaries) + "; nothing was applied",
                                 errors[:MAX_REPORTED_ERRORS])
        for known, new in adds:
            known.update(new)
        return None
