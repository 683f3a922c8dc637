"""Backtest timing: the real 3-day data set and 30 generated days, through the CLI.

Runs ``txwatch-replay backtest --json`` and reads its document. Prints wall times, the
scores and the load average before each run (other work on the machine shows up in the
wall times), writes results/backtest.json and results/backtest.png.
Targets: 30 generated days < 30 s; >= 5x ahead of vmalert -replay on the same data.
The peer runs (``backtest --engine both``) put both engines side by side on the same rules.
"""

from __future__ import annotations

import json
import os
import shutil
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


def peer(files: list[Path], incidents: Path) -> dict[str, object]:
    """Both engines in one ``backtest --engine both`` run: wall times and agreement."""
    load = os.getloadavg()[0]
    seconds, out = timed(["backtest", "--engine", "both", "--json", "--data",
                          *map(str, files), "--incidents", str(incidents)])
    doc = json.loads(out)
    engines = doc["engines"]
    return {"txwatch seconds": engines["txwatch"]["seconds"],
            "vmalert seconds": engines["vmalert"]["seconds"],
            "caught": {k: f"{e['score']['caught']}/{e['score']['incidents']}"
                       for k, e in engines.items()},
            "false pages": {k: e["score"]["false_critical"] for k, e in engines.items()},
            "agreement": doc["agreement"], "wall seconds": seconds,
            "load average before": load}


def main() -> int:
    results: dict[str, dict[str, object]] = {}
    if (REAL / "transactions.csv").exists():
        results["real 3 days"] = backtest([REAL / "transactions.csv",
                                           REAL / "transactions_auth_codes.csv"],
                                          REPO / "docs/incidents/real-2025-07.json")
    else:
        print(f"real data not found at {REAL}; skipping that run", file=sys.stderr)
    peers: dict[str, dict[str, object]] = {}
    if shutil.which("vmalert") is None:
        print("vmalert not installed (scripts/setup): no peer runs", file=sys.stderr)
    elif (REAL / "transactions.csv").exists():
        peers["real 3 days"] = peer([REAL / "transactions.csv",
                                     REAL / "transactions_auth_codes.csv"],
                                    REPO / "docs/incidents/real-2025-07.json")
    with tempfile.TemporaryDirectory() as tmp:
        for days in (7, 30):
            data = Path(tmp) / f"g{days}"
            timed(["generate", "--days", str(days), "--seed", "30", "--out", str(data)])
            results[f"generated {days} days"] = backtest(
                [data / "transactions.csv", data / "transactions_auth_codes.csv"],
                data / "incidents.json")
            if days == 7 and shutil.which("vmalert"):
                peers["generated 7 days"] = peer(
                    [data / "transactions.csv", data / "transactions_auth_codes.csv"],
                    data / "incidents.json")
    for name, r in results.items():
        print(f"{name:<20} {r['seconds']:6.1f} s  caught {r['caught']}/{r['incidents']}; "
              f"median delay {r['median delay']}; {r['pages']} pages, {r['warnings']} "
              f"warnings; false pages {r['false pages per week']:.2f}/week, false warnings "
              f"{r['false warnings per day']:.2f}/day; precision {r['precision']:.2f}; "
              f"load average before {r['load average before']:.1f}")
    print("\nside by side, same rules without keep_firing_for (vmalert 1.79 has none):")
    for name, r in peers.items():
        a, ratio = r["agreement"], r["vmalert seconds"] / r["txwatch seconds"]
        print(f"{name:<20} txwatch {r['txwatch seconds']:6.1f} s   vmalert -replay "
              f"{r['vmalert seconds']:6.1f} s   ({ratio:.1f}x)"
              f"; caught {r['caught']}; false pages {r['false pages']}; episodes identical "
              f"{a['identical']}, only txwatch {a['only_txwatch']}, only vmalert "
              f"{a['only_vmalert']}; load average before {r['load average before']:.1f}")
    save("backtest", {**results, **{f"{k} peer": v for k, v in peers.items()}})
    labels = list(results) + [f"{k}\nvmalert -replay" for k in peers]
    values = [r["seconds"] for r in results.values()] + \
        [r["vmalert seconds"] for r in peers.values()]
    bar_chart("backtest", labels, values, {"target 30 days": 30}, "backtest wall time, s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
