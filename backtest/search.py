"""Choosing threshold-table values from backtests of candidate tables (``tune``'s search).

The table's margins are *knobs*: one per status or auth code and per alert speed (fast /
slow), each read by the alerts of that label value only (an alert about ``failed`` compares
with the limit of ``failed``, derived from the rows of ``failed``). So one backtest of a
candidate table in which every knob takes its k-th value answers for all knobs at once, and
the episodes of any mix of candidates (knob A from run 2, knob B from run 5) are exactly the
union of those knobs' episodes in those runs, plus those of the alerts no knob drives
(volume, freshness). ``tune`` backtests a few candidate tables, scores mixes with
:func:`txwatch.backtest.scoring.score` and checks the chosen mix with one more backtest.

The choice, among mixes within the false-page budget (or the least over it, when none is):
with labelled incidents, the most incidents caught, then paged, then the lowest *cost* in
data minutes: the detection delays (under ``GOOD_DELAY`` counting as ``GOOD_DELAY``: a
minute saved on a spike already paged within three is not worth a limit at the edge of the
noise), plus ``REFIRE_MINUTES`` for every page beyond the first about one incident (an
alert that resolves and fires again), plus ``FALSE_PAGE_MINUTES`` per false page and
``FALSE_WARNING_MINUTES`` per false warning (within the budget, still not free); then the
mix closest to the current table (a knob the history gives no reason to move stays where
the operator put it). Without labels every episode counts as false,
so only the budget can be judged: the mix closest to the current table within it. A
coordinate search (one knob at a time, until no change helps) from a few starting mixes
keeps the work small; every mix it scores is exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from txwatch.backtest.ruleset import RuleSet, needed_by, referenced
from txwatch.backtest.scoring import Episode, Score
from txwatch.backtest.table import PREFIX, Key

MAX_SWEEPS = 20
GOOD_DELAY = 3  # data minutes: the detection bar for spikes and full outages
REFIRE_MINUTES = 5  # what one more page about the same incident costs, in delay
FALSE_PAGE_MINUTES = 30
FALSE_WARNING_MINUTES = 5


@dataclass(frozen=True)
class Knob:
    """The margin (and floor) of one label value for one alert speed."""

    family: str  # payment_transactions, payment_auth_codes
    label: str   # status, auth_code
    value: str   # failed, 59, ...
    which: str   # fast, slow
    prefix: str = "ratio"  # the rows' family: ratio_* (shares), mix_* (the decline mix)

    def key(self, part: str) -> Key:
        return (self.family, f"{self.prefix}_{self.which}_{part}", self.value)

    @property
    def title(self) -> str:
        kind = "" if self.prefix == "ratio" else f"{self.prefix} "
        return f"{self.label}={self.value} {kind}{self.which}"


@dataclass(frozen=True)
class Budget:
    pages_per_week: float
    warnings_per_day: float

    def excess(self, s: Score) -> float:
        """How far over the budget, in false pages per week (a warning a day = 7)."""
        return (max(0.0, s.false_pages_per_week - self.pages_per_week)
                + 7 * max(0.0, s.false_warnings_per_day - self.warnings_per_day))


MARGIN = re.compile(r"(ratio|mix)_(fast|slow)_margin")


def alert_margins(rules: RuleSet) -> dict[str, list[tuple[str, str, str]]]:
    """Alert name -> the (family, prefix, which) margin rows it depends on, through any chain
    of recording rules (usually one: the fast alert reads the fast limit only)."""
    records = {r.record for r in rules.recording}
    out: dict[str, list[tuple[str, str, str]]] = {}
    for group in rules.alert_groups:
        for rule in group["rules"]:
            direct = referenced(str(rule["expr"]), records)
            deps = direct | {r.record for r in needed_by(rules.recording, direct)}
            found = sorted({(family, *match.groups())
                            for d in deps if d.startswith(PREFIX) and d.count(":") == 2
                            for _, family, row in [d.split(":")]
                            for match in [MARGIN.fullmatch(row)] if match})
            if found:
                out[str(rule["alert"])] = found
    return out


def knob_of(episode: Episode, margins: dict[str, list[tuple[str, str, str]]],
            labels: dict[str, str]) -> Knob | None:
    """The knob an episode's alert answers to (None: no knob drives it). ``labels`` maps a
    family to its label name (from the table's rows)."""
    found = margins.get(episode.alertname)
    if not found:
        return None
    family, prefix, which = found[0]
    label = labels.get(family, "")
    value = episode.labels.get(label)
    return Knob(family, label, value, which, prefix) if value is not None else None


def cost(s: Score) -> float:
    """Delays, re-fires and false alerts in data minutes (module docstring)."""
    return (sum(max(d, GOOD_DELAY) for d in s.delays)
            + REFIRE_MINUTES * sum(max(0, p - 1) for p in s.pages)
            + FALSE_PAGE_MINUTES * s.false_critical + FALSE_WARNING_MINUTES * s.false_warning)


Choice = dict[Knob, int]  # knob -> index of the candidate run it takes its value from


def combine(choice: Choice, by_run: Sequence[dict[Knob | None, list[Episode]]]
            ) -> list[Episode]:
    """The episodes a table mixing the candidates' values would give (module docstring)."""
    episodes = list(by_run[0].get(None, []))
    for knob, run in choice.items():
        episodes += by_run[run].get(knob, [])
    return sorted(episodes, key=lambda e: (e.start, e.alertname))


def search(options: dict[Knob, list[int]], evaluate: Callable[[Choice], Score],
           budget: Budget, labelled: bool, distance: Callable[[Knob, int], float],
           starts: list[Choice]) -> tuple[Choice, Score]:
    """The best mix found by coordinate search from each start (module docstring).
    ``distance(knob, run)`` says how far a knob's value in that run is from the current
    table's (0: the same)."""
    seen: dict[tuple[tuple[Knob, int], ...], tuple[tuple[float, ...], Score]] = {}

    def key(choice: Choice) -> tuple[tuple[float, ...], Score]:
        frozen = tuple(sorted(choice.items(), key=lambda kv: kv[0].title))
        if frozen not in seen:
            s = evaluate(choice)
            moved = round(sum(distance(k, r) for k, r in choice.items()), 9)
            order: tuple[float, ...] = (round(budget.excess(s), 9),)
            if labelled:
                order += (-s.caught, -s.paged, cost(s))
            order += (moved,)
            seen[frozen] = (order, s)
        return seen[frozen]

    best: tuple[tuple[float, ...], Choice] | None = None
    for start in starts:
        choice = dict(start)
        current = key(choice)[0]
        for _ in range(MAX_SWEEPS):
            improved = False
            for knob in sorted(options, key=lambda k: k.title):
                for run in options[knob]:
                    trial = {**choice, knob: run}
                    order = key(trial)[0]
                    if order < current:
                        choice, current, improved = trial, order, True
            if not improved:
                break
        if best is None or current < best[0]:
            best = (current, choice)
    assert best is not None, "search needs at least one start"
    return best[1], key(best[1])[1]
