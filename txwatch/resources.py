"""Where the shipped configuration lives, for an editable checkout and an installed wheel.

``rules/``, ``prometheus/`` and ``alertmanager/`` are installed as the data packages
``txwatch.rules``, ``txwatch.prometheus`` and ``txwatch.alertmanager``, so code finds them
through the import system rather than by walking up from its own file.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _package_dir(name: str) -> Path:
    return Path(str(files(name)))


def rules_dir() -> Path:
    """The rule files Prometheus loads (recording, thresholds, alerts) and their tests."""
    return _package_dir("txwatch.rules")


def prometheus_dir() -> Path:
    return _package_dir("txwatch.prometheus")


def alertmanager_dir() -> Path:
    return _package_dir("txwatch.alertmanager")


def rule_files(rules: Path | None = None) -> list[Path]:
    """The rule files of a directory (default: the shipped ones) or a single file."""
    rules = rules or rules_dir()
    if rules.is_file():
        return [rules]
    return sorted(p for p in rules.glob("*.yml") if p.is_file())


def runbook() -> Path:
    """The runbook every alert links to (``docs/runbook.md``, served by the sink)."""
    return _package_dir("txwatch.docs") / "runbook.md"
