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
from dataclasses import dataclass, field
from typing import Any

import yaml

WIDTH = 100  # the repo's line length


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
    """``text`` wrapped for a ``>-`` block, never inside a ``{{ template }}`` (a reader should
    see each template whole; folding would turn the break back into the same space)."""
    glue = "\x00"
    whole = re.sub(r"\{\{.*?\}\}", lambda m: m.group(0).replace(" ", glue), text)
    return [line.replace(glue, " ") for line in textwrap.wrap(
        whole, WIDTH - 8, initial_indent=indent, subsequent_indent=indent,
        break_long_words=False, break_on_hyphens=False)]


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
            else:
                shown = json.dumps(value, ensure_ascii=False) if key == "annotations" else (
                    scalar(value))
                lines.append(f"{inner}  {name}: {shown}")
    return lines


def render(header: str, groups: list[Group]) -> str:
    """The rule file: ``header`` as a comment, then the groups; checked by a round trip."""
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
