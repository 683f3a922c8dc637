"""Backtest timing: the real 3-day data set and 30 generated days, through the CLI.

Prints wall times and the scores, writes results/backtest.json and results/backtest.png.
Targets (issue): real data < 15 s, 30 generated days < 60 s.
"""

from __future__ import annotations

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


def summary(out: str) -> dict[str, str]:
    keys = ("incidents caught", "detection delay", "false alert episodes")
    return {k: next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                     if ln.startswith(k)), "") for k in keys}


def main() -> int:
    results: dict[str, dict[str, object]] = {}
    if (REAL / "transactions.csv").exists():
        seconds, out = timed(["backtest", "--data", str(REAL / "transactions.csv"),
                              str(REAL / "transactions_auth_codes.csv"), "--incidents",
                              str(REPO / "docs/incidents/real-2025-07.json")])
        results["real 3 days"] = {"seconds": seconds, **summary(out)}
    else:
        print(f"real data not found at {REAL}; skipping that run", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        for days in (7, 30):
            data = Path(tmp) / f"g{days}"
            timed(["generate", "--days", str(days), "--seed", "30", "--out", str(data)])
            seconds, out = timed(["backtest", "--data", str(data / "transactions.csv"),
                                  str(data / "transactions_auth_codes.csv"), "--incidents",
                                  str(data / "incidents.json")])
            results[f"generated {days} days"] = {"seconds": seconds, **summary(out)}
    for name, r in results.items():
        print(f"{name:<20} {r['seconds']:6.1f} s  caught {r['incidents caught']}; "
              f"delay {r['detection delay']}; false {r['false alert episodes']}")
    save("backtest", results)
    bar_chart("backtest", list(results), [r["seconds"] for r in results.values()],
              {"target real data": 15, "target 30 days": 60}, "backtest wall time, s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
