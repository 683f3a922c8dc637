"""The README is one screen that starts with the two commands, and the pages it links hold
together: every relative link and image in README.md and docs/*.md points to an existing
file, and every ``#anchor`` to a heading of its target (GitHub's slugs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO

README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
MAX_README_LINES = 120
COMMANDS = [
    "./scripts/setup && .venv/bin/txwatch-demo",
    "./scripts/setup && .venv/bin/python -m pytest",
]

FENCE = re.compile(r"^ *(```|~~~).*?^ *\1", re.S | re.M)
CODE_SPAN = re.compile(r"(`+).+?\1", re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """The text without code blocks and code spans, where brackets are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed
    (hyphens and underscores kept), each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[`*]", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for match in HEADING.finditer(FENCE.sub("", path.read_text())):
        base = slug(match.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    return [m.group(1) for m in LINK.finditer(_prose(path.read_text()))]


def test_slugs_are_githubs():
    assert slug("Replay, backfill and backtest (`txwatch-replay`)") == (
        "replay-backfill-and-backtest-txwatch-replay")
    assert slug("A/B comparison (`--rules-b`)") == "ab-comparison---rules-b"
    assert slug("Detection on every merchant's traffic") == "detection-on-every-merchants-traffic"


def test_the_pages_have_links_to_check():
    assert len(PAGES) >= 10
    assert any(target.startswith("docs/") for target in links(README))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert not broken, broken


def test_readme_is_one_screen_and_starts_with_the_two_commands():
    text = README.read_text()
    lines = text.splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md: {len(lines)} lines"
    first_block = FENCE.search(text).group(0)
    assert [c for c in COMMANDS if c in first_block] == COMMANDS, first_block
    assert text.index(first_block) < text.index("\n## ")


def test_ci_runs_the_readmes_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert COMMANDS[1] in ci.splitlines()


def test_readme_links_every_reference_page():
    linked = {t.partition("#")[0] for t in links(README)}
    pages = {f"docs/{p.name}" for p in PAGES[1:]}
    assert pages <= linked, pages - linked
