"""The pictures in docs/: how each is drawn, what it depicts, and whether it is stale.

A picture cannot be compared byte for byte with a fresh rendering (a browser's or
matplotlib's pixels vary between runs), so each is checked by what it was drawn from:
``docs/pictures.json`` records, when a picture is drawn, the SHA-256 of every source file
it depicts and of the picture itself. ``python scripts/generate.py --check`` (run by the
tests) fails when a source has changed since, or when the picture was replaced without
being recorded; ``python scripts/generate.py --pictures`` draws them again and records.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RECORD = "docs/pictures.json"


@dataclass(frozen=True)
class Picture:
    path: str
    sources: tuple[str, ...]  # globs, relative to the repository
    command: tuple[str, ...]  # how it is drawn (argv; {python} is this interpreter)
    env: tuple[tuple[str, str], ...] = ()


PICTURES = (
    Picture("docs/board.png",
            ("web/board.py", "web/panels.py", "web/static/*", "rules/alerts.yml",
             "tests/test_local_board.py"),
            ("{python}", "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "tests/test_local_board.py"),
            (("TXWATCH_BOARD_PNG", "docs/board.png"),)),
    Picture("docs/overview-preview.png",
            ("grafana/dashboards/overview.json", "rules/alerts.yml", "rules/recording.yml",
             "scripts/preview_boards.py"),
            ("{python}", "scripts/preview_boards.py")),
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sources(repo: Path, picture: Picture) -> dict[str, str]:
    files = sorted({p for pattern in picture.sources for p in repo.glob(pattern) if p.is_file()})
    return {str(p.relative_to(repo)): _digest(p) for p in files}


def recorded(repo: Path) -> dict[str, dict]:
    path = repo / RECORD
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def stale(repo: Path) -> list[str]:
    """One line per stale picture, saying why."""
    found, record = [], recorded(repo)
    for picture in PICTURES:
        entry, image = record.get(picture.path), repo / picture.path
        if entry is None or not image.exists():
            found.append(f"{picture.path}: never drawn and recorded")
            continue
        if entry["sha256"] != _digest(image):
            found.append(f"{picture.path}: replaced without being recorded")
        now = _sources(repo, picture)
        changed = sorted(k for k in set(now) | set(entry["sources"])
                         if now.get(k) != entry["sources"].get(k))
        if changed:
            found.append(f"{picture.path}: drawn before {', '.join(changed)} changed")
    return found


def draw(repo: Path) -> None:
    """Draw every picture again and record what it was drawn from."""
    record = recorded(repo)
    for picture in PICTURES:
        argv = [a.replace("{python}", sys.executable) for a in picture.command]
        print(f"drawing {picture.path}: {' '.join(argv)}", flush=True)
        subprocess.run(argv, cwd=repo, check=True, env={**os.environ, **dict(picture.env)})
        record[picture.path] = {"command": " ".join(picture.command).replace(
            "{python}", "python"), "sha256": _digest(repo / picture.path),
            "sources": _sources(repo, picture)}
    (repo / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n",
                               encoding="utf-8")
