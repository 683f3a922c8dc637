"""What a board is made of, for Grafana and the local board alike: queries, lines, panels,
template variables.

The boards themselves (:mod:`txwatch.web.panels`, :mod:`txwatch.web.segments`) are built
from these, ``scripts/dashboards.py`` turns them into Grafana JSON and the sink serves them
to the local board's pages as JSON (``Board.as_json``), so each panel and its PromQL exist
once. Positions are Grafana grid cells (h, w, x, y; 24 columns).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from txwatch.contract import LAST_MINUTE_TIMESTAMP
from txwatch.web.palette import CSS, PALETTE  # the boards' colours, defined once

# The data time of each moment: the newest complete data minute the exporter holds, which
# the alert messages print as "Newest data minute". The local board's time axis is this.
DATA_CLOCK = f"max({LAST_MINUTE_TIMESTAMP})"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str  # Grafana legend format: {{label}} is replaced by the series' label
    ref: str
    unit: str = ""  # a table column's own unit (the panel's when empty)


@dataclass(frozen=True)
class Line:
    """How a series is drawn on both boards: a Grafana colour name (the board's palette
    when None), a canvas dash pattern (on, off, ...; solid when empty) and a width."""

    colour: str | None = None
    dash: tuple[int, ...] = ()
    width: float = 1.0


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    pos: tuple[int, int, int, int]  # h, w, x, y
    queries: tuple[Query, ...]
    unit: str = "short"  # or "percentunit", "s"
    kind: str = "timeseries"  # or "table": instant queries, a row per series
    stacked: bool = False
    lines: tuple[tuple[str, Line], ...] = ()  # series name -> how it is drawn
    ref_lines: tuple[tuple[str, Line], ...] = ()  # query ref -> how its every series is drawn
    # A table with columns: a row per series of the first query, largest value first, these
    # labels as its first columns and each query's value (named by its legend) after them,
    # the other queries' series joined to the rows on these labels.
    columns: tuple[str, ...] = ()
    # The labels a table row's link sets as the board's variables (a drill-down).
    drill: tuple[str, ...] = ()


@dataclass(frozen=True)
class Variable:
    """A template variable: the values of ``label`` in ``series`` (which may name an
    earlier variable, ``$dimension``): Grafana's ``label_values(series, label)``."""

    name: str
    series: str
    label: str
    default: str = ""

    def grafana_query(self) -> str:
        return f"label_values({self.series}, {self.label})"

    def promql(self) -> str:
        """The same values as an instant query (the local board reaches only the query
        API): one series per value."""
        return f"group by ({self.label}) ({self.series})"


@dataclass(frozen=True)
class Board:
    title: str
    uid: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)
    variables: tuple[Variable, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """What the local board's pages read (``GET /api/board``)."""
        found = asdict(self)
        for panel, spec in zip(found["panels"], self.panels, strict=True):  # named colours
            panel["colours"] = [[n, line.colour] for n, line in spec.lines if line.colour]
        for variable, spec_v in zip(found["variables"], self.variables, strict=True):
            variable["promql"] = spec_v.promql()
        return {**found, "css": CSS, "palette": list(PALETTE), "clock": DATA_CLOCK}
