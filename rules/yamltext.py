"""Rule groups as data, written out as YAML a person can read and review.

PyYAML's dumper loses comments and folds long expressions into quoted one-liners, so rule
files are emitted here line by line: comments kept, multi-line expressions as ``expr: |``
blocks, descriptions folded (``>-``). Every rendering is parsed back and compared with the
data it came from, so an escaping mistake fails at render time instead of in Prometheus.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

WIDTH = 100  # the repo's line length
LONGEST = 120  # no rendered line is longer (rules are read and edited by operators)


def block(text: str) -> str:
    """A multi-line PromQL expression written as an indented Python string: dedented, with
    the one trailing newline a ``|`` block scalar loads as (so the round trip is exact)."""
    return textwrap.dedent(text).strip("\n") + "\n"


def indent(text: str, pad: str = "    ") -> str:
    """Every line of a PromQL fragment shifted right, to nest it inside another."""
    return "\n".join(pad + line for line in text.rstrip("\n").splitlines())


@dataclass(frozen=True)
class Rule:
    """One recording rule (``alert`` empty) or alerting rule (``record`` empty).

    ``comment`` lines are written above the rule (``gap`` adds a blank line first); a
    ``for_note`` becomes a trailing comment on the ``for`` line; ``keep_firing_for`` keeps
    a firing alert firing that long after its condition stops holding (one page per
    incident rather than one per flap).
    """

    expr: str
    record: str = ""
    alert: str = ""
    for_: str | None = None
    for_note: str = ""
    keep_firing_for: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    comment: str = ""
    gap: bool = False

    def as_data(self) -> dict[str, Any]:
        """What the YAML must load as (the Prometheus rule format)."""
        data: dict[str, Any] = ({"alert": self.alert} if self.alert else
                                {"record": self.record})
        data["expr"] = self.expr
        if self.for_ is not None:
            data["for"] = self.for_
        if self.keep_firing_for is not None:
            data["keep_firing_for"] = self.keep_firing_for
        if self.labels:
            data["labels"] = dict(self.labels)
        if self.annotations:
            data["annotations"] = dict(self.annotations)
        return data


@dataclass(frozen=True)
class Group:
    name: str
    rules: list[Rule]
    interval: str | None = None
    comment: str = ""

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.interval:
            data["interval"] = self.interval
        data["rules"] = [r.as_data() for r in self.rules]
        return data


def comment_lines(text: str, indent: int) -> list[str]:
    pad = " " * indent
    return [f"{pad}# {line}".rstrip() for line in text.splitlines()] if text else []


def _plain_ok(value: str) -> bool:
    """Whether ``value`` survives as a plain (unquoted) YAML scalar."""
    try:
        return yaml.safe_load(f"k: {value}") == {"k": value}
    except yaml.YAMLError:
        return False


def scalar(value: str) -> str:
    return value if value and "\n" not in value and _plain_ok(value) else json.dumps(
        value, ensure_ascii=False)


def fold(text: str, indent: str) -> list[str]:
    """``text`` wrapped for a ``>-`` block, inside a ``{{ template }}`` only when the template
    would not fit on a line of its own (a reader should see a short template whole; folding
    turns each break back into the same space, so a query reads as written). Templates
    written back to back make one word: kept whole only while it fits within ``LONGEST``."""
    glue = "\x00"
    longest = WIDTH - 8 - len(indent)
    while True:
        whole = re.sub(r"\{\{.*?\}\}", lambda m, most=longest: m.group(0).replace(" ", glue)
                       if len(m.group(0)) <= most else m.group(0), text)
        lines = [line.replace(glue, " ") for line in textwrap.wrap(
            whole, WIDTH - 8, initial_indent=indent, subsequent_indent=indent,
            break_long_words=False, break_on_hyphens=False)]
        if longest <= 0 or all(len(line) <= LONGEST for line in lines):
            return lines
        longest -= 10


def _breaks(line: str) -> list[int]:
    """Where a PromQL line may break: single spaces outside quoted strings (a newline there
    is the same whitespace to the parser)."""
    found, quote = [], ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote and line[i - 1] != "\\" else quote
        elif char in "\"'`":
            quote = char
        elif char == " " and 0 < i < len(line) - 1 and line[i - 1] != " " != line[i + 1]:
            found.append(i)
    return found


def wrap_line(line: str, width: int = WIDTH, more: str = "    ", offset: int = 0) -> list[str]:
    """A PromQL line longer than ``LONGEST`` (once indented ``offset`` in the file) broken at
    spaces (:func:`_breaks`) into lines of about ``width``, the continuations indented
    ``more`` past the line's own indentation."""
    if offset + len(line) <= LONGEST:
        return [line]
    width -= offset
    pad = line[: len(line) - len(line.lstrip(" "))] + more
    lines: list[str] = []
    start, last = 0, None
    for cut in [*_breaks(line), len(line)]:
        if len(pad if lines else "") + cut - start > width and last is not None:
            lines.append((pad if lines else "") + line[start:last])
            start = last + 1
        last = cut
    lines.append((pad if lines else "") + line[start:])
    return lines


