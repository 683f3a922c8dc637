"""Each deployment's own normal, learned from its history, and the limits derived from it.

The normal share of a status (or auth code) is its pooled share over the last week (its
events over all events, from hourly increases sampled once an hour, so the cost is 168
points per series); incidents, being short, move it little, and the cap bounds what they
can do. In the first hours the share of the hours so far stands in, and before a quarter
of an hour of history the table's warm-up default. The limits the alerts compare with are
``normal x factor + margin``, never below the table's floor and never above its cap, so a
merchant who declines 12% as a matter of course is judged against 12%, and a slow rise
that becomes "normal" over a week is still caught at the cap.
"""

from __future__ import annotations

from dataclasses import dataclass

from txwatch.contract import APPROVED_AUTH_CODE, AUTH_CODE_COUNTS, TRANSACTIONS, Kind

from .names import name
from .settings import Settings
from .wilson import number
from .yamltext import Group, Rule, block, indent


def table(kind: Kind, row: str) -> str:
    return f"threshold:{kind.family}:{row}"


def normal(kind: Kind, prefix: str = "ratio") -> str:
    return name(kind, kind.label, f"{prefix}_normal")


def limit(kind: Kind, which: str, prefix: str = "ratio") -> str:
    return name(kind, kind.label, f"{prefix}_limit_{which}")


@dataclass(frozen=True)
class Level:
    """Where shares are learned: per label value of a job (``status`` within ``job``), or per
    status of a segment (``segment_status`` within ``segment``, :mod:`.segments`). ``item``
    and ``whole`` are the levels of the recorded series, ``label`` what the items differ by,
    ``whole_by`` the labels that name one whole."""

    item: str
    whole: str
    label: str
    whole_by: str = "job"

    @staticmethod
    def of(kind: Kind) -> Level:
        return Level(kind.label, "job", kind.label)


def _pooled(kind: Kind, at: Level, window: str, step: str, operation: str, min_samples: int,
            min_events: int, own: str | None = None) -> str:
    """Events of each label value / all events over ``window``, from the recorded
    ``operation`` increases sampled every ``step``; only with ``min_samples`` of them and
    ``min_events`` events in all (a share of a handful of events is no normal). The samples
    are counted for the whole job, not per label value: a code an issuer starts answering
    today has a week of history in which it was 0, so its normal is its few events over the
    week's, not its share since it first appeared (the burst that made it appear).
    ``own``: the label values' increases to sum instead (the clipped ones)."""
    def total(level: str) -> str:
        return f"sum_over_time({name(kind, level, operation)}[{window}:{step}])"
    mine = f"sum_over_time({own}[{window}:{step}])" if own else total(at.item)
    return block(f"""
        (
            {mine}
          / ignoring ({at.label}) group_left ()
            ({total(at.whole)} >= {min_events})
        )
          and on ({at.whole_by})
        count_over_time({name(kind, at.whole, operation)}[{window}:{step}])
          >= {min_samples}
        """).rstrip("\n")


def median(kind: Kind, at: Level | None = None) -> str:
    return name(kind, (at or Level.of(kind)).item, "ratio_median")


def clipped(kind: Kind, at: Level | None = None) -> str:
    return name(kind, (at or Level.of(kind)).item, "increase1h_clipped")


def median_rule(kind: Kind, s: Settings, at: Level | None = None) -> Rule:
    """Each label value's median hourly share over the learning range: what an ordinary
    hour looks like, which an incident (a few hours of the week) does not move."""
    at = at or Level.of(kind)
    return Rule(record=median(kind, at), expr=block(f"""
        quantile_over_time(0.5, (
            {name(kind, at.item, "increase1h")}
          / ignoring ({at.label}) group_left ()
            ({name(kind, at.whole, "increase1h")} > 0)
        )[{s.normal_range}:1h])
        """))


def cap(kind: Kind, at: Level | None = None) -> str:
    return name(kind, (at or Level.of(kind)).item, "increase1h_cap")


def clipped_rules(kind: Kind, s: Settings, at: Level | None = None) -> list[Rule]:
    """Each hour's count, but never more than the Poisson upper bound (at ``normal_clip``)
    of what the median share implies for that hour's volume (the cap): an incident's hour
    counts as an unusually busy ordinary hour, not as its 225 failures. A status rare
    enough that its median is 0 counts at most z^2 (~10) events an hour. Before a median
    exists, the whole count. Read only on the hour (a backtest evaluates them hourly).
    Every ``or`` matches ``on`` the same labels: MetricsQL keeps only those on the first
    branch, and vmalert's external label would make a plain ``or``'s last branch a second
    series of the same labels (the rule then failed on VictoriaMetrics)."""
    at = at or Level.of(kind)
    k = name(kind, at.item, "increase1h")
    usual = (f"({median(kind, at)} * on ({at.whole_by}) group_left () "
             f"{name(kind, at.whole, 'increase1h')})")
    z = s.normal_clip.z
    on = f"on ({at.whole_by}, {at.label})"
    return [
        Rule(record=cap(kind, at), expr=(
            f"{usual}\n  + {number(z * z / 2)}\n  + {number(z)} * sqrt(\n"
            f"      {usual}\n    + {number(z * z / 4)}\n    )\n")),
        Rule(record=clipped(kind, at), expr=(
            f"{k} < {on} {cap(kind, at)}\nor {on}\n{cap(kind, at)} and {on} {k}\nor {on}\n{k}\n"))]


