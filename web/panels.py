"""The boards' panels and their PromQL, defined once for Grafana and the local board.

``scripts/dashboards.py`` turns these into Grafana JSON (grafana/dashboards/*.json) and the
sink's local board (:mod:`txwatch.web.board`) draws the same panels from Prometheus'
HTTP API, so an on-call without Grafana looks at the same queries as one with it (what a
panel is made of: :mod:`txwatch.web.spec`; the segments board: :mod:`txwatch.web.segments`).
Threshold lines are the threshold-table series of rules/thresholds.yml, so boards and
alerts read the same numbers; the confidence level a description names comes from the
rules' own definition (``txwatch.rules.settings``), the colours from
:mod:`txwatch.web.palette`.
"""

from __future__ import annotations

from txwatch.contract import APPROVED_AUTH_CODE, AUTH_CODE_COUNTS, STATUSES, TRANSACTIONS
from txwatch.rules import DEFAULT as RULES  # the confidence level of each recorded bound
from txwatch.rules import limited_statuses
from txwatch.rules.inline import counts
from txwatch.rules.normals import limit
from txwatch.web.palette import COLOURS  # the boards' colours, defined once
from txwatch.web.spec import DATA_CLOCK, Board, Line, Panel, Query

__all__ = ["DATA_CLOCK", "FAST", "LIMIT", "NORMAL", "SLOW", "WARM_UP", "Board", "Line",
           "Panel", "Query", "alerts_table", "drilldown", "normals", "overview",
           "scraped_since", "share_panel"]

# The code panels show this many decline codes, the largest shares at each point in time:
# any code the deployment sends (the exporter takes codes the contract does not list, the
# alerts watch them against the table's default rows), not a list fixed here.
TOP_CODES = 8

# The fast limit (critical pages) long dashes, the slow limit (warnings) dots; the normal
# solid blue, the table's warm-up normal (used until one is learned) light blue, dashed.
FAST = Line("dark-red", (10, 6), 2.0)
SLOW = Line("dark-orange", (2, 4), 2.0)
NORMAL = Line("blue")
WARM_UP = Line("light-blue", (6, 3), 1.5)
LIMIT = Line(dash=(10, 10))


def normals(s: str, refs: str) -> tuple[Query, Query]:
    """The learned normal, and until one is learned the table's warm-up normal: the one
    the limits and the alert messages fall back to."""
    learned = f"max(status:payment_transactions:ratio_normal{{{s}}})"
    return (Query(learned, "normal", refs[0]),
            Query(f"max(threshold:payment_transactions:ratio_normal{{{s}}}) unless {learned}",
                  "normal (warm-up)", refs[1]))


def share_panel(status: str, pos: tuple[int, int, int, int]) -> Panel:
    """Share of one status against its normal and the two limits the alerts use."""
    s = f'status="{status}"'
    return Panel(
        f"{status} share", f"Share of {status} in all transactions over 5 minutes, its lower "
        f"{RULES.status_5m.text} bound, the deployment's normal share (learned from its own "
        "history; until then the warm-up normal of rules/thresholds.yml, light blue) and the "
        "limits derived from it with rules/thresholds.yml: fast (critical, long dashes) and "
        "slow (warning, dots).", pos, (
            Query(f"status:payment_transactions:ratio_rate5m{{{s}}}", "share 5m", "A"),
            Query(f"status:payment_transactions:ratio_wilson_lower5m{{{s}}}", "lower bound 5m",
                  "B"),
            *normals(s, "CD"),
            Query(f"status:payment_transactions:ratio_limit_fast{{{s}}}", "fast limit", "E"),
            Query(f"status:payment_transactions:ratio_limit_slow{{{s}}}", "slow limit", "F")),
        unit="percentunit",
        lines=(("share 5m", Line(COLOURS.get(status, "red"))), ("normal", NORMAL),
               ("normal (warm-up)", WARM_UP), ("fast limit", FAST), ("slow limit", SLOW)))


def code_shares(window: str, of_declines: bool) -> str:
    """Each decline code's share over ``window``, from the counter as the alerts read it:
    of all auth codes, or of the decline codes only (the mix)."""
    ac = AUTH_CODE_COUNTS
    decline = f'{ac.label}!="{APPROVED_AUTH_CODE}"'
    # From the counters: the board must not depend on what the alerts' group records.
    every = counts(ac, RULES, window, "job", decline if of_declines else "", recorded_ok=False)
    return (f"{counts(ac, RULES, window, f'job, {ac.label}', decline, recorded_ok=False)}"
            f" / ignoring ({ac.label}) group_left () ({every} > 0)")


def top_codes(shares: str) -> str:
    """The codes of the ``TOP_CODES`` largest (non-zero) shares of each job; with the codes
    tied at the last place, so a share and its limit (two queries) show the same codes:
    ``topk`` alone picks among tied codes differently in each query."""
    present = f"({shares} > 0)"
    return (f"{present} >= on (job) group_left () "
            f"min by (job) (topk by (job) ({TOP_CODES}, {present}))")


