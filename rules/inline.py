"""PromQL read straight from the exported counters, for the paging alerts.

A paging alert must not sit at the end of a chain of recorded series: an engine that
records asynchronously (vmalert) evaluates each level at a different moment, which gives
shares above 100% and late or false pages. So the paging alerts compute counts, shares and
their confidence bounds here, inline from the counters; only slow-moving learned levels
(the normal share, the limits) are read from recorded series.
"""

from __future__ import annotations

from txwatch.contract import Kind

from .normals import limit, normal_or_default
from .settings import Settings
from .wilson import wilson_score
from .yamltext import block


def counts(kind: Kind, s: Settings, window: str, by: str, matcher: str = "",
           offset: str = "") -> str:
    """``sum by (<by>) (increase(<counter>{job, <matcher>}[window] offset ...))``."""
    selector = ", ".join(m for m in (s.job_selector, matcher) if m)
    shift = f" offset {offset}" if offset else ""
    return f"sum by ({by}) (increase({kind.counter}{{{selector}}}[{window}]{shift}))"


def share(kind: Kind, s: Settings, window: str, matcher: str = "") -> str:
    """Each label value's (those ``matcher`` selects) share of all events of the kind over
    ``window`` (no share when there were no events)."""
    label = kind.label
    return (f"({counts(kind, s, window, f'job, {label}', matcher)}"
            f" / ignoring ({label}) group_left () ({counts(kind, s, window, 'job')} > 0))")


def share_score(kind: Kind, s: Settings, window: str, which: str) -> str:
    """How many standard deviations each label value's count over ``window`` sits above
    what its ``which`` limit allows (:func:`.wilson.wilson_score`): above z exactly when
    the share's Wilson lower bound at z (:func:`.wilson.wilson_lower`) is above the limit,
    for half the operations. Carries the limit's ``severity``."""
    return wilson_score(counts(kind, s, window, f"job, {kind.label}"),
                        counts(kind, s, window, "job"), limit(kind, which), kind.label)


def normal_score(kind: Kind, s: Settings, window: str, usual: str | None = None,
                 matcher: str = "") -> str:
    """How many standard deviations each label value's count over ``window`` sits above what
    this deployment's normal share of the events implies: the Wilson-Hilferty form of the
    Poisson tail, ``3 sqrt(k) (1 - 1/(9k) - (lambda/k)^(1/3))`` with lambda = n x normal,
    so lambda/k = normal / share. Unlike the normal approximation it stays conservative at
    the few events a small shop sees (k 6, lambda 0.55: 3.90 against the exact 4.06; k 2,
    lambda 0.05: 2.77 against 3.03). ``usual``: the normal read (by default the learned
    one, else the table's warm-up row); ``matcher``: the label values to test."""
    label = kind.label
    k = counts(kind, s, window, f"job, {label}", matcher)
    mine = usual or normal_or_default(kind)
    return block(f"""
        3 * sqrt({k}) * (
            1 - 1 / (9 * {k})
          - (({share(kind, s, window, matcher)} ^ -1 * on ({label}) group_left () {mine}) ^ (1 / 3))
        )
        """)


def minutes(window: str) -> float:
    """Minutes in a PromQL duration of one unit (``5m``, ``1h``)."""
    value, unit = float(window[:-1]), window[-1]
    return value * {"s": 1 / 60, "m": 1, "h": 60, "d": 1440}[unit]
