"""Segments: every acquirer, card brand or payment method judged against its own normal.

An exporter run with ``--segment.dimensions=acquirer,method`` labels its counters per
segment. When one acquirer carrying 5% of the traffic fails completely, the whole flow's
failed share moves by 5 points at most, late and diluted, and its page cannot say where to
look; when a brand carrying 1% gets 10 more points of denials, the flow moves by 0.1 point.
Here each segment's statuses get the test the flow's get (:mod:`.rise`): a Poisson score
of the count against what the segment's own learned normal share implies, over several
windows, paging when it is significant and material (the table's ``rise_*`` rows).

Every dimension is brought to two labels, ``dimension`` (``acquirer``) and ``segment``
(``acq-04``), so one set of rules, one board variable and one message serve every
dimension a deployment names (``Settings.segment_dimensions``; others are rendered with
``python -m txwatch.rules --segment-dimensions``). A segment is judged once its own normal
is learned (3 hours and ``normal_min_events`` events); before that, and for a segment too
small to ever show the evidence, the flow's own alerts cover it.

Many segments at once (an issuer, the gateway) is one incident: the segment page shares the
status pages' notification group (``group_by: [job]``, alertmanager/alertmanager.yml), so
the flow's page and every segment's arrive as one page that lists them.
"""

from __future__ import annotations

from txwatch.contract import TRANSACTIONS, Kind

from .alertrule import ALL, TABLE, alert_rule
from .inline import poisson_score
from .inputs import Definer, input_rules, recorded
from .messages import COUNT, PERCENT, data_minute
from .names import name
from .normals import Level, clipped_rules, median_rule, normal_rule, row
from .seasonal import hours
from .settings import Settings
from .wilson import number, poisson_upper
from .yamltext import Group, Rule, block, indent

SEGMENT_ALERT = "PaymentSegmentAboveNormal"
VOLUME_ALERT = "PaymentSegmentTrafficLow"
WHOLE = "job, dimension, segment"  # the labels that name one segment
AT = Level("segment_status", "segment", TRANSACTIONS.label, WHOLE)
PAYMENTS = "txwatch.alerts.segments"
TENTHS = 'printf "%.1f"'


def by_segment(kind: Kind, s: Settings, function: str, window: str, per_value: bool,
               offset: str = "") -> str:
    """``function`` (increase) of the counter over ``window`` (``offset`` back) per segment
    of every dimension, each brought to the ``dimension`` and ``segment`` labels (the
    default segment, which carries no dimension label, is left out: the flow's rules judge
    it); ``per_value``: per status too."""
    keep = WHOLE + (f", {kind.label}" if per_value else "")
    shift = f" offset {offset}" if offset else ""
    parts = [block(f"""
        sum by ({keep}) (
          label_replace(label_replace(
            {function}({kind.counter}{{{s.job_selector}, {d}!=""}}[{window}]{shift}),
          "dimension", "{d}", "", ""), "segment", "$1", "{d}", "(.+)")
        )""").rstrip("\n") for d in s.segment_dimensions]
    return "\nor\n".join(parts) + "\n"


def normals_group(s: Settings) -> Group:
    """Each segment's hourly and 5-minute counts and the normal shares learned from them,
    the way the flow's are (:mod:`.normals`: a week of hours, each clipped at what the
    segment's median share allows, so an incident is not learned)."""
    tx = TRANSACTIONS
    rules = []
    for window in ("5m", "1h"):
        rules += [
            Rule(record=name(tx, AT.item, f"increase{window}"),
                 expr=by_segment(tx, s, "increase", window, per_value=True)),
            Rule(record=name(tx, AT.whole, f"increase{window}"),
                 expr=f"sum without ({tx.label}) ({name(tx, AT.item, f'increase{window}')})")]
    rules += [median_rule(tx, s, AT), *clipped_rules(tx, s, AT), normal_rule(tx, s, AT)]
    return Group("txwatch.segments", rules, comment=(
        "Each segment's counts and its own learned normal shares (rules/segments.py): the\n"
        "dimensions a deployment names become the labels dimension and segment."))


def segment_normal(kind: Kind) -> str:
    return name(kind, AT.item, "ratio_normal")


