"""Share statistics of a history, and the threshold-table values they suggest.

The quick, statistics-only half of ``txwatch-replay tune`` (which then lets the backtest
judge): ``tune`` tries the values suggested here as one of its candidates, and ``analyze``
prints them next to the table's current values. Every figure is a share of all
transactions (statuses) or of all auth codes (codes), so it lies in [0, 1].

Per status and auth code (COLUMNS explains each column in the output):
* the *normal* is the pooled share over the whole history (its events over all events), the
  same estimator the rules learn from a week of history (rules/normals.py); the suggested
  warm-up ``ratio_normal`` is that share rounded up to two significant digits, so the
  warm-up default is slightly conservative;
* incidents sit in the tails, so the spread uses robust statistics they barely move: the
  *high* (for approved: low) limit of the 5-minute and 30-minute shares is the median +
  (-) 6 robust standard deviations (1.4826 x MAD), clipped to [0, 1];
* the suggested margins are how far that high limit sits above ``normal x factor`` (the
  table's factor), at least ``MIN_MARGIN``: what the noise of this history would need.
  Only windows with enough events count, so a small shop gets no margin suggestion (its
  noise is chance, which the alerts' confidence bounds already allow for).
Approved (and auth code 00, which equals it) is a falling metric (a low share is bad): it
gets a low limit and no suggestion, since the table has no rows for it (a collapse of
approvals is the volume alerts' case).
"""

from __future__ import annotations

import math

import pandas as pd

from txwatch.contract import APPROVED_AUTH_CODE
from txwatch.history.dataset import read_frame, to_wide

FALLING = frozenset({"approved", "00"})  # approved, and auth code 00 (= approved)
MIN_WINDOW_EVENTS = 100  # a window's share counts only with this many events behind it
MIN_WINDOWS = 20  # fewer such windows: too little volume for a spread (shown as -)
MIN_MARGIN = {"fast": 0.001, "slow": 0.0005}
WINDOWS = {"fast": 5, "slow": 30}  # minutes: the fast and slow alerts' windows
COLUMNS = {
    "per min": "mean events per minute",
    "zero min": "fraction of minutes with no event of this label",
    "normal": "pooled share over the whole history (what the rules learn as the normal)",
    "p50 5m": f"median share over 5-minute windows (of at least {MIN_WINDOW_EVENTS} events)",
    "limit 5m": "robust limit of the 5-minute share: median + 6 x 1.4826 x MAD (approved: "
                "median - ..., a low share is bad), within [0, 1]; 0 for a label absent from "
                "most windows: its spread is not measurable, so the suggested margin falls to "
                "the minimum and only tune's backtest can judge it",
    "limit 30m": "the same over 30-minute windows (- : fewer than "
                 f"{MIN_WINDOWS} windows hold enough events)",
}


def minute_table(path: str) -> pd.DataFrame:
    """Counts per minute (rows) and label value (columns) of one CSV."""
    label, frame = read_frame(path)
    return to_wide(frame, label)


def round_up(value: float, digits: int = 2) -> float:
    """``value`` rounded up to ``digits`` significant digits (0 stays 0)."""
    if value <= 0:
        return 0.0
    scale = 10 ** (digits - 1 - math.floor(math.log10(value)))
    return math.ceil(value * scale - 1e-9) / scale


def _windowed(counts: pd.Series, total: pd.Series, minutes: int) -> pd.Series:
    """Shares over sliding windows that hold at least MIN_WINDOW_EVENTS events (a share of
    a dozen transactions says more about chance than about the merchant)."""
    events = counts.rolling(minutes).sum()
    everything = total.rolling(minutes).sum()
    return (events / everything.where(everything >= MIN_WINDOW_EVENTS)).dropna()


def _limit(shares: pd.Series, falling: bool, k: float = 6.0) -> float:
    if len(shares) < MIN_WINDOWS:
        return float("nan")
    middle = float(shares.median())
    spread = k * 1.4826 * float((shares - middle).abs().median())
    return min(1.0, max(0.0, middle - spread if falling else middle + spread))


def statistics(wide: pd.DataFrame) -> pd.DataFrame:
    """The columns of COLUMNS for every label of one minute table (statuses or codes)."""
    total = wide.sum(axis=1)
    everything = float(total.sum())
    rows = []
    for column in wide.columns:
        falling = column in FALLING
        w5, w30 = (_windowed(wide[column], total, m) for m in WINDOWS.values())
        rows.append({
            "label": str(column), "per min": float(wide[column].mean()),
            "zero min": float((wide[column] == 0).mean()),
            "normal": float(wide[column].sum()) / everything if everything else 0.0,
            "p50 5m": float(w5.median()) if not w5.empty else float("nan"),
            "limit 5m": _limit(w5, falling), "limit 30m": _limit(w30, falling)})
    return pd.DataFrame(rows).set_index("label")


def suggest(stats: pd.DataFrame, factors: dict[str, float]) -> dict[str, dict[str, float]]:
    """Suggested ``ratio_normal`` and fast / slow margins per label (rising labels only);
    ``factors`` holds the table's ``ratio_factor`` per label (1 when absent)."""
    out: dict[str, dict[str, float]] = {}
    for label, row in stats.iterrows():
        if label in FALLING:
            continue
        base = row["normal"] * factors.get(str(label), 1.0)
        found = {"ratio_normal": round_up(row["normal"])}
        for which, column in (("fast", "limit 5m"), ("slow", "limit 30m")):
            if not math.isnan(row[column]):  # no suggestion without enough volume
                excess = row[column] - base
                found[f"ratio_{which}_margin"] = round_up(max(MIN_MARGIN[which], excess))
        out[str(label)] = found
    return out


MIX_COLUMNS = {
    "per min": "mean declines per minute carrying this code",
    "of declines": "pooled share of the declines (every code but 00) over the whole history",
    "median 1h": "median share of the declines over the hours that had declines: the normal "
                 "mix the rules learn (rules/mix.py); PaymentAuthCodeMixShift warns when a "
                 "code's share of the declines is significantly above it + mix_fast_margin",
}


def decline_mix(codes: pd.DataFrame) -> pd.DataFrame:
    """The columns of MIX_COLUMNS for every decline code of a minute table of auth codes
    (index: minute timestamps). Shares of the declines, so each lies in [0, 1] and the codes
    add up to 1: a fraud wave that swaps 51 for 59 shows here, not in the shares of all
    codes."""
    declines = codes[[c for c in codes.columns if c != APPROVED_AUTH_CODE]]
    hourly = declines.groupby(declines.index.floor("1h")).sum()
    total = hourly.sum(axis=1)
    shares = hourly[total > 0].div(total[total > 0], axis=0)
    everything = float(declines.to_numpy().sum())
    return pd.DataFrame({
        "per min": declines.mean(),
        "of declines": declines.sum() / everything if everything else float("nan"),
        "median 1h": shares.median() if not shares.empty else float("nan")}).rename_axis(
            "label")
