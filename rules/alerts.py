"""The alerting rules (rules/alerts.yml) as code.

Thresholds and severities are not here: they are rows of the hand-edited table
rules/thresholds.yml that the expressions join against. What is here takes the job
selector, the runbook link and the confidence level a description names from one
``Settings``, so the text says the level of the bound the expression reads.
"""

from __future__ import annotations

from txwatch.contract import AUTH_CODE_COUNTS, LAST_PUSH_TIMESTAMP, TRANSACTIONS

from .inline import counts, minutes, normal_score, poisson_upper, share, share_score
from .messages import COUNT, asked, data_minute, ratio_text, volume_text
from .mix import mix_expr, mix_text
from .normals import limit
from .settings import GUARD, Confidence, Settings
from .wilson import number
from .yamltext import Group, Rule, block, indent

HEADER_NOTE = """\
Alert rules. Thresholds live in thresholds.yml; severities come from its rows.
Every alert carries severity and status labels and summary / description / runbook_url."""

TABLE = "threshold:payment_transactions:"
ALL = {"severity": "critical", "status": "all"}  # volume and health alerts: not per status


def _alert(settings: Settings, alert: str, expr: str, summary: str, description: str,
           for_: str | None = None, labels: dict[str, str] | None = None,
           for_note: str = "", keep: str | None = None) -> Rule:
    return Rule(alert=alert, expr=expr, for_=for_, for_note=for_note, keep_firing_for=keep,
                labels=labels or {},
                annotations={"summary": summary, "description": description,
                             "runbook_url": settings.runbook_url(alert)})


def ratio_alerts(s: Settings) -> list[Rule]:
    """Shares against each deployment's learned normal, computed inline from the counters.
    Each tests the Wilson lower bound of the share against the limit in its score form
    (:func:`.inline.share_score` > z): the alert's value is the score, the message queries
    the bound."""
    tx, ac = TRANSACTIONS, AUTH_CODE_COUNTS
    fast = share_score(tx, s, "5m", "fast")
    slow = share_score(tx, s, s.slow_window, "slow")
    codes = share_score(ac, s, s.auth_code_window, "fast")
    fast_test = _limit_test(s, fast, "5m", "fast", s.status_5m, s.status_fast_normal)
    slow_test = _limit_test(s, slow, s.slow_window, "slow", s.status_slow,
                            s.status_slow_normal)
    return [
        _alert(s, "PaymentRatioHighFast", (
            f"(\n{indent(fast_test)}"
            f"\n)\nand on (job, status) {counts(tx, s, '5m', 'job, status')} >= {s.min_events}\n"
            f"{_enough_traffic(s)}"),
            *ratio_text(tx, s, "5m", "fast", "", s.status_5m,
                        _or_normal(s.status_5m, s.status_fast_normal)),
            for_="0s", for_note="the 5m Wilson bound is the guard; pages within a minute "
            "(see runbook)", keep=s.keep_fast_firing_for),
        _alert(s, "PaymentRatioHighSlow", (
            f"(\n{indent(slow_test)}\n)"
            f"\nand on (job, status)\n(\n    {share(tx, s, '5m')}\n"
            f"      > on (status) group_left {limit(tx, 'slow')}\n)\nand on (job, status) "
            f"{counts(tx, s, s.slow_window, 'job, status')} >= {s.min_events}\n"),
            *ratio_text(tx, s, s.slow_window, "slow", "sustained", s.status_slow,
                        _or_normal(s.status_slow, s.status_slow_normal)),
            for_="2m", keep=s.keep_firing_for),
        _alert(s, "PaymentAuthCodeShareHigh", codes + block(f"""
              > {number(s.auth_code.z)}
            and on (job, auth_code)
              {counts(ac, s, s.auth_code_window, "job, auth_code")} >= {s.min_events}
            """), *ratio_text(ac, s, s.auth_code_window, "fast", "issuer auth", s.auth_code),
            for_="2m", labels={"status": "denied"}, keep=s.keep_firing_for),
        _alert(s, "PaymentAuthCodeMixShift", mix_expr(s), *mix_text(s), for_="1m",
               labels={"status": "denied"}, keep=s.keep_firing_for),
    ]


def _enough_traffic(s: Settings) -> str:
    """The fast (paging) alert's floor on all transactions in its 5 minutes."""
    if not s.fast_min_transactions:
        return ""
    return (f"and on (job) {counts(TRANSACTIONS, s, '5m', 'job')} >= "
            f"{s.fast_min_transactions}\n")


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
        return f"(\n{indent(score)}\n    > {z}\n)"
    lowered = number(strict.z - _guard(strict).z)
    poisson = indent(normal_score(TRANSACTIONS, s, window), "      ")
    return (f"(\n{indent(score)}\n)\n> on (status) group_left ()\n(\n  {z} - {lowered}"
            f" * (\n{poisson}\n      > bool {number(normal.z)}\n  )\n"
            f"  or on (status) 0 * {limit(TRANSACTIONS, which)} + {z}\n)")


def _stopped(s: Settings, window: str) -> str:
    """No transaction in ``window`` while the hour before it had enough for that to be
    improbable (expected count >= the table's busy_min: P(0) < e^-busy_min)."""
    tx = TRANSACTIONS
    expected = f"{counts(tx, s, '1h', 'job', offset=window)} * {minutes(window) / 60:.6g}"
    return (f"(\n  {counts(tx, s, window, 'job')} < 1\n  and on (job)\n"
            f"  {expected} >= scalar({TABLE}busy_min)\n)")


