"""``txwatch-replay tune``: learn the threshold table from a deployment's own history.

What is searched: per status and auth code, the fast and slow margins, and per decline
code the code mix's margin (``mix_fast_margin``); their floors are set equal to the margin
so a floor never overrides the margin the backtest chose, and never above the row's cap.
The warm-up ``ratio_normal`` is set from the history (its pooled share,
:mod:`txwatch.history.analyze`); the mix's warm-up ``mix_normal`` is kept (it keeps the
alert quiet until the median mix is learned). Factors, caps and the volume rows are kept: on one
deployment's history a factor and a margin move the same limit, so the margin is searched
and the factor, which says how the limit follows a normal that changes later, stays the
operator's.

Candidates, each backtested over the whole history by the real engine: a geometric ladder of
margins (every knob on its k-th rung), the table's current margins and the margins the
share statistics suggest; then the search (:mod:`txwatch.backtest.search`) mixes them under
the false-page budget and one last backtest of the chosen table is the judge.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from txwatch.backtest.ruleset import load_rules
from txwatch.backtest.run import Result, run
from txwatch.backtest.scoring import Incident, Score, score
from txwatch.backtest.search import (
    Budget,
    Choice,
    Knob,
    alert_margins,
    combine,
    knob_of,
    search,
)
from txwatch.backtest.table import Key, Table
from txwatch.history.analyze import statistics, suggest
from txwatch.history.dataset import Dataset
from txwatch.resources import rule_files

# lowest and highest rung, per row family and speed: a share's margin is points of all
# transactions (or codes), the decline mix's points of the declines
LADDER = {("ratio", "fast"): (0.002, 0.05), ("ratio", "slow"): (0.001, 0.025),
          ("mix", "fast"): (0.03, 0.3)}


@dataclass
class Candidate:
    name: str
    margins: dict[Knob, float]
    floors: dict[Knob, float]
    result: Result | None = None


@dataclass
class Outcome:
    before: Result
    after: Result
    predicted: Score
    candidates: list[Candidate]
    knobs: list[Knob]
    changes: dict[Key, float]  # every row the tuned table changes (and its new value)
    table: Table
    text: str  # the tuned table
    labelled: bool
    budget: Budget
    notes: list[str] = field(default_factory=list)


def knobs(table: Table) -> list[Knob]:
    """One knob per ``ratio_<fast|slow>_margin`` and ``mix_fast_margin`` row of the table."""
    found = []
    for row in table.rows.values():
        for prefix, which in LADDER:
            if row.row == f"{prefix}_{which}_margin" and row.label:
                found.append(Knob(row.family, row.label, row.value, which, prefix))
    return found


def ladder(knob: Knob, rungs: int) -> list[float]:
    """``rungs`` margins spaced evenly in log scale, two significant digits each."""
    low, high = LADDER[knob.prefix, knob.which]
    return [float(f"{v:.2g}") for v in np.geomspace(low, high, rungs)] if rungs > 1 else [low]


def _capped(table: Table, knob: Knob, value: float) -> float:
    cap = table.get(knob.family, f"{knob.prefix}_cap", knob.value)
    return min(value, cap) if cap is not None else value


def candidates(table: Table, found: list[Knob], suggested: dict[str, dict[str, float]],
               rungs: int) -> list[Candidate]:
    out = [Candidate("current", {k: table.get(*k.key("margin")) or 0.0 for k in found},
                     {k: table.get(*k.key("floor")) or 0.0 for k in found})]
    stats = {k: _capped(table, k, _suggested(table, k, suggested)) for k in found}
    out.append(Candidate("statistics", stats, dict(stats)))
    for rung in range(rungs):
        values = {k: _capped(table, k, ladder(k, rungs)[rung]) for k in found}
        out.append(Candidate(f"rung {rung + 1}/{rungs}", values, dict(values)))
    return out


def _suggested(table: Table, knob: Knob, suggested: dict[str, dict[str, float]]) -> float:
    """The margin the share statistics suggest; the decline mix has none (its normal is a
    median learned live), so its current margin stands in."""
    if knob.prefix != "ratio":
        return table.get(*knob.key("margin")) or LADDER[knob.prefix, knob.which][0]
    return suggested.get(knob.value, {}).get(f"ratio_{knob.which}_margin",
                                             LADDER[knob.prefix, knob.which][0])


def _changes(table: Table, candidate_of: dict[Knob, Candidate],
             normals: dict[Key, float]) -> dict[Key, float]:
    changes = dict(normals)
    for knob, cand in candidate_of.items():
        changes[knob.key("margin")] = cand.margins[knob]
        if knob.key("floor") in table.rows:
            changes[knob.key("floor")] = cand.floors[knob]
    return {k: v for k, v in changes.items() if table.rows[k].number != v}


def _normals(table: Table, data: Dataset, keep: bool) -> tuple[dict[Key, float], dict]:
    factors = {r.value: r.number for r in table.rows.values() if r.row == "ratio_factor"}
    suggested = {**suggest(statistics(data.transactions), factors),
                 **suggest(statistics(data.auth_codes), factors)}
    normals = {} if keep else {
        r.key: suggested[r.value]["ratio_normal"] for r in table.rows.values()
        if r.row == "ratio_normal" and r.value in suggested}
    return normals, suggested


def tune(data: Dataset, rules: Path, table_path: Path, incidents: list[Incident] | None,
         budget: Budget, rungs: int = 5, keep_normals: bool = False,
         progress: Callable[[str], None] | None = None) -> Outcome:
    say = progress or (lambda _msg: None)
    table = Table.load(table_path)
    found = knobs(table)
    if not found:
        raise ValueError(f"{table_path}: no ratio_fast_margin / ratio_slow_margin rows")
    normals, suggested = _normals(table, data, keep_normals)
    cands = candidates(table, found, suggested, rungs)
    others = [f for f in rule_files(rules) if f.name != "thresholds.yml"
              and f.resolve() != table_path.resolve()]
    steps = len(data.transactions)
    scored = incidents or []
    with tempfile.TemporaryDirectory(prefix="txwatch-tune-") as tmp:
        def backtest(name: str, text: str) -> Result:
            folder = Path(tmp) / name.replace(" ", "-").replace("/", "-")
            folder.mkdir()
            for f in others:
                shutil.copy(f, folder / f.name)
            (folder / "thresholds.yml").write_text(text, encoding="utf-8")
            say(f"backtest: {name}")
            return run(data, folder, scored, None)

        before = backtest("before", table.text)
        for cand in cands:
            changes = _changes(table, dict.fromkeys(found, cand), normals)
            if changes:
                cand.result = backtest(cand.name, table.with_values(changes))
            else:  # the current table as it is: already backtested
                say(f"backtest: {cand.name} (the table as it is)")
                cand.result = before
        rules_set = load_rules(rule_files(rules))
        margins = alert_margins(rules_set)
        label_of = {r.family: r.label for r in table.rows.values() if r.label}
        by_run = []
        for cand in cands:
            grouped: dict[Knob | None, list] = {}
            assert cand.result is not None
            for e in cand.result.episodes:
                grouped.setdefault(knob_of(e, margins, label_of), []).append(e)
            by_run.append(grouped)

        def evaluate(choice: Choice) -> Score:
            return score(combine(choice, by_run), scored, data.start, steps)

        def limit(knob: Knob, index: int) -> float:
            return max(cands[index].margins[knob], cands[index].floors[knob], 1e-9)

        def distance(knob: Knob, index: int) -> float:  # 0 for the current table's value
            return abs(math.log(limit(knob, index) / limit(knob, 0)))

        options = {k: list(range(len(cands))) for k in found}
        least = {k: max(options[k], key=lambda i, k=k: limit(k, i)) for k in found}
        starts = [dict.fromkeys(found, 0), least, dict.fromkeys(found, 1)]
        say("searching mixes of the candidates")
        choice, predicted = search(options, evaluate, budget, incidents is not None,
                                   distance, starts)
        changes = _changes(table, {k: cands[i] for k, i in choice.items()}, normals)
        text = table.with_values(changes)
        after = backtest("tuned", text)
    return Outcome(before, after, predicted, cands, found, changes, table, text,
                   incidents is not None, budget)
