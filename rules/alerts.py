"""The alerting rules (rules/alerts.yml) as code: the share alerts here, the volume and
health alerts in :mod:`.volume` and :mod:`.health`, the three groups at the end.

Thresholds and severities are not here: they are rows of the hand-edited table
rules/thresholds.yml that the expressions join against. What is here takes the job
selector, the runbook link and the confidence level a description names from one
``Settings``, so the text says the level of the bound the expression reads.
"""

from __future__ import annotations

from txwatch.contract import AUTH_CODE_COUNTS, TRANSACTIONS

from .alertrule import alert_rule
from .health import health_alerts
from .inline import counts, normal_score, share, share_score
from .inline import definers as definers_of
from .inputs import input_rules
from .messages import ratio_text
from .mix import mix_definers, mix_expr, mix_text
from .normals import limit
from .rise import rise_alerts, rise_definers
from .settings import GUARD, Confidence, Settings
from .volume import volume_alerts, volume_definers
from .wilson import number
from .yamltext import Group, Rule, block

HEADER_NOTE = """\
Alert rules. Thresholds live in thresholds.yml; severities come from its rows.
Every alert carries severity and status labels and summary / description / runbook_url."""


def ratio_alerts(s: Settings) -> list[Rule]:
    """Shares against each deployment's learned normal, computed inline from the counters.
    Each tests the Wilson lower bound of the share against the limit in its score form
    (:func:`.inline.share_score` > z): the alert's value is the score, the message queries
    the bound."""
    tx, ac = TRANSACTIONS, AUTH_CODE_COUNTS
    fast = share_score(tx, s, "fast")
    slow = share_score(tx, s, "slow")
    codes = share_score(ac, s, "fast")
    fast_test = _limit_test(s, fast, s.fast_window, "fast", s.status_5m, s.status_fast_normal)
    slow_test = _limit_test(s, slow, s.slow_window, "slow", s.status_slow,
                            s.status_slow_normal)
    return [
        alert_rule(s, FAST, (
            f"{fast_test}\n"
            f"and on (job, status) {counts(tx, s, s.fast_window, 'job, status')}"
            f" >= {s.min_events}\n"
            f"{_enough_traffic(s)}{_held(s)}"),
            *ratio_text(tx, s, s.fast_window, "fast", "", s.status_5m,
                        _or_normal(s.status_5m, s.status_fast_normal),
                        held=_held_text(s) if s.fast_hold else None),
            for_="0s", for_note="the 5m Wilson bound is the guard; pages within a minute "
            "(see runbook)", keep=s.keep_fast_firing_for),
        alert_rule(s, "PaymentRatioHighSlow", (
            f"{slow_test}"
            f"\nand on (job, status)\n  ({share(tx, s, s.fast_window)}"
            f" > on (status) group_left {limit(tx, 'slow')})\nand on (job, status) "
            f"{counts(tx, s, s.slow_window, 'job, status')} >= {s.min_events}\n"),
            *ratio_text(tx, s, s.slow_window, "slow", "sustained", s.status_slow,
                        _or_normal(s.status_slow, s.status_slow_normal)),
            for_="2m", keep=s.keep_slow_firing_for),
        *rise_alerts(s),
        alert_rule(s, "PaymentAuthCodeShareHigh", block(f"""
            {codes}
              > {number(s.auth_code.z)}
            and on (job, auth_code)
              {counts(ac, s, s.auth_code_window, "job, auth_code")} >= {s.min_events}
            """), *ratio_text(ac, s, s.auth_code_window, "fast", "issuer auth", s.auth_code),
            for_=s.auth_code_for, labels={"status": "denied"}, keep=s.keep_firing_for),
        alert_rule(s, "PaymentAuthCodeMixShift", mix_expr(s), *mix_text(s), for_="1m",
                   labels={"status": "denied"}, keep=s.keep_firing_for),
    ]


def _enough_traffic(s: Settings) -> str:
    """The fast (paging) alert's floor on all transactions in its 5 minutes."""
    if not s.fast_min_transactions:
        return ""
    return (f"and on (job) {counts(TRANSACTIONS, s, s.fast_window, 'job')} >= "
            f"{s.fast_min_transactions}\n")


