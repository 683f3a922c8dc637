"""Generated history of a flow split into segments (a profile with a :class:`SegmentPlan`).

Each segment has its size (a power law: a few large, a long tail) and its own normal shares;
incidents hit one segment, several or all, and ``incidents.json`` names the segments each
hits (``"segments": ["acquirer=acq-04"]``, as the exporter spells a segment). Rows carry the
plan's dimension column (``timestamp,acquirer,status,count``); the whole flow is their sum,
so a loader that ignores segments sees an ordinary history.

Everything draws from streams of its own (``default_rng([seed, 3..5])``): the profiles
without segments never come here, and their files do not change. Counts are drawn for
every minute and segment at once (vectorised Poisson and multinomial), since 50 segments x
14 days are a million segment-minutes. Rows with a count of 0 are left out, except each
segment's approved (and code 00) row, so every minute of every segment is pushed and the
files stay a fraction of the full grid's size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from txwatch import contract
from txwatch.history.codes import decline_mix
from txwatch.history.profiles import KINDS, Profile, SegmentPlan
from txwatch.history.traffic import expected_rate

RATES = contract.STATUSES[1:]  # the shares drawn; approved is the rest


def sizes(plan: SegmentPlan) -> np.ndarray:
    """Each segment's share of the traffic, largest first (they sum to 1)."""
    weights = np.arange(1, plan.count + 1, dtype=float) ** -plan.skew
    return weights / weights.sum()


def normals(profile: Profile, plan: SegmentPlan, seed: int) -> dict[str, np.ndarray]:
    """Status -> each segment's normal share: the profile's, times a log-normal factor."""
    rng = np.random.default_rng([seed, 3])
    return {s: np.clip(profile.shares[s] * rng.lognormal(0.0, plan.spread, plan.count),
                       0.0, 0.3) for s in RATES}


def generate(days: int, seed: int, start: str, quiet_days: int, profile: Profile,
             ) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, object]]]:
    """(transactions, auth codes, incidents) as :func:`txwatch.history.generate.generate`
    returns them, with the plan's dimension column in both frames."""
    plan = profile.segments
    assert plan is not None
    rng = np.random.default_rng([seed, 4])
    index = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=days * 1440, freq="min")
    names = plan.names()
    normal = normals(profile, plan, seed)
    shares = {s: np.tile(normal[s], (len(index), 1)) for s in RATES}
    volume = np.ones((len(index), plan.count))
    incidents: list[dict[str, object]] = []
    slot = 0
    for day in range(quiet_days, days):
        for _ in range(profile.per_day):
            name, hour, targets = plan.schedule[slot % len(plan.schedule)]
            slot += 1
            kind = KINDS[name]
            if kind.code is not None or kind.code59 is not None:
                raise ValueError(f"{name}: code bursts and code-mix shifts are not "
                                 "generated per segment")
            cols = list(range(plan.count)) if targets is None else [t - 1 for t in targets]
            first = day * 1440 + hour * 60 + int(rng.integers(0, 30))
            last = min(first + kind.minutes, len(index)) - 1
            span = slice(first, last + 1)
            ramp = np.linspace(0.1, 1.0, last - first + 1)[:, None] if kind.ramp else 1.0
            for status in RATES:
                base = normal[status][cols]
                if status in kind.shares:
                    shares[status][span, cols] = base + (kind.shares[status] - base) * ramp
                elif status in kind.rise:
                    shares[status][span, cols] = base + kind.rise[status] * ramp
            volume[span, cols] *= 1.0 + (kind.volume - 1.0) * ramp
            incidents.append({"start": f"{index[first]:%Y-%m-%d %H:%M}",
                              "end": f"{index[last]:%Y-%m-%d %H:%M}",
                              "kind": name, "statuses": list(kind.statuses),
                              "segments": [f"{plan.dimension}={names[c]}" for c in cols]})
    rate = expected_rate(profile, index, seed)[:, None] * sizes(plan)[None, :] * volume
    totals = rng.poisson(rate)
    probs = np.stack([shares[s] for s in RATES], axis=-1)
    probs = np.clip(np.concatenate([1 - probs.sum(axis=-1, keepdims=True), probs], axis=-1),
                    0.0, None)
    counts = rng.multinomial(totals, probs / probs.sum(axis=-1, keepdims=True))
    mix = decline_mix(profile)
    declines = np.random.default_rng([seed, 5]).multinomial(
        counts[..., contract.STATUSES.index("denied")], list(mix.values()))
    codes = np.concatenate([counts[..., :1], declines], axis=-1)  # 00 is every approval
    stamps = np.asarray(index.strftime("%Y-%m-%d %H:%M:%S"))
    return (_long(counts, stamps, names, plan.dimension, "status", list(contract.STATUSES)),
            _long(codes, stamps, names, plan.dimension, "auth_code",
                  [contract.APPROVED_AUTH_CODE, *mix]), incidents)


def _long(counts: np.ndarray, stamps: np.ndarray, names: list[str], dimension: str,
          label: str, labels: list[str]) -> pd.DataFrame:
    """Rows (minute, segment, label) in that order, without the zero counts but the first
    label's (approved, code 00): see the module docstring."""
    keep = counts > 0
    keep[..., 0] = True
    t, s, k = np.nonzero(keep)
    return pd.DataFrame({"timestamp": stamps[t], dimension: np.asarray(names)[s],
                         label: np.asarray(labels)[k], "count": counts[t, s, k]})
