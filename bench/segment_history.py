"""Histories of N segments for bench/segment_scale.py: raw counters and recorded series.

The learned normals read a week of hourly counts through ``[7d:1h]`` subqueries, so a rule
engine that starts on raw counters alone evaluates them over a few hours of recorded
points and looks cheaper than it is. Here both engines start with what a server that had
run for the whole history would hold:

* the raw counters as a 1-minute scrape stores them (:func:`txwatch.history.scrape.
  scrape_series`, the backtest's input), for N acquirers of the ``segments`` profile's
  shape (power-law sizes, each its own normal shares, codes 00 / 51 / 59), no incidents;
* every recorded series some rule reads over time (a range, a subquery or an offset), at
  the resolution it is read at (:func:`txwatch.backtest.cadence.resolutions`: on the hour
  for what only ``[7d:1h]`` reads), over as much of the past as its readers reach, each
  evaluated by Prometheus over the raw history level by level (the backtest engine's
  order, :func:`txwatch.backtest.ruleset.levels`). A record only ever read at the instant
  is left to the live rules: they compute it at their first evaluation.

The rule files are read as each engine runs them (Prometheus: the shipped files; vmalert:
their inline form, :func:`txwatch.rules.vmalert.vmalert_rule_dir`), so each engine is given
the recorded series its own rules read. The raw history runs past "now" by the minutes the
live runs need, so no pushing competes with the rule evaluations being measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from txwatch import contract
from txwatch.backtest.cadence import resolutions
from txwatch.backtest.ruleset import RecordingRule, history_needed, levels, referenced
from txwatch.engines import remote_write
from txwatch.engines.series import Series
from txwatch.engines.server import ThrowawayPrometheus
from txwatch.history.codes import decline_mix
from txwatch.history.dataset import Dataset
from txwatch.history.profiles import PROFILES
from txwatch.history.scrape import scrape_series
from txwatch.history.segmented import normals, sizes
from txwatch.history.traffic import expected_rate

STEP = 60.0  # one sample a minute, as the backtest stores a scrape
LOOKBACK = 300.0  # an instant selector reads up to 5 minutes back
# Steps per range query: a range query computes a function of 6,000 counters at every step
# before it aggregates them, and at 1,000 segments a day of minutes is 8.6 M points, under
# Prometheus' default --query.max-samples (50 M); the whole history at once is not.
CHUNK = 1440


def generate(segments: int, origin: pd.Timestamp, minutes: int, seed: int) -> Dataset:
    """N acquirers shaped as the ``segments`` profile's 50, with its traffic per segment
    kept (the flow's peak scaled by N/50), so every segment carries enough events to learn
    its normal; counts drawn per minute, segment and status at once."""
    base = PROFILES["segments"]
    assert base.segments is not None
    plan = replace(base.segments, count=segments, schedule=())
    scale = segments / base.segments.count
    profile = replace(base, peak=base.peak * scale, trough=base.trough * scale, segments=plan)
    rng = np.random.default_rng([seed, 4])
    index = pd.date_range(origin, periods=minutes, freq="min")
    rate = expected_rate(profile, index, seed)[:, None] * sizes(plan)[None, :]
    normal = normals(profile, plan, seed)
    others = np.stack([normal[s] for s in contract.STATUSES[1:]], axis=-1)  # (n, 5)
    probs = np.concatenate([1 - others.sum(axis=-1, keepdims=True), others], axis=-1)
    counts = rng.multinomial(rng.poisson(rate), probs)  # (minutes, n, statuses)
    mix = decline_mix(profile)
    declines = rng.multinomial(counts[..., contract.STATUSES.index("denied")],
                               list(mix.values()))
    codes = np.concatenate([counts[..., :1], declines], axis=-1)
    code_names = [contract.APPROVED_AUTH_CODE, *mix]
    names = plan.names()
    return Dataset(
        transactions=pd.DataFrame(counts.sum(axis=1), index=index, columns=contract.STATUSES),
        auth_codes=pd.DataFrame(codes.sum(axis=1), index=index, columns=code_names),
        pushed=pd.Series(True, index=index), dimensions=(plan.dimension,),
        segment_transactions={f"{plan.dimension}={n}": pd.DataFrame(
            counts[:, i, :], index=index, columns=contract.STATUSES)
            for i, n in enumerate(names)},
        segment_auth_codes={f"{plan.dimension}={n}": pd.DataFrame(
            codes[:, i, :], index=index, columns=code_names) for i, n in enumerate(names)})


def raw_series(data: Dataset) -> Iterator[Series]:
    return scrape_series(data, 1, push_time_origin=data.start.timestamp())


def rule_sets(files: list[Path]) -> tuple[list[RecordingRule], list[str]]:
    """(recording rules, alert expressions) exactly as the files hold them (no inlining:
    the engine records what the file records)."""
    recording: list[RecordingRule] = []
    alerts: list[str] = []
    for path in files:
        for group in (yaml.safe_load(path.read_text(encoding="utf-8")) or {})["groups"]:
            for rule in group.get("rules") or []:
                if "record" in rule:
                    recording.append(RecordingRule(rule["record"], str(rule["expr"]), {
                        k: str(v) for k, v in (rule.get("labels") or {}).items()}))
                else:
                    alerts.append(str(rule["expr"]))
    return recording, alerts


def needs(files: list[Path]) -> dict[str, tuple[float, float]]:
    """Record -> (seconds of its past some rule reads, resolution in seconds), for the
    records read over time; a reader that is itself read over time adds its own span."""
    recording, alerts = rule_sets(files)
    records = {r.record for r in recording}
    span: dict[str, float] = {}
    readers = [(expr, 0.0) for expr in alerts]
    for level in reversed(levels(recording)):
        for name in {r.record for r in level}:
            reach = [history_needed(expr) + own for expr, own in readers
                     if name in referenced(expr, records)]
            if reach and max(reach) > 0:
                span[name] = max(reach)
        readers += [(r.expr, span.get(r.record, 0.0)) for r in level]
    every = resolutions(recording, alerts, STEP)
    return {name: (seconds, every[name]) for name, seconds in span.items()}


@dataclass
class Recorded:
    """One record's evaluated points on its own grid (``origin`` + k * ``step``)."""

    origin: float
    step: float
    series: list[Series]

    def until(self, end: float) -> list[Series]:
        """The series with the points after ``end`` removed (what a server started at
        ``end`` would hold)."""
        last = int((end - self.origin) // self.step)
        out = []
        for s in self.series:
            values = s.values[:last + 1]
            if (~np.isnan(values)).any():
                out.append(Series(s.name, s.labels, values))
        return out


def evaluate(data: Dataset, files: list[Path], wanted: dict[str, tuple[float, float]],
             work: Path, say: Callable[[str], None]) -> dict[str, Recorded]:
    """Evaluate the wanted records over the raw history in a throwaway Prometheus, level by
    level (each level's results written back for the next), each at its resolution over
    its span up to the history's end."""
    recording, _ = rule_sets(files)
    chosen = [r for r in recording if r.record in wanted]
    origin = data.start.timestamp()
    end = origin + (len(data.transactions) - 1) * STEP
    out: dict[str, Recorded] = {}
    with ThrowawayPrometheus(work / "loader", receiver=True) as prom, \
            ThreadPoolExecutor(2) as pool:
        started = time.monotonic()
        sent = remote_write.write(prom.url, list(raw_series(data)), origin, STEP)
        say(f"loader: {sent / 1e6:.1f} M raw samples in {time.monotonic() - started:.0f} s")
        for number, level in enumerate(levels(chosen)):
            started = time.monotonic()
            results = list(pool.map(lambda r: (r, _evaluated(prom, r, wanted, origin, end)),
                                    level))
            for rule, rec in results:
                if rule.record in out:  # several rules of one record: one series set
                    rec.series = out[rule.record].series + rec.series
                out[rule.record] = rec
                remote_write.write(prom.url, rec.series, rec.origin, rec.step)
            say(f"loader: level {number + 1}: {len({r.record for r in level})} records in "
                f"{time.monotonic() - started:.0f} s")
    return out


def _evaluated(prom: ThrowawayPrometheus, rule: RecordingRule,
               wanted: dict[str, tuple[float, float]], origin: float, end: float) -> Recorded:
    """One rule at its record's resolution over its span (the grid aligned on ``origin``,
    which is on the hour, so hourly points fall where ``[7d:1h]`` reads them)."""
    seconds, step = wanted[rule.record]
    first = max(origin, end - seconds - LOOKBACK)
    first = origin + float(np.ceil((first - origin) / step)) * step
    steps = int((end - first) // step) + 1
    found: dict[tuple[tuple[str, str], ...], np.ndarray] = {}
    for at in range(0, steps, CHUNK):
        count = min(CHUNK, steps - at)
        for labels, values in prom.query_range(rule.expr, first + at * step, count, step):
            whole = found.setdefault(tuple(sorted(labels.items())), np.full(steps, np.nan))
            whole[at:at + count] = values
    return Recorded(first, step, _merged(rule, [(dict(k), v) for k, v in found.items()]))


def _merged(rule: RecordingRule, found: list[tuple[dict[str, str], np.ndarray]]
            ) -> list[Series]:
    """A range result as the recorded series: the name dropped, the rule's labels added,
    results differing only in their name (``x < y or y``) made one."""
    merged: dict[tuple[tuple[str, str], ...], np.ndarray] = {}
    for labels, values in found:
        key = tuple(sorted({**{k: v for k, v in labels.items() if k != "__name__"},
                            **rule.labels}.items()))
        have = merged.setdefault(key, np.full(len(values), np.nan))
        np.copyto(have, values, where=np.isnan(have))
    return [Series(rule.record, dict(key), values) for key, values in merged.items()]


def load(url: str, data: Dataset, recorded: dict[str, Recorded],
         wanted: dict[str, tuple[float, float]], until: float,
         labels: dict[str, str] | None = None) -> tuple[int, int]:
    """Write the raw history and the wanted records up to ``until`` to ``url`` (Prometheus'
    receiver or VictoriaMetrics, both take remote write); return (raw, recorded) samples.

    ``labels`` are added to every recorded series: vmalert adds its ``-external.label`` to
    what it records (Prometheus does not), so a record loaded without them would be a
    second series beside vmalert's own, and every ``on (job) group_left`` match reading
    both fails as a duplicate (measured: HTTP 422 from VictoriaMetrics)."""
    origin = data.start.timestamp()
    raw = remote_write.write(url, list(raw_series(data)), origin, STEP)
    done = 0
    for name in wanted:
        rec = recorded[name]
        series = [Series(s.name, {**s.labels, **(labels or {})}, s.values)
                  for s in rec.until(until)]
        done += remote_write.write(url, series, rec.origin, rec.step)
    return raw, done
