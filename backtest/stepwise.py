"""Range queries at chosen steps, the shared terms they read evaluated at those steps only.

The candidate search asks each alert expression only where it can hold (:mod:`.bounds`),
and a shared term (:mod:`.shared_terms`) is only read where an expression reading it is
evaluated: the learned-normal scores of the rise alert (~9 s of Prometheus CPU over 30
days) are needed only where its share is above the rise factor. So a term is evaluated
and written back (samples older than its newest are accepted: the throwaway Prometheus
has an out-of-order window) at the steps a query reading it asks and it lacks, before that
query; the terms it reads first, the same way. Terms are read only at the step of the
query (never in a subquery or range, without offset), and a series recorded on the step
grid is read only at its own step (look-back under one step), so every query is exact at
every step it asks. A term whose label sets clash without its series name is read inline
from then on (its readers already evaluated stay right: it was exact where they read it).
"""

from __future__ import annotations

import threading

import numpy as np
import promql_parser as pq

from txwatch.backtest.bounds import spans, weight_with
from txwatch.backtest.shared_terms import SharedTerm, inline, reads
from txwatch.engines import remote_write
from txwatch.engines.series import Series
from txwatch.engines.server import ThrowawayPrometheus


class Stepwise:
    """Range queries over the steps asked, each term evaluated where it is first needed."""

    def __init__(self, prom: ThrowawayPrometheus, steps: int, step: float,
                 terms: list[SharedTerm]) -> None:
        self.prom, self.steps, self.step = prom, steps, step
        self.weight = weight_with({t.name: t.expr for t in terms})
        self.text = {t.name: t.expr for t in terms}
        self.done = {t.name: np.zeros(steps, dtype=bool) for t in terms}
        self.values: dict[str, dict[tuple[tuple[str, str], ...], np.ndarray]] = {
            t.name: {} for t in terms}
        self.locks = {t.name: threading.Lock() for t in terms}
        self.inlined: list[SharedTerm] = []

    def readable(self, expr: str) -> str:
        """``expr`` reading the terms that had to be inlined by their expressions."""
        for term in list(self.inlined):
            if term.name in expr:
                expr = inline([expr], term)[0]
        return expr

    def query(self, expr: str, asked: np.ndarray
              ) -> list[tuple[dict[str, str], np.ndarray]]:
        """``expr`` at the steps of ``asked`` (and a few around them, all exact); NaN
        elsewhere. The terms it reads are evaluated there first."""
        runs = spans(asked, self.weight(pq.parse(expr)))
        covered = np.zeros(self.steps, dtype=bool)
        for first, end in runs:
            covered[first:end] = True
        while True:  # (a term inlined while its readers' terms were evaluated reads more)
            expr = self.readable(expr)
            for name in sorted(reads(expr)):
                self._ensure(name, covered)
            if self.readable(expr) == expr:
                break
        out: dict[tuple[tuple[str, str], ...], np.ndarray] = {}
        for first, end in runs:
            for labels, values in self.prom.query_range(expr, first * self.step, end - first,
                                                        self.step):
                key = tuple(sorted(labels.items()))
                out.setdefault(key, np.full(self.steps, np.nan))[first:end] = values[:end - first]
        return [(dict(key), values) for key, values in out.items()]

    def holds(self, expr: str, asked: np.ndarray) -> np.ndarray:
        """Where ``expr`` is non-empty among the steps asked (and a few around them)."""
        found = np.zeros(self.steps, dtype=bool)
        for _labels, values in self.query(f"count({expr})", asked):
            found |= ~np.isnan(values)
        return found

    def series(self) -> dict[str, list[Series]]:
        """Every term that was evaluated anywhere (and not inlined), as written."""
        gone = {t.name for t in self.inlined}
        return {name: [Series(name, dict(key), v) for key, v in found.items()]
                for name, found in self.values.items() if found and name not in gone}

    def _ensure(self, name: str, asked: np.ndarray) -> None:
        with self.locks[name]:
            missing = asked & ~self.done[name]
            if not missing.any() or any(t.name == name for t in self.inlined):
                return
            found = self.query(self.text[name], missing)
            piece = merged_by_labels([(labels, np.where(missing, values, np.nan))
                               for labels, values in found])
            if piece is None:
                self.inlined.append(SharedTerm(name, self.readable(self.text[name])))
                return
            for key, values in piece.items():
                have = self.values[name].setdefault(key, np.full(self.steps, np.nan))
                if np.any(~np.isnan(have) & ~np.isnan(values)):
                    raise AssertionError(f"{name} evaluated twice at a step")
                have[~np.isnan(values)] = values[~np.isnan(values)]
            remote_write.write(self.prom.url, [Series(name, dict(key), values)
                                               for key, values in piece.items()], 0.0, self.step)
            self.done[name] |= missing



def merged_by_labels(found: list[tuple[dict[str, str], np.ndarray]]
              ) -> dict[tuple[tuple[str, str], ...], np.ndarray] | None:
    """Series that differ only in their series name as one; None if two of them hold at
    the same step (they cannot be written as one series)."""
    merged: dict[tuple[tuple[str, str], ...], np.ndarray] = {}
    for labels, values in found:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "__name__"))
        if key not in merged:
            merged[key] = values.copy()
            continue
        both = merged[key]
        if np.any(~np.isnan(both) & ~np.isnan(values)):
            return None
        both[np.isnan(both)] = values[np.isnan(both)]
    return merged
