"""What ``tune`` and ``analyze`` print: current and suggested values side by side, every
column explained, and (tune) the backtest before and after."""

from __future__ import annotations

import pandas as pd

from txwatch.backtest.compare import comparison_lines
from txwatch.backtest.run import Result
from txwatch.backtest.table import Table, number
from txwatch.backtest.tune import Outcome
from txwatch.history.analyze import (
    COLUMNS,
    FALLING,
    MIX_COLUMNS,
    decline_mix,
    statistics,
    suggest,
)
from txwatch.history.dataset import Dataset

NO_LABELS = ("no labelled incidents (--incidents): every alert episode counts as false, so "
             "tune can only bound false pages; it changed the table only as far as the budget "
             "required and cannot tell whether incidents are still caught")
TUNE_COLUMNS = {
    "current": "the value in the table now",
    "statistics": "what the share statistics of this history suggest (txwatch-replay "
                  "analyze): normal = pooled share rounded up; margin = robust limit of the "
                  "5m (fast) / 30m (slow) share above normal x factor",
    "tuned": "the value tune chose: within the budget, the most incidents caught and paged, "
             "then the lowest cost in data minutes (delays, 3 or less counting as 3; 5 per "
             "page beyond the first about an incident; 30 per false page, 5 per false "
             "warning), then the least change from the current table",
}


def _value(v: float | None) -> str:
    return "-" if v is None else number(v)


def _score_line(name: str, r: Result) -> str:
    s = r.score
    assert s is not None
    caught = f"caught {s.caught}/{s.incidents}, " if s.incidents else ""
    return (f"  {name:<14} {caught}false pages {s.false_critical} "
            f"({s.false_pages_per_week:.2f}/week), false warnings {s.false_warning} "
            f"({s.false_warnings_per_day:.2f}/day), notifications "
            f"{s.notifications_per_day:.2f}/day")


def tune_lines(o: Outcome) -> list[str]:
    a, b = o.before, o.after
    assert a.score is not None and b.score is not None
    lines = [f"history: {a.data.start:%Y-%m-%d %H:%M} to {a.data.end:%Y-%m-%d %H:%M} UTC "
             f"({a.days:.1f} days); "
             + (f"{a.score.incidents} labelled incidents" if o.labelled else NO_LABELS),
             f"budget: <= {o.budget.pages_per_week:g} false pages (critical) per week, "
             f"<= {o.budget.warnings_per_day:g} false warnings per day", "",
             "candidate tables backtested (each knob at that candidate's value):"]
    lines += [_score_line(c.name, c.result) for c in o.candidates if c.result is not None]
    lines += ["", "table rows (margins per knob; floors follow the margin, within the cap):",
              f"  {'row':<46} {'current':>10} {'tuned':>10}"]
    for key, value in sorted(o.changes.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])):
        row = o.table.rows[key]
        lines.append(f"  {row.label + '=' + row.value + ' ' + row.row:<46} "
                     f"{_value(row.number):>10} {_value(value):>10}")
    if not o.changes:
        lines.append("  (no change: the current table fits the budget best)")
    lines += ["", "backtest before (A) and after (B) tuning, same history and engine:"]
    lines += comparison_lines(a, b)
    s = b.score
    within = o.budget.excess(s) == 0
    lines += ["", f"tuned table: {'within' if within else 'OVER'} the budget"
              + (f"; incidents caught {s.caught}/{s.incidents}" if o.labelled else "")]
    p = o.predicted
    if (p.false_critical, p.false_warning, p.caught, p.delays) != \
            (s.false_critical, s.false_warning, s.caught, s.delays):
        lines.append("  note: the check backtest differs from what the candidate runs "
                     f"predicted (false pages {p.false_critical}, warnings {p.false_warning}, "
                     f"caught {p.caught}); the rules couple knobs the search treats apart")
    if not o.labelled:
        lines.append(f"  {NO_LABELS}")
    lines += [f"  {k}: {v}" for k, v in TUNE_COLUMNS.items()]
    return lines + o.notes


def analyze_lines(data: Dataset, table: Table, name: str) -> list[str]:
    """Statistics per status and auth code, with the table's current values and the
    suggested ones side by side."""
    total = data.transactions.sum(axis=1)
    lines = [f"{name}: {len(total)} minutes from {data.start:%Y-%m-%d %H:%M} to "
             f"{data.end:%Y-%m-%d %H:%M} UTC; transactions per minute: mean "
             f"{total.mean():.1f}, min {total.min()}, max {total.max()}"]
    factors = {r.value: r.number for r in table.rows.values() if r.row == "ratio_factor"}
    for kind, family, wide in (("status", "payment_transactions", data.transactions),
                               ("auth code", "payment_auth_codes", data.auth_codes)):
        if wide.to_numpy().sum() == 0:
            lines += ["", f"{kind}: no data"]
            continue
        stats = statistics(wide)
        suggested = suggest(stats, factors)
        shown = stats.assign(direction=["falling" if x in FALLING else "rising"
                                        for x in stats.index])
        lines += ["", f"{kind}: shares of all {'transactions' if kind == 'status' else 'codes'}",
                  shown[["direction", *COLUMNS]].to_string(
                      float_format=lambda v: f"{v:.4f}", na_rep="-")]
        rows = {}
        for label in stats.index:
            rows[label] = {part: f"{_value(table.get(family, part, str(label)))} -> "
                                 f"{_value(suggested.get(str(label), {}).get(part))}"
                           for part in ("ratio_normal", "ratio_fast_margin",
                                        "ratio_slow_margin")}
        lines += [f"{kind}: table rows, current -> suggested",
                  pd.DataFrame.from_dict(rows, orient="index").to_string()]
    if data.auth_codes.to_numpy().sum() > 0:
        mix = decline_mix(data.auth_codes)
        lines += ["", "decline mix: each decline code's share of the declines",
                  mix.to_string(float_format=lambda v: f"{v:.4f}", na_rep="-"),
                  "decline mix: table rows (mix_normal: the warm-up default until the median "
                  "is learned live; the margin is tuned by backtest, txwatch-replay tune)",
                  pd.DataFrame.from_dict({label: {
                      part: _value(table.get("payment_auth_codes", part, str(label)))
                      for part in ("mix_normal", "mix_fast_margin")} for label in mix.index},
                      orient="index").to_string()]
        lines += ["", "decline mix columns:"] + [f"  {k:<22} {v}" for k, v in MIX_COLUMNS.items()]
    explained = {"direction": "rising: a high share is bad; falling (approved, auth code "
                              "00): a low share is bad", **COLUMNS,
                 "current -> suggested": "the table's value now (- : no such row) and the one "
                 "this history suggests (- : none): ratio_normal = normal rounded up (the "
                 "warm-up default); fast / slow margin = limit 5m / 30m above normal x the "
                 "table's factor"}
    lines += ["", "columns:"] + [f"  {k:<22} {v}" for k, v in explained.items()]
    lines += ["", "`txwatch-replay tune` backtests these suggestions against others and "
              "writes the table that fits a false-page budget."]
    return lines
