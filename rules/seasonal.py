"""What this hour normally brings: the seasonal expectation PaymentTrafficLow judges against.

For each volume window and each seasonal offset (a day ago; a week ago, and an hour either
side of it for a daylight-saving change of the merchant's clock), the expected count
is the count of the same window at that offset, scaled to today by how the hours before
the window compare with the same hours then:

    expected(w, k) = count(w, offset k) x hours(before now) / hours(before now, offset k)

The shape (a steep evening decline, a weekend or holiday that switches at midnight, a
merchant's local clock) comes from the day or week it copies, the level from today. The
alert judges a drop against the lowest expectation (a drop must be a drop against both
yesterday and last week: a Saturday is no drop against last Saturday, a normal Friday no
drop against yesterday after last week's busy Friday; in the week after a clock change,
last week's midnight lies an hour off in UTC). Recorded, so the alert reads no
offset (its backtest look-back stays minutes, not a week) and the costly part, the hours
before, is summed once per 5 minutes through an aligned subquery (``backtest/cadence.py``).
"""

from __future__ import annotations

from txwatch.contract import TRANSACTIONS

from .alertrule import TABLE
from .inline import counts, minutes
from .names import name
from .settings import Settings
from .yamltext import Group, Rule

REFERENCE = "reference"  # the label naming each expectation's offset ("1d", "1w")


def hours() -> str:
    """The recorded count of the hours before (``volume_scale_range``)."""
    return name(TRANSACTIONS, "job", "volume_hours")


def scale() -> str:
    return name(TRANSACTIONS, "job", "volume_scale")


def expected(window: str) -> str:
    """The recorded seasonal expectation of ``window``: the lowest of the offsets, labelled
    with the one it came from (one series: four per window cost a 30-day backtest
    seconds each)."""
    return name(TRANSACTIONS, "job", f"volume_expected{window}")


def rules(s: Settings) -> list[Rule]:
    tx = TRANSACTIONS
    five = name(tx, "job", "increase5m")
    span = f"[{s.volume_scale_range}:5m]"
    whole = int(minutes(s.volume_scale_range) // 5)
    found = [Rule(record=hours(), expr=(
        f"sum_over_time({five}{span})\n  and on (job)\ncount_over_time({five}{span}) >= {whole}\n"),
        comment=(
        "The hours before, from 5-minute increases sampled on 5-minute edges (only once they\n"
        "are all there): what today is compared with the same hours a day and a week ago\n"
        "(PaymentTrafficLow)."))]
    for k in s.volume_seasons:
        # Only where the same hours then were busy enough to scale by (busy_min).
        found.append(Rule(record=scale(), labels={REFERENCE: k}, expr=(
            f"{hours()}\n  / on (job)\n({hours()} offset {k} >= scalar({TABLE}busy_min))\n")))
    for w in s.volume_windows:
        # The lowest expectation, its reference label naming the offset it came from
        each = "\n  or\n".join(
            f"  {scale()}{{{REFERENCE}=\"{k}\"}}\n    * on (job) group_left ()\n"
            f"  {counts(tx, s, w, 'job', offset=k)}" for k in s.volume_seasons)
        found.append(Rule(record=expected(w), expr=f"bottomk by (job) (1,\n{each}\n)\n"))
    return found


def group(s: Settings) -> Group:
    return Group("txwatch.volume", rules(s), comment=(
        "Seasonal expectations of the volume windows (see the module txwatch.rules.seasonal):\n"
        "the same window a day and a week ago, scaled to today by the hours before it."))


def lowest(window: str) -> str:
    """The lowest seasonal expectation of ``window`` available (none in the first day)."""
    return f"min by (job) ({expected(window)})"
