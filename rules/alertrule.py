"""One alerting rule of txwatch: the labels and links every alert carries, in one place."""

from __future__ import annotations

from .settings import Settings
from .yamltext import Rule

TABLE = "threshold:payment_transactions:"  # the table's rows the volume alerts read
ALL = {"severity": "critical", "status": "all"}  # volume and health alerts: not per status


def alert_rule(settings: Settings, alert: str, expr: str, summary: str, description: str,
               for_: str | None = None, labels: dict[str, str] | None = None,
               for_note: str = "", keep: str | None = None) -> Rule:
    """An alerting rule with its summary, description and runbook link."""
    return Rule(alert=alert, expr=expr, for_=for_, for_note=for_note, keep_firing_for=keep,
                labels=labels or {},
                annotations={"summary": summary, "description": description,
                             "runbook_url": settings.runbook_url(alert)})
