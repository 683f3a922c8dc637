"""The issuer code mix: which decline codes the declines carry, against this deployment's own
normal mix.

A fraud wave can swap one decline code for another (59 "suspected fraud" replacing 51
"insufficient funds") while the denied share barely moves, so neither the status alerts
nor the share of a code among *all* codes (approvals included, where a few extra 59s are
lost in the noise) see it. Among the declines alone the same shift is large: in the
``fraud`` profile 59 goes from ~20% to ~60% of them. The alert compares each decline code's
share of the declines (the Wilson lower bound, over a short and a long window) with a limit
learned from this deployment's history: the code's median hourly share of the declines over
the last week,
x factor + margin, within the table's floor and cap (``mix_*`` rows of thresholds.yml).
"""

from __future__ import annotations

from txwatch.contract import APPROVED_AUTH_CODE, AUTH_CODE_COUNTS, Kind

from .inline import counts
from .inputs import Definer, recorded
from .messages import COUNT, PERCENT, SLOT, asked, asked_bound, data_minute, shown_share
from .names import name
from .normals import limit, limit_rule, normal, shown_normal
from .settings import Settings
from .wilson import number, wilson_score
from .yamltext import Rule, block

PREFIX = "mix"
DECLINES = f'auth_code!="{APPROVED_AUTH_CODE}"'  # every code but the approval's


def mix_normal_rule(s: Settings) -> Rule:
    """Each decline code's median share of the declines, hour by hour over the learning
    range; only with ``normal_min_hours`` such hours and ``mix_min_events`` declines in all.
    The median, not the pooled share the statuses learn: a denied spike is a burst of one
    code (the real data's first one is 850 declines in an hour, 84% of them 51), and pooled
    into the first day's normal it drags the other code's normal down until its ordinary
    share looks like a shift. Decline codes are common, so the median of a rare code being
    0 (why the statuses pool) matters little here: the floor stands in.

    A code first seen a few hours ago (the exporter exposes a code from its first push on)
    has a median over those hours only, which may be the very burst that made it appear:
    the median is scaled by the share of the learning range the code has existed in (its
    hours before were hours at 0), which is 1 for every code seen from the start."""
    ac = AUTH_CODE_COUNTS
    hourly = f"{name(ac, ac.label, 'increase1h')}{{{DECLINES}}}"
    grid = f"[{s.normal_range}:1h]"
    everything = f"{name(ac, 'job', 'increase1h')}{grid}"
    return Rule(record=normal(ac, PREFIX), expr=block(f"""
        quantile_over_time(0.5, (
            {hourly}
          / ignoring ({ac.label}) group_left ()
            (sum by (job) ({hourly}) > 0)
        ){grid})
          * count_over_time({hourly}{grid})
          / ignoring ({ac.label}) group_left ()
        count_over_time({everything})
          and on (job)
        sum by (job) (sum_over_time({hourly}{grid})) >= {s.mix_min_events}
          and on (job)
        count_over_time({everything}) >= {s.normal_min_hours}
        """))


def mix_rules(s: Settings) -> tuple[Rule, ...]:
    """The learned normal mix and the limit derived from it (recorded: they move slowly)."""
    return (mix_normal_rule(s), limit_rule(AUTH_CODE_COUNTS, "fast", "warning", PREFIX))


def declines(s: Settings, window: str, by: str) -> str:
    """Decline codes counted over ``window``, summed ``by`` the given labels."""
    return counts(AUTH_CODE_COUNTS, s, window, by, DECLINES)


def mix_definers(s: Settings) -> dict[str, Definer]:
    """``mix_z<window>``: how far each decline code's share of the declines over the window
    sits above its mix limit, in standard deviations (the score form of the Wilson bound,
    :func:`.wilson.wilson_score`)."""
    def mix_z(kind: Kind, at: str, window: str) -> str:
        return wilson_score(declines(s, window, "job, auth_code"), declines(s, window, "job"),
                            limit(kind, "fast", PREFIX), kind.label)
    return {"mix_z": mix_z}


def mix_expr(s: Settings) -> str:
    """Any window of ``mix_windows`` shifted at the mix confidence, with at least
    ``min_events`` of that code in it: the short one is quick by day, the long one gathers
    enough declines at night."""
    ac = AUTH_CODE_COUNTS
    return "or\n".join(
        f"(\n    {recorded(ac, 'mix_z', w)} > {number(s.mix.z)}\n"
        f"  and on (job, auth_code) {declines(s, w, 'job, auth_code')} >= {s.min_events}\n)\n"
        for w in s.mix_windows)


def mix_text(s: Settings) -> tuple[str, str]:
    """(summary, description): the code's share of the declines in each window, with its
    counts, against the learned normal and the limit."""
    ac = AUTH_CODE_COUNTS
    own = f'{ac.label}="{SLOT}"'
    mine = f"{{{own}}}"
    limit_now = asked(f"max({limit(ac, 'fast', PREFIX)}{mine})", PERCENT, ac.label)
    usual = asked(shown_normal(ac, PREFIX, mine),
                  PERCENT, ac.label)

    def mine_and_all(window: str) -> tuple[str, str]:  # this code's declines, all declines
        return counts(ac, s, window, "job", own), declines(s, window, "job")

    def window_facts(window: str) -> str:
        k, n = mine_and_all(window)
        return (f"{shown_share(k, n, ac.label)} over {window} "
                f"({asked(f'round({k})', COUNT, ac.label)} of {asked(f'round({n})', COUNT)})")

    first = s.mix_windows[0]
    bound = asked_bound(*mine_and_all(first), ac.label, s.mix.z)

    code = "code {{ $labels.auth_code }}"
    each = "; ".join(window_facts(w) for w in s.mix_windows)
    summary = f"Decline mix shifted: {code} is {window_facts(first)} of the " \
              f"declines, normally {usual}"
    description = (
        f"The share of {code} among the declined transactions' codes: {each}. This "
        f"deployment's normal share of its declines is {usual} and the limit {limit_now} "
        "(normal x factor + margin, within the table's floor and cap). In the shortest "
        f"window that shows the shift the code's count is {{{{ $value | printf \"%.1f\" }}}} "
        f"standard deviations above what the limit allows (more than {number(s.mix.z)}: "
        f"the lower {s.mix.text} confidence bound of its share is above the limit; over "
        f"{first} that bound is {bound}). The declines may be no more frequent than usual, "
        f"but their reason changed: a fraud wave or an issuer rule change.{data_minute(s)}")
    return summary, description
