"""The ``tune`` and ``analyze`` subcommands of ``txwatch-replay`` (kept apart from the other
subcommands: their options and output are the longest)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from txwatch import contract
from txwatch.backtest.incidents import INCIDENTS_FORMAT
from txwatch.resources import rules_dir

MAX_RUNGS = 8  # each rung is one backtest of the whole history


def _rungs(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_RUNGS:
        raise argparse.ArgumentTypeError(f"rungs must be 1..{MAX_RUNGS}")
    return value


def _budget(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("a budget is a number >= 0")
    return value


def add_parsers(sub: argparse._SubParsersAction) -> None:
    tune = sub.add_parser(
        "tune", help="learn the threshold table from history under a false-page budget",
        description="Backtest candidate threshold tables on a history and write the one that "
                    "fits the false-page budget best (see docs/replay.md, 'Replay, backfill and "
                    "backtest'). Long-running: one backtest per candidate.",
        epilog=INCIDENTS_FORMAT)
    source = tune.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", nargs="+",
                        help="history CSVs (timestamp,status,count and "
                             "timestamp,auth_code,count)")
    source.add_argument("--prometheus", metavar="URL",
                        help="read the history from this Prometheus' HTTP API instead "
                             "(the job's counters, --start to --end)")
    tune.add_argument("--start", help="with --prometheus: first minute, UTC "
                                      "(default: 7 days before --end)")
    tune.add_argument("--end", help="with --prometheus: end of the range, UTC (default: now)")
    tune.add_argument("--job", default=contract.JOB,
                      help=f"with --prometheus: the scrape job (default {contract.JOB})")
    tune.add_argument("--incidents", type=Path,
                      help="labelled incidents (incidents.json; format below); without them "
                           "every alert episode counts as false")
    tune.add_argument("--rules", type=Path, default=None,
                      help="rules directory (default: the shipped rules/)")
    tune.add_argument("--table", type=Path, help="threshold table to start from "
                                                 "(default: RULES/thresholds.yml)")
    tune.add_argument("--out", type=Path,
                      help="where to write the tuned table (default: over --table)")
    tune.add_argument("--max-false-pages-per-week", type=_budget, default=1.0)
    tune.add_argument("--max-false-warnings-per-day", type=_budget, default=1.0)
    tune.add_argument("--rungs", type=_rungs, default=5,
                      help=f"ladder rungs per margin (1..{MAX_RUNGS}, default 5); the search "
                           "backtests rungs + 3 tables (+1 for the current one)")
    tune.add_argument("--keep-warmup-normal", action="store_true",
                      help="keep the table's ratio_normal rows (default: set them from the "
                           "history's pooled shares)")
    tune.add_argument("--dry-run", action="store_true", help="print, do not write the table")
    an = sub.add_parser("analyze", help="share statistics and the table values they suggest, "
                                        "next to the current ones")
    an.add_argument("files", nargs="+", help="transactions CSV (and the auth-codes CSV)")
    an.add_argument("--table", type=Path, help="threshold table (default: the shipped one)")


def _table_path(args: argparse.Namespace) -> Path:
    return args.table or (args.rules or rules_dir()) / "thresholds.yml"


def _history(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import pandas as pd
    import requests

    from txwatch.history.dataset import load_dataset
    from txwatch.history.promsource import fetch_dataset

    if args.data:
        return load_dataset(args.data, contract.STATUSES, contract.AUTH_CODES)
    end = pd.Timestamp(args.end or pd.Timestamp.now(tz="UTC"))
    end = end.tz_localize("UTC") if end.tz is None else end
    start = pd.Timestamp(args.start) if args.start else end - pd.Timedelta(days=7)
    start = start.tz_localize("UTC") if start.tz is None else start
    try:
        return fetch_dataset(args.prometheus, start, end, args.job)
    except requests.RequestException as error:
        raise ValueError(f"{args.prometheus}: {error}") from error


def cmd_tune(args: argparse.Namespace) -> int:
    from txwatch.backtest.scoring import load_incidents
    from txwatch.backtest.search import Budget
    from txwatch.backtest.tune import tune
    from txwatch.backtest.tunetext import tune_lines

    table, out = _table_path(args), args.out or _table_path(args)
    if not table.is_file():
        print(f"tune: no threshold table at {table}", file=sys.stderr)
        return 2
    if not args.dry_run and not out.parent.is_dir():
        print(f"tune: cannot write {out}: no directory {out.parent}", file=sys.stderr)
        return 2
    try:
        data = _history(args)
        incidents = load_incidents(args.incidents) if args.incidents else None
    except ValueError as error:  # refused files or labels, bad times, Prometheus refusals
        print(f"txwatch-replay tune: {error}", file=sys.stderr)  # (a missing file: main)
        return 2
    budget = Budget(args.max_false_pages_per_week, args.max_false_warnings_per_day)
    bar = tqdm(desc="tune", file=sys.stderr, unit="backtest", total=args.rungs + 4)

    def progress(message: str) -> None:
        bar.set_postfix_str(message[:50])
        if message.startswith("backtest"):
            bar.update(1)

    outcome = tune(data, args.rules or rules_dir(), table, incidents, budget, args.rungs,
                   args.keep_warmup_normal, progress)
    bar.close()
    print("\n".join(tune_lines(outcome)))
    if args.dry_run:
        print("dry run: nothing written")
    else:
        out.write_text(outcome.text, encoding="utf-8")
        print(f"wrote {out}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from txwatch.backtest.table import Table
    from txwatch.backtest.tunetext import analyze_lines
    from txwatch.history.dataset import load_dataset

    data = load_dataset(args.files, contract.STATUSES, contract.AUTH_CODES)
    table = Table.load(args.table or rules_dir() / "thresholds.yml")
    print("\n".join(analyze_lines(data, table, ", ".join(args.files))))
    return 0
