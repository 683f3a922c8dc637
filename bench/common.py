"""What every benchmark does at the end: write results/<name>.json and a bar chart."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def save(name: str, doc: object) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")


def bar_chart(name: str, labels: list[str], values: list[float],
              targets: dict[str, float], axis_label: str, colour: str = "#2a9d8f",
              log: bool = False) -> None:
    """Horizontal bars with dashed target lines, saved as results/<name>.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.6 * len(labels) + 1.5))
    ax.barh(labels, values, color=colour)
    for label, limit in targets.items():
        ax.axvline(limit, ls="--", color="red", lw=0.8)
        ax.text(limit, -0.4, label, fontsize=7, color="red")
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(axis_label)
    fig.tight_layout()
    RESULTS.mkdir(exist_ok=True)
    fig.savefig(RESULTS / f"{name}.png", dpi=90)
    plt.close(fig)
