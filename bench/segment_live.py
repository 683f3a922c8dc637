"""The live halves of bench/segment_scale.py: each engine running the shipped rules over a
loaded history, what is read from it, the 30-day backtest run and the chart.

Why poll ``/api/v1/rules`` rather than only ``prometheus_rule_group_last_duration_seconds``:
it carries the same group duration with the evaluation's timestamp (so each cycle is
counted once) and every rule's own time, which says where a cycle goes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from txwatch.engines.procs import default_signals, free_port, need, stop_process, wait_ready
from txwatch.engines.server import ThrowawayPrometheus
from txwatch.resources import prometheus_dir
from txwatch.stack.victoria import as_flags, shipped_flags

SEGMENT_GROUPS = ("txwatch.segments", "txwatch.alerts.segments")
# The one flag beyond the shipped ones: the inline form of PaymentSegmentAboveNormal that
# vmalert runs is 17,145 bytes, over VictoriaMetrics' default -search.maxQueryLen (16,384),
# so with the shipped flags every evaluation of it is refused (HTTP 422) and costs nothing.
# Raised here so the segment page is evaluated; the results record it.
VM_EXTRA_FLAGS = ["-search.maxQueryLen=65536"]
MB = 1 << 20
Loader = Callable[[str, str], tuple[int, int, float]]
Say = Callable[[str], None]


def metrics(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A /metrics page as sample name -> [(labels, value)]."""
    text = requests.get(f"{url}/metrics", timeout=30).text
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def one(page: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return next((v for lab, v in page.get(name, []) if labels.items() <= lab.items()),
                float("nan"))


def memory(page: dict[str, list[tuple[dict[str, str], float]]]) -> dict[str, float]:
    return {"rss MB": round(one(page, "process_resident_memory_bytes") / MB, 1),
            "heap in use MB": round(one(page, "go_memstats_heap_inuse_bytes") / MB, 1)}


def _rules_config(tsdb: Path, files: list[Path]) -> Path:
    """The throwaway server's own config with the shipped rule files and evaluation
    interval added (its remote-write and out-of-order settings kept)."""
    path = tsdb.parent / f"{tsdb.name}-prometheus.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    shipped = yaml.safe_load((prometheus_dir() / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"]["evaluation_interval"] = shipped["global"]["evaluation_interval"]
    config["rule_files"] = [str(f) for f in files]
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_prometheus(work: Path, files: list[Path], loader: Loader, warmup: float,
                   measure: float, say: Say) -> dict[str, object]:
    """Load the history into a fresh server, add the rules by a reload, measure."""
    gogc = os.environ.get("GOGC")
    os.environ["GOGC"] = "100"  # a live server's default, not the batch setting
    prom = ThrowawayPrometheus(work / "tsdb", receiver=True)
    try:
        prom.start()
    finally:
        if gogc is None:
            os.environ.pop("GOGC")
        else:
            os.environ["GOGC"] = gogc
    try:
        started = time.monotonic()
        raw, rec, until = loader(prom.url, "prometheus")
        load_s = time.monotonic() - started
        say(f"prometheus: {raw / 1e6:.1f} M raw + {rec / 1e6:.2f} M recorded samples in "
            f"{load_s:.0f} s; rules on")
        _rules_config(prom.tsdb, files)
        assert prom.proc is not None
        prom.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while not requests.get(f"{prom.url}/api/v1/rules", timeout=30).json()["data"]["groups"]:
            if time.monotonic() > deadline:
                raise RuntimeError("prometheus did not load the rules")
            time.sleep(0.5)
        out = _measure_prometheus(prom.url, warmup, measure, say)
        out.update({"raw samples": raw, "recorded samples": rec, "load seconds": round(load_s),
                    "gap minutes": round((time.time() - warmup - measure - until) / 60, 1)})
        return out
    finally:
        prom.stop()