def segment_definers(s: Settings) -> dict[str, Definer]:
    """What each quantity of a segment computes: counts from the counters, shares and
    scores from them and the segment's learned normal."""
    def count(kind: Kind, at: str, window: str) -> str:
        if at == AT.item:
            return by_segment(kind, s, "increase", window, per_value=True)
        return f"sum without ({kind.label}) ({k(kind, window)})"

    def k(kind: Kind, window: str) -> str:
        return recorded(kind, "count", window, AT.item)

    def n(kind: Kind, window: str) -> str:
        return recorded(kind, "count", window, AT.whole)

    def share(kind: Kind, at: str, window: str) -> str:
        return (f"{k(kind, window)}\n  / ignoring ({kind.label}) group_left ()\n"
                f"({n(kind, window)} > 0)\n")

    def normal_z(kind: Kind, at: str, window: str) -> str:
        ratio = f"{recorded(kind, 'share', window, AT.item)} ^ -1 * {segment_normal(kind)}"
        return poisson_score(k(kind, window), ratio)

    def excess(kind: Kind, at: str, window: str) -> str:
        return (f"{k(kind, window)}\n  - {segment_normal(kind)}\n"
                f"  * ignoring ({kind.label}) group_left () {n(kind, window)}\n")

    def rise_z(kind: Kind, at: str, window: str) -> str:
        on = f"on ({kind.label}) group_left ()"
        factor, least = row(kind, "rise_factor"), row(kind, "rise_min_excess")
        return block(f"""
            {recorded(kind, "normal_z", window, AT.item)}
              and
            {recorded(kind, "share", window, AT.item)}
              > {segment_normal(kind)} * {on} {factor}
              and
            {recorded(kind, "excess", window, AT.item)} >= {on} {least}
            """)

    def recent_expected(kind: Kind, at: str, window: str) -> str:
        def flow(span: str, shift: str = "") -> str:
            return f"sum by (job) (increase({kind.counter}{{{s.job_selector}}}[{span}]{shift}))"
        ref = s.volume_scale_range
        before = indent(by_segment(kind, s, "increase", ref, False, window), "  ")
        return (f"{flow(window)}\n  * on (job) group_right ()\n(\n{before}\n)\n"
                f"  / on (job) group_left ()\n{flow(ref, f' offset {window}')}\n"
                f"  and on (job) {hours()} offset {window}\n")

    def low_recent(kind: Kind, at: str, window: str) -> str:
        now, usual = n(kind, window), recorded(kind, "recent_expected", window, AT.whole)
        return block(f"""
            {now} <= {usual} * scalar({TABLE}volume_drop_factor)
              and
            {poisson_upper(now, s.segment_volume.z)} < {usual} * {s.volume_allowance:g}
              and
            {usual} >= scalar({TABLE}busy_min)
            """)

    return {"count": count, "share": share, "normal_z": normal_z, "excess": excess,
            "rise_z": rise_z, "recent_expected": recent_expected, "low_recent": low_recent}


def segment_expr(s: Settings) -> str:
    """Any window of a segment's status risen significantly and materially."""
    z = number(s.segment_rise.z)
    tests = "\n  or ".join(f"{recorded(TRANSACTIONS, 'rise_z', w, AT.item)} > {z}"
                           for w in s.segment_windows)
    return f"(\n    {tests}\n)\n"


def _asked(promql: str, shown: str) -> str:
    """A template running ``promql`` for the alert's own segment and status and showing its
    first value. In ``promql``, ``{own}`` stands for the matchers of a segment's recorded
    series, ``{raw}`` for those of the counter (the dimension's own label: what the message
    reads is the counter itself, on any engine, whatever it records)."""
    filled = promql.replace("%", "%%").replace(
        "{own}", 'dimension="%[1]s", segment="%[2]s", status="%[3]s"').replace(
        "{raw}", '%[1]s="%[2]s"').replace("{status}", "%[3]s")
    source = f"printf `{filled}` $labels.dimension $labels.segment $labels.status"
    return f"{{{{ with {source} | query }}}}{{{{ . | first | value | {shown} }}}}{{{{ end }}}}"