FAST = "PaymentRatioHighFast"


def _held_text(s: Settings) -> str:
    """What the paging alert says while :func:`_held` holds it."""
    return ("Its lower bound is back within the fast limit but the share itself is still "
            "above it: the page is held open (one incident, one page) and resolves "
            f"{s.keep_fast_firing_for} after the share is back within the limit.")


def _held(s: Settings) -> str:
    """Hysteresis for the paging alert: it fires when the share's lower bound is above the
    fast limit, and once firing stays firing while the 5m share itself is (a deadband in
    evidence, not a second threshold: the limit stays the one knob ``tune`` moves). A
    drift, or a slow recovery, hovers around the fast limit for an hour; without this the
    page resolved and paged again (2-3 pages for every daytime drift of the drift profile),
    and the slow warning, inhibited while the page fired, reached chat in between. Its
    value is -1, so the message can say the page is held. It reads the alert's own
    ``ALERTS`` series: an engine that writes them asynchronously (vmalert) holds a minute
    or two later, well inside ``keep_fast_firing_for``."""
    if not s.fast_hold:
        return ""
    tx = TRANSACTIONS
    firing = (f'ALERTS{{alertname="{FAST}", alertstate="firing", {s.job_selector}}}')
    return block(f"""
        or
        (
            -1 * max without (alertname, alertstate) ({firing})
          and on (job, status)
            {share(tx, s, s.fast_window)} > on (status) group_left {limit(tx, 'fast')}
        )
        """)


def _or_normal(strict: Confidence, normal: Confidence | None,
               ) -> tuple[Confidence, Confidence] | None:
    """(guard, normal) of a limit test that has the Poisson branch, for its message."""
    return None if normal is None else (_guard(strict), normal)


def _guard(strict: Confidence) -> Confidence:
    """The lower confidence the limit is held to when the count is far above the normal
    (``settings.GUARD``, 99%), or the strict one itself if that is lower."""
    return Confidence(min(strict.z, GUARD.z))


def _limit_test(s: Settings, score: str, window: str, which: str, strict: Confidence,
                normal: Confidence | None) -> str:
    """A share alert's test of its window: the share above its ``which`` limit at ``strict``
    confidence, or above it at the guard's (99%) while the count is significantly (at
    ``normal``) above the normal share itself (:func:`.inline.normal_score`), which a
    small shop's few events, or a high-share merchant's rise, can show long before they
    can show the limit exceeded at the strict level.

    Written as one comparison, the limit score above a z that the Poisson test lowers
    (``z_strict - (z_strict - z_guard) * (poisson > bool z_normal)``): the score is computed
    once, where "strict or (guarded and Poisson)" would compute it twice (a 30-day backtest
    ~15% slower). A status whose table has a limit but no normal row gets the strict z."""
    z = number(strict.z)
    if normal is None:
        return f"{score} > {z}"
    lowered = number(strict.z - _guard(strict).z)
    poisson = normal_score(TRANSACTIONS, s, window)
    return (f"{score}\n  > on (status) group_left ()\n"
            f"  ({z} - {lowered} * ({poisson} > bool {number(normal.z)})\n"
            f"   or on (status) 0 * {limit(TRANSACTIONS, which)} + {z})")


def groups(settings: Settings) -> list[Group]:
    """The payment alerts in one group, led by the counts they read (:mod:`.counted`: in
    one group, every alert reads the counts of its own evaluation), and the health alerts."""
    payments = ratio_alerts(settings) + volume_alerts(settings)
    texts = [r.expr for r in payments] + [a for r in payments for a in r.annotations.values()]
    definers = (definers_of(settings) | rise_definers(settings) | mix_definers(settings)
                | volume_definers(settings))
    inputs = input_rules(texts, definers)
    return [Group(PAYMENTS, inputs + payments, comment=(
        "The quantities the alerts test are recorded first, so every alert reads those of its "
        "own\nevaluation (rules/inputs.py explains), then the alerts, each a short test over "
        "them.")),
            Group("txwatch.alerts.health", health_alerts(settings))]


PAYMENTS = "txwatch.alerts.payments"
