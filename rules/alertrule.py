"""One alerting rule of txwatch: the labels and links every alert carries, in one place."""

from __future__ import annotations

from .settings import Settings
from .yamltext import Rule

TABLE = "threshold:payment_transactions:"  # the table's rows the volume alerts read
ALL = {"severity": "critical", "status": "all"}  # volume and health alerts: not per status


# What each alert tests, written above it in alerts.yml (operators read the file first).
TESTS = {
    "PaymentRatioHighFast": (
        "Page: a status's 5m share significantly above its fast limit (normal x factor +\n"
        "margin, within the table's floor and cap). limit_z_fast is how many standard\n"
        "deviations the share sits above the limit; the z it must pass is lowered to the\n"
        "guard's when the count is also far above the normal (normal_z5m). Held open while\n"
        "the share itself stays above the limit (one incident, one page)."),
    "PaymentRatioHighSlow": (
        "Warning: the same test over the slow window against the slow limit, while the 5m\n"
        "share is still above it (a sustained, smaller rise)."),
    "PaymentRatioAboveNormal": (
        "Page: a status well above its own learned normal in any window (Poisson test,\n"
        "rise_z), and materially so (the table's rise_factor and rise_min_excess)."),
    "PaymentAuthCodeAboveNormal": (
        "Page: any decline code, listed in the table or not, well above its own learned share of\n"
        "all transactions in any window (the same test as PaymentRatioAboveNormal)."),
    "PaymentSegmentAboveNormal": (
        "Page: one segment's status (an acquirer's, a brand's) well above the segment's own\n"
        "normal in any window, and materially so; stricter than the flow's test, since every\n"
        "segment is tested. Segments hit together arrive in one page."),
    "PaymentSegmentTrafficLow": (
        "Page: one segment's transactions significantly and materially below what its share\n"
        "of the flow in the hour before implies (its acquirer or route lost traffic)."),
    "PaymentAuthCodeShareHigh": (
        "Warning: a decline code's share of all transactions above its limit."),
    "PaymentAuthCodeMixShift": (
        "Warning: a decline code's share of the declines above its learned mix limit (the\n"
        "mix of reasons changed though the denied share may not have)."),
    "PaymentTrafficStopped": (
        "Page: no transaction in a window while the hour before had enough traffic for that\n"
        "to be improbable (expected >= the table's busy_min)."),
    "PaymentTrafficLow": (
        "Page: volume significantly below what this hour normally brings in any window\n"
        "(volume_low), unless the flow stopped (PaymentTrafficStopped pages that)."),
    "PaymentDataStale": "Page: pushes stopped arriving while the exporter is up.",
    "PaymentExporterDown": "Page: an exporter replica of the job does not answer scrapes.",
    "PaymentExportersAllDown": ("Not notified: every replica is down; it mutes the payment "
                                "alerts,\nwhich have no data (Alertmanager inhibition)."),
    "PaymentExporterAbsent": "Page: Prometheus has no target for the job at all.",
    "Watchdog": "Always firing: proves the path to Alertmanager and the receivers works.",
}


def alert_rule(settings: Settings, alert: str, expr: str, summary: str, description: str,
               for_: str | None = None, labels: dict[str, str] | None = None,
               for_note: str = "", keep: str | None = None) -> Rule:
    """An alerting rule with its summary, description and runbook link, and the comment
    that says what it tests (:data:`TESTS`; a second rule of one alert, its warning at a
    lower confidence, says so)."""
    labels = labels or {}
    comment = TESTS.get(alert, "")
    if labels.get("severity") == "warning" and comment and not comment.startswith("Warning"):
        comment = "Warning: the same test at a lower confidence (the page inhibits it)."
    return Rule(alert=alert, expr=expr, for_=for_, for_note=for_note, keep_firing_for=keep,
                labels=labels, comment=comment, gap=True,
                annotations={"summary": summary, "description": description,
                             "runbook_url": settings.runbook_url(alert)})
