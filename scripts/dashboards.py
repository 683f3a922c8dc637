"""Grafana boards built from code with the Grafana Foundation SDK.

The panels and their PromQL are defined once in :mod:`txwatch.web.panels` and
:mod:`txwatch.web.segments`, which the stack's local board also draws; this module only
turns them into Grafana JSON (plus what only Grafana has: alert annotations, the status
variable, table transformations). ``python scripts/generate.py`` writes
grafana/dashboards/*.json; the tests fail when the JSON is stale.
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
from txwatch.web.segments import segments as segments_board
from txwatch.web.spec import Board, Line, Panel, Query, Variable

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
    if spec.columns:
        return columns_table(spec)
    return (table.Panel().title(spec.title).datasource(DS).description(spec.description)
            .grid_pos(grid(spec.pos))
            .with_target(query(spec.queries[0]).instant().format(pm.PromQueryFormat.TABLE)))


def value_field(spec: Panel, q: Query) -> str:
    """The name Grafana gives a table query's value: "Value" alone, "Value #A" among several."""
    return f"Value #{q.ref}" if len(spec.queries) > 1 else "Value"


def columns_table(spec: Panel) -> table.Panel:
    """A table whose rows are the first query's series, largest first, the labels of
    ``spec.columns`` then each query's value: the queries merged on their labels, rows the
    first query lacks left out, each row linking to the drill-down when ``spec.drill``."""
    first = value_field(spec, spec.queries[0])
    shown = [*spec.columns, *(value_field(spec, q) for q in spec.queries)]
    steps = [dm.DataTransformerConfig(id_val="merge", options={})] if len(spec.queries) > 1 \
        else []
    steps += [
        dm.DataTransformerConfig(id_val="filterByValue", options={
            "type": "include", "match": "any", "filters": [
                {"fieldName": first, "config": {"id": "isNotNull", "options": {}}}]}),
        dm.DataTransformerConfig(id_val="organize", options={
            "excludeByName": {"Time": True, "job": True, "__name__": True},
            "indexByName": {name: i for i, name in enumerate(shown)},
            "renameByName": {value_field(spec, q): q.legend for q in spec.queries}})]
    panel = (table.Panel().title(spec.title).datasource(DS).description(spec.description)
             .grid_pos(grid(spec.pos)).transformations(steps).unit(spec.unit)
             .sort_by([cb.TableSortByFieldState().display_name(spec.queries[0].legend)
                       .desc(True)]))
    for q in spec.queries:
        panel = panel.with_target(query(q).instant().format(pm.PromQueryFormat.TABLE))
        if q.unit:
            panel = panel.override_by_name(q.legend, [dm.DynamicConfigValue(
                id_val="unit", value=q.unit)])
    if spec.drill:
        chosen = "&".join(f"var-{label}=${{__data.fields.{label}}}" for label in spec.drill)
        link = {"title": f"Open {spec.drill[-1]} ${{__data.fields.{spec.drill[-1]}}}",
                "url": f"/d/{segments_board().uid}?{chosen}&${{__url_time_range}}"}
        panel = panel.override_by_name(spec.drill[-1], [dm.DynamicConfigValue(
            id_val="links", value=[link])])
    return panel


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


def variable(spec: Variable) -> dashboard.QueryVariable:
    """A query variable over ``label_values``, refreshed with the time range (segments
    come and go)."""
    found = (dashboard.QueryVariable(spec.name).label(spec.name).datasource(DS)
             .query(spec.grafana_query()).refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
             .sort(dm.VariableSort.ALPHABETICAL_ASC))
    if spec.default:
        found = found.current(dm.VariableOption(selected=True, text=spec.default,
                                                value=spec.default))
    return found


def segments() -> dashboard.Dashboard:
    spec = segments_board()
    board = dashboard.Dashboard(spec.title)
    for v in spec.variables:
        board = board.with_variable(variable(v))
    return build(spec, board)


def render(board: dashboard.Dashboard) -> str:
    return json.dumps(board.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


BOARDS: dict[str, Any] = {"grafana/dashboards/overview.json": overview,
                          "grafana/dashboards/status.json": drilldown,
                          "grafana/dashboards/segments.json": segments}
