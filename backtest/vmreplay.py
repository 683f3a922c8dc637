"""The peer engine: ``vmalert -replay`` over the same history, for side-by-side backtests.

The history becomes the same scraped series the txwatch engine evaluates
(:func:`txwatch.history.scrape.scrape_series`), at the data's own timestamps, imported into
a throwaway single-node VictoriaMetrics; vmalert replays the rule files (as
:func:`txwatch.rules.vmalert.vmalert_rule_dir` copies them for 1.79: no
``keep_firing_for``) and writes ``ALERTS`` back, which is read into the same firings and
episodes the txwatch engine scores. Every flag that differs from vmalert's default says why
(:data:`REPLAY_FLAGS`): with defaults the replay is silently wrong.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import requests
import yaml

from txwatch.backtest.run import Result
from txwatch.backtest.scoring import Incident, score, to_episodes
from txwatch.engines.procs import default_signals, free_port, need, stop_process, wait_ready
from txwatch.engines.promtool import Firing
from txwatch.history.dataset import Dataset
from txwatch.history.scrape import scrape_series
from txwatch.rules.vmalert import vmalert_rule_dir

REPLAY_FLAGS = [
    "-evaluationInterval=1m",  # one evaluation per data minute, as the txwatch engine
    "-datasource.queryStep=1m",  # default 5m: vmalert would step 5 minutes at a time
    # 'for' restarts at every chunk of this many points: one chunk covers 60 days
    "-replay.maxDatapointsPerQuery=90000",
    # a rule that reads a recorded series must see it persisted (RULES_DELAY, per rule)
    "-remoteWrite.flushInterval=200ms",
    "-disableAlertgroupLabel",  # alert labels as Prometheus gives them
    "-replay.disableProgressBar", "-loggerLevel=ERROR",
]
STORAGE_FLAGS = [
    "-retentionPeriod=100y",  # history may be years old; default 1 month drops it
    "-search.disableCache",  # backfilled data: never answer from a stale cache
    "-search.maxPointsPerTimeseries=100000",  # 60 days of minutes in one query
    "-search.maxQueryLen=65536",  # the segment page written back inline (victoriametrics.yml)
    "-loggerLevel=ERROR",
]
IGNORED_LABELS = {"alertstate", "monitor"}
# Longer than the flush plus VictoriaMetrics' ~1 s until new data is searchable. vmalert
# waits this long after every rule; the threshold table, whose rows read nothing recorded,
# is replayed first in a pass without the wait.
RULES_DELAY = "1500ms"


def _without_annotations(files: list[Path]) -> None:
    """vmalert 1.79 refuses to replay a rule whose annotations use the ``query`` template
    ("isn't supported in replay mode"); the txwatch engine leaves annotations out too."""
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in doc["groups"]:
            for rule in group["rules"]:
                rule.pop("annotations", None)
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def _import_lines(data: Dataset, origin: float) -> str:
    """The scraped series in VictoriaMetrics' /api/v1/import JSON-lines format."""
    lines = []
    for series in scrape_series(data, push_time_origin=origin):
        keep = ~np.isnan(series.values)
        stamps = (origin + 60.0 * np.nonzero(keep)[0]) * 1000
        lines.append(json.dumps({"metric": {"__name__": series.name, **series.labels},
                                 "values": series.values[keep].tolist(),
                                 "timestamps": stamps.astype("int64").tolist()}))
    return "\n".join(lines) + "\n"


def _firings(export: str, origin: float, steps: int) -> list[Firing]:
    """ALERTS{alertstate="firing"} samples as firings per data minute."""
    found: set[Firing] = set()
    for line in export.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        metric = row["metric"]
        name = metric.pop("alertname")
        labels = tuple(sorted((k, v) for k, v in metric.items()
                              if k != "__name__" and k not in IGNORED_LABELS))
        for stamp, value in zip(row["timestamps"], row["values"], strict=True):
            step = round((stamp / 1000 - origin) / 60)
            if value == 1 and 0 <= step < steps:
                found.add(Firing(step, name, labels))
    return sorted(found, key=lambda f: (f.step, f.alertname, f.labels))


