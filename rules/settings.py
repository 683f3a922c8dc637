"""The one definition of what a rendering of the rules may vary: job, runbook, confidence.

Everything that used to be typed by hand in several places of ``recording.yml`` and
``alerts.yml`` (the job selector, the runbook URL base, the z of each Wilson bound and the
confidence level the text names) lives here once; the rule renderers, the boards
(``scripts/dashboards.py``) and the CLI read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from statistics import NormalDist

from txwatch import contract, ports

# The sink serves docs/runbook.md at /runbook (web/runbook.py); ports.SINK is its port in
# docker-compose.yml and the local stack. A deployment whose runbook lives elsewhere renders
# its rules with ``python -m txwatch.rules --runbook-base URL``; the demo renders its own
# with the port it runs on.
RUNBOOK_BASE = f"http://localhost:{ports.SINK}/runbook"


@dataclass(frozen=True)
class Confidence:
    """A one-sided confidence level, defined by its z: the number PromQL multiplies by.

    The z is the definition (behaviour depends on it, the backtests tuned it); the level
    the text names is derived from it, so the two cannot drift apart.
    """

    z: float

    @property
    def level(self) -> float:
        """The exact one-sided level, P(Z <= z)."""
        return NormalDist().cdf(self.z)

    @property
    def text(self) -> str:
        """The level as people write it: the shortest percentage whose z, rounded to the
        precision z is given with, is z (3.09 -> "99.9%", 2.33 -> "99%", 1.96 -> "97.5%")."""
        decimals = max(0, -int(Decimal(repr(self.z)).as_tuple().exponent))
        for digits in range(7):
            percent = round(self.level * 100, digits)
            if 0 < percent < 100 and round(
                    NormalDist().inv_cdf(percent / 100), decimals) == round(self.z, decimals):
                return f"{percent:.{digits}f}%"
        return f"{self.level:.6%}"


def label_value(value: str) -> str:
    """A PromQL string literal (double-quoted, escaped) for a label matcher."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


# The confidence a limit is held to when the count is also far above the normal share
GUARD = Confidence(2.33)


