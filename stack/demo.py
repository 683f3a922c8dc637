"""``txwatch-demo``: the whole pipeline on built-in generated data (or yours), on this machine.

Starts the local stack, replays the data from shortly before the first incident at
``--speed`` data minutes per real minute, prints where to look, every notification the sink
receives and a progress line in data time, and stops everything on Ctrl-C. It cannot fail
silently: taken ports are refused before anything starts, every child must be the process
answering on its port, and a child that dies is reported with the tail of its log and stops
the demo (exit 1). Each run has its own locked directory, so a second demo never touches a
live one. ``txwatch-demo inject`` pushes an anomaly into the running demo.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import astuple, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

from txwatch import contract
from txwatch.backtest.incidents import load_incidents
from txwatch.engines.promtool import parse_duration
from txwatch.history.dataset import load_dataset
from txwatch.history.generate import write
from txwatch.replay.push import push
from txwatch.rules import DEFAULT, write_rule_dir
from txwatch.stack import inject
from txwatch.stack.launcher import LocalStack, Ports
from txwatch.stack.ports import PortInUse
from txwatch.stack.progress import Progress
from txwatch.stack.runs import Run, new_run
from txwatch.stack.victoria import VictoriaStack
from txwatch.stack.where import where_lines

PROGRESS_SECONDS = 30.0
STARTING = {"prometheus": "exporter, Prometheus, Alertmanager and the sink",
            "victoriametrics": "exporter replicas, victoria-metrics, vmagent, vmalert, "
                               "Alertmanager and the sink"}


DEFAULTS = "/".join(str(p) for p in astuple(Ports()))  # 9466/9090/9093/9095


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="txwatch-demo", description=(__doc__ or "").replace(
        "``", ""), epilog="txwatch-demo inject --help: push an anomaly (e.g. failed at 15% "
        "for 10 minutes) into the running demo.")
    p.add_argument("--workdir", type=Path, default=Path("out/demo"),
                   help="holds one directory per run under runs/ (default out/demo)")
    p.add_argument("--speed", type=float, default=10.0,
                   help="data minutes per real minute (default 10: an incident of 30 data "
                        "minutes lasts 3 real minutes, longer than the alerts' 'for')")
    p.add_argument("--days", type=int, default=3, help="days of demo data to generate (default 3)")
    p.add_argument("--data", nargs="+", metavar="CSV",
                   help="replay these files instead (timestamp,status,count and optionally "
                        "timestamp,auth_code,count)")
    p.add_argument("--incidents", type=Path, help="incidents.json labelling --data")
    p.add_argument("--start-at", help="first data minute to replay (default: 20 minutes "
                   "before the first incident, or the start of the data)")
    p.add_argument("--engine", choices=("prometheus", "victoriametrics"), default="prometheus",
                   help="prometheus (default), or victoriametrics: vmagent, victoria-metrics "
                        "and vmalert with the same rules and Alertmanager (docs/scaling.md)")
    p.add_argument("--replicas", type=int, default=3, help="exporter replicas with "
                   "--engine victoriametrics (default 3); pushes are spread by key")
    p.add_argument("--free-ports", action="store_true",
                   help=f"use free ports instead of {DEFAULTS}")
    p.add_argument("--ports", metavar="E,P,A,S",
                   help="exporter, Prometheus, Alertmanager and sink ports "
                        f"(default {DEFAULTS.replace('/', ',')})")
    args = p.parse_args(argv)
    if args.speed <= 0:
        p.error("--speed must be > 0")
    if not 1 <= args.replicas <= 16:
        p.error("--replicas must be 1 to 16")
    try:
        args.ports = Ports(*(int(x) for x in args.ports.split(","))) if args.ports else None
    except (TypeError, ValueError):
        p.error(f"--ports needs four port numbers, e.g. {DEFAULTS.replace('/', ',')}")
    return args


def data_files(args: argparse.Namespace, run_dir: Path) -> tuple[list[Path], list[dict[str, Any]]]:
    """The CSVs to replay and their labelled incidents (validated by the same loaders as a
    backtest's, so the plain-list incidents file works here too)."""
    if args.data:
        files = [Path(f) for f in args.data]
        load_dataset(files, contract.STATUSES, contract.AUTH_CODES)  # refuses bad files early
        labels = load_incidents(args.incidents) if args.incidents else []
    else:
        paths = write(run_dir / "data", days=args.days, seed=1)
        files, labels = [paths["transactions"], paths["auth_codes"]], \
            load_incidents(paths["incidents"])
    return files, [{"start": f"{i.start.tz_convert('UTC'):%Y-%m-%d %H:%M}", "kind": i.kind,
                    "end": f"{i.end.tz_convert('UTC'):%Y-%m-%d %H:%M}"} for i in labels]


def demo_rules(out: Path, speed: float, sink: str) -> Path:
    """The shipped rules with ``keep_firing_for`` scaled to the replay (at 10 data minutes a
    real minute, the shipped 10 minutes would hold a page open for 100 data minutes) and
    runbook links to this demo's sink."""
    def scaled(duration: str) -> str:
        return f"{max(1, round(parse_duration(duration) / speed))}s"
    keeps = {f.name: scaled(getattr(DEFAULT, f.name)) for f in fields(DEFAULT)
             if f.name.startswith("keep_")}  # every keep, so a new one cannot be missed
    write_rule_dir(out, replace(DEFAULT, **keeps, runbook_base=f"{sink}/runbook"))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["inject"]:
        return inject.main(argv[1:])
    args = parse(argv)
    ports = Ports.free() if args.free_ports else args.ports or Ports()
    taken = ports.taken()
    if taken:  # before anything starts, so nothing of a running demo is disturbed
        print(f"txwatch-demo: {taken[0]}: stop what holds it, or run with --free-ports",
              file=sys.stderr)
        return 2
    # Stop the stack on SIGTERM as on Ctrl-C; SIGINT explicitly too, because a demo
    # started in the background by a non-interactive shell inherits SIGINT ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    run = new_run(args.workdir)
    try:
        files, incidents = data_files(args, run.path)
    except (ValueError, OSError, KeyError) as exc:
        print(f"txwatch-demo: cannot replay {args.data}: {exc}", file=sys.stderr)
        return 2
    firsts = sorted(pd.Timestamp(i["start"], tz="UTC") for i in incidents)
    start_at = pd.Timestamp(args.start_at, tz="UTC") if args.start_at else \
        (firsts[0] - pd.Timedelta(minutes=20) if firsts else None)
    stack = LocalStack(run.path, ports, sink_to_terminal=True,
                       rules=demo_rules(run.path / "rules", args.speed,
                                        f"http://127.0.0.1:{ports.sink}"))
    engine = VictoriaStack(stack, args.replicas) if args.engine == "victoriametrics" else stack
    print(f"starting {STARTING[args.engine]} in {run.path} ...", flush=True)
    try:
        engine.start()
    except PortInUse as exc:
        print(f"txwatch-demo: {exc}: stop what holds it, or run with --free-ports",
              file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"txwatch-demo: could not start the stack: {exc}", file=sys.stderr)
        return 1
    try:
        return watch(engine, run, args, files, incidents, start_at)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    finally:
        stack.stop()
        run.release()
        print("stopped.", flush=True)


def watch(engine: LocalStack | VictoriaStack, run: Run, args: argparse.Namespace,
          files: list[Path], incidents: list[dict[str, Any]],
          start_at: pd.Timestamp | None) -> int:
    """Replay in the background; report progress; stop on the first dead child."""
    stack = engine.base if isinstance(engine, VictoriaStack) else engine
    exporters = engine.exporter_urls
    urls: dict[str, Any] = {name: stack.url(name) for name in ("prometheus", "alertmanager",
                                                             "sink")}
    urls.update(exporter=exporters[0], exporters=exporters)
    if isinstance(engine, VictoriaStack):
        urls["vmalert"] = engine.url("vmalert")
    run.write_info({**urls, "speed": args.speed, "pid": os.getpid(),
                    "children": {name: proc.pid for name, proc in stack.procs.items()}})
    print("\nWhere to look:\n" + "\n".join(where_lines(urls, str(stack.sink_log))))
    print(f"\nreplaying {', '.join(str(f) for f in files)} "
          f"{f'from {start_at:%Y-%m-%d %H:%M} ' if start_at is not None else ''}at "
          f"{args.speed:g}x. Notifications appear below; Ctrl-C stops. In another terminal:"
          f"\n  {inject.hint(args.workdir)}\n",
          flush=True)
    progress = Progress(incidents, args.speed)
    outcome: list[str] = []

    def replay() -> None:
        try:
            summary = push(list(files), exporters, speed=args.speed,
                           start_at=start_at, progress=progress.hook)
            outcome.append("replay finished: " + "; ".join(summary.lines()))
        except Exception as exc:  # noqa: BLE001 - reported by the watcher below
            outcome.append(f"replay stopped: {exc.__class__.__name__}: {exc}")

    threading.Thread(target=replay, daemon=True).start()
    next_line = time.monotonic() + 5.0
    reported = False
    while True:
        dead = stack.exited()
        if dead:
            name, code = next(iter(dead.items()))
            print(f"\ntxwatch-demo: {name} exited with code {code}; the last lines of "
                  f"{run.path / 'logs' / (name + '.log')}:\n{stack.log_tail(name)}\n"
                  "stopping everything.", file=sys.stderr, flush=True)
            return 1
        if outcome and not reported:
            print(outcome[0] + "\nthe stack keeps running until Ctrl-C", flush=True)
            reported = True
        if not outcome and time.monotonic() >= next_line:
            print(progress.line(), flush=True)
            next_line = time.monotonic() + PROGRESS_SECONDS
        time.sleep(0.5)
