"""The local board: the Grafana boards' panels in plain pages, served by the sink.

For an on-call without Grafana. The overview page (``static/board.html``) reads the panel
list of :mod:`txwatch.web.panels` from ``GET /api/board``, draws every chart with uPlot
(vendored from its npm package, MIT, served from here: the stack works offline) from
Prometheus' ``/api/v1/query_range``, lists what is firing with the overview's own "Firing
alerts" query, and shows the sink's notifications as a chat channel would. The segments
page (``/segments``, ``static/segments.html``) reads the segments board of
:mod:`txwatch.web.segments` from ``GET /api/board/segments``: its ranking tables, and one
segment's panels once a row (or ``?dimension=...&segment=...``) picks it. Code both pages
draw with is ``static/charts.js``. Prometheus is reached
through ``/prometheus/api/v1/...`` on the sink (read-only: query, query_range, alerts), so
the page needs one address and no cross-origin requests. Its colours are those of
:mod:`txwatch.web.palette`: the charts' in ``GET /api/board``, the page's own in
``GET /palette.css``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import aiohttp
from aiohttp import web

from txwatch.web.palette import stylesheet
from txwatch.web.panels import overview
from txwatch.web.segments import segments
from txwatch.web.spec import Board

PROMETHEUS_KEY = web.AppKey("prometheus", str)
CLIENT_KEY = web.AppKey("client", aiohttp.ClientSession)
PROXIED = ("query", "query_range", "alerts")
BOARDS = {"overview": overview, "segments": segments}  # what GET /api/board/{name} serves
TYPES = {".html": "text/html", ".js": "application/javascript", ".css": "text/css",
         ".txt": "text/plain"}


def static_dir() -> Path:
    return Path(str(files("txwatch.web") / "static"))


def _error(status: int, reason: str, message: str) -> web.Response:
    return web.json_response({"error": reason, "message": message}, status=status)


def _page(name: str) -> web.FileResponse:
    return web.FileResponse(static_dir() / name,
                            headers={"Content-Type": "text/html; charset=utf-8"})


async def page(_request: web.Request) -> web.FileResponse:
    return _page("board.html")


async def segments_page(_request: web.Request) -> web.FileResponse:
    return _page("segments.html")


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    shipped = {p.name: p for p in static_dir().iterdir() if p.suffix in TYPES}
    if name not in shipped:  # only files shipped in static/, no paths
        return _error(404, "not_found", f"no static file {name!r}")
    return web.FileResponse(shipped[name],
                            headers={"Content-Type": TYPES[shipped[name].suffix]})


async def board(request: web.Request) -> web.Response:
    name = request.match_info.get("name", "overview")
    make: Callable[[], Board] | None = BOARDS.get(name)
    if make is None:
        return _error(404, "not_found", f"no board {name!r}; boards: {', '.join(BOARDS)}")
    return web.json_response(make().as_json())


async def palette(_request: web.Request) -> web.Response:
    """The boards' named colours as CSS custom properties, for the page's own styles."""
    return web.Response(text=stylesheet(), content_type="text/css")


async def prometheus(request: web.Request) -> web.Response:
    """Pass a read-only query through to Prometheus and its answer back unchanged."""
    endpoint = request.match_info["endpoint"]
    base = request.app.get(PROMETHEUS_KEY)
    if endpoint not in PROXIED:
        return _error(404, "not_found", f"only {', '.join(PROXIED)} are passed to Prometheus")
    if not base:
        return _error(503, "no_prometheus", "the sink was started without --prometheus.url")
    try:
        async with request.app[CLIENT_KEY].get(f"{base}/api/v1/{endpoint}",
                                               params=request.query) as answer:
            body = await answer.read()
            return web.Response(body=body, status=answer.status,
                                content_type=answer.content_type)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return _error(502, "prometheus_unreachable", f"{base}: {exc.__class__.__name__}")


async def _client(app: web.Application):  # type: ignore[no-untyped-def]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        app[CLIENT_KEY] = session
        yield


def add_board(app: web.Application, prometheus_url: str | None) -> None:
    """Mount the pages, their files, the boards' panel lists, the colours and the
    Prometheus pass-through."""
    if prometheus_url:
        app[PROMETHEUS_KEY] = prometheus_url.rstrip("/")
    app.cleanup_ctx.append(_client)
    app.router.add_get("/", page)
    app.router.add_get("/segments", segments_page)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/board", board)
    app.router.add_get("/api/board/{name}", board)
    app.router.add_get("/palette.css", palette)
    app.router.add_get("/prometheus/api/v1/{endpoint}", prometheus)
