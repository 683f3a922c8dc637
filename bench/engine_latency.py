"""Live page delay, VictoriaMetrics vs Prometheus, with the shipped timing.

Three exporter replicas; vmagent -> victoria-metrics -> vmalert and a Prometheus on the
same replicas, each alerting its own Alertmanager and sink, all with the shipped intervals
(scrape and evaluation 15 s, the shipped route timing and VictoriaMetrics flags) and the
shipped rules. Normal traffic, then 10% failed: the seconds from the first failed push to
each sink's PaymentRatioHighFast notification. ``--vm-config stock`` runs VictoriaMetrics
with its defaults where the shipped file differs (latency offset 30 s, vmalert every 1 m,
5 s flush), to show what the settings buy. Writes results/engine_latency.{json,png}.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from common import bar_chart, save

from txwatch.stack.launcher import LocalStack, Ports
from txwatch.stack.victoria import VictoriaStack
from txwatch.web.sink import read_log

STOCK = {"victoria-metrics": {"search.latencyOffset": "30s"},
         "vmalert": {"evaluationInterval": "1m", "remoteWrite.flushInterval": "5s"}}
WEIGHTS = (1, 2, 3)


def pages(stack: LocalStack) -> list[dict]:
    return [r for r in read_log(stack.sink_log, 10_000) if r["status"] == "firing"
            and r["labels"].get("alertname", "").startswith("Payment")]


def one_run(work: Path, overrides: dict[str, dict[str, str]], warm: float) -> dict:
    vm = VictoriaStack(LocalStack(work / "vm", Ports.free()), overrides=overrides)
    prom = LocalStack(work / "prom", Ports.free())
    try:
        vm.start()
        prom.exporters = vm.targets
        prom.start()

        def push(failed: int) -> None:
            for weight, url in zip(WEIGHTS, vm.exporter_urls, strict=True):
                body = [{"status": "approved", "count": 9 * weight}]
                if failed:
                    body.append({"status": "failed", "count": failed * weight})
                requests.post(url + "/api/v1/transactions", json=body,
                              timeout=5).raise_for_status()

        until = time.monotonic() + warm
        while time.monotonic() < until:
            push(0)
            time.sleep(1.0)
        false = {"vmalert": len(pages(vm.base)), "prometheus": len(pages(prom))}
        started, seen = time.time(), {}
        while len(seen) < 2 and time.time() - started < 600:
            push(1)  # ~1 failed in 10 per second and replica
            time.sleep(1.0)
            for name, stack in (("vmalert", vm.base), ("prometheus", prom)):
                hits = [r for r in pages(stack) if r["labels"]["alertname"] ==
                        "PaymentRatioHighFast" and r["labels"].get("status") == "failed"]
                if hits and name not in seen:
                    seen[name] = hits[0]["received_at"] - started
                    print(f"  {name}: page after {seen[name]:.1f} s", file=sys.stderr)
        return {"delay": seen, "pages before the incident": false}
    finally:
        prom.stop()
        vm.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--vm-config", choices=("shipped", "stock", "both"), default="both")
    p.add_argument("--warm", type=float, default=90.0, help="seconds of normal traffic")
    args = p.parse_args()
    configs = ["shipped", "stock"] if args.vm_config == "both" else [args.vm_config]
    results: dict[str, list[dict]] = {}
    for config in configs:
        for run in range(args.runs):
            print(f"{config} run {run + 1}/{args.runs} ...", file=sys.stderr)
            with tempfile.TemporaryDirectory(prefix="txwatch-latency-") as tmp:
                results.setdefault(config, []).append(
                    one_run(Path(tmp), STOCK if config == "stock" else {}, args.warm))
    labels, values = [], []
    for config, runs in results.items():
        for engine in ("prometheus", "vmalert"):
            delays = [r["delay"][engine] for r in runs if engine in r["delay"]]
            false = sum(r["pages before the incident"][engine] for r in runs)
            if delays:
                print(f"{config:<8} {engine:<10} median {statistics.median(delays):5.1f} s "
                      f"min {min(delays):5.1f} max {max(delays):5.1f} ({len(delays)}/"
                      f"{len(runs)} paged; pages before the incident: {false})")
                labels.append(f"{engine} ({config} VM flags)")
                values.append(statistics.median(delays))
        deltas = [r["delay"]["vmalert"] - r["delay"]["prometheus"] for r in runs
                  if len(r["delay"]) == 2]
        if deltas:
            print(f"{config:<8} vmalert - Prometheus: median {statistics.median(deltas):+.1f} s"
                  f" (min {min(deltas):+.1f}, max {max(deltas):+.1f})")
    save("engine_latency", results)
    bar_chart("engine_latency", labels, values, {}, "median seconds from incident to page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
