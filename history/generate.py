"""Synthetic, labelled transaction data: the built-in demo data and the backtest scenarios.

A :class:`~txwatch.history.profiles.Profile` fixes the traffic (daily cycle, weekends,
holidays, hourly wobble), the normal shares and the code mix; counts are Poisson totals split
multinomially across statuses, so every status has honest noise. Incidents of the profile's
kinds are injected by day and by night and written to ``incidents.json`` with start, end,
kind and statuses. Same profile and seed, same files.

New traits (``traffic.py``, ``codes.py``, the later fields of a profile and an incident
kind) draw their randomness from streams of their own (``default_rng([seed, k])``) and
leave the original path alone when unused: the older profiles' files do not change.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from txwatch import contract
from txwatch.history.codes import burst_rise, decline_mix, split_denials
from txwatch.history.profiles import KINDS, PROFILES, Profile
from txwatch.history.traffic import day_factor, expected_rate, traffic_rate

__all__ = ["KINDS", "day_factor", "expected_rate", "generate", "traffic_rate", "write"]
DEFAULT_START = "2025-01-06 00:00"


def _business_day(profile: Profile, index: pd.DatetimeIndex, day: int) -> bool:
    return index[day * 1440].day_of_week < 5 and day not in profile.holidays


def generate(days: int, seed: int, start: str | None = None, quiet_days: int = 1,
             profile: Profile | None = None,
             ) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, object]]]:
    """Return (transactions long frame, auth codes long frame, incidents); ``start`` is the
    first minute (UTC), by default the profile's."""
    profile = profile or PROFILES["demo"]
    start = start or profile.start or DEFAULT_START
    rng = np.random.default_rng(seed)
    index = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=days * 1440, freq="min")
    volume = np.ones(len(index))
    normal = profile.shares
    shares = {s: np.full(len(index), normal[s]) for s in normal}
    code59 = np.full(len(index), 1 - profile.denied_51)
    mix = decline_mix(profile)
    shifted = np.zeros(len(index), dtype=bool)  # minutes of a code-mix shift (code59 set)
    extra: dict[str, np.ndarray] = {}  # bursting code -> share of all it adds
    incidents: list[dict[str, object]] = []
    slot = 0
    for day in range(quiet_days, days):
        if profile.business_days_only and not _business_day(profile, index, day):
            continue
        for _ in range(profile.per_day):
            name, hour = profile.schedule[slot % len(profile.schedule)]
            slot += 1
            kind = KINDS[name]
            first = day * 1440 + hour * 60 + int(rng.integers(0, 30))
            last = min(first + kind.minutes, len(index)) - 1
            span = slice(first, last + 1)
            ramp = np.linspace(0.1, 1.0, last - first + 1) if kind.ramp else 1.0
            for status, share in kind.shares.items():
                shares[status][span] = normal[status] + (share - normal[status]) * ramp
            if kind.code is not None:
                rise = burst_rise(kind, normal["denied"], mix)
                extra.setdefault(kind.code, np.zeros(len(index)))[span] = rise
                shares["denied"][span] = normal["denied"] + rise
            if kind.ramp and kind.volume != 1.0:  # a slide: volume eases to the target
                volume[span] *= 1.0 + (kind.volume - 1.0) * ramp
            else:
                volume[span] *= kind.volume
            if kind.code59 is not None:
                code59[span] = kind.code59
                shifted[span] = True
            incidents.append({"start": f"{index[first]:%Y-%m-%d %H:%M}",
                              "end": f"{index[last]:%Y-%m-%d %H:%M}",
                              "kind": name, "statuses": list(kind.statuses)})
    totals = rng.poisson(expected_rate(profile, index, seed) * volume)
    probs = np.column_stack([shares[s] for s in contract.STATUSES[1:]])
    probs = np.column_stack([1 - probs.sum(axis=1), probs])
    counts = np.array([rng.multinomial(n, p) for n, p in zip(totals, probs, strict=True)])
    tx = pd.DataFrame(counts, index=index, columns=list(contract.STATUSES))
    if profile.decline_mix is None and not extra:  # the original split, main stream
        c59 = rng.binomial(tx["denied"].to_numpy(), code59)
        codes = pd.DataFrame({"00": tx["approved"].to_numpy(),
                              "51": tx["denied"].to_numpy() - c59, "59": c59}, index=index)
    else:
        declines = split_denials(tx["denied"].to_numpy(), shares["denied"], mix,
                                 np.where(shifted, code59, np.nan), extra,
                                 np.random.default_rng([seed, 2]))
        codes = pd.concat([pd.DataFrame({"00": tx["approved"].to_numpy()}, index=index),
                           declines.set_axis(index)], axis=1)
    return _long(tx, "status"), _long(codes, "auth_code"), incidents


def _long(wide: pd.DataFrame, label: str) -> pd.DataFrame:
    frame = wide.rename_axis("timestamp").reset_index().melt(
        id_vars="timestamp", var_name=label, value_name="count")
    frame["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return frame.sort_values(["timestamp", label], kind="stable")


def write(out: Path, days: int | None, seed: int, start: str | None = None,
          profile: str = "demo") -> dict[str, Path]:
    """Write transactions.csv, transactions_auth_codes.csv and incidents.json to ``out``
    (``days`` and ``start``: the profile's when not given)."""
    out.mkdir(parents=True, exist_ok=True)
    chosen = PROFILES[profile]
    days = days or chosen.days
    start = start or chosen.start or DEFAULT_START
    tx, codes, incidents = generate(days, seed, start, profile=chosen)
    paths = {"transactions": out / "transactions.csv",
             "auth_codes": out / "transactions_auth_codes.csv",
             "incidents": out / "incidents.json"}
    tx.to_csv(paths["transactions"], index=False)
    codes.to_csv(paths["auth_codes"], index=False)
    paths["incidents"].write_text(json.dumps(
        {"description": f"generated: profile={profile} ({chosen.description}) days={days} "
                        f"seed={seed} start={start}",
         "incidents": incidents}, indent=2) + "\n", encoding="utf-8")
    return paths
