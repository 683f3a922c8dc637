"""The segments board: every acquirer, brand or method against its own normal, defined once.

A deployment that labels its pushes with segments (``--segment.dimensions``) is judged per
segment by PaymentSegmentAboveNormal (rules/segments.py). This board answers the on-call's
questions in the order they come: which segments are off their own normal now, and by how
many transactions (the ranking: events beyond what the segment's normal implies, the
alert's own ``excess``); which segment pages fire; which segments are judged at all (a
segment without a learned normal, or too small to gather one, is covered only by the
flow's alerts); and, for one segment (the ``dimension`` and ``segment`` variables, set by a
click on a ranking row), its volume, each status's share against its own normal and its
excess over time.

Quantities come from the counters and the segment records of recording.yml, never from the
alerts' own recorded inputs: an engine that inlines those (vmalert, the backtest) has none,
and the board must read the same on every engine. Grafana's board is built from this by
``scripts/dashboards.py``; the sink's segments page (``/segments``) draws the same panels.
"""

from __future__ import annotations

import yaml

from txwatch.contract import STATUSES, TRANSACTIONS
from txwatch.resources import rules_dir
from txwatch.rules import DEFAULT as RULES
from txwatch.rules.names import name
from txwatch.rules.segments import AT, SEGMENT_ALERT, WHOLE, by_segment, segment_normal
from txwatch.web.palette import COLOURS
from txwatch.web.panels import FAST, NORMAL, scraped_since
from txwatch.web.spec import Board, Line, Panel, Query, Variable

TX = TRANSACTIONS
UID = "txwatch-segments"
TOP = 10  # rows of the ranking
WINDOW = "15m"  # the ranking's window: the middle one of the segment page's windows
RISE_FACTOR = "threshold:payment_transactions:rise_factor"
NORMAL_SHARE = segment_normal(TX)
SEGMENT_5M = name(TX, AT.whole, "increase5m")
STATUS_5M = name(TX, AT.item, "increase5m")
SEGMENT_1H = name(TX, AT.whole, "increase1h")
# The selected segment, in the recorded series' labels and in the counter's own
CHOSEN = 'dimension="$dimension", segment="$segment"'
RAW = f'{RULES.job_selector}, $dimension="$segment"'
DRILL = ("dimension", "segment")
# A segment's judged statuses: those the table gives rise rows (the segment page tests
# only these); the ranking keeps them with ``and on (status)`` the table's own series.
JUDGED = f"and on (status) {RISE_FACTOR}"


def judged_statuses() -> tuple[str, ...]:
    """The statuses the segment page tests (a rise_factor row in rules/thresholds.yml)."""
    doc = yaml.safe_load((rules_dir() / "thresholds.yml").read_text())
    rows = {r.get("labels", {}).get("status") for g in doc["groups"] for r in g["rules"]
            if r.get("record") == RISE_FACTOR}
    return tuple(s for s in STATUSES if s in rows)


def every_segment(window: str) -> str:
    """Each segment's count per status over ``window``, from the counters, every dimension
    brought to the ``dimension`` and ``segment`` labels (as the segment rules do)."""
    return "(\n" + by_segment(TX, RULES, "increase", window, per_value=True) + ")"


def excess(counts: str, normal: str, whole_by: str) -> str:
    """Events of each status beyond what the segment's normal share implies for all its
    events (the segment page's ``excess``)."""
    return (f"{counts}\n- on ({whole_by}, status) (\n  {normal}\n  * on ({whole_by}) "
            f"group_left () sum without (status) ({counts})\n)")


def ranking(pos: tuple[int, int, int, int]) -> Panel:
    """Rows are the top excesses (query A); the share and the normal join them by label."""
    k = every_segment(WINDOW)
    rows = f"topk({TOP}, (\n{excess(k, NORMAL_SHARE, WHOLE)}\n) {JUDGED})"
    share = f"{k}\n/ ignoring (status) group_left ()\n(sum without (status) ({k}) > 0)"
    return Panel(
        "Segments furthest above their own normal", f"The {TOP} segments and statuses with "
        f"the most transactions over the last {WINDOW} beyond what the segment's own learned "
        "normal share implies (excess: what PaymentSegmentAboveNormal weighs), with the "
        "share and the normal behind it. Only segments with a normal of their own and the "
        "statuses the segment page tests. A row opens the segment below.", pos, (
            Query(rows, f"excess {WINDOW}", "A"),
            Query(f"{share} {JUDGED}", f"share {WINDOW}", "B", "percentunit"),
            # without its metric name, as the other columns are: Grafana merges the three
            # queries' rows on the labels they share
            Query(f"max without () ({NORMAL_SHARE}) {JUDGED}", "normal", "C", "percentunit")),
        kind="table", columns=("dimension", "segment", "status"), drill=DRILL)


def firing(pos: tuple[int, int, int, int]) -> Panel:
    return Panel(
        "Segment pages firing", f"{SEGMENT_ALERT} firing now, one row per segment and "
        "status (all of them arrive as one page with the flow's status pages).", pos, (
            Query(f"sum by (dimension, segment, status, severity) (ALERTS{{alertstate="
                  f'"firing", alertname="{SEGMENT_ALERT}"}})', "alerts", "A"),),
        kind="table", columns=("dimension", "segment", "status", "severity"), drill=DRILL)


