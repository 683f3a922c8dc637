"""Remote write: the hand-written protobuf encoder against the ``protobuf`` package.

(a) ``txwatch.engines.remote_write`` (shipped): WriteRequest encoded with numpy, snappy by cramjam;
(b) ``txwatch.engines.remote_pb``: one ``protobuf`` message per sample, snappy by cramjam;
(c) for reference, (a)'s protobuf in one uncompressed literal snappy stream (hand-written,
    what was shipped before).
On the raw series of a 30-day generated history (seed 30): encode seconds (best of 3) and
body bytes; seconds to send them into a throwaway Prometheus; and, unless --quick, the
whole 30-day backtest with (a) and with (b), interleaved --repeat times: wall seconds (best
run kept, all listed) and CPU seconds of this process and its children (Prometheus,
promtool), which other load on the machine disturbs far less. Prints the figures with the
CPU model and load average and writes results/remote_write.{json,png}. Needs the ``test``
extra (protobuf).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from common import bar_chart, save

from txwatch import contract
from txwatch.backtest.run import run
from txwatch.backtest.scoring import load_incidents
from txwatch.engines import remote_pb, remote_write
from txwatch.engines.series import Series
from txwatch.engines.server import ThrowawayPrometheus
from txwatch.history.dataset import load_dataset
from txwatch.history.scrape import scrape_series
from txwatch.resources import rules_dir

Encoder = Callable[[list[Series], float, float], bytes]


def snappy_literal(data: bytes) -> bytes:
    """A valid snappy block that stores ``data`` as literals (no compression)."""
    out = [remote_write._varint(len(data))]
    for start in range(0, len(data), 1 << 24):
        piece = data[start:start + (1 << 24)]
        out.append(bytes([0xFC]) + (len(piece) - 1).to_bytes(4, "little") + piece)
    return b"".join(out)


HAND = "hand-written + cramjam"
PB = "protobuf + cramjam"
ENCODERS: dict[str, Encoder] = {
    HAND: remote_write.encode_body,
    PB: remote_pb.encode,
    "hand-written + literal": lambda s, o, st: snappy_literal(
        remote_write.encode_write_request(s, o, st)),
}


def cpu_seconds() -> float:
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cpu() -> tuple[str, int]:
    info = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
    return (model[1] if model else "unknown"), len(re.findall(r"^processor", info, re.M))


def best_of(times: int, fn: Callable[[], bytes]) -> tuple[float, bytes]:
    best, out = float("inf"), b""
    for _ in range(times):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def backtest(data_dir: Path, encode: Encoder) -> dict[str, float]:
    """The whole 30-day backtest with ``encode`` building every remote-write body."""
    spent = {"samples": 0, "encode seconds": 0.0}

    def counting(series: list[Series], origin: float, step: float) -> bytes:
        started = time.perf_counter()
        body = encode(series, origin, step)
        spent["encode seconds"] += time.perf_counter() - started
        spent["samples"] += sum(int((~np.isnan(s.values)).sum()) for s in series)
        return body

    data = load_dataset([data_dir / "transactions.csv", data_dir / "transactions_auth_codes.csv"],
                        contract.STATUSES, contract.AUTH_CODES)
    shipped, remote_write.encode_body = remote_write.encode_body, counting
    try:
        started, cpu_started = time.perf_counter(), cpu_seconds()
        result = run(data, rules_dir(), load_incidents(data_dir / "incidents.json"))
        seconds, cpu_used = time.perf_counter() - started, cpu_seconds() - cpu_started
    finally:
        remote_write.encode_body = shipped
    assert result.score is not None
    return {"seconds": seconds, "cpu seconds": cpu_used, **spent,
            "caught": result.score.caught, "incidents": result.score.incidents}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="skip the 30-day backtests")
    ap.add_argument("--repeat", type=int, default=2, help="backtests per encoder")
    args = ap.parse_args()
    model, cores = cpu()
    results: dict[str, object] = {"cpu": model, "cores": cores,
                                  "load average at start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="txwatch-bench-rw-") as tmp:
        data_dir = Path(tmp) / "g30"
        subprocess.run([sys.executable, "-m", "txwatch.replay", "generate", "--days", "30",
                        "--seed", "30", "--out", str(data_dir)], check=True,
                       capture_output=True)
        data = load_dataset([data_dir / "transactions.csv",
                             data_dir / "transactions_auth_codes.csv"],
                            contract.STATUSES, contract.AUTH_CODES)
        raw = list(scrape_series(data))
        samples = sum(int((~np.isnan(s.values)).sum()) for s in raw)
        results["raw series"] = {"series": len(raw), "samples": samples}
        encoded: dict[str, dict[str, float]] = {}
        bodies: dict[str, bytes] = {}
        for name, encode in ENCODERS.items():
            seconds, body = best_of(3, lambda e=encode: e(raw, 0.0, 60.0))
            bodies[name] = body
            encoded[name] = {"seconds": seconds, "bytes": len(body),
                             "us per sample": seconds / samples * 1e6}
        decoded = {name: remote_pb.decode(body) for name, body in bodies.items()}
        for got in decoded.values():  # every body decodes to the same series
            for (la, va, ta), (lb, vb, tb) in zip(decoded[PB], got, strict=True):
                assert la == lb and np.array_equal(va, vb) and np.array_equal(ta, tb)
        results["encode raw series"] = encoded
        sent: dict[str, float] = {}
        for name in ENCODERS:
            with ThrowawayPrometheus(Path(tmp) / f"tsdb-{len(sent)}", receiver=True) as prom:
                started = time.perf_counter()
                remote_write.write(prom.url, raw, 0.0, 60.0, ENCODERS[name])
                sent[name] = time.perf_counter() - started
        results["encode + send raw series to prometheus, s"] = sent
        if not args.quick:
            tried: dict[str, list[dict[str, float]]] = {HAND: [], PB: []}
            for _ in range(args.repeat):
                for name in tried:
                    tried[name].append(backtest(data_dir, ENCODERS[name]))
            results["backtest 30 days"] = {
                name: {**min(runs, key=lambda r: r["seconds"]),
                       "all runs, s": [round(r["seconds"], 1) for r in runs],
                       "all runs, cpu s": [round(r["cpu seconds"], 1) for r in runs]}
                for name, runs in tried.items()}
    results["load average at end"] = os.getloadavg()[0]
    print(f"CPU: {model} ({cores} cores), load average {results['load average at start']:.1f} "
          f"-> {results['load average at end']:.1f}; {len(raw)} raw series, {samples} samples")
    for name, r in encoded.items():
        print(f"encode  {name:<24} {r['seconds']:8.3f} s {r['bytes']:>10} bytes "
              f"{r['us per sample']:6.2f} us/sample")
    for name, seconds in sent.items():
        print(f"send    {name:<24} {seconds:8.3f} s")
    runs: dict[str, dict[str, float]] = results.get("backtest 30 days", {})  # type: ignore
    for name, r in runs.items():
        print(f"backtest {name:<23} {r['seconds']:8.1f} s (runs {r['all runs, s']}), CPU "
              f"{r['all runs, cpu s']} s, {r['samples']} samples written, "
              f"{r['encode seconds']:.2f} s encoding, caught {r['caught']}/{r['incidents']}")
    save("remote_write", results)
    labels = [f"encode: {n}" for n in encoded] + [f"encode+send: {n}" for n in sent]
    values = [r["seconds"] for r in encoded.values()] + list(sent.values())
    labels += [f"backtest 30 d: {n}" for n in runs]
    values += [r["seconds"] for r in runs.values()]
    bar_chart("remote_write", labels, values, {"backtest target 60 s": 60},
              f"seconds (log), {samples} raw samples of 30 generated days", log=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
