"""Per-status statistics of a transactions CSV and the thresholds they suggest.

Rerunnable version of the threshold derivation (docs/runbook.md explains the shipped
values). For each status: the per-minute share distribution and the share over 5-minute
and 1-hour windows. Incidents sit in the tails, so suggestions use robust statistics that
incidents barely move: median + 6 robust standard deviations (1.4826 x MAD) of the
5-minute share (fast) and of the 1-hour share (slow), never below a floor of 0.3% / 0.2%,
so that statuses that are 0 outside incidents (failed) still get a sensitive threshold.
"""

from __future__ import annotations

import pandas as pd

from txwatch.history.dataset import read_frame, to_wide


def minute_table(path: str) -> pd.DataFrame:
    """Counts per minute (rows) and label value (columns) of one CSV."""
    label, frame = read_frame(path)
    return to_wide(frame, label)


def _robust_limit(values: pd.Series, k: float = 6.0) -> float:
    median = float(values.median())
    mad = float((values - median).abs().median())
    return median + k * 1.4826 * mad


def analyze(wide: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Return (statistics table, suggested thresholds per status) of a minute table."""
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
            "ratio_fast": round(max(0.003, _robust_limit(w5)), 4),
            "ratio_slow": round(max(0.002, _robust_limit(w60)), 4),
            "ratio_normal": round(float(minute_share.median()), 4),
        }
    table = pd.DataFrame(rows).set_index("label")
    return table, suggestions


def report(path: str) -> str:
    wide = minute_table(path)
    table, suggestions = analyze(wide)
    total = wide.sum(axis=1)
    out = [f"{path}: {len(wide)} minutes from {wide.index[0]} to {wide.index[-1]}",
           f"transactions per minute: mean {total.mean():.1f}, min {total.min()}, "
           f"max {total.max()}", "", table.to_string(float_format=lambda v: f"{v:.4f}"), "",
           "suggested thresholds (robust to incidents; compare with rules/thresholds.yml):"]
    for label, values in suggestions.items():
        out.append(f"  {label:<18} " + "  ".join(f"{k}={v}" for k, v in values.items()))
    return "\n".join(out)
