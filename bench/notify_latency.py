"""Time from the first anomalous minute pushed to the notification at the sink.

Runs the local stack with the shipped intervals (scrape and evaluation 15 s, critical
group_wait 10 s), pushes one minute of normal traffic per 5 s for a minute, then a failed
spike, and measures until the sink has the PaymentRatioHighFast notification. Repeated
--runs times (fresh stack each time). Writes results/notify_latency.{json,png}.
What bounds it: scrape interval (push visible at the next scrape, <= 15 s) + evaluation
interval (<= 15 s) + the alert's `for` (0 s for the fast alert) + Alertmanager group_wait
(10 s for critical) + delivery.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from common import bar_chart, save

from txwatch.stack.launcher import LocalStack, Ports
from txwatch.stack.sink import read_log


def one_run(workdir: Path) -> float:
    with LocalStack(workdir, Ports.free()) as stack:
        tx = stack.url("exporter") + "/api/v1/transactions"
        for _ in range(12):
            requests.post(tx, json=[{"status": "approved", "count": 120}], timeout=5)
            time.sleep(5)
        started = time.monotonic()
        while time.monotonic() - started < 300:
            requests.post(tx, json=[{"status": "approved", "count": 110},
                                    {"status": "failed", "count": 10}], timeout=5)
            for _ in range(10):
                if any(r["labels"].get("alertname") == "PaymentRatioHighFast"
                       for r in read_log(stack.sink_log)):
                    return time.monotonic() - started
                time.sleep(0.5)
        am = requests.get(stack.url("alertmanager") + "/api/v2/alerts", timeout=5).json()
        prom = requests.get(stack.url("prometheus") + "/api/v1/alerts", timeout=5).json()
        raise RuntimeError(
            "no notification within 300 s; Prometheus alerts: "
            f"{[a['labels']['alertname'] for a in prom['data']['alerts']]}; Alertmanager: "
            f"{[a['labels']['alertname'] for a in am]}; sink: {read_log(stack.sink_log)[:3]}; "
            f"logs in {workdir / 'logs'} (kept)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    latencies = []
    failures = []
    for run in range(args.runs):
        tmp = Path(tempfile.mkdtemp(prefix="txwatch-latency-"))
        try:
            latencies.append(one_run(tmp))
            print(f"run {run + 1}: {latencies[-1]:.1f} s", flush=True)
            shutil.rmtree(tmp, ignore_errors=True)
        except RuntimeError as exc:
            failures.append(str(exc))
            print(f"run {run + 1}: FAILED {exc}", flush=True)
    if not latencies:
        return 1
    result = {"latencies_s": latencies, "median_s": statistics.median(latencies),
              "max_s": max(latencies), "target_s": 60, "failed_runs": failures}
    print(f"first anomalous minute -> sink: median {result['median_s']:.1f} s, "
          f"max {result['max_s']:.1f} s (target <= 60 s)")
    save("notify_latency", result)
    bar_chart("notify_latency", [f"run {i + 1}" for i in range(len(latencies))], latencies,
              {"target 60 s": 60}, "seconds to notification", colour="#d62728")
    return 0


if __name__ == "__main__":
    sys.exit(main())
