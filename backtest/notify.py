"""What Alertmanager would send for a backtest's episodes: one notification per alert group.

The shipped route groups by ``alertname, job`` (``alertmanager/alertmanager.yml``), so the
statuses of one incident (failed with backend_reversed) arrive as one page, and a receiver
that deduplicates by group (PagerDuty) keeps it one incident; the two volume alerts share
one group (traffic that collapses, then stops, is one incident), and so do the two status
pages (the 5-minute spike and the rise over a longer window). Pages per incident in the
backtest are counted in these notifications, not in per-status episodes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol


class Episode(Protocol):
    """What grouping needs of an episode (:class:`txwatch.backtest.scoring.Episode`)."""

    alertname: str
    labels: dict[str, str]
    start: int
    end: int

    @property
    def notifies(self) -> bool: ...

    @property
    def paging(self) -> bool: ...

GROUP_BY = ("alertname",)  # the route's group_by in alertmanager/alertmanager.yml, less job
# ... except the child routes that group several alerts together (by job only): the volume
# alerts (traffic that collapses, then stops) and the status pages (a spike seen in 5
# minutes and the same rise seen over a quarter hour are one incident)
JOINT_GROUPS = (("PaymentTrafficLow", "PaymentTrafficStopped"),
                ("PaymentRatioHighFast", "PaymentRatioAboveNormal", "PaymentAuthCodeAboveNormal",
                 "PaymentSegmentAboveNormal", "PaymentSegmentTrafficLow"))


def group_of(episode: Episode) -> tuple[str, ...]:
    """The Alertmanager group an episode's notification belongs to (less job)."""
    for joint in JOINT_GROUPS:
        if episode.alertname in joint:
            return ("|".join(joint),)
    return tuple(episode.alertname if k == "alertname" else episode.labels.get(k, "")
                 for k in GROUP_BY)


@dataclass(frozen=True)
class Span:
    """One alert group's notification span: the alerts of a group (same ``GROUP_BY``
    labels) firing back to back or overlapping are one notification, listing them all."""

    group: tuple[str, ...]
    statuses: frozenset[str]
    start: int
    end: int
    paging: bool


def group_spans(episodes: list[Episode]) -> list[Span]:
    """What Alertmanager would send: one notification per alert group per span in which any
    of its alerts fires (a page when one of them is critical)."""
    by_group: dict[tuple[str, ...], list[Episode]] = defaultdict(list)
    for e in episodes:
        if e.notifies:
            by_group[group_of(e)].append(e)
    spans: list[Span] = []
    for key, found in by_group.items():
        current: list[Episode] = []
        for e in [*sorted(found, key=lambda x: x.start), None]:
            if current and (e is None or e.start > max(c.end for c in current) + 1):
                spans.append(Span(key, frozenset(c.labels.get("status", "") for c in current),
                                  current[0].start, max(c.end for c in current),
                                  any(c.paging for c in current)))
                current = []
            if e is not None:
                current.append(e)
    return sorted(spans, key=lambda x: x.start)


def notifications(episodes: list[Episode]) -> int:
    """Alertmanager notifications (:func:`group_spans`)."""
    return len(group_spans(episodes))
