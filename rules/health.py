"""The health alerts: no pushes, exporters down or absent, and the always-firing Watchdog."""

from __future__ import annotations

from txwatch.contract import LAST_PUSH_TIMESTAMP

from .alertrule import ALL, alert_rule
from .settings import Settings
from .yamltext import Rule, block


def health_alerts(s: Settings) -> list[Rule]:
    job = s.job_selector
    max_age = "scalar(threshold:payment_push:max_age_seconds)"
    return [
        alert_rule(s, "PaymentDataStale", block(f"""
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
        alert_rule(s, "PaymentExporterDown", f"up{{{job}}} == 0",
                   "txwatch exporter is down or not scraped",
                   "Prometheus cannot scrape the txwatch exporter {{ $labels.instance }} "
                   "(up = {{ $value }}): what is pushed to it is refused until it is back, and "
                   "with a single replica no payment alert can be trusted.",
                   for_="1m", labels=ALL),
        alert_rule(s, "PaymentExportersAllDown", f"max by (job) (up{{{job}}}) == 0",
                   "Every txwatch exporter replica is down",
                   "No exporter replica of the job answers scrapes: the payment alerts have no "
                   "data. Not notified by itself (each replica pages as PaymentExporterDown); "
                   "it is what silences the payment alerts in Alertmanager, so losing one of "
                   "several replicas mutes nothing.",
                   for_="1m", labels={"severity": "info", "status": "all"}),
        alert_rule(s, "PaymentExporterAbsent", f"absent(up{{{job}}})",
                   "No txwatch scrape target in Prometheus",
                   f"Prometheus has no up series for job {s.job} (absent = {{{{ $value }}}}): the "
                   "scrape configuration or service discovery lost the exporter.",
                   for_="5m", labels=ALL),
        alert_rule(s, "Watchdog", "vector(1)",
                   "Always firing: proves the alerting pipeline works end to end",
                   "This alert always fires. Route it to a dead man's switch; if the switch stops "
                   "receiving it, Prometheus, Alertmanager or the path between them is broken.",
                   labels={"severity": "info", "status": "all"}),
    ]
