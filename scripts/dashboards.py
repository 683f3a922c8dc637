"""Grafana boards built from code with the Grafana Foundation SDK.

The panels and their PromQL are defined once in :mod:`txwatch.web.panels`, which the
stack's local board also draws; this module only turns them into Grafana JSON (plus what
only Grafana has: alert annotations, the status variable). ``python scripts/generate.py``
writes grafana/dashboards/*.json; the tests fail when the JSON is stale.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard, prometheus, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from txwatch.web import panels
from txwatch.web.panels import Board, Line, Panel, Query

DATASOURCE_UID = "txwatch-prometheus"
DS = dm.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)


def line_style(line: Line) -> list[dm.DynamicConfigValue]:
    """A series' overrides: fixed colour, dash pattern, width (as the local board draws)."""
    found = []
    if line.colour:
        found.append(dm.DynamicConfigValue(id_val="color", value={
            "mode": "fixed", "fixedColor": line.colour}))
    if line.dash:
        found.append(dm.DynamicConfigValue(id_val="custom.lineStyle", value={
            "fill": "dash", "dash": list(line.dash)}))
    if line.width != 1.0:
        found.append(dm.DynamicConfigValue(id_val="custom.lineWidth", value=line.width))
    return found


def query(q: Query) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(q.expr).legend_format(q.legend).ref_id(q.ref) \
        .datasource(DS)


def grid(pos: tuple[int, int, int, int]) -> dm.GridPos:
    h, w, x, y = pos
    return dm.GridPos(h=h, w=w, x=x, y=y)


def series_panel(spec: Panel) -> timeseries.Panel:
    panel = (timeseries.Panel().title(spec.title).description(spec.description)
             .unit(spec.unit).datasource(DS).grid_pos(grid(spec.pos)).line_width(1)
             .fill_opacity(10)
             .legend(cb.VizLegendOptions().show_legend(True)
                     .display_mode(common.LegendDisplayMode.LIST)
                     .placement(common.LegendPlacement.BOTTOM))
             .tooltip(cb.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                      .sort(common.SortOrder.NONE)))
    for target in spec.queries:
        panel = panel.with_target(query(target))
    if spec.stacked:
        panel = panel.stacking(cb.StackingConfig().mode(common.StackingMode.NORMAL))
    for name, line in spec.lines:
        panel = panel.override_by_name(name, line_style(line))
    for ref, line in spec.ref_lines:  # every series of the query, whichever labels it has
        panel = panel.override_by_query(ref, line_style(line))
    return panel


def table_panel(spec: Panel) -> table.Panel:
    return (table.Panel().title(spec.title).datasource(DS).description(spec.description)
            .grid_pos(grid(spec.pos))
            .with_target(query(spec.queries[0]).instant().format(pm.PromQueryFormat.TABLE)))


def alert_annotations() -> dashboard.AnnotationQuery:
    return (dashboard.AnnotationQuery().name("Alerts firing").datasource(DS).enable(True)
            .icon_color("red").expr('ALERTS{alertstate="firing",severity!="info"}'))


def build(spec: Board, board: dashboard.Dashboard | None = None) -> dashboard.Dashboard:
    board = (board or dashboard.Dashboard(spec.title)).uid(spec.uid) \
        .tags(["txwatch", "payments"]).refresh("30s").time("now-6h", "now") \
        .annotation(alert_annotations())
    for panel in spec.panels:
        board = board.with_panel(table_panel(panel) if panel.kind == "table"
                                 else series_panel(panel))
    return board


def overview() -> dashboard.Dashboard:
    return build(panels.overview())


def drilldown() -> dashboard.Dashboard:
    spec = panels.drilldown()
    variable = (dashboard.QueryVariable("status").label("status").datasource(DS)
                .query("label_values(payment_transactions_total, status)")
                .current(dm.VariableOption(selected=True, text="failed", value="failed")))
    return build(spec, dashboard.Dashboard(spec.title).with_variable(variable))


def render(board: dashboard.Dashboard) -> str:
    return json.dumps(board.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


BOARDS: dict[str, Any] = {"grafana/dashboards/overview.json": overview,
                          "grafana/dashboards/status.json": drilldown}
