"""Traffic profiles for the generator: the merchants txwatch must fit, not only one data set.

A profile fixes the traffic shape (daily peak and trough, weekend and holiday factors, an
hour-to-hour wobble so no baseline is perfectly flat), the normal share of every status,
the auth-code mix of denials, and which incident kinds (``kinds.py``) are injected when.
Counts are drawn from Poisson and multinomial distributions around these expectations
(``generate.py``).

Profiles are examples of classes of merchant, not targets: the later ones add the traits of
traffic nobody described in the first data set (many decline codes, a local clock with a
daylight-saving shift, weekends and a busy day that switch at midnight, near-empty nights,
moderate rises, slides and creeps). Every new trait sits behind a field whose default keeps
the older profiles' code path, so their files stay byte-identical for a seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from txwatch.history.kinds import KINDS, IncidentKind

__all__ = ["BASE_SHARE", "KINDS", "PROFILES", "IncidentKind", "Profile", "SegmentPlan"]

BASE_SHARE: Mapping[str, float] = {"denied": 0.055, "failed": 0.001, "reversed": 0.008,
                                   "backend_reversed": 0.0005, "refunded": 0.008}

# The demo's rotation: (kind, hour of day UTC); nights (00-05) are the low-volume trap.
DEMO_SCHEDULE: tuple[tuple[str, int], ...] = (
    ("failed_spike", 11), ("failed_spike_night", 2), ("denied_spike", 17),
    ("reversed_spike", 21), ("outage", 8), ("backend_reversed_spike", 4),
    ("failed_ramp", 14), ("approved_drop", 19), ("auth_code_spike", 1),
)


@dataclass(frozen=True)
class SegmentPlan:
    """A flow split into segments (acquirers, brands...): sizes, normals and the incidents.

    Sizes follow a power law (segment k of n gets a share proportional to k^-skew), so a few
    segments carry most of the traffic and a long tail carries a percent or less each: the
    case where an incident in one small segment barely moves the whole flow. Each segment's
    normal shares are the profile's, times a log-normal factor per segment and status
    (``spread``): segments decline, fail and refund at levels of their own. A schedule
    entry is (incident kind, hour, the segments it hits by number, 1 = the largest; None:
    every segment at once, as when an issuer or the gateway itself fails).
    """

    dimension: str = "acquirer"
    prefix: str = "acq"
    count: int = 50
    skew: float = 0.9
    spread: float = 0.35
    schedule: tuple[tuple[str, int, tuple[int, ...] | None], ...] = ()

    def names(self) -> list[str]:
        """The segments' values, largest first: acq-01, acq-02, ..."""
        width = max(2, len(str(self.count)))
        return [f"{self.prefix}-{k:0{width}d}" for k in range(1, self.count + 1)]


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
    start: str | None = None  # first minute (UTC) when the caller names none
    # Traits of traffic nobody described (defaults: the original generator, bit for bit).
    timezone: str | None = None  # the merchant's clock (cycle, days): DST moves it in UTC
    abrupt_days: bool = False  # weekend / holiday / busy levels switch at midnight
    busy_days: tuple[int, ...] = ()  # day numbers (profile clock) at the busy factor
    busy: float = 1.0
    cycle_power: float = 1.0  # > 1: the daily bell is narrower, nights near the trough
    # code -> share of the denials; None keeps the 51 / 59 split of ``denied_51``
    decline_mix: Mapping[str, float] | None = None
    segments: SegmentPlan | None = None  # None: one flow (segmented.py otherwise)

    @property
    def plain_clock(self) -> bool:
        """True when the day shape is the original one (UTC, eased, no busy day)."""
        return (self.timezone is None and not self.abrupt_days and not self.busy_days
                and self.cycle_power == 1.0)


def _shares(**changes: float) -> dict[str, float]:
    return {**BASE_SHARE, **changes}