@dataclass(frozen=True)
class Settings:
    """What one rendering of the rule files is made of.

    ``job``: the scrape job whose counters the rules read (``job="..."`` in every selector of
    an exported series). ``runbook_base``: the runbook page; every alert links to
    ``<base>#<alertname lowercased>``. The three ``Confidence`` fields are the Wilson bounds
    (their z is below and nowhere else): the 5-minute status bound is the strictest because
    the fast alert pages on it without ``for``, about 1,440 evaluations a day per status; the
    1-hour status bound and the 5-minute auth-code bound feed alerts with ``for`` (see
    docs/runbook.md, "Backtesting").
    """

    job: str = contract.JOB
    runbook_base: str = RUNBOOK_BASE
    status_5m: Confidence = Confidence(3.72)
    status_1h: Confidence = Confidence(2.33)
    auth_code_5m: Confidence = Confidence(2.33)
    # The paging alerts (computed inline from the counters, see rules/inline.py):
    fast_window: str = "5m"  # the fast (paging) share alert's window (spikes)
    slow_window: str = "30m"  # the slow share alert's window (drifts, moderate rises)
    status_slow: Confidence = Confidence(3.09)
    # ... or: significantly above the normal share itself (a Poisson test that holds at a
    # small shop's few events) and above the slow limit at a lower confidence; None: off
    status_slow_normal: Confidence | None = Confidence(3.72)
    # ... and the same second test for the fast (paging) alert, with a stricter Poisson z:
    # it pages without ``for`` (None: off)
    status_fast_normal: Confidence | None = Confidence(4.42)
    # PaymentRatioAboveNormal (rules/rise.py): a status' count over any of these windows
    # significantly above what its normal share implies (Poisson, at this confidence: it
    # pages without ``for``), and materially so (the table's rise_* rows)
    rise: Confidence = Confidence(4.42)
    rise_warning: Confidence | None = Confidence(3.89)  # ... and a chat warning (None: off)
    rise_windows: tuple[str, ...] = ("15m", "30m", "60m")
    # PaymentAuthCodeAboveNormal: the same test for each decline code, from 5 minutes (a
    # code has no 5-minute alert of its own), stricter: a deployment sends a dozen codes or
    # more, each tested every minute, where there are four statuses
    code_rise_windows: tuple[str, ...] = ("5m", "15m", "30m")
    code_rise: Confidence = Confidence(5.0)
    code_rise_warning: Confidence | None = Confidence(4.42)
    auth_code_window: str = "10m"
    auth_code: Confidence = Confidence(2.33)
    auth_code_for: str = "2m"
    # A decline code is watched from the first edge of this step after it appears (read
    # through a subquery at this step, the watched set and the limits built on it change
    # only on its edges, which the backtest exploits); tests of a live stack shorten it.
    code_watch_step: str = "5m"
    # The code mix (rules/mix.py): each decline code's share of all decline codes
    mix_windows: tuple[str, ...] = ("10m", "20m", "30m")
    mix: Confidence = Confidence(2.33)
    mix_min_events: int = 200  # a learned normal mix needs this many declines behind it
    volume: Confidence = Confidence(4.0)  # Poisson bound of PaymentTrafficLow
    volume_windows: tuple[str, ...] = ("3m", "5m", "15m", "30m")
    volume_reference: str = "30m"  # the level a window is compared with: the 30m before it
    volume_allowance: float = 0.85  # significantly below 85% of it (the daily cycle's slope)
    # ---- PaymentTrafficLow against what this hour normally brings (rules/seasonal.py) ----
    # The same window a day and a week ago (the daily and the weekly cycle), each scaled to
    # today by the hours before it against the same hours then; the lowest expectation
    # available is judged against (a drop must be one against both), the recent level
    # only before a day of history exists. Structural choices, not fitted: the two cycles
    # payment traffic has, and hours enough that their own Poisson noise is small.
    # ... and a week ago an hour either side: a daylight-saving change moves a merchant's
    # local day an hour in UTC, and its week-ago midnight with it, for a whole week
    volume_seasons: tuple[str, ...] = ("1d", "1w", "167h", "169h")
    volume_scale_range: str = "3h"  # the hours today is compared by (from 5m increases)
    # A page of the recent-level test needs the seasonal test to agree at this confidence
    # (its own noise counted: a count of another day): the guard's 99%, looser than the
    # alert's own z, since the recent level's test has already held at it
    volume_veto: Confidence = GUARD
    keep_firing_for: str = "10m"  # a payment alert stays firing this long after it clears
    # ... and the fast share alert longer: without ``for`` on a 5-minute window it flickers
    # across its limit inside long incidents (a drift's top, a slow recovery)
    keep_fast_firing_for: str = "20m"
    # ... and once firing it is held while the 5m share itself (not its bound) is above the
    # fast limit (hysteresis: a drift hovering around the limit is one page, not several)
    fast_hold: bool = True
    # ... and the slow (warning) one longer too: after an incident its hour still holds the
    # incident, and the 5m share it also asks for crosses the limit by chance, so a warning
    # cleared a few minutes earlier came back as a second message about the same incident
    # (10m: 16 such echoes over 24 generated runs; 25m: 1, nothing else changed)
    keep_slow_firing_for: str = "25m"
    min_events: int = 3  # a share alert needs at least this many events of its status
    # ... and the fast (paging) one this many transactions in its 5 minutes: 3 denials of
    # the 3 transactions of a small shop's night minutes are rare (P ~ 2e-4 a window) but
    # their windows are many, and not worth waking anyone for (the slow alert still warns)
    fast_min_transactions: int = 10
    stop_windows: tuple[str, ...] = ("2m", "3m", "5m", "10m", "30m")
    stop_reference: str = "1h"  # a stop window is judged against the level of the hour before
    normal_range: str = "7d"  # history the normal shares are learned from
    normal_min_hours: int = 3  # below this much history, the share of the hours so far
    normal_min_events: int = 1000  # a learned normal needs this many events behind it
    # Each hour a normal learns from counts at most the Poisson upper bound, at this
    # confidence, of what the median hourly share implies for it: an incident hour counts as
    # an unusually busy ordinary hour (normals that do not learn incidents)
    normal_clip: Confidence = Confidence(3.09)

    # ---- Segments (rules/segments.py): each segment's statuses against its own normal ----
    segment_dimensions: tuple[str, ...] = contract.SEGMENT_DIMENSIONS
    segment_windows: tuple[str, ...] = ("5m", "15m", "30m")
    # Every segment is tested where the flow is tested once: the segment page's one-sided
    # tail is the flow's rise page's divided by this many segments (the exporter's default
    # bound per dimension), so all segments together page on noise no more often than the
    # flow alone (Bonferroni; a derivation, not a fit: see segment_rise)
    segments_judged: int = contract.MAX_SEGMENT_VALUES
    # A segment's volume is judged by its share of the flow over the hours before (the
    # seasonal scale's volume_scale_range, once they are all there): the flow's own cycle,
    # a weekend, a holiday move every segment alike, and a segment silent for a while is
    # still expected to carry its share
    segment_volume_windows: tuple[str, ...] = ("5m", "15m", "30m")

    @property
    def segment_rise(self) -> Confidence:
        """The Poisson confidence of the segment share page: the flow's rise page's tail
        shared by ``segments_judged`` segments (4.42 and 100 segments: 5.33)."""
        return self._shared(self.rise)

    @property
    def segment_volume(self) -> Confidence:
        """... and of the segment volume page: the flow's volume page's (4.0: 5.0)."""
        return self._shared(self.volume)

    def _shared(self, flow: Confidence) -> Confidence:
        tail = (1 - flow.level) / self.segments_judged
        return Confidence(round(NormalDist().inv_cdf(1 - tail), 2))

    @property
    def job_selector(self) -> str:
        """The matcher every selector of an exported series carries, e.g. ``job="txwatch"``."""
        return f"job={label_value(self.job)}"

    def runbook_url(self, alert: str) -> str:
        return f"{self.runbook_base}#{alert.lower()}"


DEFAULT = Settings()
