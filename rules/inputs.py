"""The quantities the alerts test, recorded once at the top of the alerts' own group.

Every alert is a test of a few per-window quantities: a status's (or a decline code's)
count and all transactions over the window, the share they make, how many standard
deviations the count sits above what the learned normal implies, how far the share's
confidence bound is above a limit. Written inline they made a 5-minute page 45 lines that
repeated ``sum by (job, status) (increase(...[5m]))`` nine times. Recorded here as
``status:payment_transactions:count5m``, ``...:share5m``, ``...:normal_z5m``,
``...:limit_z_fast`` in the same group as the alerts, each alert reads like its test.

Prometheus (and promtool) evaluate a group's rules in order at one timestamp and commit
each recording rule's samples before the next rule runs, so an alert reads the quantities
of its own evaluation, never one from a cycle earlier. An engine that writes recorded
series asynchronously (vmalert, through remote write) would read the previous cycle's
values, or none: :func:`inline_group` writes the quantities back into the expressions for
it, and the backtest reads the same inlined form, so both run exactly the tests the alerts
make (docs/scaling.md). Counts at an ``offset`` stay inline everywhere: a recorded series has
no past before its rule first ran; the counter has.

The board's copies of the counts (``...:increase5m`` in recording.yml) stay where they
are; these are the alerts' inputs and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from txwatch.contract import KINDS, Kind

from .names import name
from .yamltext import Rule

# Recorded per window (count5m, share15m, ...) or per limit (limit_z_fast), in this order:
# a later quantity may read an earlier one, never the other way round.
QUANTITIES = ("count", "share", "normal_z", "excess", "limit_z_", "rise_z", "mix_z",
              "stop_expected", "recent_expected", "low_recent", "low_seasonal_veto",
              "low_seasonal", "volume_low")
# What each quantity is, written above its first record in alerts.yml.
ABOUT = {
    "count": "Events over each window: all of the job, and per status / decline code.",
    "share": "Each status's (each decline code's) share of all transactions over the window.",
    "normal_z": ("How many standard deviations each count sits above what its normal share "
                 "implies\n(Poisson tail, Wilson-Hilferty form; rules/inline.py)."),
    "excess": "Events beyond what the learned normal share implies.",
    "limit_z_": ("How many standard deviations each share sits above its fast or slow limit:"
                 "\nabove z exactly when the share's Wilson lower bound at z is above the limit."),
    "rise_z": ("normal_z where the rise is also material: at least the table's rise_factor "
               "x the\nnormal share and rise_min_excess events above it."),
    "mix_z": ("How many standard deviations each decline code's share of the declines sits "
              "above\nits learned mix limit."),
    "stop_expected": ("The count of each window that the hour before it implies, where it is "
                      "at least\nthe table's busy_min (an empty window is then improbable)."),
    "recent_expected": "The count of each window that the recent level before it implies.",
    "low_recent": ("Volume materially and significantly low against the recent level "
                   "(the table's\nvolume_drop_factor; Poisson upper bound at the volume z)."),
    "low_seasonal_veto": ("The same test against what this hour normally brings (the lowest "
                          "seasonal\nexpectation, its own noise counted), at the veto z."),
    "low_seasonal": "The same seasonal test at the volume z.",
    "volume_low": ("Low against the seasonal expectation, or against the recent level where "
                   "the seasonal\none agrees or none exists yet (the first day)."),
}
_ANY = "|".join(sorted(QUANTITIES, key=len, reverse=True))  # the longest name that fits
NAME = re.compile(r"(?<![\w:])(?P<name>(?P<level>\w+):(?P<family>\w+):"
                  r"(?P<quantity>" + _ANY + r")(?P<arg>\w+))(?![\w:])")
# A reference as written in an expression: a name, perhaps with matchers (counts only).
REFERENCE = re.compile(NAME.pattern + r"(?:\{(?P<matchers>[^{}]*)\})?")
# The shape a recorded count has (matchers of a reference are added to its selector).
COUNT = re.compile(r"^sum by \((?P<by>[\w, ]+)\) \(increase\((?P<counter>\w+)"
                   r"\{(?P<selector>[^{}]*)\}\[(?P<window>\w+)\]\)\)$")


def level(kind: Kind, by: str) -> str | None:
    """The level of a recorded count summed ``by`` these labels, if one is recorded."""
    return {"job": "job", f"job, {kind.label}": kind.label}.get(by)


def recorded(kind: Kind, quantity: str, arg: str, at: str | None = None) -> str:
    """The name of one recorded quantity of ``kind`` (per label value unless ``at``)."""
    return name(kind, at or kind.label, quantity + arg)


def count_reference(kind: Kind, window: str, by: str, matcher: str = "") -> str | None:
    """The recorded count of ``kind`` over ``window`` per ``by`` (``job`` or ``job,
    <label>``), its label values selected by ``matcher``; None when no such count is
    recorded. Summed by job alone but selecting label values, it is the sum of those."""
    if by == "job" and matcher:
        return f"sum by (job) ({count_reference(kind, window, f'job, {kind.label}', matcher)})"
    at = level(kind, by)
    if at is None:
        return None
    return recorded(kind, "count", window, at) + (f"{{{matcher}}}" if matcher else "")


Definer = Callable[[Kind, str, str], str]  # (kind, level, window or limit) -> PromQL


def input_rules(texts: list[str], definers: dict[str, Definer]) -> list[Rule]:
    """The recording rules for every quantity ``texts`` read and every quantity those read,
    counts first (job totals, then per label value), then the others, each in the order of
    :data:`QUANTITIES`, by kind and window. ``definers``: each quantity's expression."""
    kinds = {k.family: k for k in KINDS}
    found: dict[str, str] = {}
    todo = [m for text in texts for m in NAME.finditer(text)]
    while todo:
        m = todo.pop()
        if m["name"] in found:
            continue
        define = definers[m["quantity"]]
        found[m["name"]] = define(kinds[m["family"]], m["level"], m["arg"])
        todo += NAME.finditer(found[m["name"]])

    def order(record: str) -> tuple[int, int, bool, bool, float, str]:
        m = NAME.fullmatch(record)
        assert m is not None
        kind = kinds[m["family"]]
        # a quantity summed from another of its own kind (a segment's total from its
        # statuses' counts) is recorded after it: a group reads what it recorded before
        derived = any(r["quantity"] == m["quantity"] for r in NAME.finditer(found[record]))
        return (QUANTITIES.index(m["quantity"]), KINDS.index(kind), derived,
                m["level"] != "job", _seconds(m["arg"]), m["arg"])

    rules, seen = [], set()
    for record in sorted(found, key=order):
        quantity = NAME.fullmatch(record)["quantity"]  # type: ignore[index]
        first = quantity not in seen
        seen.add(quantity)
        rules.append(Rule(record=record, expr=_block(found[record]), gap=first and bool(rules),
                          comment=ABOUT.get(quantity, "") if first else ""))
    return rules


