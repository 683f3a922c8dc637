"""Synthetic, labelled transaction data: the built-in demo data and the backtest scenarios.

A :class:`~txwatch.history.profiles.Profile` fixes the traffic (daily cycle, weekends,
holidays, hourly wobble), the normal shares and the code mix; counts are Poisson totals split
multinomially across statuses, so every status has honest noise. Incidents of the profile's
kinds are injected by day and by night and written to ``incidents.json`` with start, end,
kind and statuses. Same profile and seed, same files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from txwatch import contract
from txwatch.history.profiles import KINDS, PROFILES, Profile


def traffic_rate(minute_of_day: np.ndarray, peak: float = 130.0,
                 trough: float = 15.0) -> np.ndarray:
    """Expected transactions per minute over the day (trough 03:00, peak 15:00 UTC)."""
    hours = minute_of_day / 60.0
    return trough + (peak - trough) * (0.5 - 0.5 * np.cos(2 * np.pi * (hours - 3.0) / 24.0))


def expected_rate(profile: Profile, index: pd.DatetimeIndex, seed: int) -> np.ndarray:
    """Expected transactions per minute: daily cycle x weekend / holiday x hourly wobble."""
    minute_of_day = np.asarray(index.hour * 60 + index.minute, dtype=float)
    rate = traffic_rate(minute_of_day, profile.peak, profile.trough)
    rate = rate * day_factor(profile, index)
    if profile.wobble:  # its own random stream: the main one stays as it was
        hours = len(index) // 60 + 1
        factor = np.random.default_rng([seed, 1]).lognormal(0.0, profile.wobble, hours)
        rate = rate * np.repeat(factor, 60)[:len(index)]
    return rate


def day_factor(profile: Profile, index: pd.DatetimeIndex) -> np.ndarray:
    """Volume factor of weekends and holidays, eased from one day's level to the next over
    the night between them (22:00 to 06:00), as real traffic does: the morning ramp does
    not come, and there is no step at midnight."""
    days = len(index) // 1440 + 1
    level = []
    first = index[0].normalize()
    for day in range(-1, days + 1):
        weekday = (first + pd.Timedelta(days=day)).day_of_week
        value = profile.weekend if weekday >= 5 else 1.0
        level.append(value * (profile.holiday if day in profile.holidays else 1.0))
    knots, values = [], []
    for day in range(days + 1):
        knots += [day * 1440 - 120, day * 1440 + 360]
        values += [level[day], level[day + 1]]
    return np.interp(np.arange(len(index)), knots, values)


def _business_day(profile: Profile, index: pd.DatetimeIndex, day: int) -> bool:
    return index[day * 1440].day_of_week < 5 and day not in profile.holidays


def generate(days: int, seed: int, start: str = "2025-01-06 00:00", quiet_days: int = 1,
             profile: Profile | None = None,
             ) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, object]]]:
    """Return (transactions long frame, auth codes long frame, incidents)."""
    profile = profile or PROFILES["demo"]
    rng = np.random.default_rng(seed)
    index = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=days * 1440, freq="min")
    volume = np.ones(len(index))
    normal = profile.shares
    shares = {s: np.full(len(index), normal[s]) for s in normal}
    code59 = np.full(len(index), 1 - profile.denied_51)
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
            volume[span] *= kind.volume
            if kind.code59 is not None:
                code59[span] = kind.code59
            incidents.append({"start": f"{index[first]:%Y-%m-%d %H:%M}",
                              "end": f"{index[last]:%Y-%m-%d %H:%M}",
                              "kind": name, "statuses": list(kind.statuses)})
    totals = rng.poisson(expected_rate(profile, index, seed) * volume)
    probs = np.column_stack([shares[s] for s in contract.STATUSES[1:]])
    probs = np.column_stack([1 - probs.sum(axis=1), probs])
    counts = np.array([rng.multinomial(n, p) for n, p in zip(totals, probs, strict=True)])
    tx = pd.DataFrame(counts, index=index, columns=list(contract.STATUSES))
    c59 = rng.binomial(tx["denied"].to_numpy(), code59)
    codes = pd.DataFrame({"00": tx["approved"].to_numpy(),
                          "51": tx["denied"].to_numpy() - c59, "59": c59}, index=index)
    return _long(tx, "status"), _long(codes, "auth_code"), incidents


def _long(wide: pd.DataFrame, label: str) -> pd.DataFrame:
    frame = wide.rename_axis("timestamp").reset_index().melt(
        id_vars="timestamp", var_name=label, value_name="count")
    frame["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return frame.sort_values(["timestamp", label], kind="stable")


def write(out: Path, days: int | None, seed: int, start: str = "2025-01-06 00:00",
          profile: str = "demo") -> dict[str, Path]:
    """Write transactions.csv, transactions_auth_codes.csv and incidents.json to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    chosen = PROFILES[profile]
    days = days or chosen.days
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
