"""Synthetic, labelled transaction data: the built-in demo data and the backtest scenarios.

Traffic follows a daily cycle (about 15 transactions/minute at 03:00 UTC, 130 at 15:00),
every status has baseline noise, and incidents of every kind the rules must catch are
injected by day and by night and written to ``incidents.json`` with start, end, kind and
statuses. Same seed, same files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from txwatch import contract

BASE_SHARE = {"denied": 0.055, "failed": 0.001, "reversed": 0.008,
              "backend_reversed": 0.0005, "refunded": 0.008}
DENIED_51 = 0.45  # share of denials with code 51 (insufficient funds); the rest are 59


@dataclass(frozen=True)
class Kind:
    """An incident kind: how long it lasts and what it does to the shares / volume."""

    name: str
    minutes: int
    statuses: tuple[str, ...]
    shares: dict[str, float]
    volume: float = 1.0
    ramp: bool = False
    code59: float | None = None


KINDS = {
    "failed_spike": Kind("failed_spike", 30, ("failed", "backend_reversed"),
                         {"failed": 0.06, "backend_reversed": 0.03}),
    "failed_spike_night": Kind("failed_spike_night", 30, ("failed", "backend_reversed"),
                               {"failed": 0.10, "backend_reversed": 0.04}),
    "denied_spike": Kind("denied_spike", 25, ("denied",), {"denied": 0.25}),
    "reversed_spike": Kind("reversed_spike", 30, ("reversed",), {"reversed": 0.06}),
    "backend_reversed_spike": Kind("backend_reversed_spike", 40, ("backend_reversed",),
                                   {"backend_reversed": 0.03}),
    "failed_ramp": Kind("failed_ramp", 90, ("failed",), {"failed": 0.04}, ramp=True),
    "outage": Kind("outage", 15, ("all", "approved"), {}, volume=0.0),
    "approved_drop": Kind("approved_drop", 45, ("approved",), {}, volume=0.3),
    "auth_code_spike": Kind("auth_code_spike", 25, ("denied",), {"denied": 0.20}, code59=0.9),
}
# Per day: (kind, hour of day UTC). Nights (00-05) are the low-volume trap.
SCHEDULE = [
    ("failed_spike", 11), ("failed_spike_night", 2), ("denied_spike", 17),
    ("reversed_spike", 21), ("outage", 8), ("backend_reversed_spike", 4),
    ("failed_ramp", 14), ("approved_drop", 19), ("auth_code_spike", 1),
]
PER_DAY = 3


def traffic_rate(minute_of_day: np.ndarray) -> np.ndarray:
    """Expected transactions per minute over the day (trough 03:00, peak 15:00 UTC)."""
    hours = minute_of_day / 60.0
    return 15.0 + 115.0 * (0.5 - 0.5 * np.cos(2 * np.pi * (hours - 3.0) / 24.0))


def generate(days: int, seed: int, start: str = "2025-01-06 00:00",
             quiet_days: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, object]]]:
    """Return (transactions long frame, auth codes long frame, incidents)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=days * 1440, freq="min")
    minute_of_day = np.asarray(index.hour * 60 + index.minute, dtype=float)
    volume = np.ones(len(index))
    shares = {s: np.full(len(index), BASE_SHARE[s]) for s in BASE_SHARE}
    code59 = np.full(len(index), 1 - DENIED_51)
    incidents: list[dict[str, object]] = []
    slot = 0
    for day in range(quiet_days, days):
        for _ in range(PER_DAY):
            name, hour = SCHEDULE[slot % len(SCHEDULE)]
            slot += 1
            kind = KINDS[name]
            first = day * 1440 + hour * 60 + int(rng.integers(0, 30))
            last = min(first + kind.minutes, len(index)) - 1
            span = slice(first, last + 1)
            ramp = np.linspace(0.1, 1.0, last - first + 1) if kind.ramp else 1.0
            for status, share in kind.shares.items():
                shares[status][span] = BASE_SHARE[status] + (share - BASE_SHARE[status]) * ramp
            volume[span] *= kind.volume
            if kind.code59 is not None:
                code59[span] = kind.code59
            incidents.append({"start": f"{index[first]:%Y-%m-%d %H:%M}",
                              "end": f"{index[last]:%Y-%m-%d %H:%M}",
                              "kind": name, "statuses": list(kind.statuses)})
    totals = rng.poisson(traffic_rate(minute_of_day) * volume)
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


def write(out: Path, days: int, seed: int, start: str = "2025-01-06 00:00") -> dict[str, Path]:
    """Write transactions.csv, transactions_auth_codes.csv and incidents.json to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    tx, codes, incidents = generate(days, seed, start)
    paths = {"transactions": out / "transactions.csv",
             "auth_codes": out / "transactions_auth_codes.csv",
             "incidents": out / "incidents.json"}
    tx.to_csv(paths["transactions"], index=False)
    codes.to_csv(paths["auth_codes"], index=False)
    paths["incidents"].write_text(json.dumps(
        {"description": f"generated: days={days} seed={seed} start={start}",
         "incidents": incidents}, indent=2) + "\n", encoding="utf-8")
    return paths
