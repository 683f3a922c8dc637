"""The alerting rules (rules/alerts.yml) as code.

Thresholds and severities are not here: they are rows of the hand-edited table
rules/thresholds.yml that the expressions join against. What is here takes the job
selector, the runbook link and the confidence level a description names from one
``Settings``, so the text says the level of the bound the expression reads.
"""

from __future__ import annotations

from txwatch.contract import LAST_PUSH_TIMESTAMP, TRANSACTIONS

from .recording import bounds, name
from .settings import Settings
from .yamltext import Group, Rule, block

HEADER_NOTE = """\
Alert rules. Thresholds live in thresholds.yml; severities come from its rows.
Every alert carries severity and status labels and summary / description / runbook_url."""

TABLE = "threshold:payment_transactions:"
ALL = {"severity": "critical", "status": "all"}  # volume and health alerts: not per status
AT_LEAST = "{{ $value | humanizePercentage }}"


def _alert(settings: Settings, alert: str, expr: str, summary: str, description: str,
           for_: str | None = None, labels: dict[str, str] | None = None,
           for_note: str = "") -> Rule:
    return Rule(alert=alert, expr=expr, for_=for_, for_note=for_note, labels=labels or {},
                annotations={"summary": summary, "description": description,
                             "runbook_url": settings.runbook_url(alert)})


def ratio_alerts(s: Settings) -> list[Rule]:
    fast, slow, codes = bounds(s)
    ratio5m = name(TRANSACTIONS, "status", "ratio_rate5m")
    limit = name(TRANSACTIONS, "status", "ratio_baseline_limit")
    codes_fast = "threshold:payment_auth_codes:ratio_fast"
    return [
        _alert(s, "PaymentRatioHighFast", block(f"""
            {fast.record}
              > on (status) group_left (severity) {TABLE}ratio_fast
            """), "{{ $labels.status }} share jumped: at least " + AT_LEAST + " over 5m",
            f"The lower {fast.confidence.text} confidence bound of the {{{{ $labels.status }}}}"
            f" share of all transactions over the last 5 minutes is {AT_LEAST}, above the "
            "fast threshold of the table.",
            for_="0s", for_note="the 5m Wilson bound is the guard; pages within a minute "
            "(see runbook)"),
        _alert(s, "PaymentRatioHighSlow", block(f"""
            (
                {slow.record}
                  > on (status) group_left (severity) {TABLE}ratio_slow
            )
            and on (job, status)
            (
                {ratio5m}
                  > on (status) group_left {TABLE}ratio_slow
            )
            """), "{{ $labels.status }} share high for an hour: at least " + AT_LEAST,
            f"The lower {slow.confidence.text} confidence bound of the {{{{ $labels.status }}}}"
            f" share over the last hour is {AT_LEAST}, above the slow threshold, and the last "
            "5 minutes are above it too (a sustained drift, not a blip).", for_="5m"),
        _alert(s, "PaymentRatioAboveBaseline", block(f"""
            {slow.record}
              > on (status) group_left (severity) {limit}
            """), "{{ $labels.status }} share well above its usual level: " + AT_LEAST,
            "Over the last hour the {{ $labels.status }} share is at least "
            f"{AT_LEAST}, above its baseline (same hour yesterday or last week; the table's "
            "normal share during warm-up) times the factor plus margin.", for_="10m"),
        _alert(s, "PaymentAuthCodeShareHigh", block(f"""
            {codes.record}
              > on (auth_code) group_left (severity, status) {codes_fast}
            """), "auth code {{ $labels.auth_code }} share high: at least " + AT_LEAST,
            f"Issuer auth code {{{{ $labels.auth_code }}}} is at least {AT_LEAST} of all auth "
            "codes over the last 5 minutes (51 = insufficient funds, 59 = suspected fraud).",
            for_="2m"),
    ]


def volume_alerts(s: Settings) -> list[Rule]:
    tx = TRANSACTIONS
    inc10m, base10m = name(tx, "status", "increase10m"), name(tx, "status", "increase10m_baseline")
    approved = '{status="approved"}'
    return [
        _alert(s, "PaymentTrafficStopped", block(f"""
            {name(tx, "job", "increase5m")} < 1
            and on (job)
            (
                {name(tx, "job", "increase1h_baseline")}
              or
                max_over_time({name(tx, "job", "increase1h")}[3h])
            ) > scalar({TABLE}busy_min1h)
            """), "No transactions for 5 minutes while traffic is normally flowing",
            "{{ $value }} transactions in the last 5 minutes; the same hour is normally busy. "
            "Pushes still arrive (otherwise PaymentDataStale fires), so the flow itself "
            "stopped.", for_="1m", labels=ALL),
        _alert(s, "PaymentApprovedVolumeLow", block(f"""
            (
                {inc10m}{approved}
              < on (job, status) group_left (severity)
                (
                    {base10m}{approved}
                  * on (status) group_left (severity) {TABLE}volume_drop_factor
                )
            )
            or
            (
                {inc10m}{approved}
              < on (status) group_left (severity)
                (
                    avg_over_time({inc10m}{approved}[2h] offset 30m)
                  * on (status) group_left (severity) {TABLE}volume_drop_factor
                )
              unless on (job, status) {base10m}
            )
            """), 'Approved volume collapsed: {{ $value | printf "%.0f" }} in 10m',
            '{{ $value | printf "%.0f" }} approved transactions in the last 10 minutes, below '
            "the drop factor of the table times the baseline (same time yesterday / last "
            "week, or the previous two hours during warm-up).", for_="3m"),
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
               "(up = {{ $value }}); no payment alert can be trusted until it is back.",
               for_="1m", labels=ALL),
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
