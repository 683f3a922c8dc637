"""``tune`` measured: the shipped table tuned on the real data and on generated profiles.

For the real data set (when present next to the checkout) and each named profile (7 days,
seed 11), runs the tuner from the shipped rules under a budget of 1 false page a week and 1
false warning a day, and records the backtest before and after (incidents caught, false
pages per week, false warnings per day, median delay, pages per caught incident,
notifications per day), the rows it changed and its wall time. The bar for a tuned table is
the profiles' whole bar (bench/profiles.py): every incident caught, <= 1 false critical per
week, <= 1 false warning per day, and each class's median delay within its limit; the
budget tune searches under is its first part (delays are what tune minimises within it).
Writes results/tune.json. Run: .venv/bin/python bench/tune.py [profile ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from common import save
from profiles import class_delays, delays_within_bar

from txwatch import contract
from txwatch.backtest.scoring import Score, load_incidents
from txwatch.backtest.search import Budget
from txwatch.backtest.tune import tune
from txwatch.backtest.tunetext import tune_lines
from txwatch.history.dataset import load_dataset
from txwatch.history.generate import write
from txwatch.resources import rules_dir

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
INCIDENTS = Path(__file__).resolve().parent.parent / "docs" / "incidents" / "real-2025-07.json"


def figures(s: Score) -> dict[str, object]:
    by_class = class_delays(s)
    budget = (s.caught == s.incidents and s.false_pages_per_week <= 1
              and s.false_warnings_per_day <= 1)
    return {"caught": f"{s.caught}/{s.incidents}", "paged": f"{s.paged}/{s.incidents}",
            "false_pages_per_week": round(s.false_pages_per_week, 2),
            "false_warnings_per_day": round(s.false_warnings_per_day, 2),
            "median_delay": s.median_delay, "median_delay_by_class": by_class,
            "pages_per_incident": s.pages_per_incident,
            "notifications_per_day": round(s.notifications_per_day, 2),
            "within_budget": budget, "meets_bar": budget and delays_within_bar(by_class)}


def one(name: str, files: list[Path], incidents: Path, rungs: int) -> dict[str, object]:
    data = load_dataset(files, contract.STATUSES, contract.AUTH_CODES)
    load = os.getloadavg()[0]
    started = time.monotonic()
    outcome = tune(data, rules_dir(), rules_dir() / "thresholds.yml",
                   load_incidents(incidents), Budget(1, 1), rungs)
    seconds = time.monotonic() - started
    print(f"== {name}", "\n".join(tune_lines(outcome)), sep="\n", flush=True)
    assert outcome.before.score is not None and outcome.after.score is not None
    return {"profile": name, "days": round(outcome.before.days, 1), "seconds": round(seconds),
            "backtests": 2 + sum(c.result is not outcome.before for c in outcome.candidates),
            "load_average_before": load, "before": figures(outcome.before.score),
            "after": figures(outcome.after.score),
            "changed_rows": {f"{k[1]}{{{k[2]}}}" if k[2] else k[1]: v
                             for k, v in sorted(outcome.changes.items())}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--rungs", type=int, default=5)
    p.add_argument("profiles", nargs="*",
                   default=["high_decline", "weekly", "small_shop", "fraud", "drift"])
    args = p.parse_args()
    rows = []
    if (REAL / "transactions.csv").exists():
        rows.append(one("real data", [REAL / "transactions.csv",
                                      REAL / "transactions_auth_codes.csv"], INCIDENTS,
                        args.rungs))
    else:
        print(f"real data not found at {REAL}; skipping it", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.profiles:
            paths = write(Path(tmp) / name, args.days, args.seed, profile=name)
            rows.append(one(name, [paths["transactions"], paths["auth_codes"]],
                            paths["incidents"], args.rungs))
    save("tune", {"seed": args.seed, "days": args.days, "rungs": args.rungs,
                  "budget": {"false_pages_per_week": 1, "false_warnings_per_day": 1},
                  "rows": rows})
    for r in rows:
        print(f"{r['profile']:<12} {r['seconds']:>4} s  before {r['before']}\n"
              f"{'':<19} after  {r['after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
