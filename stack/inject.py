"""``txwatch-demo inject``: push a chosen anomaly into a running stack.

To see an alert on demand rather than waiting for the next labelled incident. Every data
minute (60 / ``speed`` real seconds) it looks at what the replay pushed in that minute and
adds just enough records of ``status`` that its share of the minute becomes ``share``
(default 30%), credited to the data minute being replayed. The rules' windows are real
time, so at the demo's speed the fast page's 5 minutes hold 50 data minutes: by default it
runs six real minutes' worth, prints the 5-minute share the page would quote, and warns
when a shorter run cannot fill the window (with the share it can reach). On a stack
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


WINDOW_MINUTES = 5  # the fast page's window, in real minutes (rules/alerts.yml: [5m])
DEFAULT_SHARE = 0.3
DEFAULT_REAL_MINUTES = 6  # fills the fast page's window, and a minute more to notify


class StackGone(RuntimeError):
    """The stack stopped answering while the injection ran (the demo was stopped)."""


def window_share(prometheus: str, status: str) -> tuple[float | None, float | None]:
    """The share of ``status`` over the last 5 real minutes and the fast limit, read from
    Prometheus with the expressions the page's summary uses, so the two lines agree; None
    where Prometheus has no value yet (or does not answer)."""
    def one(query: str) -> float | None:
        try:
            answer = requests.get(f"{prometheus}/api/v1/query", params={"query": query},
                                  timeout=5).json()["data"]["result"]
        except (requests.RequestException, ValueError, KeyError):
            return None
        return float(answer[0]["value"][1]) if answer else None

    def increase(labels: str) -> str:
        return f"round(sum(increase(payment_transactions_total{{{labels}}}[5m])))"

    job = f'job="{contract.JOB}"'
    own = f'{job}, status="{status}"'
    return (one(f"{increase(own)} / ({increase(job)} > 0)"),
            one(f'max(status:payment_transactions:ratio_limit_fast{{status="{status}"}})'))


def peak_share(share: float, normal: float, minutes: int, speed: float) -> float:
    """The share the 5-minute window reaches when ``minutes`` data minutes at ``share``
    are all inside it and the rest of it holds ``normal`` traffic (same volume a minute)."""
    inside = min(1.0, minutes / speed / WINDOW_MINUTES)
    return share * inside + normal * (1 - inside)


def inject(exporters: str | Sequence[str], status: str, share: float, minutes: int,
           speed: float, volume: int, say: Callable[[str], None] = print,
           sleep: Callable[[float], None] = time.sleep, prometheus: str | None = None) -> int:
    """Run the anomaly (pushed to the first replica, measured over all); return how many
    records were injected. Each line says the 5-minute share the page would quote (with
    ``prometheus``); a run too short to fill that window is warned about with the share
    it can reach. StackGone when the stack stops answering."""
    exporter = exporters if isinstance(exporters, str) else exporters[0]
    injected = 0
    try:
        before, _ = counts(exporters)
        started = time.monotonic()
        for minute in range(minutes):  # paced by the clock: the work of a minute adds no drift
            sleep(max(0.0, started + (minute + 1) * 60.0 / speed - time.monotonic()))
            after, newest = counts(exporters)
            delta = {s: after.get(s, 0.0) - before.get(s, 0.0) for s in after}
            idle = sum(delta.values()) <= 0
            if minute == 0 and minutes / speed < WINDOW_MINUTES:
                normal = 0.0 if idle else delta.get(status, 0.0) / sum(delta.values())
                say(f"warning: {minutes} data minutes last {minutes / speed:g} real minutes "
                    f"at {speed:g}x, less than the fast page's {WINDOW_MINUTES}-minute window: "
                    f"its {status} share peaks near "
                    f"{peak_share(share, normal, minutes, speed):.1%}, not {share:.0%} "
                    f"(--minutes {math.ceil(WINDOW_MINUTES * speed)} fills it)")
            records = minute_body(status, share, volume, None if idle else
                                  extra_needed(status, share, delta), newest)
            if records:
                answer = requests.post(exporter + TX_PATH, json=records, timeout=10)
                if answer.status_code != 200:
                    raise RuntimeError(f"exporter refused the injection "
                                       f"({answer.status_code}): {answer.text[:300]}")
            added = sum(int(r["count"]) for r in records if r["status"] == status)  # type: ignore
            injected += added
            base = "no traffic: pushed a minute of " + str(volume) if idle else \
                f"{int(sum(delta.values()))} pushed by the replay"
            now, limit = window_share(prometheus, status) if prometheus else (None, None)
            seen = "" if now is None else f"; {status} share over 5m {now:.1%}" + \
                ("" if limit is None else f", fast limit {limit:.1%}")
            say(f"inject {minute + 1}/{minutes}: +{added} {status} ({base}){seen}")
            before, _ = counts(exporters)
    except requests.ConnectionError:
        raise StackGone(f"the stack stopped answering at {exporter}; stopped after "
                        f"{injected} {status} records") from None
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
    p.add_argument("--share", type=float, default=DEFAULT_SHARE,
                   help=f"share of each data minute (default {DEFAULT_SHARE}: pages within "
                        "about two real minutes at the demo's speed, even for denied)")
    p.add_argument("--minutes", type=int, help="data minutes (default: "
                   f"{DEFAULT_REAL_MINUTES} real minutes' worth, {DEFAULT_REAL_MINUTES * 10} "
                   "at 10x, so the fast page's 5-minute window fills with the anomaly)")
    p.add_argument("--workdir", type=Path, default=Path("out/demo"))
    p.add_argument("--exporter", help="exporter URL (default: the running demo's)")
    p.add_argument("--prometheus", help="Prometheus URL whose 5-minute share each line shows "
                   "(default: the running demo's; none with --exporter)")
    p.add_argument("--speed", type=float,
                   help="data minutes per real minute (default: the running demo's, else 10)")
    p.add_argument("--volume", type=int, default=120,
                   help="transactions per minute pushed when the stack has no traffic")
    args = p.parse_args(argv)
    if not 0 < args.share < 1 or (args.minutes is not None and args.minutes < 1) or \
            args.volume < 1 or (args.speed is not None and args.speed <= 0):
        p.error("need 0 < --share < 1, --minutes >= 1, --volume >= 1 and --speed > 0")
    demo = {} if args.exporter else find_demo(args.workdir)
    exporters = [str(u).rstrip("/") for u in ([args.exporter] if args.exporter else
                                              demo.get("exporters") or [demo["exporter"]])]
    exporter = exporters[0]
    speed = float(args.speed or demo.get("speed") or 10.0)  # type: ignore[arg-type]
    minutes = args.minutes or math.ceil(DEFAULT_REAL_MINUTES * speed)
    prometheus = args.prometheus or (None if args.exporter else demo.get("prometheus"))
    print(f"injecting {args.status} at {args.share:.1%} of each data minute for {minutes} "
          f"data minutes into {exporter} ({60 / speed:g} s per data minute); the fast page "
          f"measures the last {WINDOW_MINUTES} real minutes ({WINDOW_MINUTES * speed:g} data "
          "minutes), so the share it quotes climbs toward this one as they fill", flush=True)
    try:
        total = inject(exporters, args.status, args.share, minutes, speed, args.volume,
                       say=lambda line: print(line, flush=True),
                       prometheus=str(prometheus).rstrip("/") if prometheus else None)
    except KeyboardInterrupt:
        print("txwatch-demo inject: interrupted", file=sys.stderr)
        return 130
    except (requests.RequestException, RuntimeError) as exc:  # StackGone: the demo stopped
        print(f"txwatch-demo inject: {exc}", file=sys.stderr)
        return 1
    print(f"done: {total} {args.status} records injected")
    return 0


def hint(workdir: Path) -> str:
    """The command that injects a failed spike into the demo in ``workdir``, as typed in
    another terminal: the console script next to the running interpreter (a virtualenv's
    is not on PATH there), relative when under the working directory. Its defaults page
    (30% for six real minutes fills the fast page's window, night traffic included)."""
    script = Path(sys.executable).parent / "txwatch-demo"
    command = str(script) if script.exists() else "txwatch-demo"
    if script.exists() and script.is_relative_to(Path.cwd()):
        command = str(script.relative_to(Path.cwd()))
    return f"{command} inject --workdir {workdir} --status failed"
