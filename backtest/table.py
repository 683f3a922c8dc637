"""The threshold table (rules/thresholds.yml) read and rewritten in place.

The table is hand-edited, so a tool that rewrites it must leave it as a person left it: only
the numbers inside ``vector(...)`` of the rows it changes are replaced, found by the
positions the YAML parser reports for each rule's ``expr``; comments, order, spacing and
quoting stay byte for byte. Rows are recording rules named
``threshold:<family>:<row>`` with at most one label (``status``, ``auth_code``) saying what
they apply to; see the header of rules/thresholds.yml.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

PREFIX = "threshold:"
_VECTOR = re.compile(r"^\s*vector\(\s*([-+0-9.eE]+)\s*\)\s*$")

Key = tuple[str, str, str]  # (family, row, label value; "" for unlabelled rows)


@dataclass(frozen=True)
class Row:
    family: str   # e.g. payment_transactions
    row: str      # e.g. ratio_fast_margin
    label: str    # label name, e.g. status ("" when unlabelled)
    value: str    # label value, e.g. failed
    number: float
    start: int    # character span of the expr in the file's text
    end: int

    @property
    def key(self) -> Key:
        return (self.family, self.row, self.value)


class Table:
    """A threshold file's text and its ``vector(<number>)`` rows."""

    def __init__(self, text: str, source: str = "<table>") -> None:
        self.text = text
        self.rows: dict[Key, Row] = {}
        root = yaml.compose(text)
        if root is None:
            raise ValueError(f"{source}: empty threshold table")
        for rule in _rule_nodes(root, source):
            fields = {k.value: v for k, v in rule.value}
            record, expr = fields.get("record"), fields.get("expr")
            if record is None or expr is None or not str(record.value).startswith(PREFIX):
                continue
            match = _VECTOR.match(str(expr.value))
            parts = str(record.value).split(":")
            if match is None or len(parts) != 3:
                continue
            labels = yaml.safe_load(text[fields["labels"].start_mark.index:
                                         fields["labels"].end_mark.index]) \
                if "labels" in fields else {}
            if len(labels or {}) > 1:
                raise ValueError(f"{source}: row {record.value} has more than one label")
            label, value = next(iter((labels or {}).items()), ("", ""))
            row = Row(parts[1], parts[2], str(label), str(value), float(match.group(1)),
                      expr.start_mark.index, expr.end_mark.index)
            self.rows[row.key] = row

    @classmethod
    def load(cls, path: Path) -> Table:
        return cls(path.read_text(encoding="utf-8"), str(path))

    def get(self, family: str, row: str, value: str, default: float | None = None
            ) -> float | None:
        found = self.rows.get((family, row, value))
        return found.number if found is not None else default

    def with_values(self, changes: dict[Key, float]) -> str:
        """The file's text with the given rows' numbers replaced (unknown keys refused)."""
        unknown = [k for k in changes if k not in self.rows]
        if unknown:
            raise KeyError(f"no such threshold rows: {unknown}")
        text = self.text
        for key in sorted(changes, key=lambda k: self.rows[k].start, reverse=True):
            row = self.rows[key]
            text = text[:row.start] + f"vector({number(changes[key])})" + text[row.end:]
        return text


def number(value: float) -> str:
    """A PromQL literal with at most 4 significant digits, never in exponent form."""
    if not math.isfinite(value):
        raise ValueError(f"threshold must be finite, got {value}")
    if value == 0:
        return "0"
    digits = max(0, 3 - math.floor(math.log10(abs(value))))
    return f"{round(value, digits):.{digits}f}".rstrip("0").rstrip(".")


def _rule_nodes(root: yaml.Node, source: str) -> list[yaml.MappingNode]:
    def child(node: yaml.Node, key: str) -> yaml.Node | None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == key:
                    return v
        return None

    groups = child(root, "groups")
    if not isinstance(groups, yaml.SequenceNode):
        raise ValueError(f"{source}: no 'groups:' list")
    found = []
    for group in groups.value:
        rules = child(group, "rules")
        if isinstance(rules, yaml.SequenceNode):
            found += [r for r in rules.value if isinstance(r, yaml.MappingNode)]
    return found