# An issuer's everyday answers, as shares of the denials (00 stays the approval's code).
MANY_CODES: Mapping[str, float] = {
    "51": 0.35, "05": 0.20, "59": 0.12, "14": 0.08, "54": 0.06, "57": 0.05, "61": 0.04,
    "91": 0.03, "96": 0.02, "62": 0.02, "65": 0.02, "41": 0.01}


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
    Profile("many_codes", "12 decline codes; bursts of a rare (91), an unlisted (75) and a "
            "listed code (59), by day and by night", peak=320.0, trough=35.0, wobble=0.05,
            decline_mix=MANY_CODES, per_day=2, days=8,
            schedule=(("code_burst", 14), ("code_burst_unlisted", 2), ("code_burst_59", 11),
                      ("code_burst", 1), ("code_burst_unlisted", 16), ("code_burst_59", 4))),
    Profile("seasonal", "Berlin clock across the March DST change; weekends, a holiday and "
            "a 1.6x busy Friday switching at midnight; a few real outages",
            peak=180.0, trough=12.0, wobble=0.05, shares=_shares(denied=0.07, reversed=0.01),
            decline_mix=MANY_CODES, timezone="Europe/Berlin", abrupt_days=True,
            weekend=0.55, holidays=(10,), holiday=0.35, busy_days=(4,), busy=1.6,
            start="2025-03-24 00:00", days=15, per_day=1, business_days_only=True,
            schedule=(("partial_outage", 10), ("full_outage", 15), ("partial_outage", 19),
                      ("failed_spike", 12))),
    Profile("moderate", "moderate rises: failed 0.08% -> 0.8% with denied -> 8% at night, "
            "backend_reversed 25x by day, denied -> 8.3% at ~150-200/min",
            peak=250.0, trough=50.0, wobble=0.05, shares=_shares(failed=0.0008),
            decline_mix=MANY_CODES, per_day=2, days=9,
            schedule=(("failed_denied_rise", 1), ("denied_rise_moderate", 10),
                      ("backend_reversed_rise", 14), ("denied_rise_moderate", 20),
                      ("failed_denied_rise", 2), ("backend_reversed_rise", 11))),
    Profile("creep", "slides and creeps: volume to 25% over 45 min, failed 0.08% -> 2% over "
            "an hour, reversed 0.8% -> 4% over 3 hours", peak=600.0, trough=70.0,
            wobble=0.05, shares=_shares(failed=0.0008), per_day=2, days=8,
            schedule=(("volume_slide", 15), ("failed_creep", 9), ("reversed_drift", 8),
                      ("volume_slide", 21), ("failed_creep", 2), ("reversed_drift", 13))),
    Profile("tiny_nights", "~90/min by day, near-empty nights of 1-5/min (23:00-07:00)",
            peak=90.0, trough=2.0, cycle_power=3.0, wobble=0.08,
            shares=_shares(denied=0.045, failed=0.002),
            decline_mix={"51": 0.5, "05": 0.3, "14": 0.1, "59": 0.1}, per_day=1, days=8,
            schedule=(("failed_spike", 14), ("partial_outage", 10), ("full_outage", 2),
                      ("denied_spike", 17))),
    # 50 acquirers: acq-01..03 carry 35%, acq-04 5.4%, acq-25 1.0%, acq-50 0.55%.
    Profile("segments", "50 acquirers of skewed sizes, each its own normal; one failing "
            "fully (5% of traffic), denials +10 points in one of 1%, spikes in several and in "
            "all", peak=3000.0, trough=600.0, wobble=0.05, per_day=2, days=14,
            segments=SegmentPlan(schedule=(
                ("acquirer_failing", 14, (4,)), ("denied_rise_segment", 17, (25,)),
                ("failed_spike", 10, (2, 9, 17)), ("failed_spike", 3, None),
                ("acquirer_failing", 2, (4,)), ("denied_rise_segment", 11, (25,)),
                ("denied_spike", 20, None), ("partial_outage", 15, (1,))))),
)}
