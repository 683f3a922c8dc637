"""HTTP layer: aiohttp handlers that take their dependencies as arguments.

Each ingest request goes: token → media type → bounded body read → pure decode/validate →
``Store.commit``. Every refusal happens before anything is applied (the bounds on distinct
auth codes and dimension values are checked by the store's writer, which alone knows the
values stored), so a rejected request moves no counter, and answers a JSON body naming the
record index and field.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.aiohttp import make_aiohttp_handler

from txwatch.contract import KINDS, Kind, Reason
from txwatch.exporter import readiness
from txwatch.exporter.bounds import TooManyLabels
from txwatch.exporter.config import Config
from txwatch.exporter.decode import SUPPORTED_TYPES, BodyError, decode_body
from txwatch.exporter.metrics import PaymentCollector, SelfMetrics, instrument
from txwatch.exporter.openapi import openapi_spec
from txwatch.exporter.parsing import Batch, RecordError, validate
from txwatch.exporter.store import KeyConflict, StorageError, Store

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_KEY_LENGTH = 255
THREAD_BODY_BYTES = 256 * 1024
REGISTRY_KEY = web.AppKey("registry", CollectorRegistry)


class Rejected(Exception):
    """A refusal: its reason (which fixes the HTTP status), message and JSON details."""

    def __init__(self, reason: Reason, message: str,
                 errors: list[dict[str, Any]] | None = None, records: int = 1,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = reason.http_status, reason, message
        self.errors = errors or []
        self.records = records
        self.headers = headers or {}

    def response(self) -> web.Response:
        body = {"error": self.reason.value, "message": self.message, "errors": self.errors}
        return web.json_response(body, status=self.status, headers=self.headers)


def build_app(config: Config, store: Store,
              clock: Callable[[], float] = time.time) -> web.Application:
    """Wire routes, the per-app registry and middleware; no globals are touched."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(PaymentCollector(store.snapshot))
    ProcessCollector(registry=registry)  # process_start_time_seconds feeds PaymentDataStale
    self_metrics = SelfMetrics(registry)
    app = web.Application(middlewares=[instrument(self_metrics)],
                          client_max_size=config.limits.max_body_bytes + 1)
    for kind in KINDS:
        allowed = frozenset(config.labels(kind))
        app.router.add_post(kind.path, _ingest_handler(kind, allowed, config, store,
                                                       self_metrics, clock), name=kind.name)
    app.router.add_get("/metrics", make_aiohttp_handler(registry), name="metrics")
    app.router.add_get("/-/healthy", _text("Healthy.\n"), name="healthy")
    app.router.add_get("/-/ready", _ready(store), name="ready")
    spec = openapi_spec(config)
    app.router.add_get("/api/v1/openapi.json", _json(spec), name="openapi")
    app.router.add_get("/", _text(_LANDING, "text/html"), name="landing")
    app[REGISTRY_KEY] = registry
    return app


def _ingest_handler(kind: Kind, allowed: frozenset[str], config: Config, store: Store,
                    self_metrics: SelfMetrics, clock: Callable[[], float]) -> Handler:
    label_field = kind.label
    pattern = config.pattern(kind)

    async def handle(request: web.Request) -> web.Response:
        try:
            _check_token(request, config.token)
            media_type = request.content_type
            if media_type not in SUPPORTED_TYPES:
                raise Rejected(Reason.UNSUPPORTED_MEDIA_TYPE,
                               f"Content-Type {media_type!r} is not one of "
                               f"{', '.join(sorted(SUPPORTED_TYPES))}")
            key = _idempotency_key(request)
            body = await _read_body(request, config)
            try:
                parse = functools.partial(_parse, body, media_type, label_field, allowed,
                                          clock(), config, pattern)
                # A large body is parsed in a thread so scrapes and health checks go on.
                batch, errors, n_errors = (await asyncio.to_thread(parse)
                                           if len(body) > THREAD_BODY_BYTES else parse())
            except BodyError as exc:
                raise Rejected(Reason.MALFORMED_BODY, exc.message, [exc.as_dict()]) from None
            except OverflowError as exc:
                raise Rejected(Reason.TOO_MANY_RECORDS, str(exc),
                               records=config.limits.max_records) from None
            if n_errors:
                raise Rejected(Reason.INVALID_RECORD,
                               f"{n_errors} invalid record(s); nothing was applied",
                               [e.as_dict() for e in errors], records=batch.records)
            digest = hashlib.sha256(body).hexdigest()[:32] if key else ""
            try:
                response, replayed = await store.commit(kind.name, batch, key, digest)
            except KeyConflict as exc:
                raise Rejected(Reason.IDEMPOTENCY_CONFLICT, str(exc),
                               [{"index": None, "field": "Idempotency-Key",
                                 "message": str(exc)}]) from None
            except TooManyLabels as exc:
                raise Rejected(Reason.INVALID_RECORD, str(exc), [e.as_dict() for e in exc.errors],
                               records=batch.records) from None
            except StorageError as exc:
                raise Rejected(Reason.STORAGE_ERROR, str(exc), records=batch.records) from None
        except Rejected as rejected:
            self_metrics.rejected.labels(rejected.reason.value).inc(rejected.records)
            return rejected.response()
        if replayed:
            self_metrics.replayed.inc()
            return web.json_response(response, headers={"Idempotent-Replayed": "true"})
        self_metrics.accepted.labels(kind.name).inc(batch.records)
        return web.json_response(response)

    return handle


