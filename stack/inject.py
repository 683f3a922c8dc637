"""``txwatch-demo inject``: push a chosen anomaly into a running stack.

To see an alert on demand rather than waiting for the next labelled incident. Every data
minute (60 / ``speed`` real seconds) it looks at what the replay pushed in that minute and
adds just enough records of ``status`` that its share of the minute becomes ``share``
(e.g. failed at 5% for 10 minutes), credited to the data minute being replayed. On a stack
with no traffic it pushes a whole minute of ``volume`` transactions with that share. The
running demo is found through its run directory (``run.json``), or given by ``--exporter``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from txwatch import contract
from txwatch.stack.runs import live_runs

TX_PATH = "/api/v1/transactions"


def counts(exporters: str | Sequence[str]) -> tuple[dict[str, float], float]:
    """Transactions pushed so far per status over every replica, and the newest data
    timestamp (0 if none): the share is the deployment's, not one replica's."""
    totals: dict[str, float] = {}
    newest = 0.0
    for exporter in [exporters] if isinstance(exporters, str) else exporters:
        text = requests.get(f"{exporter}/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "payment_transactions_total":
                    status = sample.labels["status"]
                    totals[status] = totals.get(status, 0.0) + sample.value
                elif sample.name == "payment_newest_data_timestamp_seconds":
                    newest = max(newest, sample.value)
    return totals, newest


def extra_needed(status: str, share: float, pushed: dict[str, float]) -> int:
    """Records of ``status`` to add so its share of ``pushed`` plus them reaches ``share``."""
    total = sum(pushed.values())
    own = pushed.get(status, 0.0)
    return max(0, math.ceil((share * total - own) / (1.0 - share)))


def minute_body(status: str, share: float, volume: int, extra: int | None,
                newest: float) -> list[dict[str, object]]:
    """The records of one injected minute, stamped with the data minute being replayed."""
    stamp = ({"timestamp": datetime.fromtimestamp(newest - newest % 60, UTC).isoformat()}
             if newest > 0 else {})
    if extra is not None:
        return [{**stamp, "status": status, "count": extra}] if extra else []
    bad = max(1, round(volume * share))
    return [{**stamp, "status": "approved", "count": max(0, volume - bad)},
            {**stamp, "status": status, "count": bad}]


def inject(exporters: str | Sequence[str], status: str, share: float, minutes: int,
           speed: float, volume: int, say: Callable[[str], None] = print,
           sleep: Callable[[float], None] = time.sleep) -> int:
    """Run the anomaly (pushed to the first replica, measured over all); return how many
    records were injected."""
    exporter = exporters if isinstance(exporters, str) else exporters[0]
    injected = 0
    before, _ = counts(exporters)
    for minute in range(minutes):
        sleep(60.0 / speed)
        after, newest = counts(exporters)
        delta = {s: after.get(s, 0.0) - before.get(s, 0.0) for s in after}
        idle = sum(delta.values()) <= 0
        records = minute_body(status, share, volume, None if idle else
                              extra_needed(status, share, delta), newest)
        if records:
            answer = requests.post(exporter + TX_PATH, json=records, timeout=10)
            if answer.status_code != 200:
                raise RuntimeError(f"exporter refused the injection ({answer.status_code}): "
                                   f"{answer.text[:300]}")
        added = sum(int(r["count"]) for r in records if r["status"] == status)  # type: ignore
        injected += added
        base = "no traffic: pushed a minute of " + str(volume) if idle else \
            f"{int(sum(delta.values()))} pushed by the replay"
        say(f"inject {minute + 1}/{minutes}: +{added} {status} ({base})")
        before, _ = counts(exporters)
    return injected


def find_demo(workdir: Path) -> dict[str, object]:
    runs = live_runs(workdir)
    if not runs:
        raise SystemExit(f"txwatch-demo inject: no running demo under {workdir} "
                         "(start txwatch-demo, or pass --exporter URL)")
    return json.loads((runs[0] / "run.json").read_text())


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="txwatch-demo inject", description=__doc__)
    p.add_argument("--status", default="failed", choices=contract.STATUSES)
    p.add_argument("--share", type=float, default=0.05, help="target share (default 0.05)")
    p.add_argument("--minutes", type=int, default=10, help="data minutes (default 10)")
    p.add_argument("--workdir", type=Path, default=Path("out/demo"))
    p.add_argument("--exporter", help="exporter URL (default: the running demo's)")
    p.add_argument("--speed", type=float,
                   help="data minutes per real minute (default: the running demo's, else 10)")
    p.add_argument("--volume", type=int, default=120,
                   help="transactions per minute pushed when the stack has no traffic")
    args = p.parse_args(argv)
    if not 0 < args.share < 1 or args.minutes < 1 or args.volume < 1 or \
            (args.speed is not None and args.speed <= 0):
        p.error("need 0 < --share < 1, --minutes >= 1, --volume >= 1 and --speed > 0")
    demo = {} if args.exporter else find_demo(args.workdir)
    exporters = [str(u).rstrip("/") for u in ([args.exporter] if args.exporter else
                                              demo.get("exporters") or [demo["exporter"]])]
    exporter = exporters[0]
    speed = float(args.speed or demo.get("speed") or 10.0)  # type: ignore[arg-type]
    print(f"injecting {args.status} at {args.share:.1%} for {args.minutes} data minutes "
          f"into {exporter} ({60 / speed:g} s per data minute)", flush=True)
    try:
        total = inject(exporters, args.status, args.share, args.minutes, speed, args.volume,
                       say=lambda line: print(line, flush=True))
    except (requests.RequestException, RuntimeError) as exc:
        print(f"txwatch-demo inject: {exc}", file=sys.stderr)
        return 1
    print(f"done: {total} {args.status} records injected")
    return 0


def hint(workdir: Path) -> str:
    """The command that injects a failed spike into the demo in ``workdir``, as typed in
    another terminal: the console script next to the running interpreter (a virtualenv's
    is not on PATH there), relative when under the working directory. 15%: at the demo's
    night traffic (~15 a minute) 5% is too little evidence for the fast page."""
    script = Path(sys.executable).parent / "txwatch-demo"
    command = str(script) if script.exists() else "txwatch-demo"
    if script.exists() and script.is_relative_to(Path.cwd()):
        command = str(script.relative_to(Path.cwd()))
    return f"{command} inject --workdir {workdir} --status failed --share 0.15"
