"""Segments at scale: series, rule evaluation per cycle and memory, Prometheus vs VictoriaMetrics.

For N acquirers (10, 100, 1,000; 6 statuses and the codes 00 / 51 / 59 each) both engines
get the same history (bench/segment_history.py: the raw counters of ``--days`` days at one
sample a minute, plus the recorded series the rules read over time, so the week-long
``[7d:1h]`` subqueries of the learned normals read a full week), then run the shipped rules
live with the shipped 15 s evaluation interval, one engine at a time:

* Prometheus (Debian's 2.42, the project's throwaway server with its remote-write receiver,
  every sample kept in the head, Go's default GOGC rather than the batch setting): the
  shipped ``prometheus.yml`` rule files, loaded by a configuration reload once the history
  is in. Read per cycle from ``/api/v1/rules``: each
  group's ``evaluationTime`` (the figure behind ``prometheus_rule_group_last_duration_
  seconds``) and each rule's; from ``/metrics``: ``prometheus_tsdb_head_series``, resident
  memory, Go heap in use, CPU seconds and missed iterations.
* VictoriaMetrics 1.79 single node + vmalert with the shipped flags
  (``prometheus/victoriametrics.yml``) and the rule files in the form vmalert runs
  (:func:`txwatch.rules.vmalert.vmalert_rule_dir`): per group the mean of
  ``vmalert_iteration_duration_seconds`` over the window (its sum / count), each rule's
  time from vmalert's ``/api/v1/rules``, the series count (``/api/v1/series/count``),
  memory and CPU of both processes. One flag beyond the shipped ones,
  ``-search.maxQueryLen`` (segment_live.py says why), and the loaded records carry
  vmalert's external label, as vmalert's own would.

Groups run concurrently on both engines: "per cycle" is the sum of the groups' mean
durations (the work one evaluation interval costs), beside the CPU seconds the engine's
processes spent per 15 s. Writes results/segment_scale.json (each N's entry kept across
runs, so the sizes can be run separately) and results/segment_scale.png.

``--backtest`` also times ``txwatch-replay generate --profile segments --days 30`` and the
backtest of it (50 segments), as the CLI runs them.

Run: .venv/bin/python bench/segment_scale.py [--segments 10 100 1000] [--days 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import RESULTS, save
from segment_history import evaluate, generate, load, needs
from segment_live import backtest, chart, run_prometheus, run_victoria

from txwatch.resources import rules_dir
from txwatch.rules.vmalert import RULE_ORDER, vmalert_rule_dir
from txwatch.stack.victoria import shipped_flags

NAME = "segment_scale"


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def vmalert_labels() -> dict[str, str]:
    """The labels vmalert adds to every series it records (its shipped ``-external.label``)."""
    value = shipped_flags()["vmalert"].get("external.label")
    values = value if isinstance(value, list) else [value] if value else []
    return dict(str(v).split("=", 1) for v in values)


def one_size(segments: int, days: int, warmup: float, measure: float, seed: int,
             work: Path) -> dict[str, object]:
    """Both engines over the same history of ``segments`` acquirers."""
    # The history ends the live runs' length after now; the hour grid starts on an hour.
    live = 2 * (warmup + measure) + 60 * 60  # both runs, plus loading time
    now = time.time()
    origin = pd.Timestamp((now // 3600) * 3600 - days * 86400, unit="s", tz="UTC")
    minutes = int((now + live - origin.timestamp()) // 60)
    started = time.monotonic()
    data = generate(segments, origin, minutes, seed)
    say(f"N={segments}: {minutes} minutes generated in {time.monotonic() - started:.0f} s")
    prom_files = [rules_dir() / n for n in RULE_ORDER]
    vm_files = vmalert_rule_dir(rules_dir(), work / "vmalert-rules")
    wanted = {"prometheus": needs(prom_files), "victoriametrics": needs(vm_files)}
    union = wanted["prometheus"] | wanted["victoriametrics"]
    for name, (span, step) in wanted["victoriametrics"].items():
        if name in union:
            union[name] = (max(span, union[name][0]), min(step, union[name][1]))
    started = time.monotonic()
    recorded = evaluate(data, prom_files, union, work, say)
    loader_s = time.monotonic() - started
    say(f"N={segments}: {len(union)} records evaluated over the history in {loader_s:.0f} s")
    end = origin.timestamp() + (minutes - 1) * 60

    def loader(url: str, engine: str) -> tuple[int, int, float]:
        until = (time.time() // 60) * 60
        if until + warmup + measure + 60 > end:
            raise RuntimeError("the history ends before this run would: raise the margin")
        raw, rec = load(url, data, recorded, wanted[engine], until,
                        vmalert_labels() if engine == "victoriametrics" else None)
        return raw, rec, until

    result: dict[str, object] = {
        "segments": segments, "series per segment": 9, "days": days,
        "history minutes before the live run": int((now - origin.timestamp()) // 60),
        "records loaded": {k: sorted(v) for k, v in wanted.items()},
        "history evaluation seconds": round(loader_s, 1)}
    result["prometheus"] = run_prometheus(work / "prom", prom_files, loader, warmup, measure,
                                          say)
    result["victoriametrics"] = run_victoria(work / "vm", vm_files, loader, warmup, measure,
                                             say)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, nargs="*", default=[10, 100, 1000],
                        help="segment counts to run (none: only --backtest)")
    parser.add_argument("--days", type=int, default=8,
                        help="history before the live run (8: the week-long normals and "
                        "the volume rules' week-ago windows are fully loaded)")
    parser.add_argument("--warmup", type=float, default=90.0, help="seconds before measuring")
    parser.add_argument("--measure", type=float, default=180.0, help="seconds measured")
    parser.add_argument("--seed", type=int, default=29)
    parser.add_argument("--backtest", action="store_true",
                        help="also time the 30-day backtest of 50 segments")
    parser.add_argument("--chart-only", action="store_true")
    args = parser.parse_args()
    path = RESULTS / f"{NAME}.json"
    doc = json.loads(path.read_text()) if path.exists() else {}
    sizes = doc.setdefault("sizes", {})
    if not args.chart_only:
        doc["cpu"] = cpu_model()
        doc["cpus"] = os.cpu_count()
        for segments in args.segments:
            with tempfile.TemporaryDirectory(prefix="txwatch-segscale-") as tmp:
                load_before = os.getloadavg()[0]
                entry = one_size(segments, args.days, args.warmup, args.measure, args.seed,
                                 Path(tmp))
                entry["load average before"] = round(load_before, 2)
                entry["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
                sizes[str(segments)] = entry
                save(NAME, doc)
        if args.backtest:
            run = backtest(say)
            run["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            doc.setdefault("backtest runs", []).append(run)
            save(NAME, doc)
    for key in sorted(sizes, key=int):
        e = sizes[key]
        p, v = e["prometheus"], e["victoriametrics"]
        print(f"N={key:>5}: series {p['head series']:>7} / {v['series']:>7}; rules per cycle "
              f"{p['per cycle s']:.3f} s / {v['per cycle s']:.3f} s; segment groups "
              f"{p['segment groups s']:.3f} / {v['segment groups s']:.3f} s; RSS "
              f"{p['rss MB']:.0f} MB / {v['rss MB']:.0f} MB (victoria-metrics "
              f"{v['victoria-metrics']['rss MB']:.0f} + vmalert {v['vmalert']['rss MB']:.0f})"
              "  [Prometheus / VictoriaMetrics]")
    for run in doc.get("backtest runs", []):
        print(f"backtest 30 days x 50 segments: {run['wall seconds']:.0f} s, "
              + (f"caught {run['caught']}/{run['incidents']}, false pages "
                 f"{run['false critical']}" if run["finished"] else
                 f"did not finish: {' '.join(run['error'])[-300:]}"))
    chart(sizes, RESULTS / f"{NAME}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
