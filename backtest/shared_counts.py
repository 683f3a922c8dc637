"""The windowed counts the alert expressions share, evaluated once for the candidate search.

The paging alerts compute every count inline from the counters (``sum by (...)
(increase(counter{...}[window]))``, :mod:`txwatch.rules.inline`), so one alert reads the
same count several times (a share's count in its score, its total twice, the minimum
events; a volume window's level three times) and Prometheus evaluates each occurrence anew
at every step. To find the steps where an alert expression holds, the engine evaluates each
distinct count once, over the whole range, writes it back as a series and queries
expressions that read it instead. Reading a series recorded on the step grid (look-back under
one step) gives the value the count has at that step, ``offset`` included, and nothing where
it had none, so the rewritten expression holds at the same steps. promtool then evaluates
the same rewritten alerts around those steps (their ``for`` and ``keep_firing_for`` as
written), fed with the count series: a count read once per step instead of a window of raw
samples per occurrence (30 generated days: 30.4 s -> 26.8 s, the same 239 episodes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COUNT = re.compile(r"sum by \((?P<by>[\w, ]+)\) \(increase\((?P<selector>[a-zA-Z_:][\w:]*"
                   r"\{[^{}]*\})\[(?P<window>\w+)\](?: offset (?P<offset>\w+))?\)\)")
PREFIX = "txwatch_backtest_count_"


@dataclass(frozen=True)
class SharedCount:
    """One distinct windowed count: the series it is written back as and its PromQL."""

    name: str
    expr: str


def share_counts(exprs: list[str]) -> tuple[list[SharedCount], list[str]]:
    """The distinct windowed counts in ``exprs`` and the expressions rewritten to read them
    (each occurrence becomes the count's series, with the occurrence's ``offset``)."""
    counts: dict[str, SharedCount] = {}

    def replace(match: re.Match[str]) -> str:
        expr = f"sum by ({match['by']}) (increase({match['selector']}[{match['window']}]))"
        if expr not in counts:
            counts[expr] = SharedCount(f"{PREFIX}{len(counts)}", expr)
        offset = f" offset {match['offset']}" if match["offset"] else ""
        return f"{counts[expr].name}{offset}"

    rewritten = [COUNT.sub(replace, expr) for expr in exprs]
    return list(counts.values()), rewritten
