"""The Prometheus rules of txwatch, as code and as the YAML Prometheus loads.

``recording.yml`` and ``alerts.yml`` are rendered from this package (``python
scripts/generate.py`` for the shipped files, ``python -m txwatch.rules`` for a deployment's
own job name and runbook location), so the job selector, the runbook URL base and the
confidence level of each Wilson bound are defined once, in :mod:`.settings`.
``thresholds.yml`` stays a hand-edited table. Being a package also makes an installed
txwatch carry the YAML files (``txwatch.resources.rules_dir``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from txwatch import contract
from txwatch.resources import rules_dir

from . import alerts, recording
from .settings import DEFAULT, RUNBOOK_BASE, Confidence, Settings
from .yamltext import render

__all__ = ["DEFAULT", "RUNBOOK_BASE", "Confidence", "Settings", "limited_statuses",
           "render_alerts", "render_recording", "RENDERED", "write_rule_dir"]

GENERATED_BY = "python scripts/generate.py"
LIMIT_ROW = "threshold:payment_transactions:ratio_fast_floor"


def limited_statuses(table: Path | None = None) -> tuple[str, ...]:
    """The statuses the threshold table gives limits (a fast floor row), in the contract's
    order: the ones the share alerts page on and the boards draw a share panel for."""
    doc = yaml.safe_load((table or rules_dir() / "thresholds.yml").read_text())
    rows = {r.get("labels", {}).get("status") for g in doc["groups"] for r in g["rules"]
            if r.get("record") == LIMIT_ROW}
    return tuple(s for s in contract.STATUSES if s in rows)


def _header(note: str, command: str) -> str:
    return ("GENERATED from the txwatch.rules package (rules/*.py), do not edit: change the\n"
            f"Python and re-render with\n  {command}\n"
            "Thresholds are retuned in rules/thresholds.yml (hand-edited, not generated).\n\n"
            + note)


def render_recording(settings: Settings = DEFAULT, command: str = GENERATED_BY) -> str:
    """The text of recording.yml for ``settings``."""
    return render(_header(recording.HEADER_NOTE, command), recording.groups(settings))


def render_alerts(settings: Settings = DEFAULT, command: str = GENERATED_BY) -> str:
    """The text of alerts.yml for ``settings``."""
    return render(_header(alerts.HEADER_NOTE, command), alerts.groups(settings))


# File name -> renderer: what scripts/generate.py and the CLI write.
RENDERED = {"recording.yml": render_recording, "alerts.yml": render_alerts}


def write_rule_dir(out: Path, settings: Settings, command: str = GENERATED_BY,
                   thresholds: Path | None = None) -> list[Path]:
    """A complete rule directory for ``settings``: the rendered files and a threshold table
    (``thresholds``, else the shipped one; a table already in ``out`` is kept), ready for
    ``rule_files``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, render_file in RENDERED.items():
        path = out / file_name
        path.write_text(render_file(settings, command), encoding="utf-8")
        written.append(path)
    target = out / "thresholds.yml"
    if thresholds is not None or not target.exists():
        shutil.copy(thresholds or rules_dir() / "thresholds.yml", target)
    return [*written, target]