def replay(data: Dataset, rules: Path, progress: Callable[[str], None] | None = None
           ) -> list[Firing]:
    """Firing alerts per data minute as ``vmalert -replay`` evaluates ``rules``."""
    say = progress or (lambda _msg: None)
    steps = len(data.transactions)
    origin = float(data.start.timestamp())
    with tempfile.TemporaryDirectory(prefix="txwatch-vmreplay-") as tmp:
        work = Path(tmp)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(work / "victoria-metrics.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen([need("victoria-metrics"), f"-storageDataPath={work / 'vm'}",
                                 f"-httpListenAddr=127.0.0.1:{port}", *STORAGE_FLAGS],
                                stdout=log, stderr=log, preexec_fn=default_signals)
        try:
            wait_ready(url + "/health", proc, "victoria-metrics")
            say(f"importing {steps} data minutes into VictoriaMetrics")
            requests.post(url + "/api/v1/import", data=_import_lines(data, origin).encode(),
                          timeout=300).raise_for_status()
            requests.get(url + "/internal/force_flush", timeout=60).raise_for_status()
            files = vmalert_rule_dir(rules, work / "rules")
            _without_annotations(files)
            end = origin + 60.0 * (steps - 1)
            started = time.monotonic()
            for number, (part, delay) in enumerate(((files[:1], "0s"),
                                                    (files[1:], RULES_DELAY))):
                say(f"vmalert -replay pass {number + 1}/2: "
                    f"{', '.join(f.name for f in part)} (-replay.rulesDelay={delay})")
                _run_vmalert(part, url, delay, origin, end)
                requests.get(url + "/internal/force_flush", timeout=60).raise_for_status()
            say(f"replayed in {time.monotonic() - started:.1f} s; reading ALERTS back")
            time.sleep(1.0)  # the last remote-write flush
            requests.get(url + "/internal/force_flush", timeout=60).raise_for_status()
            export = requests.get(url + "/api/v1/export", timeout=300, params={
                "match[]": '{__name__="ALERTS",alertstate="firing"}',
                "start": str(origin - 60), "end": str(end + 60)})
            export.raise_for_status()
        finally:
            stop_process(proc)
            log.close()
    return _firings(export.text, origin, steps)


def _run_vmalert(files: list[Path], url: str, delay: str, start: float, end: float) -> None:
    result = subprocess.run([
        need("vmalert"), *(f"-rule={f}" for f in files), f"-datasource.url={url}",
        f"-remoteWrite.url={url}", *REPLAY_FLAGS, f"-replay.rulesDelay={delay}",
        f"-replay.timeFrom={_rfc3339(start)}", f"-replay.timeTo={_rfc3339(end)}"],
        capture_output=True, text=True, timeout=3600, preexec_fn=default_signals)
    if result.returncode != 0:
        raise RuntimeError(f"vmalert -replay failed: {result.stderr[-2000:]}")


def _rfc3339(seconds: float) -> str:
    return pd.Timestamp(seconds, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def run_peer(data: Dataset, rules: Path, incidents: list[Incident] | None,
             progress: Callable[[str], None] | None = None) -> Result:
    """A backtest result from ``vmalert -replay``, scored like the txwatch engine's."""
    started = time.monotonic()
    steps = len(data.transactions)
    episodes = to_episodes(replay(data, rules, progress))
    always = sorted({e.alertname for e in episodes if e.start == 0 and e.end == steps - 1})
    episodes = [e for e in episodes if e.alertname not in always]
    scored = score(episodes, incidents, data.start, steps) if incidents is not None else None
    return Result(rules, data, episodes, always, {}, scored, time.monotonic() - started)
