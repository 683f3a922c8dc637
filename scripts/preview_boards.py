"""Render the Overview board's panels from real query results to docs/overview-preview.png.

For people without Grafana: generates the demo data (2 days), evaluates the shipped rules
over it, loads everything into a throwaway Prometheus, runs every query of every Overview
panel over the last 12 hours of data and draws the panels in the board's layout.
Run: python scripts/preview_boards.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from txwatch import contract  # noqa: E402
from txwatch.backtest.loaded import loaded_prometheus  # noqa: E402
from txwatch.history.dataset import load_dataset  # noqa: E402
from txwatch.history.generate import write  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HOURS = 12


def legend_of(fmt: str, labels: dict[str, str]) -> str:
    for key, value in labels.items():
        fmt = fmt.replace("{{" + key + "}}", value)
    return fmt


def main() -> int:
    board = json.loads((REPO / "grafana/dashboards/overview.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        paths = write(Path(tmp) / "demo", days=2, seed=1)
        data = load_dataset([paths["transactions"], paths["auth_codes"]], contract.STATUSES,
                            contract.AUTH_CODES)
        steps = len(data.transactions)
        first = steps - HOURS * 60
        index = data.transactions.index[first:]
        fig = plt.figure(figsize=(16, 14))
        grid = fig.add_gridspec(40, 24)
        with loaded_prometheus(data, REPO / "rules", Path(tmp)) as prom:
            for panel in board["panels"]:
                pos = panel["gridPos"]
                ax = fig.add_subplot(grid[pos["y"]:pos["y"] + pos["h"] - 1,
                                          pos["x"]:pos["x"] + pos["w"] - 1])
                ax.set_title(panel["title"], fontsize=9)
                for target in panel["targets"]:
                    for labels, values in prom.query_range(target["expr"], first * 60.0,
                                                           steps - first):
                        name = legend_of(target.get("legendFormat", ""), labels)
                        if panel["type"] == "table":
                            continue
                        style = "--" if "threshold" in name else "-"
                        ax.plot(index, values, style, lw=0.8, label=name)
                if panel["type"] == "table":
                    firing = prom.query_range(panel["targets"][0]["expr"], first * 60.0,
                                              steps - first)
                    rows = [f"{lb.get('alertname')} {lb.get('status')} ({lb.get('severity')}): "
                            f"{int(np.nansum(v))} min" for lb, v in firing]
                    ax.text(0.02, 0.95, "alerts that fired in the window\n" +
                            "\n".join(rows[:8]), va="top", fontsize=7, transform=ax.transAxes)
                    ax.axis("off")
                    continue
                if panel.get("fieldConfig", {}).get("defaults", {}).get("unit") == "percentunit":
                    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.1%}"))
                ax.tick_params(labelsize=7)
                ax.legend(fontsize=6, loc="upper left")
        fig.suptitle(f"txwatch overview board, rendered from Prometheus query results "
                     f"(demo data, last {HOURS} h to {pd.Timestamp(index[-1]):%Y-%m-%d %H:%M})")
        out = REPO / "docs" / "overview-preview.png"
        fig.savefig(out, dpi=70, bbox_inches="tight")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
