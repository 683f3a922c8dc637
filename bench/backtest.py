"""Backtest timing: the real 3-day data set and 30 generated days, through the CLI.

Runs ``txwatch-replay backtest --json`` and reads its document. Prints wall times, the
scores and the load average before each run (other work on the machine shows up in the
wall times), writes results/backtest.json and results/backtest.png.
Targets (issue): real data < 15 s, 30 generated days < 60 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import bar_chart, save

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REAL = REPO.parent / "shared" / "data"


def timed(args: list[str]) -> tuple[float, str]:
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "txwatch.replay", *args], cwd=REPO, text=True,
                         capture_output=True, check=True).stdout
    return time.monotonic() - started, out


def backtest(files: list[Path], incidents: Path) -> dict[str, object]:
    """Wall time of one ``backtest --json`` run and the score figures of its document."""
    load = os.getloadavg()[0]
    seconds, out = timed(["backtest", "--json", "--data", *map(str, files),
                          "--incidents", str(incidents)])
    doc = json.loads(out)
    score = doc["rule_sets"]["A"]["score"]
    return {"seconds": seconds, "evaluation seconds": doc["rule_sets"]["A"]["seconds"],
            "caught": score["caught"], "incidents": score["incidents"],
            "recall": score["recall"], "median delay": score["median_delay"],
            "delays": score["delays"], "false episodes": score["false_episodes"],
            "false per day": score["false_per_day"], "precision": score["precision"],
            "pages": doc["rule_sets"]["A"]["pages"],
            "warnings": doc["rule_sets"]["A"]["warnings"],
            "false pages per week": score["false_pages_per_week"],
            "false warnings per day": score["false_warnings_per_day"],
            "notifications per day": score["notifications_per_day"],
            "load average before": load}


def main() -> int:
    results: dict[str, dict[str, object]] = {}
    if (REAL / "transactions.csv").exists():
        results["real 3 days"] = backtest([REAL / "transactions.csv",
                                           REAL / "transactions_auth_codes.csv"],
                                          REPO / "docs/incidents/real-2025-07.json")
    else:
        print(f"real data not found at {REAL}; skipping that run", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        for days in (7, 30):
            data = Path(tmp) / f"g{days}"
            timed(["generate", "--days", str(days), "--seed", "30", "--out", str(data)])
            results[f"generated {days} days"] = backtest(
                [data / "transactions.csv", data / "transactions_auth_codes.csv"],
                data / "incidents.json")
    for name, r in results.items():
        print(f"{name:<20} {r['seconds']:6.1f} s  caught {r['caught']}/{r['incidents']}; "
              f"median delay {r['median delay']}; {r['pages']} pages, {r['warnings']} "
              f"warnings; false pages {r['false pages per week']:.2f}/week, false warnings "
              f"{r['false warnings per day']:.2f}/day; precision {r['precision']:.2f}; "
              f"load average before {r['load average before']:.1f}")
    save("backtest", results)
    bar_chart("backtest", list(results), [r["seconds"] for r in results.values()],
              {"target real data": 15, "target 30 days": 60}, "backtest wall time, s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