def _parse(body: bytes, media_type: str, label_field: str, allowed: frozenset[str],
           now: float, config: Config, pattern: re.Pattern[str] | None,
           ) -> tuple[Batch, list[RecordError], int]:
    raw = decode_body(body, media_type, label_field, config.dimensions)
    return validate(raw, label_field, allowed, now, config.limits, pattern, config.dimensions)


def _check_token(request: web.Request, token: str | None) -> None:
    if token is None:
        return
    # The auth scheme is case-insensitive (RFC 7235 section 2.1); header bytes may be anything.
    # "Bearer" with no token is no credentials (401), like no header; a wrong one is 403.
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Rejected(Reason.UNAUTHORIZED, "missing bearer token",
                       headers={"WWW-Authenticate": 'Bearer realm="txwatch"'})
    given = credentials.strip().encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, token.encode()):
        raise Rejected(Reason.FORBIDDEN, "wrong bearer token")


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise Rejected(Reason.MALFORMED_BODY,
                       f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable ASCII characters",
                       [{"index": None, "field": "Idempotency-Key", "message": "invalid key"}])
    return key


async def _read_body(request: web.Request, config: Config) -> bytes:
    """Read at most the body limit, within the read timeout (slow senders are cut off)."""
    limit = config.limits.max_body_bytes
    declared = request.content_length
    if declared is not None and declared > limit:
        raise Rejected(Reason.BODY_TOO_LARGE, f"body of {declared} bytes exceeds {limit}")
    content = request.content
    chunks: list[bytes] = []
    size = 0

    async def pump() -> None:
        nonlocal size
        while True:
            chunk = await content.read(1 << 16)
            if not chunk:
                return
            size += len(chunk)
            if size > limit:
                raise Rejected(Reason.BODY_TOO_LARGE, f"body exceeds {limit} bytes")
            chunks.append(chunk)

    try:
        if content.is_eof():  # it came with the headers (small pushes): nothing to wait for
            chunks.append(content.read_nowait())
            if len(chunks[0]) > limit:
                raise Rejected(Reason.BODY_TOO_LARGE, f"body exceeds {limit} bytes")
        else:  # a deadline on this task, not wait_for's extra task per request
            async with asyncio.timeout(config.limits.body_read_timeout_seconds):
                await pump()
    except RequestPayloadError as exc:  # e.g. Content-Encoding: gzip on a plain body
        why = str(exc).split("message:", 1)[-1].strip()
        raise Rejected(Reason.MALFORMED_BODY, f"body cannot be read: {why}",
                       [{"index": None, "field": "Content-Encoding", "message": why}]) from None
    except TimeoutError:
        raise Rejected(Reason.BODY_TIMEOUT, "body not received within "
                       f"{config.limits.body_read_timeout_seconds:g} s") from None
    return b"".join(chunks)


def _text(text: str, content_type: str = "text/plain") -> Handler:
    async def handle(request: web.Request) -> web.Response:
        return web.Response(text=text, content_type=content_type)

    return handle


def _ready(store: Store) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        reason = await readiness.not_ready(store)
        if reason is not None:
            return web.Response(status=503, text=f"Not ready: storage failing: {reason}\n")
        return web.Response(text="Ready.\n")

    return handle


def _json(doc: dict[str, Any]) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        return web.json_response(doc)

    return handle


_LANDING = """<html><head><title>txwatch exporter</title></head><body>
<h1>txwatch exporter</h1><ul>
<li><a href="/metrics">/metrics</a></li>
<li><a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (API description)</li>
<li><a href="/-/healthy">/-/healthy</a>, <a href="/-/ready">/-/ready</a></li>
</ul></body></html>
"""
