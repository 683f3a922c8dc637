"""The boards' panels and their PromQL, defined once for Grafana and the local board.

``scripts/dashboards.py`` turns these into Grafana JSON (grafana/dashboards/*.json) and the
sink's local board (:mod:`txwatch.stack.board`) draws the same panels from Prometheus'
HTTP API, so an on-call without Grafana looks at the same queries as one with it. Threshold
lines are the threshold-table series of rules/thresholds.yml, so boards and alerts read the
same numbers; the confidence level a description names comes from the rules' own definition
(``txwatch.rules.settings``). Positions are Grafana grid cells (h, w, x, y; 24 columns).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from txwatch.rules import DEFAULT as RULES  # the confidence level of each recorded bound

# Grafana's named colours, and the hex values of its palette for the local board.
COLOURS = {"approved": "green", "denied": "orange", "failed": "red", "reversed": "purple",
           "backend_reversed": "dark-red", "refunded": "blue", "00": "green", "51": "orange",
           "59": "red"}
CSS = {"green": "#56a64b", "orange": "#ff780a", "red": "#e02f44", "purple": "#a352cc",
       "dark-red": "#c4162a", "blue": "#3274d9"}
SHARES = ("failed", "denied", "reversed", "backend_reversed")
STATUSES = ("approved", "denied", "failed", "reversed", "backend_reversed", "refunded")


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str  # Grafana legend format: {{label}} is replaced by the series' label
    ref: str


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    pos: tuple[int, int, int, int]  # h, w, x, y
    queries: tuple[Query, ...]
    unit: str = "short"  # or "percentunit"
    kind: str = "timeseries"  # or "table": one instant query, a row per series
    stacked: bool = False
    colours: tuple[tuple[str, str], ...] = ()  # series name -> Grafana colour, in order
    dashed: tuple[str, ...] = ()  # series drawn dashed (the limits)


@dataclass(frozen=True)
class Board:
    title: str
    uid: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        """What the local board's page reads (``GET /api/board``)."""
        return {**asdict(self), "css": CSS}


def share_panel(status: str, pos: tuple[int, int, int, int]) -> Panel:
    """Share of one status against its learned normal and the two limits the alerts use."""
    s = f'status="{status}"'
    return Panel(
        f"{status} share", f"Share of {status} in all transactions over 5 minutes, its lower "
        f"{RULES.status_5m.text} bound, the deployment's normal share (learned from its own "
        "history) and the fast / slow limits derived from it with rules/thresholds.yml "
        "(dashed).", pos, (
            Query(f"status:payment_transactions:ratio_rate5m{{{s}}}", "share 5m", "A"),
            Query(f"status:payment_transactions:ratio_wilson_lower5m{{{s}}}", "lower bound 5m",
                  "B"),
            Query(f"max(status:payment_transactions:ratio_normal{{{s}}})", "normal", "C"),
            Query(f"status:payment_transactions:ratio_limit_fast{{{s}}}", "fast limit", "D"),
            Query(f"status:payment_transactions:ratio_limit_slow{{{s}}}", "slow limit", "E")),
        unit="percentunit",
        colours=(("share 5m", COLOURS.get(status, "red")), ("normal", "blue"),
                 ("fast limit", "dark-red"), ("slow limit", "dark-red")),
        dashed=("fast limit", "slow limit"))


def alerts_table(pos: tuple[int, int, int, int], selector: str = "") -> Panel:
    extra = f",{selector}" if selector else ""
    return Panel("Firing alerts", "Alerts firing now (the ALERTS series of Prometheus).", pos,
                 (Query(f'sum by (alertname, severity, status) '
                        f'(ALERTS{{alertstate="firing"{extra}}})', "{{alertname}}", "A"),),
                 kind="table")


def overview() -> Board:
    tx = Panel("Transactions per minute by status", "All pushed transactions, stacked by "
               "status.", (8, 16, 0, 0),
               (Query("status:payment_transactions:rate5m * 60", "{{status}}", "A"),),
               stacked=True, colours=tuple((s, COLOURS[s]) for s in STATUSES))
    shares = tuple(share_panel(status, (8, 12, 12 * (i % 2), 8 + 8 * (i // 2)))
                   for i, status in enumerate(SHARES))
    approved = Panel(
        "Approved volume vs its recent level", "Approved transactions in the last 10 minutes, "
        "and the level of the half hour before them, which the approved-volume alert compares "
        "with (a drop to the table's volume_drop_factor of it pages).", (8, 12, 0, 24), (
            Query('status:payment_transactions:increase10m{status="approved"}', "approved 10m",
                  "A"),
            Query('status:payment_transactions:increase10m{status="approved"} offset 10m',
                  "10m before", "B")))
    codes = Panel(
        "Auth-code mix", "Share of issuer auth codes over 5 minutes (00 approved, 51 "
        "insufficient funds, 59 suspected fraud).", (8, 12, 12, 24),
        (Query("auth_code:payment_auth_codes:ratio_rate5m", "{{auth_code}}", "A"),),
        unit="percentunit", colours=tuple((c, COLOURS[c]) for c in ("00", "51", "59")))
    health = Panel(
        "Exporter health", "Records accepted and rejected per second (by reason), and the "
        "age of the last accepted push.", (8, 24, 0, 32), (
            Query("sum(rate(txwatch_exporter_records_accepted_total[5m]))", "accepted/s", "A"),
            Query("sum by (reason) (rate(txwatch_exporter_records_rejected_total[5m]))",
                  "rejected/s {{reason}}", "B"),
            Query("time() - max(payment_last_push_timestamp_seconds)", "last push age (s)",
                  "C")))
    return Board("txwatch overview", "txwatch-overview",
                 (tx, alerts_table((8, 8, 16, 0)), *shares, approved, codes, health))


def drilldown() -> Board:
    """The status drill-down; ``$status`` is Grafana's variable (only Grafana draws it)."""
    s = 'status="$status"'
    counts = Panel(
        "$status per minute", "Transactions of the selected status per minute, and all "
        "transactions.", (8, 12, 0, 8), (
            Query(f"status:payment_transactions:rate5m{{{s}}} * 60", "$status", "A"),
            Query("job:payment_transactions:rate5m * 60", "all", "B")))
    bounds = Panel(
        "$status share over 1 hour", "Share over 1 hour and its lower "
        f"{RULES.status_1h.text} bound, against the learned normal share and the slow "
        "limit.", (8, 12, 12, 8), (
            Query(f"status:payment_transactions:ratio_rate1h{{{s}}}", "share 1h", "A"),
            Query(f"status:payment_transactions:ratio_wilson_lower1h{{{s}}}", "lower bound 1h",
                  "B"),
            Query(f"max(status:payment_transactions:ratio_normal{{{s}}})", "normal", "C"),
            Query(f"status:payment_transactions:ratio_limit_slow{{{s}}}", "slow limit", "D")),
        unit="percentunit")
    return Board("txwatch status drill-down", "txwatch-status", (
        share_panel("$status", (8, 16, 0, 0)),
        alerts_table((8, 8, 16, 0), 'status=~"$status|all"'), counts, bounds))
