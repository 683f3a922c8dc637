"""Ingest benchmark: txwatch exporter vs the Prometheus Pushgateway, same run, same load tool.

Measures, on loopback with ``wrk`` as the load generator (it shares the machine's cores):
  * single-record requests/s: exporter in memory, exporter with --state.dir (fsync, group
    commit), and the Pushgateway receiving the same count in its text format;
  * records/s for 10,000-record batches (JSON and CSV);
  * /metrics latency percentiles;
  * exporter resident memory after one million records.
Prints the figures with the CPU model and writes bench/results/ingest.{json,png}.
Needs: wrk, prometheus-pushgateway (``apt-get install wrk prometheus-pushgateway``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from common import RESULTS, save

from txwatch import contract
from txwatch.engines.procs import free_port, stop_process, wait_ready

DURATION = "8s"
CONNECTIONS = 16


def start_exporter(*extra: str, python: str = sys.executable
                   ) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([python, "-m", "txwatch.exporter",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
                             "--ingest.max-future=1e10", *extra])
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/-/ready", proc, "exporter", seconds=20)
    return proc, url


def start_pushgateway() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{port}",
                             "--log.level=warn"], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/-/ready", proc, "pushgateway", seconds=20)
    return proc, url


def wrk(url: str, method: str, body: str, content_type: str, script_dir: Path,
        connections: int = CONNECTIONS, duration: str = DURATION) -> dict[str, float]:
    """Run wrk; return requests/s and latency percentiles (ms)."""
    script = script_dir / f"s{abs(hash((url, body))) % 10**8}.lua"
    body_file = script.with_suffix(".body")
    body_file.write_text(body, encoding="utf-8")
    request = (f'local f = io.open("{body_file}", "rb"); wrk.body = f:read("*a"); f:close()\n'
               f'wrk.headers["Content-Type"] = "{content_type}"\n') if method == "POST" else ""
    script.write_text(
        f'wrk.method = "{method}"\n' + request +
        "done = function(summary, latency, requests)\n"
        "  io.write(string.format('JSON {\"p50\": %f, \"p99\": %f, \"errors\": %d}\\n',\n"
        "    latency:percentile(50) / 1000, latency:percentile(99) / 1000,\n"
        "    summary.errors.status + summary.errors.connect + summary.errors.read\n"
        "    + summary.errors.write + summary.errors.timeout))\n"
        "end\n", encoding="utf-8")
    out = subprocess.run(["wrk", f"-t{min(2, connections)}", f"-c{connections}",
                          f"-d{duration}", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    stats = json.loads(out.split("JSON ", 1)[1].splitlines()[0])
    if stats["errors"]:
        raise RuntimeError(f"wrk saw {stats['errors']} errors against {url}:\n{out}")
    return {"rps": rps, **stats}


def batch_body(n: int, fmt: str) -> str:
    statuses = contract.STATUSES
    rows = []
    for i in range(n):
        minute = 1_752_327_900 + (i // len(statuses)) * 60
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(minute))
        rows.append((ts, statuses[i % len(statuses)], 100 if i % len(statuses) == 0 else 2))
    if fmt == "csv":
        return "timestamp,status,count\n" + "".join(f"{t},{s},{c}\n" for t, s, c in rows)
    return json.dumps([{"timestamp": t, "status": s, "count": c} for t, s, c in rows])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class RssSampler:
    """Peak resident memory of a process, sampled every 50 ms in a thread."""

    def __init__(self, pid: int) -> None:
        import threading

        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb(self.pid))

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def health_during_big_body(url: str) -> dict[str, float]:
    """/-/healthy latency (sequential probes) while 10 MB JSON bodies are ingested."""
    import threading

    records = [{"timestamp": "2025-07-12T13:45:00.000000+00:00", "status": "approved",
                "count": 1}] * 99_000
    body = json.dumps(records).encode() + b" " * 1_600_000
    assert len(body) >= 10_000_000, len(body)
    done = threading.Event()

    def ingest() -> None:
        for _ in range(3):
            requests.post(url + "/api/v1/transactions", data=body, timeout=60,
                          headers={"Content-Type": "application/json"}).raise_for_status()
        done.set()

    thread = threading.Thread(target=ingest)
    thread.start()
    latencies = []
    with requests.Session() as session:
        while not done.is_set():
            start = time.perf_counter()
            session.get(url + "/-/healthy", timeout=10).raise_for_status()
            latencies.append((time.perf_counter() - start) * 1000)
            time.sleep(0.002)
    thread.join()
    latencies.sort()
    return {"samples": len(latencies), "p50": latencies[len(latencies) // 2],
            "p99": latencies[int(len(latencies) * 0.99)], "max": latencies[-1]}


def remember_keys(url: str, pid: int, n: int, script_dir: Path) -> dict[str, float]:
    """Single-record pushes, each with a fresh Idempotency-Key, until n keys are remembered."""
    script = script_dir / "keys.lua"
    body = '{"timestamp":"2025-07-12 13:45:00","status":"approved","count":1}'
    runs = iter(range(1_000_000))
    started = time.monotonic()
    while (keys := scrape_value(url, contract.IDEMPOTENCY_KEYS)) < n:
        run = next(runs)  # keys unique per run, wrk thread and request
        script.write_text(
            'wrk.method = "POST"\nwrk.body = \'' + body + '\'\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            "local threads = 0\nlocal counter = 0\n"
            "setup = function(thread) threads = threads + 1; thread:set('tid', threads) end\n"
            "request = function()\n  counter = counter + 1\n"
            "  return wrk.format(nil, nil, {['Content-Type'] = 'application/json',\n"
            f"    ['Idempotency-Key'] = 'r{run}-' .. tid .. '-' .. counter}})\nend\n",
            encoding="utf-8")
        before = keys
        subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", "-d10s", "-s", str(script), url +
                        "/api/v1/transactions"], capture_output=True, check=True)
        if scrape_value(url, contract.IDEMPOTENCY_KEYS) <= before:
            raise RuntimeError("no new keys remembered: check the wrk script")
    return {"keys": keys, "rss_mb": rss_mb(pid), "seconds": time.monotonic() - started}


def scrape_value(url: str, name: str) -> float:
    for line in requests.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


SINGLE = '{"timestamp":"2025-07-12 13:45:00","status":"approved","count":5}'


def single_rounds(rounds: int, pythons: list[str]) -> int:
    """Durable single pushes only: per round the Pushgateway, then each exporter build.

    Back to back and alternating, so a busy machine weighs on every variant alike; each
    ``--python`` is an interpreter whose installed txwatch is measured (another checkout).
    """
    rows = []
    seconds = float(DURATION.rstrip("s"))
    for letter, python in zip("ABCDEFGH", pythons, strict=False):
        print(f"{letter}: {python}")
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        for round_ in range(rounds):
            pg, pg_url = start_pushgateway()
            try:
                pg_rps = wrk(f"{pg_url}/metrics/job/bench", "POST",
                             'payment_transactions_total{status="approved"} 5\n',
                             "text/plain", tmpdir)["rps"]
            finally:
                stop_process(pg)
            row = {"round": round_ + 1, "pushgateway": pg_rps}
            for index, python in enumerate(pythons):
                name = "ABCDEFGH"[index]  # builds by letter: results name no local paths
                proc, url = start_exporter(f"--state.dir={tmpdir / f's{round_}-{index}'}",
                                           python=python)
                try:
                    cpu = cpu_seconds(proc.pid)
                    row[name] = wrk(url + "/api/v1/transactions", "POST", SINGLE,
                                    "application/json", tmpdir)["rps"]
                    cpu = cpu_seconds(proc.pid) - cpu  # less sensitive to a busy machine
                    row[f"{name}_cpu_us_per_request"] = cpu * 1e6 / (row[name] * seconds)
                finally:
                    stop_process(proc)
            rows.append(row)
            print(f"round {round_ + 1}: pushgateway {pg_rps:,.0f}/s  " + "  ".join(
                f"{b}: {row[b]:,.0f}/s ({row[b] / pg_rps:.2f}x, "
                f"{row[f'{b}_cpu_us_per_request']:.0f} us CPU/request)"
                for b in "ABCDEFGH"[:len(pythons)]), flush=True)
    save("ingest_single", {"cpu": cpu_model(), "load": os.getloadavg(), "rounds": rows})
    return 0


def main() -> int:
    for tool in ("wrk", "prometheus-pushgateway"):
        if shutil.which(tool) is None:
            print(f"bench needs {tool}: apt-get install {tool}", file=sys.stderr)
            return 2
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--single-only", type=int, metavar="ROUNDS",
                        help="only durable single pushes vs the Pushgateway, ROUNDS times")
    parser.add_argument("--python", action="append", default=[],
                        help="with --single-only: interpreter of a txwatch install to measure "
                             "(repeat to compare builds; default this one)")
    args = parser.parse_args()
    if args.single_only:
        return single_rounds(args.single_only, args.python or [sys.executable])
    single = SINGLE
    results: dict[str, object] = {"cpu": cpu_model(), "cores": len(
        re.findall(r"^processor", Path("/proc/cpuinfo").read_text(), re.M))}
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        procs = []
        try:
            pg, pg_url = start_pushgateway()
            procs.append(pg)
            results["pushgateway_single"] = wrk(
                f"{pg_url}/metrics/job/bench", "POST",
                'payment_transactions_total{status="approved"} 5\n', "text/plain", tmpdir)
            stop_process(pg)
            mem, mem_url = start_exporter()
            procs.append(mem)
            results["rss_mb_at_rest"] = rss_mb(mem.pid)
            tx = mem_url + "/api/v1/transactions"
            peak = RssSampler(mem.pid).start()
            results["exporter_memory_single"] = wrk(tx, "POST", single, "application/json",
                                                    tmpdir)
            results["rss_mb_under_load_peak"] = peak.stop()
            for fmt, ctype in (("json", "application/json"), ("csv", "text/csv")):
                r = wrk(tx, "POST", batch_body(10_000, fmt), ctype, tmpdir, connections=4)
                results[f"exporter_batch10k_{fmt}"] = {**r, "records_per_s": r["rps"] * 10_000}
            time.sleep(3)  # let the server drain the batch requests wrk left in flight
            results["metrics_latency"] = wrk(mem_url + "/metrics", "GET", "", "text/plain",
                                             tmpdir, connections=1)  # as Prometheus scrapes
            stop_process(mem)
            durable, d_url = start_exporter(f"--state.dir={tmpdir / 'state'}")
            procs.append(durable)
            results["exporter_durable_single"] = wrk(d_url + "/api/v1/transactions", "POST",
                                                     single, "application/json", tmpdir)
            stop_process(durable)
            fresh, f_url = start_exporter(f"--state.dir={tmpdir / 'state2'}")
            procs.append(fresh)
            body = batch_body(10_000, "csv")
            for _ in range(100):
                requests.post(f_url + "/api/v1/transactions", data=body,
                              headers={"Content-Type": "text/csv"}, timeout=30).raise_for_status()
            results["rss_mb_after_1m_records"] = rss_mb(fresh.pid)
            results["health_during_10mb_ingest"] = health_during_big_body(f_url)
            results["keys_500k"] = remember_keys(f_url, fresh.pid, 500_000, tmpdir)
        finally:
            for proc in procs:
                stop_process(proc)
    pg_rps = results["pushgateway_single"]["rps"]  # type: ignore[index]
    results["ratio_memory_vs_pushgateway"] = results["exporter_memory_single"]["rps"] / pg_rps  # type: ignore[index]
    results["ratio_durable_vs_pushgateway"] = results["exporter_durable_single"]["rps"] / pg_rps  # type: ignore[index]
    save("ingest", results)
    report(results)
    chart(results, RESULTS / "ingest.png")
    return 0


def report(r: dict) -> None:
    print(f"CPU: {r['cpu']} ({r['cores']} cores), load generator wrk on the same machine")
    print(f"{CONNECTIONS} concurrent clients; latency p50 / p99 in ms")
    print(f"single-record requests/s  pushgateway   {r['pushgateway_single']['rps']:>10,.0f}"
          f"  p50 {r['pushgateway_single']['p50']:.2f} p99 {r['pushgateway_single']['p99']:.2f}")
    for name, key in (("mem", "memory"), ("fsync", "durable")):
        m = r[f"exporter_{key}_single"]
        print(f"                          txwatch {name:<5} {m['rps']:>10,.0f}"
              f"  p50 {m['p50']:.2f} p99 {m['p99']:.2f}  "
              f"({r[f'ratio_{key}_vs_pushgateway']:.2f}x)")
    for fmt in ("json", "csv"):
        print(f"10k-record batches ({fmt}) records/s "
              f"{r[f'exporter_batch10k_{fmt}']['records_per_s']:>12,.0f}")
    m = r["metrics_latency"]
    print(f"/metrics latency p50 {m['p50']:.2f} ms  p99 {m['p99']:.2f} ms")
    print(f"resident memory: at rest {r['rss_mb_at_rest']:.1f} MB, peak under load "
          f"{r['rss_mb_under_load_peak']:.1f} MB, after 1,000,000 records "
          f"{r['rss_mb_after_1m_records']:.1f} MB, with {r['keys_500k']['keys']:,.0f} "
          f"remembered keys {r['keys_500k']['rss_mb']:.1f} MB")
    h = r["health_during_10mb_ingest"]
    print(f"/-/healthy during 10 MB ingests: p50 {h['p50']:.2f} ms p99 {h['p99']:.2f} ms "
          f"max {h['max']:.2f} ms ({h['samples']} probes)")


def chart(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    names = ["Pushgateway", "txwatch (memory)", "txwatch (--state.dir)"]
    values = [r["pushgateway_single"]["rps"], r["exporter_memory_single"]["rps"],
              r["exporter_durable_single"]["rps"]]
    a.bar(names, values, color=["#888888", "#2a9d8f", "#264653"])
    a.set_title("single-record pushes, requests/s")
    a.tick_params(axis="x", labelsize=8)
    b.bar(["JSON", "CSV"], [r["exporter_batch10k_json"]["records_per_s"],
                            r["exporter_batch10k_csv"]["records_per_s"]], color="#2a9d8f")
    b.axhline(300_000, color="red", linestyle="--", label="target 300k/s")
    b.set_title("10,000-record batches, records/s")
    b.legend()
    fig.suptitle(f"txwatch ingest on {r['cpu']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    sys.exit(main())
