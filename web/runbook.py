"""The runbook as a web page, so the link in every alert works wherever txwatch runs.

Alerts link to ``<runbook base>#<alertname in lower case>`` (``rules/settings.py``); the
sink serves ``docs/runbook.md`` at ``/runbook`` with an id on every heading, made the way
the anchors are made (lower case, spaces to hyphens, other punctuation dropped).
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from aiohttp import web
from markdown_it import MarkdownIt

from txwatch.resources import runbook


def slug(title: str) -> str:
    """``PaymentRatioHighFast`` -> ``paymentratiohighfast``; ``How the rules decide`` ->
    ``how-the-rules-decide`` (GitHub's heading anchors)."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def render(markdown: str) -> str:
    """The runbook as one HTML page, every heading carrying its anchor as ``id``."""
    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(markdown)
    for opening, inline in zip(tokens, tokens[1:], strict=False):
        if opening.type == "heading_open":
            opening.attrSet("id", slug(inline.content))
    body = md.renderer.render(tokens, md.options, {})
    return ("<!doctype html><html><head><meta charset='utf-8'><title>txwatch runbook</title>"
            "<style>body{font:15px/1.5 sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
            "code{background:#f3f3f3}table{border-collapse:collapse}td,th{border:1px solid "
            "#ccc;padding:2px 6px}:target{background:#fff3b0}</style></head><body>"
            f"{body}</body></html>")


def add_runbook(app: web.Application, source: Path | None = None) -> None:
    """``GET /runbook``: the page, rendered once per request from the installed file."""
    path = source or runbook()

    async def page(_request: web.Request) -> web.Response:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            return web.Response(status=404, text=f"runbook not found: {escape(str(exc))}")
        return web.Response(text=render(text), content_type="text/html")

    app.router.add_get("/runbook", page)
