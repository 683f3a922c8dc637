"""The shipped rule files as vmalert loads them: same expressions, one known difference.

vmalert reads Prometheus rule YAML, but the vmalert that Debian packages (VictoriaMetrics
1.79) predates ``keep_firing_for`` and refuses a rule that has it ("unknown fields in rule:
keep_firing_for"). :func:`vmalert_rule_dir` copies a rule directory with those lines
removed and nothing else changed, so the thresholds a team retunes are the ones vmalert
evaluates. Without the keep, a paging alert resolves as soon as its condition clears; an
incident that flickers around its limit can page more than once there (measured in
docs/scaling.md). Newer vmalert releases accept the field; pass ``keep=True`` for them.

vmalert evaluates groups concurrently and writes recorded series asynchronously; the rule
files are listed thresholds first (:data:`RULE_ORDER`), so a one-off replay evaluates the
threshold table before the limits that read it. For the same reason the quantities
alerts.yml records for its own alerts (:mod:`.inputs`) are written back inline
(:func:`.inputs.inline_group`): an alert reading them through remote write would see the
previous cycle's values, or none.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .inputs import inline_group, is_input

# thresholds -> recording (limits read thresholds) -> alerts (read limits)
RULE_ORDER = ("thresholds.yml", "recording.yml", "alerts.yml")
_KEEP_LINE = re.compile(r"^\s*keep_firing_for:.*\n", re.MULTILINE)


def without_keep_firing_for(text: str) -> str:
    """A rule file's text with every ``keep_firing_for:`` line removed."""
    return _KEEP_LINE.sub("", text)


def vmalert_rule_dir(src: Path, out: Path, keep: bool = False) -> list[Path]:
    """Copy the rule files of ``src`` that vmalert evaluates into ``out``, in RULE_ORDER.

    Returns the paths in the order to pass as ``-rule`` flags. A missing file is an error:
    vmalert would otherwise run silently without the thresholds or the alerts.
    """
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in RULE_ORDER:
        source = src / name
        if not source.is_file():
            raise FileNotFoundError(f"rule file missing: {source}")
        text = inlined(source.read_text(encoding="utf-8"))
        target = out / name
        target.write_text(text if keep else without_keep_firing_for(text), encoding="utf-8")
        written.append(target)
    return written


def inlined(text: str) -> str:
    """A rule file's text with every group's own recorded inputs put back inline (the text
    unchanged when it records none)."""
    doc = yaml.safe_load(text) or {}
    groups = doc.get("groups") or []
    if not any(is_input(r.get("record", "")) for g in groups for r in g.get("rules") or []):
        return text
    doc["groups"] = [g | {"rules": inline_group(g.get("rules") or [])} for g in groups]
    return yaml.safe_dump(doc, sort_keys=False, width=1 << 16)