def segment_text(s: Settings) -> tuple[str, str]:
    """(summary, description): the segment, its count and share in each window against
    what its own normal implies."""
    tx = TRANSACTIONS
    usual = f"max({segment_normal(tx)}{{{{own}}}})"
    normal = _asked(usual, PERCENT)

    def facts(window: str) -> str:
        mine = f"{s.job_selector}, {{raw}}"
        n = f"round(sum(increase({tx.counter}{{{mine}}}[{window}])))"
        k = f'round(sum(increase({tx.counter}{{{mine}, status="{{status}}"}}[{window}])))'
        return (f"{_asked(k, COUNT)} of {_asked(n, COUNT)} "
                f"({_asked(f'{k} / ({n} > 0)', PERCENT)}) over {window}, "
                f"{_asked(f'{n} * {usual}', TENTHS)} expected")
    where = "{{ $labels.dimension }} {{ $labels.segment }}"
    first = s.segment_windows[0]
    summary = (f"{{{{ $labels.status }}}} at {where} well above its own normal: "
               f"{facts(first)} (normal {normal})")
    each = "; ".join(facts(w) for w in s.segment_windows)
    description = (
        f"{{{{ $labels.status }}}} transactions at {where} against this segment's own normal "
        f"share {normal}: {each}. In at least one of these windows the count is "
        f"{{{{ $value | printf \"%.1f\" }}}} standard deviations above what the normal "
        f"implies (Poisson test at {s.segment_rise.text} confidence, more than "
        f"{number(s.segment_rise.z)}: stricter than the flow's, since every segment is "
        "tested), and the rise is material (the table's rise_factor and rise_min_excess). "
        "Other segments hit at the same time are listed in the same page; the flow's own "
        f"page joins it when the whole flow moves.{data_minute(s)}")
    return summary, description


def volume_text(s: Settings) -> tuple[str, str]:
    """(summary, description): the segment's transactions against what its share of the
    flow in the hour before implies (from the counters: the same numbers on any engine)."""
    tx, window, ref = TRANSACTIONS, s.segment_volume_windows[0], s.volume_scale_range
    def mine(span: str, shift: str = "") -> str:
        return f"sum(increase({tx.counter}{{{s.job_selector}, {{raw}}}}[{span}]{shift}))"

    def flow(span: str, shift: str = "") -> str:
        return f"sum(increase({tx.counter}{{{s.job_selector}}}[{span}]{shift}))"
    now, back = mine(window), f" offset {window}"
    expected = f"{flow(window)} * {mine(ref, back)} / ({flow(ref, back)} > 0)"
    facts = (f"{_asked(f'round({now})', COUNT)} transactions in the last {window}, where its "
             f"share of the flow in the {ref} before implied about "
             f"{_asked(expected, COUNT)}")
    where = "{{ $labels.dimension }} {{ $labels.segment }}"
    summary = f"Traffic at {where} collapsed: {facts}"
    description = (
        f"{where} carries far fewer transactions than its share of the flow: {facts}. Its "
        f"count is significantly low (Poisson bound at {s.segment_volume.text}, stricter than "
        "the flow's, since every segment is tested) and below the table's volume_drop_factor "
        "times that. Judged against its share of the flow, not its own past level, so the "
        "flow's own cycle, a weekend or a holiday moves every segment alike and pages none; "
        "a drop of the whole flow is PaymentTrafficLow's. Look at the segment's connection "
        f"(an acquirer's endpoint, a brand's routing).{data_minute(s)}")
    return summary, description


def alerts_group(s: Settings) -> Group:
    """The segment pages, led by the quantities they read (recorded in their own group, as
    the flow's are: :mod:`.inputs`)."""
    page = alert_rule(s, SEGMENT_ALERT, segment_expr(s), *segment_text(s), for_="0s",
                      for_note="each window's Poisson test is the guard",
                      keep=s.keep_fast_firing_for, labels={"severity": "critical"})
    low = "\nor ".join(recorded(TRANSACTIONS, "low_recent", w, AT.whole)
                       for w in s.segment_volume_windows)
    volume = alert_rule(s, VOLUME_ALERT, low + "\n", *volume_text(s), for_="0s",
                        for_note="each window's Poisson bound is the guard",
                        keep=s.keep_firing_for, labels=ALL)
    texts = [r.expr for r in (page, volume)]
    texts += [a for r in (page, volume) for a in r.annotations.values()]
    return Group(PAYMENTS, [*input_rules(texts, segment_definers(s)), page, volume],
                 comment=("Each segment's statuses against the segment's own normal, and its "
                          "volume against its share\nof the flow (rules/segments.py)."))
