"""Two rule sets on the same history (A/B): the figures side by side, the detection delay of
every labelled incident under each, and the notifying episodes only one of them has.

An episode of one side *has a counterpart* when the other side has an episode of the same
alert (name and labels) overlapping it in time; those without one are what the change adds
(appears in B) or removes (disappears from A), which is what a reviewer of a threshold change
wants to read, rather than two full episode lists.
"""

from __future__ import annotations

from typing import Any

from txwatch.backtest.notify import notifications
from txwatch.backtest.run import Result
from txwatch.backtest.scoring import Episode

# (Score attribute and key in the JSON document, row title)
_FIGURES: list[tuple[str, str]] = [
    ("caught", "incidents caught"), ("paged", "incidents paged"),
    ("median_delay", "median delay (data minutes)"),
    ("pages_per_incident", "pages per caught incident"),
    ("false_critical", "false pages"), ("false_pages_per_week", "false pages / week"),
    ("false_warning", "false warnings"), ("false_warnings_per_day", "false warnings / day"),
    ("precision", "precision")]
# meaningless without labelled incidents (scored against none, every episode is false)
_LABELLED_ONLY = frozenset({"caught", "paged", "median_delay", "pages_per_incident",
                            "precision"})


def _counts(r: Result) -> dict[str, Any]:
    return {"pages": sum(e.paging for e in r.episodes),
            "warnings": sum(e.notifies and not e.paging for e in r.episodes),
            "notifications_per_day": round(notifications(r.episodes) / r.days, 2)}


def figures(r: Result) -> dict[str, Any]:
    """Every figure of the A/B table for one side (score figures only with labels)."""
    out: dict[str, Any] = {"rules": str(r.rules), **_counts(r)}
    if r.score is not None:
        for key, _title in _FIGURES:
            if r.score.incidents or key not in _LABELLED_ONLY:
                value = getattr(r.score, key)
                out[key] = round(value, 2) if isinstance(value, float) else value
        if r.score.incidents:
            out["caught"] = f"{r.score.caught}/{r.score.incidents}"
            out["paged"] = f"{r.score.paged}/{r.score.incidents}"
    return out


def _titles() -> dict[str, str]:
    return {"rules": "rules", "pages": "critical episodes (pager)",
            "warnings": "warning episodes (chat)", "notifications_per_day": "notifications / day",
            **dict(_FIGURES)}


def delays(a: Result, b: Result) -> list[dict[str, Any]]:
    """Per labelled incident: delay under A and B (None = missed) and B - A."""
    if a.score is None or b.score is None:
        return []
    rows = []
    for label, fa in a.score.per_incident.items():
        fb = b.score.per_incident.get(label, {})
        da, db = fa.get("delay"), fb.get("delay")
        rows.append({"incident": label, "A": da, "B": db,
                     "difference": db - da if da is not None and db is not None else None,
                     "pages A": fa.get("pages"), "pages B": fb.get("pages")})
    return rows


def _unmatched(mine: list[Episode], theirs: list[Episode]) -> list[Episode]:
    return [e for e in mine if e.notifies and not any(
        o.alertname == e.alertname and o.labels == e.labels and o.start <= e.end
        and o.end >= e.start for o in theirs)]


def episode_changes(a: Result, b: Result) -> dict[str, list[str]]:
    """Notifying episodes only A has (disappear with B) and only B has (appear with B)."""
    def line(r: Result, e: Episode) -> str:
        return (f"{r.time_of(e.start):%Y-%m-%d %H:%M} {e.end - e.start + 1:>4} min  "
                f"{e.severity:<8} {e.about()}")
    return {"disappear": [line(a, e) for e in _unmatched(a.episodes, b.episodes)],
            "appear": [line(b, e) for e in _unmatched(b.episodes, a.episodes)]}


def comparison(a: Result, b: Result) -> dict[str, Any]:
    """The A/B document of ``backtest --json``: {figure: {"A": .., "B": ..}}, the per-incident
    delays and the episode changes."""
    fa, fb = figures(a), figures(b)
    return {"figures": {key: {"A": fa.get(key), "B": fb.get(key)} for key in fa},
            "incidents": delays(a, b), "episodes": episode_changes(a, b)}


def table_rows(a: Result, b: Result) -> list[tuple[str, str, str]]:
    """(title, A, B) per figure, as text."""
    fa, fb = figures(a), figures(b)
    fa["rules"], fb["rules"] = a.rules.name, b.rules.name
    return [(title, _text(fa.get(key)), _text(fb.get(key)))
            for key, title in _titles().items() if key in fa]


def _text(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def comparison_lines(a: Result, b: Result) -> list[str]:
    lines = [f"  {'':<30} {'A':>14} {'B':>14}"]
    lines += [f"  {t:<30} {x:>14} {y:>14}" for t, x, y in table_rows(a, b)]
    rows = delays(a, b)
    if rows:
        lines.append("  detection delay per incident (data minutes; - = missed):")
        lines += [f"    {r['incident']:<40} A {_text(r['A']):>4}  B {_text(r['B']):>4}  "
                  f"B-A {_text(r['difference']):>4}" for r in rows]
    changes = episode_changes(a, b)
    for key, title in (("disappear", "episodes only in A (gone with B)"),
                       ("appear", "episodes only in B (new with B)")):
        lines.append(f"  {title}: {len(changes[key])}")
        lines += [f"    {x}" for x in changes[key][:40]]
        if len(changes[key]) > 40:
            lines.append(f"    ... {len(changes[key]) - 40} more (--json lists all)")
    return lines
