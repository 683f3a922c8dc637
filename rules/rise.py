"""A status, or a decline code, well above its own normal, with the evidence of several windows.

The fast alert reads 5 minutes, the slow one tests a limit over 30 minutes: a moderate rise
is missed by both. Failed at 10x its normal at night (10 failures where 1 is expected in
20 minutes) never makes a 5-minute window significant, and its limit (an absolute floor)
is above 0.8%; denied from 5.5% to 8.3% for 15 minutes is z ~ 6 over the quarter hour
but z ~ 3.5 in any 5 minutes, and diluted in 30. Evidence accumulates: each window tests
the count against what its learned normal share implies (a Poisson test,
:func:`.inline.normal_score`, every minute, over several windows), and pages only when the
rise is also material, at least ``rise_factor`` times the normal share and
``rise_min_excess`` events more than it implies (the table's ``rise_*`` rows). A long
window makes slow changes visible as soon as their evidence allows, without a threshold
of its own.

The same test watches every decline code the deployment sends against the code's own
learned share of all transactions (``PaymentAuthCodeAboveNormal``): an issuer answering 91
"issuer unavailable" to 3% of the traffic where it normally answers 0.2% is 15x its normal,
a page within minutes by day, while the denied share it lifts (5.5% -> 8.3%) takes a
quarter hour to be significant. Its windows start at 5 minutes: a code has no 5-minute
alert of its own. A code first seen today is watched from the first 5-minute edge after it
appears, against the share it has had since (which its burst dominates: a conservative
normal).
"""

from __future__ import annotations

from dataclasses import dataclass

from txwatch.contract import AUTH_CODE_COUNTS, TRANSACTIONS, Kind

from .alertrule import alert_rule
from .inline import counts, excess, normal_score, share
from .inputs import Definer, recorded
from .messages import COUNT, PERCENT, asked, data_minute, decline_codes, shown_share
from .normals import DECLINE, normal, row, shown_normal
from .settings import Confidence, Settings
from .wilson import number
from .yamltext import Rule, block, indent

RISE = "PaymentRatioAboveNormal"
CODE_RISE = "PaymentAuthCodeAboveNormal"


@dataclass(frozen=True)
class Watched:
    """What one rise alert watches: the kind, which of its label values, over which windows,
    and how a message names one value."""

    alert: str
    kind: Kind
    matcher: str  # the label values tested ("" for every value with rise_* rows)
    windows: tuple[str, ...]
    what: str  # the message's name for one value (a template)
    page: Confidence
    warning: Confidence | None


def watched(s: Settings) -> tuple[Watched, ...]:
    """The statuses and the decline codes."""
    return (Watched(RISE, TRANSACTIONS, "", s.rise_windows, "{{ $labels.status }}",
                    s.rise, s.rise_warning),
            Watched(CODE_RISE, AUTH_CODE_COUNTS, DECLINE, s.code_rise_windows,
                    "decline code {{ $labels.auth_code }}", s.code_rise, s.code_rise_warning))


def rise_definers(s: Settings) -> dict[str, Definer]:
    """``rise_z<window>``: the Poisson score of each watched label value over the window
    where the rise is also material, at least the ``rise_factor`` times the normal share
    and ``rise_min_excess`` events above it (per label value with ``rise_*`` rows: a
    status without them, approved or refunded, is not watched; every code has them, its
    own or the table's default row)."""
    def rise_z(kind: Kind, at: str, window: str) -> str:
        label = kind.label
        factor, excess_row = row(kind, "rise_factor"), row(kind, "rise_min_excess")
        on = f"on ({label}) group_left ()"
        return block(f"""
            {normal_score(kind, s, window)}
              and on (job, {label})
            {share(kind, s, window)}
              > {on} ({factor} * on ({label}) max by ({label}) ({normal(kind)}))
              and on (job, {label})
            {excess(kind, s, window)} >= {on} {excess_row}
            """)
    return {"rise_z": rise_z}


def rise_expr(s: Settings, w: Watched, confidence: Confidence) -> str:
    """Any window risen significantly (its value: the Poisson score of that window), once
    the normal is learned: the table's warm-up normal is a conservative stand-in for the
    limits, not a deployment's own normal (a merchant reversing 2% as a matter of course
    would be 2.5x the warm-up 0.8% from its first quarter hour)."""
    z = number(confidence.z)
    windows = "\nor ".join(f"{recorded(w.kind, 'rise_z', win)} > {z}" for win in w.windows)
    learned = f"and on (job, {w.kind.label}) {normal(w.kind)}"
    return f"(\n    {indent(windows, '  ').strip()}\n)\n{learned}\n"


def rise_text(s: Settings, w: Watched, confidence: Confidence) -> tuple[str, str]:
    """(summary, description): the count and share in each window against the count the
    normal share implies there."""
    kind, label = w.kind, w.kind.label
    own = f'{label}="\x00"'
    usual = f"({shown_normal(kind, 'ratio', f'{{{own}}}')})"
    normal_shown = asked(usual, PERCENT, label)

    def facts(window: str) -> str:
        k, n = counts(kind, s, window, "job", own), counts(kind, s, window, "job")
        expected = asked(f"{n} * on () ({usual})", 'printf "%.1f"', label)
        return (f"{asked(f'round({k})', COUNT, label)} of {asked(f'round({n})', COUNT)}"
                f" ({shown_share(k, n, label)}) over {window}, {expected} expected")

    first = w.windows[0]
    summary = f"{w.what} well above its normal: {facts(first)} (normal {normal_shown})"
    each = "; ".join(facts(win) for win in w.windows)
    if kind is TRANSACTIONS:
        why = ("A rise too small for the 5-minute page but sustained: a degraded issuer, "
               f"acquirer or component.{decline_codes(s, w.windows[0])}")
    else:
        why = ("An issuer (or a fraud rule) answers this code far more often than usual: "
               "look up the code in the issuer's list; the denied share may move little.")
    description = (
        f"{w.what}{' transactions' if kind is TRANSACTIONS else ''} against this "
        f"deployment's normal share {normal_shown}: {each}. In at least one of these windows "
        f"the count is {{{{ $value | printf \"%.1f\" }}}} standard deviations above what "
        f"the normal share implies (Poisson test at {confidence.text}"
        f" confidence, more than {number(confidence.z)}), and the rise is "
        f"material: at least the table's rise_factor times the normal share and "
        f"rise_min_excess events more than it implies. {why}{data_minute(s)}")
    return summary, description


def rise_alerts(s: Settings) -> list[Rule]:
    """For the statuses and for the decline codes: the page (it pages without ``for``, so
    at least the fast alert's Poisson confidence) and, when a warning confidence is set, a
    chat warning at that lower confidence for rises whose evidence is still thin (the same
    alert name: the page inhibits it)."""
    return [alert_rule(s, w.alert, rise_expr(s, w, c), *rise_text(s, w, c), for_="0s",
                       for_note="each window's Poisson test is the guard",
                       keep=s.keep_fast_firing_for,
                       labels={"severity": severity} | _status(w))
            for w in watched(s) for severity, c in _levels(w)]


def _levels(w: Watched) -> list[tuple[str, Confidence]]:
    return [("critical", w.page)] + ([("warning", w.warning)] if w.warning else [])


def _status(w: Watched) -> dict[str, str]:
    """A code's alert is about the denied status (what the scorer and the inhibition read)."""
    return {"status": "denied"} if w.kind is AUTH_CODE_COUNTS else {}
