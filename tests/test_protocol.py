"""The exporter process's edges, seen from outside: its log lines and its address.

A client's unreadable body is one WARN line, never a traceback; ``--web.listen-address``
with port 0 logs the port actually bound. Real processes on 127.0.0.1, always stopped.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import requests

from tests.conftest import REPO
from txwatch.engines.procs import stop_process
from txwatch.exporter.config import Config

TX = "/api/v1/transactions"


def test_bare_bearer_is_no_credentials(start_exporter):
    url = start_exporter(Config(token="s3cret")).url
    for header in ("Bearer", "Bearer ", "bearer"):
        r = requests.post(url + TX, json={"status": "approved"}, timeout=5,
                          headers={"Authorization": header})
        assert r.status_code == 401, (header, r.status_code)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = requests.post(url + TX, json={"status": "approved"}, timeout=5,
                      headers={"Authorization": "Bearer nope"})
    assert r.status_code == 403


def _start_on_port_zero() -> tuple[subprocess.Popen[bytes], str]:
    """An exporter on 127.0.0.1:0; returns it and the address its first log line names."""
    proc = subprocess.Popen([sys.executable, "-m", "txwatch.exporter",
                             "--web.listen-address=127.0.0.1:0"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()  # logged once bound, before serving
    found = re.search(r"listening on (127\.0\.0\.1:(\d+)) ", line)
    if found is None or found.group(2) == "0":
        stop_process(proc, 10)
        raise AssertionError(f"no real port in {line!r}")
    return proc, found.group(1)


def test_port_zero_logs_the_port_it_got():
    proc, address = _start_on_port_zero()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                assert requests.get(f"http://{address}/-/ready", timeout=2).status_code == 200
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the logged address never answered"
                time.sleep(0.05)
    finally:
        stop_process(proc, 10)


def test_body_that_is_not_gzip_is_one_warn_line():
    proc, address = _start_on_port_zero()
    try:
        host, port = address.split(":")
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(b"POST " + TX.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            time.sleep(0.2)  # the rest comes later: aiohttp drains it after the answer
            conn.sendall(b"5\r\nworld\r\n0\r\n\r\n")
            answer = conn.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        assert requests.get(f"http://{address}/-/healthy", timeout=5).status_code == 200
    finally:
        stop_process(proc, 10)
    assert proc.stderr is not None
    log = proc.stderr.read().decode()
    assert "Traceback" not in log and "level=ERROR" not in log, log
    warns = [line for line in log.splitlines() if "level=WARNING" in line]
    assert len(warns) == 1 and "content-encoding: gzip" in warns[0], log
