"""The recording rules (rules/recording.yml) as code.

Names follow ``level:metric:operations`` and come from the metric contract
(``txwatch.contract``), so a renamed counter renames every rule that reads it. Only the
rules that read the exported counters carry the job selector; everything else reads
recorded series, which already carry the ``job`` label.
"""

from __future__ import annotations

from txwatch.contract import AUTH_CODE_COUNTS, TRANSACTIONS, Kind

from .mix import mix_rules
from .names import name
from .normals import group as normals_group
from .seasonal import group as seasonal_group
from .segments import normals_group as segments_group
from .settings import Settings
from .wilson import Bound, explain, wilson_lower
from .yamltext import Group, Rule, block

HEADER_NOTE = """\
Recording rules: rates, ratios, confidence bounds and baselines of the payment counters.
Names follow level:metric:operations. Everything reads the counters through increase(),
summed by (job, status) so several exporter replicas add up correctly."""


def bounds(settings: Settings) -> list[Bound]:
    """The three recorded Wilson bounds and the confidence each uses."""
    tx, ac = TRANSACTIONS, AUTH_CODE_COUNTS
    return [
        Bound(name(tx, tx.label, "ratio_wilson_lower5m"), name(tx, tx.label, "increase5m"),
              name(tx, "job", "increase5m"), tx.label, settings.status_5m,
              "drawn on the boards; the fast alert computes the same bound inline and pages "
              "on it without `for`"),
        Bound(name(tx, tx.label, "ratio_wilson_lower1h"), name(tx, tx.label, "increase1h"),
              name(tx, "job", "increase1h"), tx.label, settings.status_1h,
              "drawn on the boards (the paging alerts compute their bounds inline)"),
        Bound(name(ac, ac.label, "ratio_wilson_lower5m"), name(ac, ac.label, "increase5m"),
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
        found.append(Rule(record=b.record, expr=wilson_lower(b.count, b.total, b.label,
                                                             b.confidence.z),
                          comment=explain(wilson) if i == 0 else ""))
    return found


def groups(settings: Settings) -> list[Group]:
    return [
        Group("txwatch.ratios", ratio_rules(settings), comment=(
            "One group for the whole chain counter -> increase -> ratio -> bound: rules in a "
            "group\nrun in order at the same evaluation, so the chain adds no "
            "evaluation-interval lag.")),
        normals_group(settings, mix_rules(settings)),
        seasonal_group(settings),
    ] + ([segments_group(settings)] if settings.segment_dimensions else [])
