"""Incident kinds the generator injects: what each does to shares, volume and auth codes.

A kind is an example of a class of incident (spike, outage, moderate rise, slide, code
burst), not a target one data set happens to show: detection is measured on the classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class IncidentKind:
    """What an incident does: target shares, a volume factor, a code-59 mix, a ramp, or one
    auth code bursting."""

    name: str
    minutes: int
    statuses: tuple[str, ...]  # what it is about ("all" for the whole flow)
    shares: Mapping[str, float] = field(default_factory=dict)  # absolute target shares
    volume: float = 1.0
    # Shares (and a volume factor other than 1) move from normal to the target over the
    # span: creeps and slides, which no fixed threshold catches at their start.
    ramp: bool = False
    code59: float | None = None  # share of denials that carry code 59 during the incident
    # A code burst: ``code`` rises to ``code_share`` of ALL transactions. The burst's
    # declines come on top of the normal ones (an issuer or a fraud rule refusing more), so
    # the denied share rises by the difference; the code may be absent from the normal mix.
    code: str | None = None
    code_share: float = 0.0
    # Points added to the normal share (rather than a target): "+10 points of denials"
    # means the same in a segment that declines 3% and in one that declines 12%.
    rise: Mapping[str, float] = field(default_factory=dict)


# Moderate rises and creeps start from the normal failed share of the profiles that use
# them (0.08%); the targets are what a merchant notices in an hour, not a headline spike.
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
    # Code bursts: a rare code (91, issuer unavailable: 3% of the declines, ~0.2% of all)
    # to 3% of all for 15 minutes, denied 5.5% -> 8.3%; a code no normal day shows (75,
    # PIN tries exceeded); a listed one (59) from ~0.6% to 2.5% for 20 minutes.
    IncidentKind("code_burst", 15, ("denied",), code="91", code_share=0.03),
    IncidentKind("code_burst_unlisted", 20, ("denied",), code="75", code_share=0.025),
    IncidentKind("code_burst_59", 20, ("denied",), code="59", code_share=0.025),
    # Moderate rises: what the spikes' thresholds were not built for.
    IncidentKind("failed_denied_rise", 20, ("failed", "denied"),
                 {"failed": 0.008, "denied": 0.08}),
    IncidentKind("backend_reversed_rise", 25, ("backend_reversed",),
                 {"backend_reversed": 0.0125}),  # 25x the normal 0.05%
    IncidentKind("denied_rise_moderate", 15, ("denied",), {"denied": 0.083}),
    # Slides and creeps: volume to 25% over 45 minutes, failed 0.08% -> 2% over an hour.
    IncidentKind("volume_slide", 45, ("all", "approved"), volume=0.25, ramp=True),
    IncidentKind("failed_creep", 60, ("failed",), {"failed": 0.02}, ramp=True),
    # Segments (the ``segments`` profile): an acquirer whose every transaction fails, and a
    # brand's or acquirer's denials 10 points above its own normal.
    IncidentKind("acquirer_failing", 10, ("failed",),
                 {"failed": 1.0, "denied": 0.0, "reversed": 0.0, "backend_reversed": 0.0,
                  "refunded": 0.0}),
    IncidentKind("denied_rise_segment", 20, ("denied",), rise={"denied": 0.10}),
)}
