"""Backtest report: PNG charts and one self-contained HTML page.

Charts show, per status, the 5-minute share (recorded by the rules themselves), the fast and
slow thresholds of the table, the spans where an alert about that status fired (shaded) and
the labelled incidents (marked below the axis).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from txwatch.backtest.run import Result  # noqa: E402
from txwatch.backtest.scoring import Incident  # noqa: E402

PANELS = ("failed", "backend_reversed", "denied", "reversed")
COLOURS = {"failed": "#d62728", "backend_reversed": "#9467bd", "denied": "#ff7f0e",
           "reversed": "#8c564b", "approved": "#2ca02c"}


def _series(result: Result, name: str, **match: str) -> np.ndarray | None:
    for s in result.recorded.get(name, []):
        if all(s.labels.get(k) == v for k, v in match.items()):
            return s.values
    return None


def chart(result: Result, incidents: list[Incident] | None, path: Path) -> None:
    index = result.data.transactions.index
    fig, axes = plt.subplots(len(PANELS) + 1, 1, figsize=(14, 2.4 * (len(PANELS) + 1)),
                             sharex=True)
    for ax, status in zip(axes, PANELS, strict=False):
        ratio = _series(result, "status:payment_transactions:ratio_rate5m", status=status)
        if ratio is not None:
            ax.plot(index, ratio * 100, color=COLOURS[status], lw=0.8, label="share 5m")
        for name, style in (("threshold:payment_transactions:ratio_fast", "--"),
                            ("threshold:payment_transactions:ratio_slow", ":")):
            line = _series(result, name, status=status)
            if line is not None and not np.all(np.isnan(line)):
                ax.axhline(float(np.nanmax(line)) * 100, color="black", ls=style, lw=0.8,
                           label=name.rsplit("_", 1)[-1] + " threshold")
        _shade(ax, result, index, status)
        _mark(ax, incidents, status)
        ax.set_ylabel(f"{status} %")
        ax.legend(loc="upper left", fontsize=7)
    ax = axes[-1]
    ax.plot(index, result.data.transactions.sum(axis=1), color="#555555", lw=0.6,
            label="transactions/min")
    ax.plot(index, result.data.transactions["approved"], color=COLOURS["approved"], lw=0.6,
            label="approved/min")
    _shade(ax, result, index, "all", "approved")
    _mark(ax, incidents, "all", "approved")
    ax.set_ylabel("volume / min")
    ax.legend(loc="upper left", fontsize=7)
    fig.suptitle(f"backtest of {result.rules}: shaded = alert firing, bars = labelled incident")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _shade(ax: plt.Axes, result: Result, index: pd.DatetimeIndex, *statuses: str) -> None:
    for e in result.episodes:
        if e.paging and e.labels.get("status") in statuses:
            colour = "#d62728" if e.severity == "critical" else "#ffbf00"
            ax.axvspan(index[e.start], index[min(e.end, len(index) - 1)], color=colour,
                       alpha=0.25, lw=0)


def _mark(ax: plt.Axes, incidents: list[Incident] | None, *statuses: str) -> None:
    for incident in incidents or []:
        if set(incident.statuses) & set(statuses):
            ax.axvspan(incident.start, incident.end, ymin=0, ymax=0.06, color="black")


def write(result: Result, incidents: list[Incident] | None, out: Path,
          other: Result | None = None) -> Path:
    """Write backtest.png (and backtest-b.png) and index.html into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    images = [out / "backtest.png"]
    chart(result, incidents, images[0])
    if other is not None:
        images.append(out / "backtest-b.png")
        chart(other, incidents, images[1])
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>txwatch backtest</title>",
             "<style>body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;"
             "padding:1em}img{max-width:100%}</style></head><body>",
             "<h1>txwatch backtest</h1>",
             f"<p>data {result.data.start:%Y-%m-%d %H:%M} to {result.data.end:%Y-%m-%d %H:%M}"
             f" UTC, {len(result.data.transactions)} minutes; "
             f"rules {html.escape(str(result.rules))}</p>"]
    for label, res, image in zip(("A", "B"), (result, other), images, strict=False):
        if res is None:
            continue
        data = base64.b64encode(image.read_bytes()).decode()
        parts += [f"<h2>Rules {label}: {html.escape(str(res.rules))}</h2>",
                  "<pre>" + html.escape("\n".join(res.score_lines())) + "</pre>",
                  f"<img alt='backtest chart' src='data:image/png;base64,{data}'>",
                  "<h3>Alert episodes</h3><pre>"
                  + html.escape("\n".join(res.episode_lines()) or "none") + "</pre>"]
    if incidents:
        parts += ["<h2>Labelled incidents</h2><pre>" + html.escape("\n".join(
            f"{i.start:%Y-%m-%d %H:%M} -> {i.end:%Y-%m-%d %H:%M} {i.kind} {','.join(i.statuses)}"
            for i in incidents)) + "</pre>"]
    parts.append("</body></html>")
    page = out / "index.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page
