"""Traffic profiles for the generator: the merchants txwatch must fit, not only one data set.

A profile fixes the traffic shape (daily peak and trough, weekend and holiday factors, an
hour-to-hour wobble so no baseline is perfectly flat), the normal share of every status,
the auth-code mix of denials, and which incident kinds are injected when. Counts are drawn
from Poisson and multinomial distributions around these expectations (``generate.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

BASE_SHARE: Mapping[str, float] = {"denied": 0.055, "failed": 0.001, "reversed": 0.008,
                                   "backend_reversed": 0.0005, "refunded": 0.008}


@dataclass(frozen=True)
class IncidentKind:
    """What an incident does: target shares, a volume factor, a code-59 mix, a ramp."""

    name: str
    minutes: int
    statuses: tuple[str, ...]  # what it is about ("all" for the whole flow)
    shares: Mapping[str, float] = field(default_factory=dict)  # absolute target shares
    volume: float = 1.0
    ramp: bool = False  # shares move from the normal level to the target over the span
    code59: float | None = None  # share of denials that carry code 59 during the incident


KINDS: dict[str, IncidentKind] = {k.name: k for k in (
    IncidentKind("failed_spike", 30, ("failed", "backend_reversed"),
                 {"failed": 0.06, "backend_reversed": 0.03}),
    IncidentKind("failed_spike_night", 30, ("failed", "backend_reversed"),
                 {"failed": 0.10, "backend_reversed": 0.04}),
    IncidentKind("denied_spike", 25, ("denied",), {"denied": 0.25}),
    IncidentKind("reversed_spike", 30, ("reversed",), {"reversed": 0.06}),
    IncidentKind("backend_reversed_spike", 40, ("backend_reversed",),
                 {"backend_reversed": 0.03}),
    IncidentKind("failed_ramp", 90, ("failed",), {"failed": 0.04}, ramp=True),
    IncidentKind("outage", 15, ("all", "approved"), volume=0.0),
    IncidentKind("approved_drop", 45, ("approved",), volume=0.3),
    IncidentKind("auth_code_spike", 25, ("denied",), {"denied": 0.20}, code59=0.9),
    # The incidents one data set does not show (issue: detection that fits every merchant).
    IncidentKind("denied_rise", 30, ("denied",), {"denied": 0.09}),
    IncidentKind("reversed_drift", 180, ("reversed",), {"reversed": 0.04}, ramp=True),
    IncidentKind("code_mix_shift", 20, ("denied",), {"denied": 0.06}, code59=0.6),
    IncidentKind("partial_outage", 20, ("all", "approved"), volume=0.4),
    IncidentKind("full_outage", 10, ("all", "approved"), volume=0.0),
)}

# The demo's rotation: (kind, hour of day UTC); nights (00-05) are the low-volume trap.
DEMO_SCHEDULE: tuple[tuple[str, int], ...] = (
    ("failed_spike", 11), ("failed_spike_night", 2), ("denied_spike", 17),
    ("reversed_spike", 21), ("outage", 8), ("backend_reversed_spike", 4),
    ("failed_ramp", 14), ("approved_drop", 19), ("auth_code_spike", 1),
)


@dataclass(frozen=True)
class Profile:
    """One merchant's normal traffic and the incidents injected into it."""

    name: str
    description: str
    peak: float = 130.0  # expected transactions per minute at 15:00 UTC
    trough: float = 15.0  # ... at 03:00 UTC
    weekend: float = 1.0  # volume factor on Saturdays and Sundays
    holidays: tuple[int, ...] = ()  # day numbers (0 = first day) at the holiday factor
    holiday: float = 1.0
    wobble: float = 0.0  # standard deviation of an hourly log-normal factor on the rate
    shares: Mapping[str, float] = field(default_factory=lambda: dict(BASE_SHARE))
    denied_51: float = 0.45  # share of denials with code 51; the rest are 59
    schedule: tuple[tuple[str, int], ...] = DEMO_SCHEDULE
    per_day: int = 3
    business_days_only: bool = False  # incidents only on weekdays that are not holidays
    days: int = 7  # default length


def _shares(**changes: float) -> dict[str, float]:
    return {**BASE_SHARE, **changes}


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("demo", "the built-in demo: ~130/min by day, ~15 at night, 9 incident kinds"),
    Profile("big_merchant", "~1,500/min with a daily cycle; denied 5.5% -> 9% by day and night",
            peak=1800.0, trough=450.0, wobble=0.05, per_day=2, days=10,
            schedule=(("denied_rise", 14), ("denied_rise", 3), ("failed_spike", 10),
                      ("partial_outage", 20), ("full_outage", 2))),
    Profile("small_shop", "~4/min by day, 0-1 at night, scattered single failures",
            peak=4.5, trough=0.3, wobble=0.1, shares=_shares(failed=0.004), per_day=1,
            days=10, schedule=(("failed_spike", 13), ("full_outage", 11),
                               ("partial_outage", 15), ("denied_spike", 16))),
    Profile("high_decline", "denied normally 12%, reversed 2%",
            wobble=0.05, shares=_shares(denied=0.12, reversed=0.02), per_day=2, days=10,
            schedule=(("denied_spike", 15), ("reversed_spike", 11), ("failed_spike", 3),
                      ("approved_drop", 18))),
    Profile("weekly", "weekends at 40% of weekdays, a holiday weekday at 30%",
            wobble=0.05, weekend=0.4, holidays=(9,), holiday=0.3, per_day=1, days=14,
            business_days_only=True,
            schedule=(("partial_outage", 10), ("partial_outage", 16), ("failed_spike", 12))),
    Profile("drift", "the reversed share creeping 0.8% -> 4% over 3 hours",
            wobble=0.05, per_day=1, days=8,
            schedule=(("reversed_drift", 9), ("failed_ramp", 14), ("reversed_drift", 1))),
    Profile("fraud", "code 59 replacing 51 while the denied share barely moves",
            wobble=0.05, denied_51=0.8, per_day=1, days=8,
            schedule=(("code_mix_shift", 14), ("code_mix_shift", 2))),
    Profile("outages", "full outages by day and night, partial outages",
            wobble=0.05, per_day=2, days=8,
            schedule=(("full_outage", 10), ("full_outage", 3), ("partial_outage", 16),
                      ("partial_outage", 22))),
)}
