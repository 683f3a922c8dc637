"""The recording rules (rules/recording.yml) as code.

Names follow ``level:metric:operations`` and come from the metric contract
(``txwatch.contract``), so a renamed counter renames every rule that reads it. Only the
rules that read the exported counters carry the job selector; everything else reads
recorded series, which already carry the ``job`` label.
"""

from __future__ import annotations

from txwatch.contract import AUTH_CODE_COUNTS, TRANSACTIONS, Kind

from .settings import Settings
from .wilson import Bound, explain, wilson_lower
from .yamltext import Group, Rule, block

HEADER_NOTE = """\
Recording rules: rates, ratios, confidence bounds and baselines of the payment counters.
Names follow level:metric:operations. Everything reads the counters through increase(),
summed by (job, status) so several exporter replicas add up correctly."""


def name(kind: Kind, level: str, operation: str) -> str:
    """A recorded series of ``kind``: level ``status``/``auth_code`` (per label value) or
    ``job`` (all of the job), e.g. ``status:payment_transactions:increase5m``."""
    return f"{level}:{kind.family}:{operation}"


def bounds(settings: Settings) -> list[Bound]:
    """The three recorded Wilson bounds and the confidence each uses."""
    tx, ac = TRANSACTIONS, AUTH_CODE_COUNTS
    return [
        Bound(name(tx, tx.label, "ratio_wilson_lower5m"), name(tx, tx.label, "ratio_rate5m"),
              name(tx, "job", "increase5m"), tx.label, settings.status_5m,
              "the fast alert pages on it without `for`, about 1,440 times a day per status"),
        Bound(name(tx, tx.label, "ratio_wilson_lower1h"), name(tx, tx.label, "ratio_rate1h"),
              name(tx, "job", "increase1h"), tx.label, settings.status_1h,
              "the slow and baseline alerts read it and have `for`"),
        Bound(name(ac, ac.label, "ratio_wilson_lower5m"), name(ac, ac.label, "ratio_rate5m"),
              name(ac, "job", "increase5m"), ac.label, settings.auth_code_5m,
              "the auth-code alert reads it and has `for`"),
    ]


def _counter(kind: Kind, settings: Settings, function: str, window: str) -> Rule:
    """Per-label increase or rate of the exported counter: the rules that carry the job."""
    return Rule(record=name(kind, kind.label, f"{function}{window}"),
                expr=f"sum by (job, {kind.label}) ({function}("
                     f"{kind.counter}{{{settings.job_selector}}}[{window}]))")


def _job_sum(kind: Kind, operation: str) -> Rule:
    return Rule(record=name(kind, "job", operation),
                expr=f"sum by (job) ({name(kind, kind.label, operation)})")


def _ratio(kind: Kind, window: str) -> Rule:
    return Rule(record=name(kind, kind.label, f"ratio_rate{window}"), expr=block(f"""
        {name(kind, kind.label, f"increase{window}")}
          / ignoring ({kind.label}) group_left ()
        ({name(kind, "job", f"increase{window}")} > 0)
        """))


def ratio_rules(settings: Settings) -> list[Rule]:
    """counter -> increase -> ratio -> bound, in evaluation order."""
    tx, ac = TRANSACTIONS, AUTH_CODE_COUNTS
    found = [_counter(tx, settings, "increase", w) for w in ("5m", "10m", "1h")]
    found += [_job_sum(tx, f"increase{w}") for w in ("5m", "10m", "1h")]
    found += [_counter(tx, settings, "rate", "5m"), _job_sum(tx, "rate5m")]
    found += [_counter(ac, settings, "increase", w) for w in ("5m", "1h")]
    found += [_job_sum(ac, f"increase{w}") for w in ("5m", "1h")]
    found += [_ratio(kind, w) for kind in (tx, ac) for w in ("5m", "1h")]
    wilson = bounds(settings)
    for i, b in enumerate(wilson):
        found.append(Rule(record=b.record, expr=wilson_lower(b.share, b.total, b.label,
                                                             b.confidence.z),
                          comment=explain(wilson) if i == 0 else ""))
    return found


def _baseline(record: str, of: str, pick: str, by: str, comment: str = "") -> Rule:
    """``pick`` (min or max) of the same window yesterday and last week."""
    return Rule(record=record, comment=comment, expr=block(f"""
        {pick} by ({by}) (
             label_replace({of} offset 1d, "window", "1d", "", "")
          or label_replace({of} offset 1w, "window", "1w", "", "")
        )
        """))


def _limit(base: str) -> str:
    """``base * factor + margin`` with the factor and margin rows of the threshold table."""
    table = "threshold:payment_transactions:"
    return block(f"""
        (
            (
                {base}
              * on (status) group_left (severity) {table}baseline_factor
            )
          + on (status) group_left {table}baseline_margin
        )
        """)


def baseline_rules() -> list[Rule]:
    tx = TRANSACTIONS
    ratio1h = name(tx, "status", "ratio_rate1h")
    return [
        _baseline(f"{ratio1h}_baseline", ratio1h, "min", "job, status", comment=(
            "Same hour yesterday and last week; the lower of the two, so one past incident\n"
            "does not inflate the baseline. Absent during warm-up (alerts fall back to the "
            "table).")),
        _baseline(name(tx, "job", "increase1h_baseline"), name(tx, "job", "increase1h"),
                  "max", "job"),
        _baseline(name(tx, "status", "increase10m_baseline"),
                  name(tx, "status", "increase10m"), "min", "job, status"),
        Rule(record=name(tx, "status", "ratio_baseline_limit"),
             expr=(_limit(f"{ratio1h}_baseline") + "or on (status)\n"
                   + _limit("threshold:payment_transactions:ratio_normal")),
             gap=True, comment=(
                 "Effective limit of the baseline alert: baseline * factor + margin, where the "
                 "baseline\nis the same hour yesterday / last week, or during warm-up the "
                 "table's normal share.")),
    ]


def daily_rules() -> list[Rule]:
    rate = name(TRANSACTIONS, "job", "rate5m")
    return [
        Rule(record=f"{rate}_avg_over_time1d", expr=f"avg_over_time({rate}[1d])"),
        Rule(record=f"{rate}_stddev_over_time1d", expr=f"stddev_over_time({rate}[1d])"),
        Rule(record=f"{rate}_zscore1d", expr=block(f"""
            ({rate} - {rate}_avg_over_time1d)
              / ({rate}_stddev_over_time1d > 0)
            """)),
    ]


def groups(settings: Settings) -> list[Group]:
    return [
        Group("txwatch.ratios", ratio_rules(settings), comment=(
            "One group for the whole chain counter -> increase -> ratio -> bound: rules in a "
            "group\nrun in order at the same evaluation, so the chain adds no "
            "evaluation-interval lag.")),
        Group("txwatch.baselines", baseline_rules()),
        Group("txwatch.baselines_daily", daily_rules(), interval="5m", comment=(
            "Daily mean and spread of the volume: slow-moving, so every 5 minutes is enough.")),
    ]