def has_normal(series: str, keep: str) -> str:
    """``series`` of the segments with a learned normal (``and``) or without (``unless``)."""
    return f"{series} {keep} on ({WHOLE}) {NORMAL_SHARE}"


def coverage(pos: tuple[int, int, int, int]) -> Panel:
    own = '"judged: own normal"'
    flow = '"flow only: no normal yet"'
    return Panel(
        "Segments judged, and covered by the flow only", "Every segment seen in the last "
        "hour and its transactions then. Judged: it has a normal of its own (3 hours and "
        f"{RULES.normal_min_events:,} transactions behind it) and PaymentSegmentAboveNormal "
        "tests it. Flow only: no normal yet (new, or too small ever to gather one); the "
        "flow's own alerts cover its transactions.", pos, (
            Query(f'label_replace({has_normal(SEGMENT_1H, "and")}, "judged", {own}, "", "")'
                  f'\nor\nlabel_replace({has_normal(SEGMENT_1H, "unless")}, "judged", '
                  f'{flow}, "", "")', "transactions 1h", "A"),),
        kind="table", columns=("dimension", "segment", "judged"), drill=DRILL)


def coverage_counts(pos: tuple[int, int, int, int]) -> Panel:
    return Panel(
        "Segments judged over time", "How many segments of each dimension have a normal of "
        "their own (judged), and how many are covered by the flow only.", pos, (
            Query(f"count by (dimension) (count by ({WHOLE}) ({NORMAL_SHARE}))",
                  "{{dimension}} judged", "A"),
            Query(f"count by (dimension) ({has_normal(SEGMENT_1H, 'unless')})",
                  "{{dimension}} flow only", "B")))


def volume(pos: tuple[int, int, int, int]) -> Panel:
    return Panel(
        "$segment transactions per minute by status", "The selected segment's transactions "
        "per minute over 5 minutes, stacked by status.", pos,
        (Query(f"{STATUS_5M}{{{CHOSEN}}} / 5 and on (job) {scraped_since('5m')}",
               "{{status}}", "A"),),
        stacked=True, lines=tuple((s, Line(c)) for s, c in COLOURS.items()))


def raw_count(window: str, by: str = "job", matcher: str = "") -> str:
    """The selected segment's count over ``window`` from the counter itself, as the page's
    message reads it (``$dimension`` names the counter's label)."""
    extra = f", {matcher}" if matcher else ""
    return f"sum by ({by}) (increase({TX.counter}{{{RAW}{extra}}}[{window}]))"


def excess_panel(pos: tuple[int, int, int, int]) -> Panel:
    per_status = raw_count(WINDOW, "job, status")
    return Panel(
        f"$segment excess over {WINDOW}", f"Transactions of each tested status over the "
        f"last {WINDOW} beyond what the segment's own normal share implies; the segment page "
        "needs it material (the table's rise_min_excess) as well as significant.", pos,
        (Query(f"(\n{excess(per_status, f'{NORMAL_SHARE}{{{CHOSEN}}}', 'job')}\n) {JUDGED}",
               "{{status}}", "A"),),
        lines=tuple((s, Line(COLOURS[s])) for s in judged_statuses() if s in COLOURS))


def segment_share(status: str, pos: tuple[int, int, int, int]) -> Panel:
    of_status = f'status="{status}"'
    mine = f"{CHOSEN}, {of_status}"
    normal = f"{NORMAL_SHARE}{{{mine}}}"
    return Panel(
        f"$segment {status} share", f"The selected segment's {status} share over 5 and "
        f"{WINDOW} against its own learned normal, and the share a rise must pass to be "
        "material (normal x the table's rise_factor; the page also needs the Poisson test "
        "to hold).", pos, (
            Query(f"{STATUS_5M}{{{mine}}}\n/ ignoring (status) group_left ()\n"
                  f"({SEGMENT_5M}{{{CHOSEN}}} > 0)", "share 5m", "A"),
            Query(f"{raw_count(WINDOW, matcher=of_status)}\n/ ({raw_count(WINDOW)} > 0)",
                  f"share {WINDOW}", "B"),
            Query(normal, "normal", "C"),
            Query(f"{normal} * on (status) group_left () {RISE_FACTOR}",
                  "material above", "D")),
        unit="percentunit",
        lines=(("share 5m", Line(COLOURS.get(status, "red"))), ("normal", NORMAL),
               ("material above", FAST)))


def segments() -> Board:
    shares = tuple(segment_share(s, (8, 12, 12 * (i % 2), 24 + 8 * (i // 2)))
                   for i, s in enumerate(judged_statuses()))
    variables = (
        Variable("dimension", SEGMENT_1H, "dimension", "acquirer"),
        Variable("segment", f'{SEGMENT_1H}{{dimension="$dimension"}}', "segment"))
    return Board("txwatch segments", UID, (
        ranking((9, 14, 0, 0)), firing((9, 10, 14, 0)), coverage((7, 12, 0, 9)),
        coverage_counts((7, 12, 12, 9)), volume((8, 12, 0, 16)), excess_panel((8, 12, 12, 16)),
        *shares), variables)
