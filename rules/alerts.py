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
from .segments import alerts_group as segment_alerts
from .settings import GUARD, Confidence, Settings
from .volume import volume_alerts, volume_definers
from .wilson import number
from .yamltext import Group, Rule

HEADER_NOTE = """\
Alert rules. Thresholds live in thresholds.yml; severities come from its rows.
Every alert carries severity and status labels and summary / description / runbook_url."""


# The shape of each share alert, its holes named: every hole is one recorded quantity
# (rules/inputs.py) or a number, so the template is the expression an operator reads.
LIMIT_TEST = """\
{score}
  > on (status) group_left ()
  ({z} - {lowered} * ({poisson} > bool {z_normal})
   or on (status) 0 * {limit} + {z})"""
STRICT_TEST = "{score} > {z}"  # a status whose table has a limit but no normal row
FAST_SHAPE = """\
{test}
and on (job, status) {count} >= {min_events}
and on (job) {total} >= {min_transactions}
or
(
    -1 * max without (alertname, alertstate) ({firing})
  and on (job, status)
    {share} > on (status) group_left {limit}
)
"""
SLOW_SHAPE = """\
{test}
and on (job, status)
  ({share} > on (status) group_left {limit})
and on (job, status) {count} >= {min_events}
"""
CODE_SHAPE = """\
{score} > {z}
and on (job, auth_code) {count} >= {min_events}
"""


def ratio_alerts(s: Settings) -> list[Rule]:
    """Shares against each deployment's learned normal. Each tests the Wilson lower bound of
    the share against the limit in its score form (:func:`.inline.share_score` > z): the
    alert's value is the score, the message queries the bound."""
    tx, ac = TRANSACTIONS, AUTH_CODE_COUNTS
    fast, slow = s.fast_window, s.slow_window
    return [
        alert_rule(s, FAST, _fast(s),
                   *ratio_text(tx, s, fast, "fast", "", s.status_5m,
                               _or_normal(s.status_5m, s.status_fast_normal),
                               held=_held_text(s) if s.fast_hold else None),
                   for_="0s", for_note="the 5m Wilson bound is the guard; pages within a "
                   "minute (see runbook)", keep=s.keep_fast_firing_for),
        alert_rule(s, "PaymentRatioHighSlow", SLOW_SHAPE.format(
            test=_limit_test(s, slow, "slow", s.status_slow, s.status_slow_normal),
            share=share(tx, s, fast), limit=limit(tx, "slow"),
            count=counts(tx, s, slow, "job, status"), min_events=s.min_events),
            *ratio_text(tx, s, slow, "slow", "sustained", s.status_slow,
                        _or_normal(s.status_slow, s.status_slow_normal)),
            for_="2m", keep=s.keep_slow_firing_for),
        *rise_alerts(s),
        alert_rule(s, "PaymentAuthCodeShareHigh", CODE_SHAPE.format(
            score=share_score(ac, s, "fast"), z=number(s.auth_code.z),
            count=counts(ac, s, s.auth_code_window, "job, auth_code"),
            min_events=s.min_events),
            *ratio_text(ac, s, s.auth_code_window, "fast", "issuer auth", s.auth_code),
            for_=s.auth_code_for, labels={"status": "denied"}, keep=s.keep_firing_for),
        alert_rule(s, "PaymentAuthCodeMixShift", mix_expr(s), *mix_text(s), for_="1m",
                   labels={"status": "denied"}, keep=s.keep_firing_for),
    ]


FAST = "PaymentRatioHighFast"


def _fast(s: Settings) -> str:
    """The paging share alert, with its hysteresis (:func:`_held`) and its floor on all
    transactions in its window (each left out when the settings turn it off)."""
    tx, window = TRANSACTIONS, s.fast_window
    firing = f'ALERTS{{alertname="{FAST}", alertstate="firing", {s.job_selector}}}'
    text = FAST_SHAPE.format(
                test=_limit_test(s, window, "fast", s.status_5m, s.status_fast_normal),
                count=counts(tx, s, window, "job, status"), min_events=s.min_events,
                total=counts(tx, s, window, "job"), min_transactions=s.fast_min_transactions,
                firing=firing, share=share(tx, s, window), limit=limit(tx, "fast"))
    if not s.fast_min_transactions:
        text = "\n".join(line for line in text.splitlines()
                         if not line.startswith("and on (job) ")) + "\n"
    if not s.fast_hold:
        text = text[:text.index("or\n(")]
    return text


def _held_text(s: Settings) -> str:
    """What the paging alert says while it is held open (the last branch of
    :data:`FAST_SHAPE`): it fires when the share's lower bound is above the fast limit, and
    once firing stays firing while the 5m share itself is (a deadband in evidence, not a
    second threshold: the limit stays the one knob ``tune`` moves). A drift, or a slow
    recovery, hovers around the fast limit for an hour; without this the page resolved and
    paged again (2-3 pages for every daytime drift of the drift profile), and the slow
    warning, inhibited while the page fired, reached chat in between. Its value is -1, so
    the message can say the page is held. It reads the alert's own ``ALERTS`` series: an
    engine that writes them asynchronously (vmalert) holds a minute or two later, well
    inside ``keep_fast_firing_for``."""
    return ("Its lower bound is back within the fast limit but the share itself is still "
            "above it: the page is held open (one incident, one page) and resolves "
            f"{s.keep_fast_firing_for} after the share is back within the limit.")


def _or_normal(strict: Confidence, normal: Confidence | None,
               ) -> tuple[Confidence, Confidence] | None:
    """(guard, normal) of a limit test that has the Poisson branch, for its message."""
    return None if normal is None else (_guard(strict), normal)


def _guard(strict: Confidence) -> Confidence:
    """The lower confidence the limit is held to when the count is far above the normal
    (``settings.GUARD``, 99%), or the strict one itself if that is lower."""
    return Confidence(min(strict.z, GUARD.z))


def _limit_test(s: Settings, window: str, which: str, strict: Confidence,
                normal: Confidence | None) -> str:
    """A share alert's test of its window (:data:`LIMIT_TEST`): the share above its
    ``which`` limit at ``strict`` confidence, or above it at the guard's (99%) while the
    count is significantly (at ``normal``) above the normal share itself
    (:func:`.inline.normal_score`), which a small shop's few events, or a high-share
    merchant's rise, can show long before they can show the limit exceeded at the strict
    level. One comparison, the limit score above a z that the Poisson test lowers: the
    score is read once. A status whose table has a limit but no normal row gets the strict
    z (the ``or`` branch)."""
    score, z = share_score(TRANSACTIONS, s, which), number(strict.z)
    if normal is None:
        return STRICT_TEST.format(score=score, z=z)
    return LIMIT_TEST.format(score=score, z=z, lowered=number(strict.z - _guard(strict).z),
                             poisson=normal_score(TRANSACTIONS, s, window),
                             z_normal=number(normal.z), limit=limit(TRANSACTIONS, which))


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
            *([segment_alerts(settings)] if settings.segment_dimensions else []),
            Group("txwatch.alerts.health", health_alerts(settings))]


PAYMENTS = "txwatch.alerts.payments"