class RulePoller:
    """Each rule's ``evaluationTime`` per evaluation from ``/api/v1/rules`` (Prometheus and
    vmalert answer it alike), each evaluation counted once, and each group's own time when
    the answer carries it (Prometheus); rules whose last evaluation failed, with the error."""

    def __init__(self, url: str, begin: float) -> None:
        self.url, self.begin = url, begin
        self.seen: set[tuple[str, str, str]] = set()
        self.groups: dict[str, list[float]] = {}
        self.rules: dict[str, list[float]] = {}
        self.failing: dict[str, str] = {}

    def poll(self) -> None:
        doc = requests.get(f"{self.url}/api/v1/rules", timeout=60).json()["data"]["groups"]
        for g in doc:
            if "evaluationTime" in g and self._new(g["name"], "", g["lastEvaluation"]):
                self.groups.setdefault(g["name"], []).append(g["evaluationTime"])
            took: dict[str, float] = {}  # rules of one record (volume_scale) summed
            for r in g["rules"]:
                key = f"{g['name']}: {r['name']}"
                if r.get("health") not in ("ok", "unknown") and r.get("lastError"):
                    self.failing[key] = str(r["lastError"])[:300]
                if self._new(g["name"], f"{r['name']}{r.get('query', '')}", r["lastEvaluation"]):
                    took[key] = took.get(key, 0.0) + r["evaluationTime"]
            for key, seconds in took.items():
                self.rules.setdefault(key, []).append(seconds)

    def _new(self, group: str, rule: str, stamp: str) -> bool:
        key = (group, rule, stamp)
        if key in self.seen or stamp.startswith("0001") or \
                pd.Timestamp(stamp).timestamp() < self.begin:
            return False
        self.seen.add(key)
        return True


def _measure_prometheus(url: str, warmup: float, measure: float, say: Say
                        ) -> dict[str, object]:
    say(f"prometheus: rules running; warm-up {warmup:.0f} s, then {measure:.0f} s measured")
    time.sleep(warmup)
    begin, first, load_start = time.time(), metrics(url), os.getloadavg()[0]
    poller = RulePoller(url, begin)
    peak = 0.0
    while time.time() < begin + measure:
        poller.poll()
        peak = max(peak, one(metrics(url), "process_resident_memory_bytes"))
        time.sleep(5)
    last = metrics(url)
    load = {"load average at start": round(load_start, 2),
            "load average at end": round(os.getloadavg()[0], 2)}
    mean = {k: sum(v) / len(v) for k, v in poller.groups.items()}
    missed = {g: one(last, "prometheus_rule_group_iterations_missed_total", rule_group=g) -
              one(first, "prometheus_rule_group_iterations_missed_total", rule_group=g)
              for g in {lab["rule_group"] for lab, _ in
                        last.get("prometheus_rule_group_iterations_missed_total", [])}}
    out = _summary(mean, {k: len(v) for k, v in poller.groups.items()}, poller)
    out.update({
        "head series": int(one(last, "prometheus_tsdb_head_series")),
        **memory(last), "peak rss MB": round(peak / MB, 1),
        "cpu seconds per 15 s": round((one(last, "process_cpu_seconds_total") - one(
            first, "process_cpu_seconds_total")) / (time.time() - begin) * 15, 3),
        "missed iterations": {k.split(";")[-1]: v for k, v in missed.items() if v}, **load})
    say(f"prometheus: {out['per cycle s']:.3f} s of rules per cycle, "
        f"{out['head series']} series, {out['rss MB']:.0f} MB")
    return out


def _summary(mean: dict[str, float], cycles: dict[str, int], poller: RulePoller
             ) -> dict[str, object]:
    slow = sorted(((sum(v) / len(v), k) for k, v in poller.rules.items()), reverse=True)[:8]
    return {"per cycle s": round(sum(mean.values()), 4),
            "segment groups s": round(sum(v for k, v in mean.items() if k in SEGMENT_GROUPS), 4),
            "groups s": {k: round(v, 4) for k, v in sorted(mean.items())},
            "cycles measured": cycles,
            "slowest rules s": {k: round(v, 4) for v, k in slow},
            "failing rules": poller.failing}


