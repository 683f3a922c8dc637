"""``txwatch-demo``: the whole pipeline on built-in generated data, on this machine.

Generates the demo scenario, starts the local stack, replays the data from shortly before
the first incident at ``--speed`` data minutes per real minute, prints where to look and
every notification the sink receives, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from txwatch.history.generate import write
from txwatch.replay.push import push
from txwatch.stack.launcher import LocalStack, Ports


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="txwatch-demo", description=__doc__)
    p.add_argument("--workdir", type=Path, default=Path("out/demo"))
    p.add_argument("--speed", type=float, default=10.0,
                   help="data minutes per real minute (default 10: an incident of 30 data "
                        "minutes lasts 3 real minutes, longer than the alerts' 'for')")
    p.add_argument("--days", type=int, default=3, help="days of demo data to generate")
    p.add_argument("--free-ports", action="store_true",
                   help="use free ports instead of 9466/9090/9093/9095")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # stop the stack on SIGTERM as on Ctrl-C
    shutil.rmtree(args.workdir / "run", ignore_errors=True)  # a fresh exporter state each run
    paths = write(args.workdir / "data", days=args.days, seed=1)
    incidents = json.loads(paths["incidents"].read_text())["incidents"]
    first = min(pd.Timestamp(i["start"], tz="UTC") for i in incidents)
    start_at = first - pd.Timedelta(minutes=20)
    stack = LocalStack(args.workdir / "run", Ports.free() if args.free_ports else Ports(),
                       sink_to_terminal=True)
    print("starting exporter, Prometheus, Alertmanager and the notification sink ...")
    with stack:
        print(f"""
  exporter      {stack.url('exporter')}/metrics
  Prometheus    {stack.url('prometheus')}/alerts        (rules, alerts, graphs)
  Alertmanager  {stack.url('alertmanager')}/#/alerts
  sink          {stack.url('sink')}/api/alerts    (log: {stack.sink_log})

replaying {paths['transactions'].parent} from {start_at:%Y-%m-%d %H:%M} at {args.speed:g}x;
first incident at {first:%H:%M} data time. Notifications appear below. Ctrl-C stops.
""", flush=True)
        done = threading.Event()

        def replay() -> None:
            summary = push([paths["transactions"], paths["auth_codes"]], stack.url("exporter"),
                           speed=args.speed, start_at=start_at)
            print("replay finished: " + "; ".join(summary.lines()), flush=True)
            done.set()

        threading.Thread(target=replay, daemon=True).start()
        try:
            while not done.wait(1.0):
                pass
            print("replay done; the stack keeps running until Ctrl-C")
            threading.Event().wait()
        except KeyboardInterrupt:
            print("\nstopping ...")
    print("stopped.")
