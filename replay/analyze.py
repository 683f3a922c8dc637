"""Per-status statistics of a transactions CSV and the thresholds they suggest.

Rerunnable version of the threshold derivation (docs/runbook.md explains the shipped
values). For each status: the per-minute share distribution, the share over 5-minute and
1-hour windows, and how often those windows would cross candidate thresholds. Suggested
thresholds sit above the 99.9th percentile of the 5-minute share (fast) and the 99.5th of
the 1-hour share (slow), never below a floor of 0.3% / 0.2%, so that quiet statuses such as
failed (0 outside incidents) still get a sensitive, not a zero, threshold.
"""

from __future__ import annotations

import pandas as pd

from replay.data import read_frame, to_wide


def share_table(path: str) -> pd.DataFrame:
    label, frame = read_frame(path)
    wide = to_wide(frame, label)
    return wide


def analyze(path: str) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Return (statistics table, suggested thresholds per status)."""
    wide = share_table(path)
    total = wide.sum(axis=1)
    rows = []
    suggestions: dict[str, dict[str, float]] = {}
    for column in wide.columns:
        minute_share = (wide[column] / total.where(total > 0)).dropna()
        w5 = (wide[column].rolling(5).sum() / total.rolling(5).sum()).dropna()
        w60 = (wide[column].rolling(60).sum() / total.rolling(60).sum()).dropna()
        zero = float((wide[column] == 0).mean())
        rows.append({
            "label": column, "mean/min": wide[column].mean(), "std/min": wide[column].std(),
            "share mean": minute_share.mean(), "share p50": minute_share.quantile(0.5),
            "share p99": minute_share.quantile(0.99), "5m p99.9": w5.quantile(0.999),
            "1h p99.5": w60.quantile(0.995), "zero minutes": zero})
        suggestions[str(column)] = {
            "ratio_fast": round(max(0.003, float(w5.quantile(0.999)) * 1.1), 4),
            "ratio_slow": round(max(0.002, float(w60.quantile(0.995)) * 1.1), 4),
            "ratio_normal": round(float(minute_share.median()), 4),
        }
    table = pd.DataFrame(rows).set_index("label")
    return table, suggestions


def report(path: str) -> str:
    table, suggestions = analyze(path)
    wide = share_table(path)
    total = wide.sum(axis=1)
    out = [f"{path}: {len(wide)} minutes from {wide.index[0]} to {wide.index[-1]}",
           f"transactions per minute: mean {total.mean():.1f}, min {total.min()}, "
           f"max {total.max()}", "", table.to_string(float_format=lambda v: f"{v:.4f}"), "",
           "suggested thresholds (before excluding incidents: compare with the shipped "
           "table in rules/thresholds.yml):"]
    for label, values in suggestions.items():
        out.append(f"  {label:<18} " + "  ".join(f"{k}={v}" for k, v in values.items()))
    return "\n".join(out)