def run_victoria(work: Path, files: list[Path], loader: Loader, warmup: float,
                 measure: float, say: Say) -> dict[str, object]:
    """Load the history into a fresh victoria-metrics, start vmalert on it, measure."""
    work.mkdir(parents=True, exist_ok=True)
    flags = shipped_flags()
    vm_port, alert_port, nobody = free_port(), free_port(), free_port()
    vm, vma = f"http://127.0.0.1:{vm_port}", f"http://127.0.0.1:{alert_port}"
    log = open(work / "vm.log", "wb")  # noqa: SIM115 - closed below
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen(
            [need("victoria-metrics"), f"-storageDataPath={work / 'data'}",
             f"-httpListenAddr=127.0.0.1:{vm_port}", "-loggerLevel=ERROR",
             *as_flags(flags["victoria-metrics"]), *VM_EXTRA_FLAGS],
            stdout=log, stderr=log, preexec_fn=default_signals))
        wait_ready(f"{vm}/health", procs[0], "victoria-metrics")
        started = time.monotonic()
        raw, rec, until = loader(vm, "victoriametrics")
        requests.get(f"{vm}/internal/force_flush", timeout=120).raise_for_status()
        load_s = time.monotonic() - started
        say(f"victoriametrics: {raw / 1e6:.1f} M raw + {rec / 1e6:.2f} M recorded samples in "
            f"{load_s:.0f} s; vmalert on")
        # Alerts go to a closed port: vmalert evaluates and sends as it would, nobody reads.
        procs.append(subprocess.Popen(
            [need("vmalert"), *(f"-rule={f}" for f in files), f"-datasource.url={vm}",
             f"-remoteWrite.url={vm}", f"-notifier.url=http://127.0.0.1:{nobody}",
             f"-external.url={vm}", f"-httpListenAddr=127.0.0.1:{alert_port}",
             "-loggerLevel=ERROR", *as_flags(flags["vmalert"])],
            stdout=log, stderr=log, preexec_fn=default_signals))
        wait_ready(f"{vma}/health", procs[1], "vmalert")
        out = _measure_victoria(vm, vma, warmup, measure, say)
        out.update({"raw samples": raw, "recorded samples": rec, "load seconds": round(load_s),
                    "gap minutes": round((time.time() - warmup - measure - until) / 60, 1),
                    "flags beyond the shipped ones": VM_EXTRA_FLAGS})
        return out
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        log.close()


def _measure_victoria(vm: str, vma: str, warmup: float, measure: float, say: Say
                      ) -> dict[str, object]:
    say(f"vmalert: rules running; warm-up {warmup:.0f} s, then {measure:.0f} s measured")
    time.sleep(warmup)
    begin, first = time.time(), {"vm": metrics(vm), "vmalert": metrics(vma)}
    load_start = os.getloadavg()[0]
    poller = RulePoller(vma, begin)
    peak = {"vm": 0.0, "vmalert": 0.0}
    while time.time() < begin + measure:
        poller.poll()
        for key, url in (("vm", vm), ("vmalert", vma)):
            peak[key] = max(peak[key], one(metrics(url), "process_resident_memory_bytes"))
        time.sleep(5)
    last = {"vm": metrics(vm), "vmalert": metrics(vma)}
    seconds = time.time() - begin
    load = {"load average at start": round(load_start, 2),
            "load average at end": round(os.getloadavg()[0], 2)}
    name = "vmalert_iteration_duration_seconds"
    mean, cycles = {}, {}
    for labels, total in last["vmalert"].get(f"{name}_sum", []):
        group = labels["group"]
        count = one(last["vmalert"], f"{name}_count", group=group) - one(
            first["vmalert"], f"{name}_count", group=group)
        if count > 0:
            mean[group] = (total - one(first["vmalert"], f"{name}_sum", group=group)) / count
            cycles[group] = int(count)
    out = _summary(mean, cycles, poller)
    cpu = {k: round((one(last[k], "process_cpu_seconds_total")
                     - one(first[k], "process_cpu_seconds_total")) / seconds * 15, 3)
           for k in last}
    series = requests.get(f"{vm}/api/v1/series/count", timeout=60).json()["data"][0]
    out.update({
        "series": int(series),
        "victoria-metrics": {**memory(last["vm"]), "peak rss MB": round(peak["vm"] / MB, 1)},
        "vmalert": {**memory(last["vmalert"]), "peak rss MB": round(peak["vmalert"] / MB, 1)},
        "cpu seconds per 15 s": round(cpu["vm"] + cpu["vmalert"], 3),
        "cpu seconds per 15 s by process": {"victoria-metrics": cpu["vm"],
                                            "vmalert": cpu["vmalert"]},
        "missed iterations": {lab["group"]: v - one(first["vmalert"], "vmalert_iteration_"
                                                    "missed_total", group=lab["group"])
                              for lab, v in last["vmalert"].get(
                                  "vmalert_iteration_missed_total", [])}, **load})
    out["rss MB"] = round(out["victoria-metrics"]["rss MB"] + out["vmalert"]["rss MB"], 1)
    say(f"vmalert: {out['per cycle s']:.3f} s of rules per cycle, {out['series']} series, "
        f"{out['rss MB']:.0f} MB (both processes)")
    return out


