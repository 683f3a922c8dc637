"""Auth codes of generated transactions: 00 for every approval, the denials split over the
profile's decline codes, and the bursts of one code that some incidents bring.

The split is multinomial per minute, so a rare code is as noisy as real issuers make it
(a code at 3% of the declines is absent from most night minutes). Profiles without a
``decline_mix`` keep the original 51 / 59 binomial split on the main random stream (see
``generate.py``); this module serves the others and draws from its own stream.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from txwatch.history.kinds import IncidentKind
from txwatch.history.profiles import Profile


def decline_mix(profile: Profile) -> dict[str, float]:
    """Code -> share of the denials: the profile's mix, or its 51 / 59 split."""
    if profile.decline_mix is not None:
        return dict(profile.decline_mix)
    return {"51": profile.denied_51, "59": 1 - profile.denied_51}


def burst_rise(kind: IncidentKind, normal_denied: float, mix: Mapping[str, float]) -> float:
    """Share of all transactions a code burst adds to the denials: the code's target share
    less what the normal mix already gives it (never negative)."""
    assert kind.code is not None
    return max(0.0, kind.code_share - normal_denied * mix.get(kind.code, 0.0))


def code_probabilities(mix: Mapping[str, float], denied_share: np.ndarray,
                       code59: np.ndarray, extra: Mapping[str, np.ndarray],
                       ) -> tuple[list[str], np.ndarray]:
    """Per minute, the probability of each code among the denials.

    ``code59`` is NaN where the normal mix holds, else code 59's share of the denials (a
    code-mix shift: the other codes shrink in proportion). ``extra`` holds, per bursting
    code, the share of ALL transactions the burst adds; of the denials of such a minute,
    that part carries the code and the rest follows the (shifted) mix.
    """
    shifted = np.isfinite(code59)
    others = set(extra) | ({"59"} if shifted.any() else set())
    codes = list(mix) + sorted(others - set(mix))
    probs = np.tile(np.array([mix.get(c, 0.0) for c in codes]), (len(denied_share), 1))
    rest = 1.0 - mix.get("59", 0.0)
    if shifted.any() and rest > 0:
        probs[shifted] *= ((1.0 - code59[shifted]) / rest)[:, None]
        probs[shifted, codes.index("59")] = code59[shifted]
    if extra:
        safe = np.where(denied_share > 0, denied_share, 1.0)
        part = {c: np.minimum(e / safe, 1.0) for c, e in extra.items()}
        probs *= np.clip(1.0 - sum(part.values()), 0.0, 1.0)[:, None]
        for code, share in part.items():
            probs[:, codes.index(code)] += share
    return codes, probs / probs.sum(axis=1, keepdims=True)


def split_denials(denied: np.ndarray, denied_share: np.ndarray, mix: Mapping[str, float],
                  code59: np.ndarray, extra: Mapping[str, np.ndarray],
                  rng: np.random.Generator) -> pd.DataFrame:
    """Denials per minute and code (columns in the mix's order, then the others)."""
    codes, probs = code_probabilities(mix, denied_share, code59, extra)
    return pd.DataFrame(rng.multinomial(denied, probs), columns=codes)