def _traffic_low(s: Settings, window: str) -> str:
    """All transactions in ``window`` materially low (at most the table's drop factor x the
    level of the ``volume_reference`` before the window) and significantly low (their
    Poisson upper bound below ``volume_allowance`` x that level, which leaves room for the
    daily cycle's slope), when that level is large enough for the test to mean something.
    Total, not approved, volume: approvals that fall because denials rise are the share
    alerts' incident, not a second page. The recent level, not a seasonal one: a weekend or
    holiday eases in over a night and is no drop, while an outage is sudden."""
    tx = TRANSACTIONS
    now = counts(tx, s, window, "job")
    reference = s.volume_reference
    expected = (f"({counts(tx, s, reference, 'job', offset=window)}"
                f" * {minutes(window) / minutes(reference):.6g})")
    return block(f"""
        (
            {now}
          <= on (job) {expected} * scalar({TABLE}volume_drop_factor)
          and on (job)
            ({poisson_upper(now, s.volume.z)} < on (job) {expected} * {s.volume_allowance:g})
          and on (job)
            ({expected} >= scalar({TABLE}busy_min))
        )""").rstrip("\n")


def volume_alerts(s: Settings) -> list[Rule]:
    tx = TRANSACTIONS
    stopped = "\nor\n".join(_stopped(s, w) for w in s.stop_windows) + "\n"
    recently_stopped = (f"min_over_time(({counts(tx, s, s.stop_windows[0], 'job')})"
                        f"[20m:1m]) < 1")
    low = "\nor\n".join(_traffic_low(s, w) for w in s.volume_windows)
    return [
        _alert(s, "PaymentTrafficStopped", stopped,
               "No transactions while traffic was flowing",
               "No transaction in the last minutes, while the last hour had "
               + asked(counts(tx, s, "1h", "job"), COUNT) + ", enough that an empty stretch "
               "this long is improbable. Pushes still arrive (otherwise PaymentDataStale "
               "fires), so the flow itself stopped." + data_minute(s),
               labels=ALL, keep=s.keep_firing_for),
        _alert(s, "PaymentTrafficLow",
               f"(\n{indent(low, '  ')}\n)\nunless on (job) {recently_stopped}\n",
               "Transaction volume collapsed: "
               + volume_text(tx, s, "5m", s.volume_reference, when=False),
               "Transactions over the last minutes are significantly below the drop factor of "
               "the table times the level just before (Poisson bound at "
               f"{s.volume.text}): a partial outage. "
               + volume_text(tx, s, "5m", s.volume_reference)
               + " A full stop is paged by PaymentTrafficStopped instead.", labels=ALL,
               keep=s.keep_firing_for),
    ]


def health_alerts(s: Settings) -> list[Rule]:
    job = s.job_selector
    max_age = "scalar(threshold:payment_push:max_age_seconds)"
    return [
        _alert(s, "PaymentDataStale", block(f"""
            (
                time() - max by (job) ({LAST_PUSH_TIMESTAMP}{{{job}}})
              > {max_age}
            )
            or
            (
                time() - max by (job) (process_start_time_seconds{{{job}}})
              > {max_age}
              unless on (job) max by (job) ({LAST_PUSH_TIMESTAMP}{{{job}}})
            )
            """), "No transaction data pushed for {{ $value | humanizeDuration }}",
            "The exporter answers scrapes but its last accepted push is "
            "{{ $value | humanizeDuration }} old (or it has received none since it started "
            "that long ago). The feeding job or its network path is broken.",
            for_="2m", labels=ALL),
        _alert(s, "PaymentExporterDown", f"up{{{job}}} == 0",
               "txwatch exporter is down or not scraped",
               "Prometheus cannot scrape the txwatch exporter {{ $labels.instance }} "
               "(up = {{ $value }}): what is pushed to it is refused until it is back, and "
               "with a single replica no payment alert can be trusted.",
               for_="1m", labels=ALL),
        _alert(s, "PaymentExportersAllDown", f"max by (job) (up{{{job}}}) == 0",
               "Every txwatch exporter replica is down",
               "No exporter replica of the job answers scrapes: the payment alerts have no "
               "data. Not notified by itself (each replica pages as PaymentExporterDown); "
               "it is what silences the payment alerts in Alertmanager, so losing one of "
               "several replicas mutes nothing.",
               for_="1m", labels={"severity": "info", "status": "all"}),
        _alert(s, "PaymentExporterAbsent", f"absent(up{{{job}}})",
               "No txwatch scrape target in Prometheus",
               f"Prometheus has no up series for job {s.job} (absent = {{{{ $value }}}}): the "
               "scrape configuration or service discovery lost the exporter.",
               for_="5m", labels=ALL),
        _alert(s, "Watchdog", "vector(1)",
               "Always firing: proves the alerting pipeline works end to end",
               "This alert always fires. Route it to a dead man's switch; if the switch stops "
               "receiving it, Prometheus, Alertmanager or the path between them is broken.",
               labels={"severity": "info", "status": "all"}),
    ]


def groups(settings: Settings) -> list[Group]:
    return [Group("txwatch.alerts.ratios", ratio_alerts(settings)),
            Group("txwatch.alerts.volume", volume_alerts(settings)),
            Group("txwatch.alerts.health", health_alerts(settings))]
