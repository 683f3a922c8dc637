"""Detection per segment: the shipped rules backtested on the ``segments`` profile.

Fifty acquirers of skewed sizes (a few carry most of the traffic, a long tail a percent or
less each), 14 days by default: an acquirer of ~5% failing fully, one of 1% with ten more
points of denials, failed and denied spikes in several acquirers and in all at once, a
partial outage of the largest. For each incident: whether it paged, how many pages, and
after how many data minutes a page named one of its segments; false pages and warnings
over all segments together. Writes results/segments.json and results/segments.png.
Run: .venv/bin/python bench/segments.py [--days N] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import RESULTS, save

from txwatch import contract
from txwatch.backtest.run import run
from txwatch.backtest.scoring import load_incidents
from txwatch.history.dataset import load_dataset
from txwatch.history.generate import write
from txwatch.resources import rules_dir


def backtest(days: int, seed: int) -> dict[str, object]:
    """One run of the profile: the score and, per incident, its named delay."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = write(Path(tmp), days, seed, profile="segments")
        data = load_dataset([paths["transactions"], paths["auth_codes"]], contract.STATUSES,
                            contract.AUTH_CODES)
        started = time.monotonic()
        result = run(data, rules_dir(), load_incidents(paths["incidents"]),
                     progress=lambda msg: print(f"  {msg}", flush=True))
        seconds = time.monotonic() - started
    s = result.score
    assert s is not None
    return {"days": days, "seed": seed, "segments": 50, "seconds": round(seconds, 1),
            "incidents": s.incidents, "caught": s.caught, "paged": s.paged,
            "pages_per_incident": s.pages_per_incident, "false_pages": s.false_critical,
            "false_pages_per_week": round(s.false_pages_per_week, 2),
            "false_warnings_per_day": round(s.false_warnings_per_day, 2),
            "false": s.false_alerts,
            "per_incident": [{"incident": label, **found}
                             for label, found in s.per_incident.items()]}


def chart(doc: dict[str, object], path: Path) -> None:
    """Per incident kind, the minutes until a page named the segment (one dot per
    incident; a cross where no page named it), the 3-minute bar dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = doc["per_incident"]
    assert isinstance(rows, list)
    kinds = sorted({r["incident"].split(" ")[0] for r in rows})
    edge = max([r["named_delay"] or 0 for r in rows] + [3]) + 2  # where "no page" is drawn
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for y, kind in enumerate(kinds):
        mine = [r for r in rows if r["incident"].split(" ")[0] == kind]
        named = [r["named_delay"] for r in mine if r.get("named_delay") is not None]
        ax.scatter(named, [y] * len(named), color="#1f77b4", zorder=3)
        missing = sum(r.get("named_delay") is None for r in mine)
        if missing:
            ax.scatter([edge] * missing, [y] * missing, marker="x", color="#d62728", zorder=3)
            ax.annotate(f"{missing} not named", (edge, y), textcoords="offset points",
                        xytext=(-20, 8), fontsize=7, color="#d62728")
    ax.axvline(3, linestyle="--", color="grey", linewidth=1, label="3 data minutes")
    ax.set_yticks(range(len(kinds)), kinds)
    ax.set_xlabel("data minutes until a page names the segment")
    ax.set_title(f"segments profile, {doc['days']} days x 50 acquirers: "
                 f"{doc['caught']}/{doc['incidents']} caught, "
                 f"{doc['false_pages']} false page(s)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--chart-only", action="store_true",
                   help="redraw the chart from results/segments.json")
    args = p.parse_args()
    if args.chart_only:
        chart(json.loads((RESULTS / "segments.json").read_text()), RESULTS / "segments.png")
        return 0
    doc = backtest(args.days, args.seed)
    save("segments", doc)
    chart(doc, RESULTS / "segments.png")
    for r in doc["per_incident"]:  # type: ignore[union-attr]
        print(f"{r['incident']:<38} pages {r['pages']}  named after {r.get('named_delay')}")
    print(f"caught {doc['caught']}/{doc['incidents']}, false pages {doc['false_pages']} "
          f"({doc['false_pages_per_week']}/week), false warnings/day "
          f"{doc['false_warnings_per_day']}, {doc['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
