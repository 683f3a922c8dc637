"""promtool unit suites, one test group at a time, each loading only the alerts it asserts.

promtool evaluates every loaded rule at every step of a test group, whether or not the group
asserts it: the ratio suite (22 groups, up to two days of 1-minute steps each) spent most of
its minutes evaluating a dozen expensive alerts that only one or two of its groups look at.
Each group here runs as its own suite file whose alert file keeps only the alerts the group
asserts (the recording rules and the table whole, the alert groups' names kept so
``group_eval_order`` still holds). What promtool checks is unchanged: an alert's result does
not depend on the other alerts (none reads another's ``ALERTS``).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ALERTS = "alerts.yml"


def cases(suite: Path) -> list[dict]:
    """The suite's test groups, as written."""
    return yaml.safe_load(suite.read_text())["tests"]


def asserted(case: dict) -> set[str] | None:
    """The alerts a test group asserts; None (all of them) when one of its PromQL tests
    reads ``ALERTS``, what every alert writes."""
    if any("ALERTS" in t["expr"] for t in case.get("promql_expr_test", [])):
        return None
    return {a["alertname"] for a in case.get("alert_rule_test", [])}


def only(alerts: dict, names: set[str] | None) -> dict:
    """The alert file with only the alerts ``names`` (every group kept, perhaps empty, with
    the quantities it records for its alerts)."""
    return {"groups": [g | {"rules": [r for r in g["rules"]
                                      if names is None or "record" in r
                                      or r.get("alert") in names]}
                       for g in alerts["groups"]]}


def case_file(suite: Path, index: int, out: Path, every: bool = False) -> Path:
    """A suite file in ``out`` with the suite's test group ``index`` alone (``every``: all
    of its groups), its rule files absolute and its alert file filtered (:func:`only`)."""
    doc = yaml.safe_load(suite.read_text())
    kept_cases = doc["tests"] if every else [doc["tests"][index]]
    names: set[str] | None = set()
    for one in kept_cases:
        wanted = asserted(one)
        names = None if names is None or wanted is None else names | wanted
    files = []
    for name in doc["rule_files"]:
        path = (suite.parent / name).resolve()
        if path.name == ALERTS:
            kept = out / f"alerts-{suite.stem}-{index}.yml"
            kept.write_text(yaml.safe_dump(only(yaml.safe_load(path.read_text()), names),
                                           sort_keys=False))
            path = kept
        files.append(str(path))
    target = out / f"{suite.stem}-{index}.yml"
    target.write_text(yaml.safe_dump(doc | {"rule_files": files, "tests": kept_cases},
                                     sort_keys=False))
    return target


def _minutes(duration: str) -> float:
    """Minutes in a promtool duration such as ``4h15m`` or ``2d``."""
    units = {"s": 1 / 60, "m": 1, "h": 60, "d": 1440}
    return sum(float(v) * units[u] for v, u in re.findall(r"(\d+)([smhd])", duration))


def span(case: dict) -> float:
    """How far a test group evaluates (what its cost grows with), in minutes."""
    times = [t["eval_time"] for kind in ("alert_rule_test", "promql_expr_test")
             for t in case.get(kind, [])]
    return max((_minutes(str(t)) for t in times), default=0.0)


def covering(suite: Path) -> list[int]:
    """The shortest test group that expects each alert to fire, for every alert some group
    expects: the cheapest subset that still sees every asserted alert fire."""
    chosen: dict[str, int] = {}
    found = cases(suite)
    for index in sorted(range(len(found)), key=lambda i: span(found[i])):
        for test in found[index].get("alert_rule_test", []):
            if test.get("exp_alerts"):
                chosen.setdefault(test["alertname"], index)
    return sorted(set(chosen.values()))
