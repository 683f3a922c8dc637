"""Backtest report: one PNG chart and one self-contained HTML page, for one rule set or two.

The chart shows, per status, the 5-minute share of the history, the fast and slow limits the
rules recorded (they move with the learned normal), the spans where an alert about that
status fired and the labelled incidents (black bars at the bottom). With two rule sets (A/B)
the same chart carries both: A's limits dashed and its firing spans in the top band, B's
dotted and in the band below, so a reader sees on one time axis what the change moves. The
page then leads with the A/B table, the delay of every incident under each, and the episodes
only one side has.
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

from txwatch.backtest.compare import delays, episode_changes, table_rows  # noqa: E402
from txwatch.backtest.run import Result  # noqa: E402
from txwatch.backtest.scoring import Incident  # noqa: E402

PANELS = ("failed", "backend_reversed", "denied", "reversed")
COLOURS = {"failed": "#d62728", "backend_reversed": "#9467bd", "denied": "#ff7f0e",
           "reversed": "#8c564b", "approved": "#2ca02c"}
LIMIT = "status:payment_transactions:ratio_limit_"
# (ymin, ymax) of the firing bands: one rule set shades the whole panel, two share it
BANDS = {1: [(0.0, 1.0)], 2: [(0.88, 1.0), (0.76, 0.88)]}
STYLES = ("--", ":")


def _series(result: Result, name: str, **match: str) -> np.ndarray | None:
    for s in result.recorded.get(name, []):
        if all(s.labels.get(k) == v for k, v in match.items()):
            return s.values
    return None


def chart(results: list[Result], incidents: list[Incident] | None, path: Path) -> None:
    first = results[0]
    index = first.data.transactions.index
    tx = first.data.transactions
    share = tx.rolling(5, min_periods=1).sum().div(
        tx.sum(axis=1).rolling(5, min_periods=1).sum().where(lambda v: v > 0), axis=0)
    fig, axes = plt.subplots(len(PANELS) + 1, 1, figsize=(14, 2.4 * (len(PANELS) + 1)),
                             sharex=True)
    names = "AB" if len(results) > 1 else ""
    for ax, status in zip(axes, PANELS, strict=False):
        if status in share:
            ax.plot(index, share[status] * 100, color=COLOURS[status], lw=0.8,
                    label="share 5m")
        for number, result in enumerate(results):
            for which, colour in (("fast", "black"), ("slow", "#666666")):
                line = _series(result, LIMIT + which, status=status)
                if line is not None and not np.all(np.isnan(line)):
                    ax.plot(index, line * 100, color=colour, ls=STYLES[number], lw=0.8,
                            label=f"{names[number:number + 1]} {which} limit".strip())
        _shade(ax, results, index, status)
        _mark(ax, incidents, status)
        ax.set_ylabel(f"{status} %")
        ax.legend(loc="upper left", fontsize=7)
    ax = axes[-1]
    ax.plot(index, tx.sum(axis=1), color="#555555", lw=0.6, label="transactions/min")
    ax.plot(index, tx["approved"], color=COLOURS["approved"], lw=0.6, label="approved/min")
    _shade(ax, results, index, "all", "approved")
    _mark(ax, incidents, "all", "approved")
    ax.set_ylabel("volume / min")
    ax.legend(loc="upper left", fontsize=7)
    title = " vs ".join(f"{n} = {r.rules.name}" for n, r in zip(names, results, strict=False))
    bands = "; A fires in the top band, B in the one below" if len(results) > 1 else ""
    fig.suptitle(f"backtest {title or 'of ' + str(first.rules)}: shaded = alert firing "
                 f"(red critical, amber warning){bands}; black bars = labelled incidents")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _shade(ax: plt.Axes, results: list[Result], index: pd.DatetimeIndex,
           *statuses: str) -> None:
    for (low, high), result in zip(BANDS[len(results)], results, strict=True):
        for e in result.episodes:
            if e.notifies and e.labels.get("status") in statuses:
                colour = "#d62728" if e.paging else "#ffbf00"
                ax.axvspan(index[e.start], index[min(e.end, len(index) - 1)], ymin=low,
                           ymax=high, color=colour, alpha=0.3, lw=0)


def _mark(ax: plt.Axes, incidents: list[Incident] | None, *statuses: str) -> None:
    for incident in incidents or []:
        if set(incident.statuses) & set(statuses):
            ax.axvspan(incident.start, incident.end, ymin=0, ymax=0.06, color="black")


def _table(head: list[str], rows: list[list[object]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('-' if v is None else str(v))}</td>"
                                    for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


def _ab_parts(a: Result, b: Result) -> list[str]:
    parts = ["<h2>A/B</h2>", _table(["", "A", "B"], [list(r) for r in table_rows(a, b)])]
    rows = delays(a, b)
    if rows:
        parts += ["<h3>Detection delay per incident (data minutes; - = missed)</h3>",
                  _table(["incident", "A", "B", "B - A", "pages A", "pages B"],
                         [[r["incident"], r["A"], r["B"], r["difference"], r["pages A"],
                           r["pages B"]] for r in rows])]
    changes = episode_changes(a, b)
    for key, title in (("disappear", "Episodes only in A (gone with B)"),
                       ("appear", "Episodes only in B (new with B)")):
        parts.append(f"<h3>{title}: {len(changes[key])}</h3><pre>"
                     + html.escape("\n".join(changes[key]) or "none") + "</pre>")
    return parts


def write(result: Result, incidents: list[Incident] | None, out: Path,
          other: Result | None = None) -> Path:
    """Write backtest.png and index.html into ``out`` (one page, A/B when ``other``)."""
    out.mkdir(parents=True, exist_ok=True)
    results = [result] + ([other] if other is not None else [])
    image = out / "backtest.png"
    chart(results, incidents, image)
    data = base64.b64encode(image.read_bytes()).decode()
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>txwatch backtest</title>",
             "<style>body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;"
             "padding:1em}img{max-width:100%}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style>"
             "</head><body>", "<h1>txwatch backtest</h1>",
             f"<p>data {result.data.start:%Y-%m-%d %H:%M} to {result.data.end:%Y-%m-%d %H:%M}"
             f" UTC, {len(result.data.transactions)} minutes; rules "
             + " vs ".join(f"{n} {html.escape(str(r.rules))}"
                           for n, r in zip("AB" if other else " ", results, strict=False))
             + "</p>"]
    if other is not None:
        parts += _ab_parts(result, other)
    parts.append(f"<img alt='backtest chart' src='data:image/png;base64,{data}'>")
    for label, res in zip(("A", "B"), results, strict=False):
        parts += [f"<h2>Rules {label}: {html.escape(str(res.rules))}</h2>",
                  "<pre>" + html.escape("\n".join(res.score_lines())) + "</pre>",
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