EXPR_OFFSET = 10  # an expression block's lines in the file: rule (6) + key (2) + block (2)


def wrap_expr(expr: str) -> str:
    """Every line of an expression over ``LONGEST`` characters in the file wrapped
    (:func:`wrap_line`)."""
    tail = "\n" if expr.endswith("\n") else ""
    return "\n".join(part for line in expr.splitlines()
                     for part in wrap_line(line, offset=EXPR_OFFSET)) + tail


def quoted(value: str, indent: str, first: int) -> list[str]:
    """A double-quoted scalar over several lines when one would be over ``LONGEST`` (a line
    break in a double-quoted YAML scalar loads as one space: it breaks at single spaces)."""
    text = json.dumps(value, ensure_ascii=False)
    if first + len(text) <= LONGEST:
        return [text]
    words = re.split(r"(?<! ) (?! )", text)
    lines, current = [], words[0]
    for word in words[1:]:
        if len(current) + 1 + len(word) > WIDTH - len(indent):
            lines.append(current)
            current = word
        else:
            current += " " + word
    return [lines[0]] + [indent + line for line in lines[1:] + [current]] if lines else [current]


def _rule_lines(rule: Rule, indent: int) -> list[str]:
    pad, inner = " " * indent, " " * (indent + 2)
    lines = [""] if rule.gap else []
    lines += comment_lines(rule.comment, indent)
    lines.append(f"{pad}- alert: {rule.alert}" if rule.alert else f"{pad}- record: {rule.record}")
    if rule.expr.endswith("\n"):
        lines.append(f"{inner}expr: |")
        lines += [f"{inner}  {line}".rstrip() for line in rule.expr.splitlines()]
    else:
        lines.append(f"{inner}expr: {scalar(rule.expr)}")
    if rule.for_ is not None:
        note = f"  # {rule.for_note}" if rule.for_note else ""
        lines.append(f"{inner}for: {rule.for_}{note}")
    if rule.keep_firing_for is not None:
        lines.append(f"{inner}keep_firing_for: {rule.keep_firing_for}")
    for key in ("labels", "annotations"):
        mapping: dict[str, str] = getattr(rule, key)
        if mapping:
            lines.append(f"{inner}{key}:")
        for name, value in mapping.items():
            if name == "description":
                lines.append(f"{inner}  {name}: >-")
                lines += fold(value, inner + "    ")
            elif key == "annotations":
                head = f"{inner}  {name}: "
                shown = quoted(value, inner + "    ", len(head))
                lines += [head + shown[0], *shown[1:]]
            else:
                lines.append(f"{inner}  {name}: {scalar(value)}")
    return lines


def render(header: str, groups: list[Group]) -> str:
    """The rule file: ``header`` as a comment, then the groups; checked by a round trip."""
    groups = [replace(g, rules=[replace(r, expr=wrap_expr(r.expr)) for r in g.rules])
              for g in groups]
    lines = comment_lines(header, 0) + ["groups:"]
    for i, group in enumerate(groups):
        if i:
            lines.append("")
        lines += comment_lines(group.comment, 2)
        lines.append(f"  - name: {group.name}")
        if group.interval:
            lines.append(f"    interval: {group.interval}")
        lines.append("    rules:")
        for rule in group.rules:
            lines += _rule_lines(rule, 6)
    text = "\n".join(lines) + "\n"
    loaded = yaml.safe_load(text)
    expected = {"groups": [g.as_data() for g in groups]}
    if loaded != expected:
        raise ValueError(f"rendered YAML does not load as the rules it was made from:\n{text}")
    return text