def _block(expr: str) -> str:
    """A long or multi-line expression as a ``|`` block (ends in a newline), so it is
    written over lines an operator can read rather than as one quoted string."""
    short = "\n" not in expr.strip("\n") and len(expr) < 80
    return expr.strip("\n") if short else expr.rstrip("\n") + "\n"


def _seconds(arg: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(arg) > 1 and arg[:-1].isdigit() and arg[-1] in units:
        return float(arg[:-1]) * units[arg[-1]]
    return 0.0


def inline(text: str, known: dict[str, str]) -> str:
    """``text`` with every reference to one of ``known`` (record -> its expression, already
    inlined) written as that expression: a count as the ``sum by (...) (increase(...))`` it
    records, the reference's matchers added to its selector; any other quantity in
    parentheses (a reference to one with matchers is refused: they select its output)."""
    def expand(ref: re.Match[str]) -> str:
        expr = known.get(ref["name"])
        if expr is None:
            return ref[0]
        count = COUNT.match(expr)
        extra = " ".join((ref["matchers"] or "").split())
        if count is not None:
            selector = ", ".join(m for m in (count["selector"], extra) if m)
            return (f"sum by ({count['by']}) (increase({count['counter']}{{{selector}}}"
                    f"[{count['window']}]))")
        if extra:
            raise ValueError(f"{ref['name']} is read with matchers {{{extra}}}; only a "
                             "recorded count can be put back inline with them")
        return f"({expr})"
    return REFERENCE.sub(expand, text)


def is_input(record: str) -> bool:
    """Whether a record is one of the alerts' recorded inputs (:data:`NAME`, of one of the
    contract's counter families): a deployment's own records are left alone."""
    m = NAME.fullmatch(record)
    return m is not None and m["family"] in {k.family for k in KINDS}


def inline_group(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A rule group's rules (as loaded from YAML) with the quantities it records for its
    alerts (:func:`is_input`) written back into every later rule's expression and
    annotations, and those records dropped: what an engine that records asynchronously
    must evaluate to make the same tests at the same moment. A group without alerts is
    returned as it is (its records are what it is for)."""
    if not any("alert" in rule for rule in rules):
        return rules
    known: dict[str, str] = {}
    kept = []
    for rule in rules:
        mine = is_input(rule.get("record", ""))
        rule = dict(rule, expr=inline(" ".join(str(rule["expr"]).split()) if mine
                                      else str(rule["expr"]), known))
        if "annotations" in rule:
            rule["annotations"] = {k: inline(str(v), known)
                                   for k, v in rule["annotations"].items()}
        if mine:
            known[rule["record"]] = rule["expr"]
        else:
            kept.append(rule)
    return kept
