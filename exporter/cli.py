"""Entry point: the only place that reads flags, files and the clock, and wires the app."""

from __future__ import annotations

import argparse
import logging
import re
import socket
import time
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from txwatch import contract
from txwatch.exporter import logs, segments
from txwatch.exporter.app import build_app
from txwatch.exporter.config import (
    AUTH_CODE_PATTERN_FLAG,
    AUTH_CODES_FLAG,
    MAX_AUTH_CODES_FLAG,
    Config,
    Limits,
)
from txwatch.exporter.lockfile import StateDirError
from txwatch.exporter.statedb import StateDB
from txwatch.exporter.store import Store
from txwatch.ports import EXPORTER, local

DEFAULT_LISTEN = local(EXPORTER)
log = logging.getLogger("txwatch.exporter")


def _csv_list(text: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    if not items or len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(
            f"need a comma-separated list of distinct values: {text!r}")
    return items


def _pattern(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a regular expression: {text!r}: {exc}") from None
    return text


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"need a positive integer: {text!r}")
    return int(text)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="txwatch-exporter",
                                description="Receive pushed payment counts; expose /metrics.")
    p.add_argument("--web.listen-address", dest="listen", default=DEFAULT_LISTEN,
                   help="HOST:PORT to listen on (default %(default)s)")
    p.add_argument("--web.token-file", dest="token_file", type=Path,
                   help="file holding the bearer token required on ingest")
    p.add_argument("--state.dir", dest="state_dir", type=Path,
                   help="directory for durable state; without it state is in memory only")
    p.add_argument("--payment.statuses", dest="statuses", type=_csv_list,
                   default=contract.STATUSES, help="accepted statuses (comma-separated)")
    codes = p.add_mutually_exclusive_group()
    codes.add_argument(AUTH_CODE_PATTERN_FLAG, dest="auth_code_pattern", type=_pattern,
                       default=contract.AUTH_CODE_PATTERN,
                       help="accept any auth code matching this regular expression (whole "
                            "code); the contract's codes start at 0 (default %(default)s)")
    codes.add_argument(AUTH_CODES_FLAG, dest="auth_codes", type=_csv_list,
                       help="accept exactly these auth codes (comma-separated) instead of "
                            "the pattern")
    p.add_argument(MAX_AUTH_CODES_FLAG, dest="max_auth_codes", type=_positive,
                   default=contract.MAX_AUTH_CODES,
                   help="with the pattern: most distinct auth codes (series) kept, the "
                        "contract's included; a push past it is refused whole "
                        "(default %(default)s)")
    p.add_argument(segments.DIMENSIONS_FLAG, dest="dimensions", type=_csv_list,
                   action="append", default=[],
                   help="labels pushed records may carry besides status or auth code, e.g. "
                        "acquirer,method (comma-separated, or the flag repeated); a record "
                        "without one counts in the default segment (default: none)")
    p.add_argument(segments.MAX_VALUES_FLAG, dest="max_segment_values", type=_positive,
                   default=contract.MAX_SEGMENT_VALUES,
                   help="most distinct values of each dimension kept over the state's "
                        "lifetime; a push past it is refused whole (default %(default)s)")
    p.add_argument("--ingest.max-body-bytes", dest="max_body", type=int,
                   default=Limits.max_body_bytes,
                   help="largest request body accepted, in bytes (default %(default)s)")
    p.add_argument("--ingest.max-records", dest="max_records", type=int,
                   default=Limits.max_records,
                   help="most records accepted in one request (default %(default)s)")
    p.add_argument("--ingest.max-count", dest="max_count", type=int, default=Limits.max_count,
                   help="largest count accepted in one record")
    p.add_argument("--ingest.max-future", dest="max_future", type=float,
                   default=Limits.max_future_seconds, help="seconds a timestamp may lead now")
    p.add_argument("--idempotency.ttl", dest="ttl", type=float, default=48 * 3600.0,
                   help="seconds an Idempotency-Key is remembered (default 48 h)")
    p.add_argument("--idempotency.max-keys", dest="max_keys", type=int, default=500_000,
                   help="most Idempotency-Keys remembered; beyond it the oldest are "
                        "forgotten first (default %(default)s)")
    p.add_argument("--storage.no-fsync", dest="no_fsync", action="store_true",
                   help="skip fsync (faster, loses acknowledged data on power loss)")
    p.add_argument("--log.level", dest="log_level", default="info",
                   choices=["debug", "info", "warn", "error"])
    args = p.parse_args(argv)
    args.dimensions = tuple(name for names in args.dimensions for name in names)
    try:
        segments.check_dimensions(args.dimensions)
    except ValueError as exc:
        p.error(str(exc))
    if args.auth_codes is None and args.max_auth_codes < len(contract.AUTH_CODES):
        p.error(f"{MAX_AUTH_CODES_FLAG} must be at least {len(contract.AUTH_CODES)}: the "
                f"codes {', '.join(contract.AUTH_CODES)} are always exposed")
    return args


def build_config(args: argparse.Namespace) -> Config:
    token = None
    if args.token_file is not None:
        token = args.token_file.read_text(encoding="utf-8").strip()
        if not token:
            raise SystemExit(f"token file {args.token_file} is empty")
    limits = Limits(max_body_bytes=args.max_body, max_records=args.max_records,
                    max_count=args.max_count, max_future_seconds=args.max_future)
    listed = args.auth_codes is not None  # an explicit list restricts to exactly it
    return Config(statuses=args.statuses,
                  auth_codes=args.auth_codes if listed else contract.AUTH_CODES,
                  auth_code_pattern=None if listed else args.auth_code_pattern,
                  max_auth_codes=args.max_auth_codes, dimensions=args.dimensions,
                  max_segment_values=args.max_segment_values, limits=limits,
                  state_dir=args.state_dir, token=token, idempotency_ttl_seconds=args.ttl,
                  idempotency_max_keys=args.max_keys)


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    level = {"warn": "WARNING"}.get(args.log_level, args.log_level.upper())
    logs.setup(level)
    config = build_config(args)
    try:
        db = None
        if config.state_dir is not None:
            db = StateDB(config.state_dir, fsync=not args.no_fsync)
        store = Store(config, time.time, db)
    except StateDirError as exc:  # one line, no traceback: the message says how to recover
        raise SystemExit(f"txwatch-exporter: {exc}") from None
    app = build_app(config, store, time.time)

    async def close_store(_app: web.Application) -> None:
        await store.close()

    app.on_cleanup.append(close_store)
    sock = _listen(*split_address(args.listen))
    host, port = sock.getsockname()[:2]  # the port actually bound (":0" picks a free one)
    log.info("listening on %s state=%s", f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
             config.state_dir or "memory")
    web.run_app(app, sock=sock, access_log=None, print=None)


def _listen(host: str, port: int) -> socket.socket:
    """Bind before serving, so the log can name the real address; refusals in one line."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                    flags=socket.AI_PASSIVE)[0][0]
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as exc:
        raise SystemExit(f"txwatch-exporter: cannot listen on {host}:{port}: {exc}") from None