def backtest(say: Say) -> dict[str, object]:
    """``generate --profile segments --days 30`` and its backtest through the CLI, niced
    (it shares the machine), with wall and CPU times and the scores, or where it failed."""
    with tempfile.TemporaryDirectory(prefix="txwatch-segbt-") as tmp:
        cli = ["nice", "-n", "10", sys.executable, "-m", "txwatch.replay"]
        started = time.monotonic()
        subprocess.run([*cli, "generate", "--profile", "segments", "--days", "30", "--out",
                        tmp], check=True, capture_output=True)
        generated = time.monotonic() - started
        say(f"backtest: 30 days generated in {generated:.0f} s; backtesting")
        load = os.getloadavg()[0]
        before = os.times()
        started = time.monotonic()
        run = subprocess.run([*cli, "backtest", "--json", "--data", f"{tmp}/transactions.csv",
                              f"{tmp}/transactions_auth_codes.csv", "--incidents",
                              f"{tmp}/incidents.json"], text=True, capture_output=True)
        wall = time.monotonic() - started
        after = os.times()
        cpu = after.children_user + after.children_system - before.children_user \
            - before.children_system
        if run.returncode:
            progress = run.stderr.replace("\r", "\n").splitlines()
            return {**_header(wall, generated, load, cpu), "finished": False,
                    "stages": [line for line in progress if "stage [" in line][-1:],
                    "error": [line for line in progress if line.strip()][-4:]}
        return {**_header(wall, generated, load, cpu), "finished": True,
                **backtest_summary(json.loads(run.stdout))}


def _header(wall: float, generated: float, load: float, cpu: float) -> dict[str, object]:
    return {"command": "txwatch-replay backtest --data transactions.csv "
                       "transactions_auth_codes.csv --incidents incidents.json --json",
            "data": "txwatch-replay generate --profile segments --days 30 (50 acquirers)",
            "wall seconds": round(wall, 1), "cpu seconds": round(cpu, 1),
            "generate seconds": round(generated, 1), "load average before": round(load, 2)}


def backtest_summary(doc: dict) -> dict[str, object]:
    """The figures of one ``backtest --json`` document."""
    a = doc["rule_sets"]["A"]
    s = a["score"]
    return {"evaluation seconds": a.get("seconds"),
            "caught": s["caught"], "incidents": s["incidents"], "recall": s["recall"],
            "median delay": s["median_delay"], "delays": s["delays"],
            "false critical": s.get("false_critical"),
            "false pages per week": s["false_pages_per_week"],
            "false warnings per day": s["false_warnings_per_day"],
            "pages": a["pages"], "warnings": a["warnings"]}


def chart(sizes: dict[str, dict], path: Path) -> None:
    """Series, rule evaluation per cycle and memory against the segment count, both
    engines, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted(sizes, key=int)
    n = [int(k) for k in keys]
    p = [sizes[k]["prometheus"] for k in keys]
    v = [sizes[k]["victoriametrics"] for k in keys]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    panels = (
        ("series", [("Prometheus head", [x["head series"] for x in p], "#e76f51", "-"),
                    ("VictoriaMetrics", [x["series"] for x in v], "#2a9d8f", "-")]),
        ("rule evaluation per 15 s cycle, s",
         [("Prometheus, all groups", [x["per cycle s"] for x in p], "#e76f51", "-"),
          ("Prometheus, segment groups", [x["segment groups s"] for x in p], "#e76f51", "--"),
          ("vmalert, all groups", [x["per cycle s"] for x in v], "#2a9d8f", "-"),
          ("vmalert, segment groups", [x["segment groups s"] for x in v], "#2a9d8f", "--")]),
        ("CPU seconds per 15 s (2 CPUs, shared)",
         [("Prometheus", [x["cpu seconds per 15 s"] for x in p], "#e76f51", "-"),
          ("victoria-metrics + vmalert", [x["cpu seconds per 15 s"] for x in v], "#2a9d8f",
           "-")]),
        ("resident memory, MB",
         [("Prometheus", [x["rss MB"] for x in p], "#e76f51", "-"),
          ("victoria-metrics + vmalert", [x["rss MB"] for x in v], "#2a9d8f", "-"),
          ("vmalert alone", [x["vmalert"]["rss MB"] for x in v], "#2a9d8f", ":")]))
    for ax, (title, lines) in zip(axes, panels, strict=True):
        for label, ys, colour, style in lines:
            ax.plot(n, ys, style, marker="o", color=colour, label=label)
        if title.startswith(("rule", "CPU")):  # 15 s: the interval, or one CPU busy
            ax.axhline(15, color="red", lw=0.8, ls="--")
            ax.text(n[0], 15, "evaluation interval" if title.startswith("rule") else
                    "one CPU busy all the time", fontsize=7, color="red", va="bottom")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("segments (acquirers), 9 series each")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
