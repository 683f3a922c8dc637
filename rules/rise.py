"""A status well above its own normal, with the evidence of the last quarter, half or whole hour.

The fast alert reads 5 minutes, the slow one tests a limit over 30 minutes: a moderate rise
is missed by both. Failed at 10x its normal at night (10 failures where 1 is expected in
20 minutes) never makes a 5-minute window significant, and its limit (an absolute floor)
is above 0.8%; denied from 5.5% to 8.3% for 15 minutes is z ~ 6 over the quarter hour
but z ~ 3.5 in any 5 minutes, and diluted in 30. Evidence accumulates: each window of
``rise_windows`` tests the status' count against what its learned normal share implies
(a Poisson test, :func:`.inline.normal_score`, at ``rise`` confidence: every minute,
over several windows), and pages only when the rise is also material, at least
``rise_factor`` times the normal share and ``rise_min_excess`` events more than it implies
(the table's ``rise_*`` rows; a status without them, approved or refunded, is not
watched). A long window makes slow changes visible as soon as their evidence allows,
without a threshold of its own.
"""

from __future__ import annotations

from txwatch.contract import TRANSACTIONS

from .alertrule import alert_rule
from .inline import counts, normal_score, share
from .messages import COUNT, PERCENT, asked, data_minute, decline_codes, shown_share
from .normals import normal, shown_normal, table
from .settings import Confidence, Settings
from .wilson import number
from .yamltext import Rule, block, indent

RISE = "PaymentRatioAboveNormal"


def _risen(s: Settings, window: str, z: float) -> str:
    """One window's test: significant (Poisson, against the normal) and material (a factor
    of the normal and a number of excess events), per status that has ``rise_*`` rows."""
    tx = TRANSACTIONS
    # The learned normal alone: the alert holds only where one is learned (:func:`rise_expr`),
    # and a warm-up fallback read nine times would only cost evaluation time.
    usual = normal(tx)
    factor, excess = table(tx, "rise_factor"), table(tx, "rise_min_excess")
    k, n = counts(tx, s, window, "job, status"), counts(tx, s, window, "job")
    return block(f"""
        (
        {indent(normal_score(tx, s, window, usual).rstrip(), "  ")}
        ) > {number(z)}
          and on (job, status)
        {share(tx, s, window)}
          > on (status) group_left () ({factor} * on (status) max by (status) ({usual}))
          and on (job, status)
        {k}
          - on (status) group_left () max by (status) ({usual})
          * on () group_left () {n}
          >= on (status) group_left () {excess}
        """)


def rise_expr(s: Settings, confidence: Confidence) -> str:
    """Any window of ``rise_windows`` risen (its value: the Poisson score of that window),
    once the normal is learned: the table's warm-up normal is a conservative stand-in for
    the limits, not a deployment's own normal (a merchant reversing 2% as a matter of
    course would be 2.5x the warm-up 0.8% from its first quarter hour)."""
    windows = "or\n".join(f"(\n{indent(_risen(s, w, confidence.z))}\n)\n"
                           for w in s.rise_windows)
    return f"(\n{indent(windows)})\nand on (job, status) {normal(TRANSACTIONS)}\n"


def rise_text(s: Settings, confidence: Confidence) -> tuple[str, str]:
    """(summary, description): the status' count and share in each window against the count
    its normal share implies there."""
    tx = TRANSACTIONS
    own = 'status="\x00"'
    usual = f"({shown_normal(tx, 'ratio', f'{{{own}}}')})"
    normal_shown = asked(usual, PERCENT, tx.label)

    def facts(window: str) -> str:
        k, n = counts(tx, s, window, "job", own), counts(tx, s, window, "job")
        expected = asked(f"{n} * on () ({usual})", 'printf "%.1f"', tx.label)
        return (f"{asked(f'round({k})', COUNT, tx.label)} of {asked(f'round({n})', COUNT)}"
                f" ({shown_share(k, n, tx.label)}) over {window}, {expected} expected")

    first = s.rise_windows[0]
    summary = (f"{{{{ $labels.status }}}} well above its normal: {facts(first)} "
               f"(normal {normal_shown})")
    each = "; ".join(facts(w) for w in s.rise_windows)
    description = (
        f"{{{{ $labels.status }}}} transactions against this deployment's normal share "
        f"{normal_shown}: {each}. In at least one of these windows the count is "
        f"{{{{ $value | printf \"%.1f\" }}}} standard deviations above what the normal "
        f"share implies (Poisson test at {confidence.text} confidence, more than "
        f"{number(confidence.z)}), and the rise is material: at least the table's rise_factor "
        f"times the normal share and rise_min_excess events more than it implies. A rise too "
        f"small for the 5-minute page but sustained: a degraded issuer, acquirer or "
        f"component.{decline_codes(s, s.rise_windows[0])}{data_minute(s)}")
    return summary, description


def rise_alerts(s: Settings) -> list[Rule]:
    """The page (``rise``: it pages without ``for``, so at the fast alert's Poisson
    confidence) and, when ``rise_warning`` is set, a chat warning at a lower confidence for
    rises whose evidence is still thin (the same alert name: the page inhibits it)."""
    levels = [("critical", s.rise)]
    if s.rise_warning is not None:
        levels.append(("warning", s.rise_warning))
    return [alert_rule(s, RISE, rise_expr(s, c), *rise_text(s, c), for_="0s",
                       for_note="each window's Poisson test is the guard",
                       keep=s.keep_fast_firing_for, labels={"severity": severity})
            for severity, c in levels]