def normal_rule(kind: Kind, s: Settings, at: Level | None = None) -> Rule:
    """The pooled share over the learning range (a week of hourly increases, each clipped
    at what its median share allows: 168 points), or while less than ``normal_min_hours``
    exist, over the last hours at 5-minute steps (from a quarter of an hour of history
    on). Pooled, not the median itself: a rare status (one failure every few hours) has a
    median of 0, which would page on noise; clipped, so a long incident does not raise
    the normal (and the limits) for a week."""
    at = at or Level.of(kind)
    week = _pooled(kind, at, s.normal_range, "1h", "increase1h", s.normal_min_hours,
                   s.normal_min_events, own=clipped(kind, at))
    young = _pooled(kind, at, f"{s.normal_min_hours}h", "5m", "increase5m", 3,
                    s.normal_min_events)
    return Rule(record=name(kind, at.item, "ratio_normal"), expr=f"{week}\nor\n{young}\n")


def normal_or_default(kind: Kind, prefix: str = "ratio") -> str:
    """The learned normal of each label value, or the table's warm-up default where none is
    learned yet."""
    return f"({normal(kind, prefix)} or on ({kind.label}) {row(kind, f'{prefix}_normal')})"


def row(kind: Kind, row_name: str) -> str:
    """What a limit reads for one row of the table: the table's own rows for the statuses
    (every status has its rows); for the auth codes, each watched code's own row where the
    table lists the code, else the table's default row (the row with no ``auth_code``
    label), so any code the deployment sends has every row. Inline in the one rule that
    reads it, not recorded per row: an engine that writes recorded series asynchronously
    (vmalert) could otherwise see a code's floor before its cap and hold it to the floor."""
    if kind is not AUTH_CODE_COUNTS:
        return table(kind, row_name)
    own = table(kind, row_name)
    return (f"({own}{{{kind.label}!=\"\"}} or on ({kind.label}) {WATCHED} * on () "
            f"group_left () {own}{{{kind.label}=\"\"}})")


def shown_normal(kind: Kind, prefix: str, mine: str) -> str:
    """PromQL for a message: one label value's normal (``mine``, a matcher in braces), the
    learned one, else its warm-up row, else (a code the table does not list) the default
    row."""
    found = f"max({normal(kind, prefix)}{mine}) or max({table(kind, f'{prefix}_normal')}{mine})"
    if kind is AUTH_CODE_COUNTS:
        found += f" or max({table(kind, f'{prefix}_normal')}{{{kind.label}=\"\"}})"
    return found


WATCHED = name(AUTH_CODE_COUNTS, AUTH_CODE_COUNTS.label, "watched")
DECLINE = f'{AUTH_CODE_COUNTS.label}!="{APPROVED_AUTH_CODE}"'


def watched_rule(s: Settings) -> Rule:
    """1 for every decline code to watch: each code with a learned normal, and each code
    seen at the last 5-minute edge, so an issuer's first ever 91 is watched within five
    minutes (against the default row's warm-up normal), not at the next hour. Read through
    a 5-minute subquery, it changes only on 5-minute edges (what a backtest exploits)."""
    ac, step = AUTH_CODE_COUNTS, s.code_watch_step
    return Rule(record=WATCHED, expr=block(f"""
        group by ({ac.label}) (
            {normal(ac)}{{{DECLINE}}}
          or
            last_over_time({name(ac, ac.label, "increase5m")}{{{DECLINE}}}[{step}:{step}])
        )
        """), comment=(
            "Every decline code the deployment sends is watched, whether or not the table "
            "lists it;\nthe table's rows with no auth_code label are the default for the "
            "codes it does not list."))


def limit_rule(kind: Kind, which: str, severity: str, prefix: str = "ratio") -> Rule:
    """clamp(normal x factor + margin, floor, cap), the normal falling back to the table;
    one series per label value whichever branch holds (``max by`` drops job and name)."""
    on = f"on ({kind.label})"
    raw = block(f"""
        (
            {normal_or_default(kind, prefix)}
          * {on} group_left () {row(kind, f"{prefix}_factor")}
          + {on} group_left () {row(kind, f"{prefix}_{which}_margin")}
        )""").rstrip("\n")
    cap = row(kind, f"{prefix}_cap")
    capped = f"(\n{indent(raw, '  ')}\n  < {on} group_left () {cap}\n  or {on} {cap}\n)"
    floor = row(kind, f"{prefix}_{which}_floor")
    clamped = f"{capped}\n  > {on} group_left () {floor}\nor {on} {floor}"
    return Rule(record=limit(kind, which, prefix), labels={"severity": severity},
                expr=f"max by ({kind.label}) (\n{indent(clamped, '  ')}\n)\n")


def group(s: Settings, extra: tuple[Rule, ...] = ()) -> Group:
    """The normals and limits of the shares, then ``extra`` (the code mix's, :mod:`.mix`)."""
    tx, ac = TRANSACTIONS, AUTH_CODE_COUNTS
    rules = [median_rule(tx, s), median_rule(ac, s), *clipped_rules(tx, s), *clipped_rules(ac, s),
             normal_rule(tx, s), normal_rule(ac, s),
             limit_rule(tx, "fast", "critical"), limit_rule(tx, "slow", "warning"),
             watched_rule(s), limit_rule(ac, "fast", "warning"), *extra]
    return Group("txwatch.normals", rules, comment=(
        "Learned normal shares and the limits the paging alerts compare with (see the\n"
        "module txwatch.rules.normals). They move slowly, so reading them recorded adds no\n"
        "meaningful lag even on an engine that records asynchronously."))
