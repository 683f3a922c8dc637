"""``txwatch-replay``: push, generate, backfill, backtest, tune and analyze transaction history."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from txwatch import contract, ports
from txwatch.backtest.incidents import INCIDENTS_FORMAT, IncidentsError
from txwatch.history.profiles import PROFILES
from txwatch.replay.tunecli import add_parsers, cmd_analyze, cmd_tune
from txwatch.resources import rule_files, rules_dir


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("speed must be > 0 or 'max'")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="txwatch-replay", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    push = sub.add_parser("push", help="send CSV history to the exporter, in time order")
    push.add_argument("files", nargs="+",
                      help="CSV files (timestamp,[dimension,...]status|auth_code,count); - = stdin")
    push.add_argument("--url", action="append", metavar="URL",
                      help=f"exporter base URL (default http://{ports.local(ports.EXPORTER)}); "
                           "repeat it for several replicas: each batch goes to the replica "
                           "its Idempotency-Key hashes to, so a retry meets the same one")
    push.add_argument("--speed", type=_speed, default=None,
                      help="data minutes per real minute (1 = real time, 60 = 1 s per "
                           "minute, max = no pause; default max)")
    push.add_argument("--token-file", type=Path, help="bearer token for the exporter")
    push.add_argument("--retries", type=int, default=5)
    push.add_argument("--start-at", help="skip data minutes before this time (UTC)")
    gen = sub.add_parser("generate", help="write labelled synthetic data (the demo data)")
    gen.add_argument("--profile", default="demo", choices=sorted(PROFILES),
                     help="traffic profile (default demo); see history/profiles.py")
    gen.add_argument("--days", type=int, help="days to generate (default: the profile's)")
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--start", help="first minute (UTC; default: the profile's, "
                                      "2025-01-06 00:00 for most)")
    gen.add_argument("--out", type=Path, required=True)
    fill = sub.add_parser("backfill", help="write history as Prometheus TSDB blocks")
    fill.add_argument("files", nargs="+")
    fill.add_argument("--tsdb", type=Path, required=True, help="Prometheus data directory")
    fill.add_argument("--scrape-interval", type=int, default=15, help="seconds (default 15)")
    fill.add_argument("--shift-to-now", action="store_true",
                      help="move the history so it ends now (keeps it inside retention)")
    bt = sub.add_parser("backtest", help="evaluate the rules over history and score them",
                        epilog=INCIDENTS_FORMAT)
    bt.add_argument("--data", nargs="+", required=True, help="CSV files")
    bt.add_argument("--incidents", type=Path, help="labelled incidents (format below)")
    bt.add_argument("--rules", "--rules-a", dest="rules", type=Path,
                    help="rules directory or file (default: the shipped rules/)")
    bt.add_argument("--rules-b", type=Path, help="second rule set to compare on the same data")
    bt.add_argument("--engine", choices=("txwatch", "vmalert", "both"), default="txwatch",
                    help="txwatch (default): the project's engine over Prometheus and "
                         "promtool; vmalert: vmalert -replay over VictoriaMetrics; both: "
                         "the two side by side on the same rules without keep_firing_for "
                         "(vmalert 1.79 has none), with their wall times and agreement")
    bt.add_argument("--report", type=Path, help="directory for index.html and PNG charts")
    bt.add_argument("--episodes", action="store_true", help="list every alert episode")
    bt.add_argument("--json", action="store_true", help="print one JSON document (scores, "
                    "episodes, comparison) instead of text; progress stays on stderr")
    add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from txwatch.history.dataset import HistoryError

    args = parser().parse_args(argv)
    try:
        return {"push": cmd_push, "generate": cmd_generate, "backfill": cmd_backfill,
                "backtest": cmd_backtest, "tune": cmd_tune,
                "analyze": cmd_analyze}[args.command](args)
    except (HistoryError, IncidentsError, OSError) as error:  # the user's file: one line
        if isinstance(error, OSError) and error.filename is None:
            raise  # not about a file the user named: a real failure, with its traceback
        text = f"{error.filename}: {error.strerror}" if isinstance(error, OSError) else error
        print(f"txwatch-replay {args.command}: {text}", file=sys.stderr)
        return 2


def _progress(iterator, total):  # type: ignore[no-untyped-def]
    return tqdm(iterator, total=total, unit="min", desc="push", file=sys.stderr)


def cmd_push(args: argparse.Namespace) -> int:
    import pandas as pd

    from txwatch.replay.push import push

    token = args.token_file.read_text().strip() if args.token_file else None
    start = pd.Timestamp(args.start_at, tz="UTC") if args.start_at else None
    urls = args.url or [f"http://{ports.local(ports.EXPORTER)}"]
    summary = push(args.files, urls, args.speed, token, args.retries, start, _progress)
    print("\n".join(summary.lines()))
    return 1 if summary.failed else 0


def cmd_generate(args: argparse.Namespace) -> int:
    from txwatch.history.generate import write

    paths = write(args.out, args.days, args.seed, args.start, args.profile)
    for name, path in paths.items():
        print(f"{name:<13} {path}")
    return 0


def _load(files: list[str]):  # type: ignore[no-untyped-def]
    from txwatch.history.dataset import load_dataset

    return load_dataset(files, contract.STATUSES, contract.AUTH_CODES)


def cmd_backfill(args: argparse.Namespace) -> int:
    from txwatch.replay.backfill import backfill_dataset

    data = _load(args.files)
    end = time.time() if args.shift_to_now else None
    first, last, written = backfill_dataset(data, args.tsdb, args.scrape_interval, end)
    print(f"wrote {written} samples to {args.tsdb} "
          f"({time.strftime('%Y-%m-%d %H:%M', time.gmtime(first))} to "
          f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(last))} UTC, job=\"txwatch\")")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from txwatch.backtest.compare import comparison, comparison_lines
    from txwatch.backtest.run import run
    from txwatch.backtest.scoring import load_incidents

    started = time.monotonic()
    data = _load(args.data)
    incidents = load_incidents(args.incidents) if args.incidents else None
    bar = tqdm(desc="backtest", file=sys.stderr, unit="stage")

    def progress(message: str) -> None:
        bar.set_postfix_str(message[:60])
        bar.update(1)

    if args.engine != "txwatch":
        if args.rules_b:
            print("txwatch-replay backtest: --rules-b compares rule sets on the txwatch "
                  "engine; with --engine, leave it out", file=sys.stderr)
            return 2
        return _engines(args, data, incidents, progress, bar)
    a = run(data, args.rules or rules_dir(), incidents, progress)
    b = run(data, args.rules_b, incidents, progress) if args.rules_b else None
    bar.close()
    page = None
    if args.report:
        from txwatch.backtest.report import write

        page = write(a, incidents, args.report, b)
    if args.json:
        doc = {"data": {"files": [str(f) for f in args.data], "start": data.start.isoformat(),
                        "end": data.end.isoformat(), "minutes": len(data.transactions)},
               "incidents": None if incidents is None else len(incidents),
               "rule_sets": {label: r.as_dict() for label, r in (("A", a), ("B", b)) if r},
               "comparison": comparison(a, b) if b is not None else None,
               "report": str(page) if page else None,
               "elapsed_seconds": round(time.monotonic() - started, 3)}
        print(json.dumps(doc, indent=2))
        return 0
    for label, result in (("A", a), ("B", b)):
        if result is None:
            continue
        print(f"== rules {label}: {result.rules}")
        if args.episodes or len(result.episodes) <= 40:
            print("\n".join(result.episode_lines()))
        print("\n".join(result.score_lines()))
    if b is not None:
        print("== comparison")
        print("\n".join(comparison_lines(a, b)))
    if page:
        print(f"report: {page}")
    print(f"finished in {time.monotonic() - started:.1f} s")
    return 0


def _engines(args: argparse.Namespace, data, incidents, progress, bar) -> int:  # type: ignore[no-untyped-def]
    """--engine vmalert / both: the peer alone, or both engines on the same rules."""
    import tempfile

    from txwatch.backtest.agreement import compare
    from txwatch.backtest.run import run
    from txwatch.backtest.vmreplay import run_peer
    from txwatch.rules.vmalert import vmalert_rule_dir

    rules = args.rules or rules_dir()
    with tempfile.TemporaryDirectory(prefix="txwatch-rules-") as tmp:
        results = {"vmalert": run_peer(data, rules, incidents, progress)}
        if args.engine == "both":  # like for like: the rule files vmalert evaluates
            vm_rules = vmalert_rule_dir(rules, Path(tmp))[0].parent
            results = {"txwatch": run(data, vm_rules, incidents, progress), **results}
    bar.close()
    held = held_alerts(rules)
    agreement = compare(results["txwatch"].episodes, results["vmalert"].episodes) \
        if "txwatch" in results else None
    if args.json:
        print(json.dumps({"engines": {k: r.as_dict() for k, r in results.items()},
                          "held_alerts": held,
                          "agreement": None if agreement is None else {
                              "identical": agreement.exact, "start_shifts":
                              agreement.start_shifts, "only_txwatch": len(
                                  agreement.only_ours), "only_vmalert": len(
                                  agreement.only_peer)}}, indent=2))
        return 0
    for name, result in results.items():
        print(f"== engine {name}: {result.seconds:.1f} s")
        if args.episodes:
            print("\n".join(result.episode_lines()))
        print("\n".join(result.score_lines()))
    if agreement is not None:
        ratio = results["vmalert"].seconds / max(results["txwatch"].seconds, 1e-9)
        print(f"== agreement (outside the first 5 minutes; vmalert took {ratio:.1f}x "
              "the txwatch engine's time)")
        print("\n".join(agreement.lines()))
    if held:
        print(f"note: {', '.join(held)} read their own ALERTS series (held while firing); "
              "vmalert -replay cannot evaluate that (it queries a range before writing its "
              "ALERTS), so it may split what the txwatch engine holds as one episode")
    return 0


def held_alerts(rules: Path) -> list[str]:
    """The alerts of ``rules`` that read their own ``ALERTS`` series (hysteresis)."""
    from txwatch.backtest.alertstage import reads_own_alerts
    from txwatch.backtest.ruleset import load_rules

    return [str(r["alert"]) for g in load_rules(rule_files(rules)).alert_groups
            for r in g["rules"] if reads_own_alerts(str(r["expr"]), str(r["alert"]))]


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