def code_panel(of_declines: bool, pos: tuple[int, int, int, int]) -> Panel:
    """The top decline codes' shares, over the window their alert reads, and the limit it
    holds each one to (dashed in Grafana; "<code> limit" on both boards)."""
    ac = AUTH_CODE_COUNTS
    whole, alert, prefix, window = (
        ("the declines", "PaymentAuthCodeMixShift", "mix", RULES.mix_windows[0])
        if of_declines else
        ("all auth codes", "PaymentAuthCodeShareHigh", "ratio", RULES.auth_code_window))
    top = top_codes(code_shares(window, of_declines))
    return Panel(
        f"Top decline codes, share of {whole}", f"The {TOP_CODES} decline codes with the "
        f"largest share of {whole} over {window}, whichever codes the issuers answer, and "
        f"the limit {alert} holds each one to (\"<code> limit\": from the code's learned "
        "normal and its rows of rules/thresholds.yml, or the table's default rows for a "
        "code the table does not list).", pos, (
            Query(top, f"{{{{{ac.label}}}}}", "A"),
            Query(f"{limit(ac, 'fast', prefix)} and on ({ac.label}) ({top})",
                  f"{{{{{ac.label}}}}} limit", "B")),
        unit="percentunit", ref_lines=(("B", LIMIT),))


def alerts_table(pos: tuple[int, int, int, int], selector: str = "") -> Panel:
    extra = f",{selector}" if selector else ""
    return Panel("Firing alerts", "Alerts firing now (the ALERTS series of Prometheus), "
                 "without the Watchdog, which always fires (it proves the path to the "
                 "receivers, not an incident); a segment's page names its segment.", pos,
                 (Query('sum by (alertname, severity, status, dimension, segment) (ALERTS{'
                        f'alertstate="firing", alertname!="Watchdog"{extra}}})',
                        "{{alertname}}", "A"),),
                 kind="table")


def approved_10m() -> str:
    return 'status:payment_transactions:increase10m{status="approved"}'


def scraped_since(ago: str) -> str:
    """Present while the exporter's counters were already scraped ``ago``: a window of
    that length ending now is full."""
    return f"max by (job) ({TRANSACTIONS.counter} offset {ago})"


def overview() -> Board:
    tx = Panel("Transactions per minute by status", "All pushed transactions, stacked by "
               "status.", (8, 16, 0, 0),
               (Query(f'status:payment_transactions:rate5m * 60 and on (job) '
                      f'{scraped_since("5m")}', "{{status}}", "A"),),
               stacked=True,
               lines=tuple((s, Line(COLOURS[s])) for s in STATUSES if s in COLOURS))
    shares = tuple(share_panel(status, (8, 12, 12 * (i % 2), 8 + 8 * (i // 2)))
                   for i, status in enumerate(limited_statuses()))
    approved = Panel(
        "Approved volume vs its recent level", "Approved transactions in the last 10 minutes "
        "and in the 10 minutes before them. Approvals that fall while the total holds are a "
        "share incident (denials or failures up: the share alerts page); PaymentTrafficLow "
        "judges the total volume against what this hour normally brings. A line starts once "
        "its 10 minutes are all scraped (a window still filling would climb from 0).",
        (8, 12, 0, 32), (
            Query(f'{approved_10m()} and on (job) {scraped_since("10m")}', "approved 10m", "A"),
            Query(f'{approved_10m()} offset 10m and on (job) {scraped_since("20m")}',
                  "10m before", "B")))
    codes = (code_panel(False, (8, 12, 0, 24)), code_panel(True, (8, 12, 12, 24)))
    health = Panel(
        "Exporter records", "Records the exporter accepted and rejected per second (by "
        "reason).", (8, 6, 12, 32), (
            Query("sum(rate(txwatch_exporter_records_accepted_total[5m]))", "accepted/s", "A"),
            Query("sum by (reason) (rate(txwatch_exporter_records_rejected_total[5m]))",
                  "rejected/s {{reason}}", "B")))
    age = Panel(
        "Last push age", "Seconds since the exporter last accepted a push (wall time): it "
        "climbs between pushes and drops at each, a sawtooth kept off the rates' axis.",
        (8, 6, 18, 32),
        (Query("time() - max(payment_last_push_timestamp_seconds)", "last push age", "A"),),
        unit="s")
    return Board("txwatch overview", "txwatch-overview",
                 (tx, alerts_table((8, 8, 16, 0)), *shares, *codes, approved, health, age))


def drilldown() -> Board:
    """The status drill-down; ``$status`` is Grafana's variable (only Grafana draws it)."""
    s = 'status="$status"'
    counts = Panel(
        "$status per minute", "Transactions of the selected status per minute, and all "
        "transactions.", (8, 12, 0, 8), (
            Query(f"status:payment_transactions:rate5m{{{s}}} * 60 and on (job) "
                  f"{scraped_since('5m')}", "$status", "A"),
            Query(f"job:payment_transactions:rate5m * 60 and on (job) {scraped_since('5m')}",
                  "all", "B")))
    bounds = Panel(
        "$status share over 1 hour", "Share over 1 hour and its lower "
        f"{RULES.status_1h.text} bound, against the learned normal share and the slow "
        "limit.", (8, 12, 12, 8), (
            Query(f"status:payment_transactions:ratio_rate1h{{{s}}}", "share 1h", "A"),
            Query(f"status:payment_transactions:ratio_wilson_lower1h{{{s}}}", "lower bound 1h",
                  "B"),
            *normals(s, "CD"),
            Query(f"status:payment_transactions:ratio_limit_slow{{{s}}}", "slow limit", "E")),
        unit="percentunit", lines=(("normal", NORMAL), ("normal (warm-up)", WARM_UP),
                                   ("slow limit", SLOW)))
    return Board("txwatch status drill-down", "txwatch-status", (
        share_panel("$status", (8, 16, 0, 0)),
        alerts_table((8, 8, 16, 0), 'status=~"$status|all"'), counts, bounds))
