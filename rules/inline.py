"""The PromQL of the quantities the alerts test, from the exported counters.

Each function gives the name of the quantity as recorded at the top of the alerts' group
(:mod:`.inputs`), and :func:`definers` give what each record computes: counts from the
counters, shares and scores from the counts, and from the slow-moving learned levels of
recording.yml (the normal share, the limits). Counts at an offset, or of label values
other than the ones an alert watches, stay inline.
"""

from __future__ import annotations

from txwatch.contract import AUTH_CODE_COUNTS, TRANSACTIONS, Kind

from .inputs import Definer, count_reference, recorded
from .normals import DECLINE, limit, normal, normal_or_default
from .settings import Settings
from .wilson import wilson_score
from .yamltext import block


def counts(kind: Kind, s: Settings, window: str, by: str, matcher: str = "",
           offset: str = "", recorded_ok: bool = True) -> str:
    """``sum by (<by>) (increase(<counter>{job, <matcher>}[window] offset ...))``: the
    count recorded at the top of the alerts' group (:mod:`.inputs`) when there is one,
    else inline (counts at an offset, or summed by other labels). ``recorded_ok`` False: inline
    always (inside a subquery, whose steps fall on the minute, not on the evaluations)."""
    use = recorded_ok and not offset
    recorded_count = count_reference(kind, window, by, matcher) if use else None
    if recorded_count is not None:
        return recorded_count
    selector = ", ".join(m for m in (s.job_selector, matcher) if m)
    shift = f" offset {offset}" if offset else ""
    return f"sum by ({by}) (increase({kind.counter}{{{selector}}}[{window}]{shift}))"


WATCHED = {TRANSACTIONS: "", AUTH_CODE_COUNTS: DECLINE}  # the label values alerts test


def share(kind: Kind, s: Settings, window: str) -> str:
    """Each watched label value's share of all events of the kind over ``window``."""
    return recorded(kind, "share", window)


def share_score(kind: Kind, s: Settings, which: str) -> str:
    """How far each label value's share sits above its ``which`` limit, in standard
    deviations (:func:`.wilson.wilson_score`), over the window of that limit."""
    return recorded(kind, "limit_z_", which)


def normal_score(kind: Kind, s: Settings, window: str) -> str:
    """How far each watched label value's count over ``window`` sits above what its normal
    share implies, in standard deviations (:func:`_normal_score`)."""
    return recorded(kind, "normal_z", window)


def excess(kind: Kind, s: Settings, window: str) -> str:
    """Each watched label value's events over ``window`` beyond what its learned normal
    share of all events implies."""
    return recorded(kind, "excess", window)


def limit_window(kind: Kind, s: Settings, which: str) -> str:
    """The window a ``which`` limit is tested over."""
    if kind is AUTH_CODE_COUNTS:
        return s.auth_code_window
    return s.fast_window if which == "fast" else s.slow_window


def definers(s: Settings) -> dict[str, Definer]:
    """What each quantity recorded here computes (:mod:`.inputs` names them)."""
    def count(kind: Kind, at: str, window: str) -> str:
        by = "job" if at == "job" else f"job, {kind.label}"
        return counts(kind, s, window, by, recorded_ok=False)

    def share_of(kind: Kind, at: str, window: str) -> str:
        return _share(kind, s, window, WATCHED[kind])

    def normal_z(kind: Kind, at: str, window: str) -> str:
        usual = normal(kind) if kind is AUTH_CODE_COUNTS else normal_or_default(kind)
        return _normal_score(kind, s, window, usual, WATCHED[kind])

    def excess_of(kind: Kind, at: str, window: str) -> str:
        label = kind.label
        k = counts(kind, s, window, f"job, {label}", WATCHED[kind])
        return block(f"""
            {k}
              - on ({label}) group_left () max by ({label}) ({normal(kind)})
              * on () group_left () {counts(kind, s, window, "job")}
            """)

    def limit_z(kind: Kind, at: str, which: str) -> str:
        window, label = limit_window(kind, s, which), kind.label
        return wilson_score(counts(kind, s, window, f"job, {label}"),
                            counts(kind, s, window, "job"), limit(kind, which), label)

    return {"count": count, "share": share_of, "normal_z": normal_z, "excess": excess_of,
            "limit_z_": limit_z}


def _share(kind: Kind, s: Settings, window: str, matcher: str = "") -> str:
    label = kind.label
    return (f"{counts(kind, s, window, f'job, {label}', matcher)}"
            f" / ignoring ({label}) group_left () ({counts(kind, s, window, 'job')} > 0)")


def _normal_score(kind: Kind, s: Settings, window: str, usual: str, matcher: str) -> str:
    """The Wilson-Hilferty form of the Poisson tail, ``3 sqrt(k) (1 - 1/(9k) -
    (lambda/k)^(1/3))`` with lambda = n x normal, so lambda/k = normal / share. Unlike the
    normal approximation it stays conservative at the few events a small shop sees (k 6,
    lambda 0.55: 3.90 against the exact 4.06; k 2, lambda 0.05: 2.77 against 3.03).
    ``usual``: the normal read (the learned one, or the table's warm-up row where none is
    learned); ``matcher``: the label values to test."""
    label = kind.label
    k = counts(kind, s, window, f"job, {label}", matcher)
    ratio = f"({_share(kind, s, window, matcher)}) ^ -1 * on ({label}) group_left () {usual}"
    return poisson_score(k, ratio)


def poisson_score(k: str, ratio: str) -> str:
    """How many standard deviations a count ``k`` sits above a Poisson mean lambda, given
    ``ratio`` = lambda / k (Wilson-Hilferty form, :func:`_normal_score`); the flow's and
    each segment's (:mod:`.segments`) scores are this one expression."""
    return block(f"""
        3 * sqrt({k}) * (
            1 - 1 / (9 * {k})
          - (({ratio}) ^ (1 / 3))
        )
        """)


def minutes(window: str) -> float:
    """Minutes in a PromQL duration of one unit (``5m``, ``1h``)."""
    value, unit = float(window[:-1]), window[-1]
    return value * {"s": 1 / 60, "m": 1, "h": 60, "d": 1440}[unit]
