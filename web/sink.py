"""A local notification sink: the webhook receiver that works with no account.

Alertmanager posts its webhook payloads here; each notification is appended to a JSON-lines
log (one line per alert, with the time it arrived), and what it changed (alerts that fired
or resolved since that group's last notification) is printed, one readable line each. The
log reads back as "recent alerts" at ``GET /api/alerts`` (newest first; ``?limit=N``, 1 to
10,000, default 100; anything else is a 400 JSON error). ``GET /`` is the local board
(:mod:`txwatch.web.board`), which reads Prometheus through the sink when it is started
with ``--prometheus.url``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

from txwatch.ports import PROMETHEUS, SINK, local
from txwatch.web.board import add_board
from txwatch.web.runbook import add_runbook

LOG_KEY = web.AppKey("log", Path)
MAX_LIMIT = 10_000


def readable(alert: dict[str, Any], receiver: str) -> str:
    """One line per alert: state, severity, name, labels, then for a firing alert its
    summary (the values of the evaluation that notified) and since when; for a resolved
    one only when it fired and for how long, since its summary is the last reading while
    it fired and would read as if it were still true."""
    labels = alert.get("labels", {})
    extra = ",".join(f"{k}={v}" for k, v in sorted(labels.items())
                     if k not in ("alertname", "severity", "status"))
    head = (f"[{labels.get('severity', '-')}] {labels.get('alertname', '?')} "
            f"status={labels.get('status', '-')}{' ' + extra if extra else ''}")
    starts = str(alert.get("startsAt", "?"))
    if alert.get("status") == "firing":
        return (f"FIRING   {head}: {alert.get('annotations', {}).get('summary', '')} "
                f"(since {starts[:19]}, via {receiver})")
    ends = str(alert.get("endsAt", "?"))
    try:
        took = f" after {_minutes(starts, ends)}"
    except ValueError:
        took = ""
    return f"RESOLVED {head}: resolved{took} (fired {starts[:19]} to {ends[:19]}, via {receiver})"


def _minutes(starts: str, ends: str) -> str:
    """How long an alert fired, as Alertmanager's messages say it (``12m``, ``1h5m``)."""
    seconds = (datetime.fromisoformat(ends[:19]) - datetime.fromisoformat(starts[:19]))
    minutes = max(0, round(seconds.total_seconds() / 60))
    return f"{minutes // 60}h{minutes % 60}m" if minutes >= 60 else f"{minutes}m"


class Changes:
    """What a notification changed since its group's last one.

    Alertmanager re-sends every alert of a group whenever the group is notified again (a
    new alert joined, one resolved, or the repeat interval passed). Printing them all again
    shows old alerts as if they had just fired, so the terminal prints only alerts that
    fired (new, or fired again: another start) or resolved since the group's last
    notification; the log and the board keep every notification whole.
    """

    def __init__(self) -> None:
        self.state: dict[str, dict[str, tuple[str, str]]] = {}  # group -> alert -> state

    def changed(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        group = self.state.setdefault(str(payload.get("groupKey") or payload.get("receiver")),
                                      {})
        out = []
        for alert in payload.get("alerts", []):
            key = str(alert.get("fingerprint") or sorted(alert.get("labels", {}).items()))
            now = (str(alert.get("status")), str(alert.get("startsAt")))
            if group.get(key) != now:
                group[key] = now
                out.append(alert)
        return out


def records(payload: dict[str, Any], path: str, now: float) -> list[dict[str, Any]]:
    """Flatten one webhook payload into one record per alert."""
    return [{"received_at": now, "endpoint": path, "receiver": payload.get("receiver"),
             "group_key": payload.get("groupKey"), "status": alert.get("status"),
             "labels": alert.get("labels", {}), "annotations": alert.get("annotations", {}),
             "starts_at": alert.get("startsAt"), "ends_at": alert.get("endsAt"),
             "generator_url": alert.get("generatorURL"),
             "fingerprint": alert.get("fingerprint")} for alert in payload.get("alerts", [])]


def read_log(path: Path, limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` records, newest first.

    A reader may run while the sink appends: a last line without its newline is still
    being written and is left for the next read rather than failing this one.
    """
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    complete = [line for line in lines if line.endswith("\n") and line.strip()]
    return [json.loads(line) for line in reversed(complete[-limit:])]


def parse_limit(raw: str | None) -> int:
    """``?limit=``: an integer from 1 to MAX_LIMIT (default 100), else ValueError."""
    if raw is None:
        return 100
    if not re.fullmatch(r"[0-9]{1,6}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)


def build_app(log: Path, out: TextIO = sys.stdout, clock: Callable[[], float] = time.time,
              prometheus_url: str | None = None) -> web.Application:
    lock = asyncio.Lock()
    heartbeat: list[float] = []  # when the first Watchdog arrived (later ones: log only)
    changes = Changes()  # the terminal prints what changed; the log keeps everything

    async def receive(request: web.Request) -> web.Response:
        try:
            payload = await request.json()
            rows = records(payload, request.path, clock())
        except (ValueError, AttributeError, TypeError):
            return web.json_response({"error": "expected an Alertmanager webhook payload"},
                                     status=400)
        async with lock:
            with open(log, "a", encoding="utf-8") as handle:
                handle.writelines(json.dumps(row) + "\n" for row in rows)
        for alert in changes.changed(payload):
            if request.path == "/deadmansswitch":
                # it arrives every minute by design: the terminal shows the first only
                if heartbeat:
                    continue
                heartbeat.append(clock())
            print(readable(alert, str(payload.get("receiver"))), file=out, flush=True)
        return web.json_response({"stored": len(rows)})

    async def recent(request: web.Request) -> web.Response:
        unknown = sorted(set(request.query) - {"limit"})
        try:
            if unknown:
                raise ValueError(f"unknown parameter {unknown[0]!r}; known: limit")
            limit = parse_limit(request.query.get("limit"))
        except ValueError as exc:
            return web.json_response({"error": "bad_request", "message": str(exc)}, status=400)
        return web.json_response(read_log(log, limit))

    async def healthy(_request: web.Request) -> web.Response:
        return web.Response(text="Healthy.\n")

    app = web.Application()
    app[LOG_KEY] = log
    app.router.add_post("/webhook", receive)
    app.router.add_post("/deadmansswitch", receive)
    app.router.add_get("/api/alerts", recent)
    app.router.add_get("/-/healthy", healthy)
    add_board(app, prometheus_url)
    add_runbook(app)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="txwatch-sink", description=__doc__)
    p.add_argument("--web.listen-address", dest="listen", default=local(SINK))
    p.add_argument("--log.file", dest="log", type=Path, default=Path("alerts.jsonl"))
    p.add_argument("--prometheus.url", dest="prometheus", default=None,
                   help=f"Prometheus the local board reads (e.g. http://{local(PROMETHEUS)})")
    args = p.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    args.log.parent.mkdir(parents=True, exist_ok=True)
    web.run_app(build_app(args.log, prometheus_url=args.prometheus), host=host or "0.0.0.0",
                port=int(port), print=None, access_log=None)


if __name__ == "__main__":
    main()
