"""``txwatch-demo`` as an operator runs it: taken ports, a second demo, a dying child, own
data, and the run directories. Real processes on loopback, each test bounded in time."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import requests

from tests.conftest import metric_value
from txwatch.history.generate import write
from txwatch.stack import inject, launcher
from txwatch.stack.inject import extra_needed, minute_body
from txwatch.stack.launcher import LocalStack, Ports
from txwatch.stack.ports import PortInUse, distinct_free_ports
from txwatch.stack.runs import is_live, live_runs, new_run, prune


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Demo:
    """One ``txwatch-demo`` child, its output files and its run directory."""

    def __init__(self, workdir: Path, *args: str, sigint_ignored: bool = False) -> None:
        self.workdir = workdir
        self.out = open(workdir.parent / f"demo-{id(self)}.out", "w+b")  # noqa: SIM115
        self.err = open(workdir.parent / f"demo-{id(self)}.err", "w+b")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "txwatch.stack", "--workdir", str(workdir), "--days", "2",
             *args], stdout=self.out, stderr=self.err, cwd=workdir.parent,
            # as a non-interactive shell starts a background job: SIGINT ignored
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
            if sigint_ignored else None)

    def text(self) -> tuple[str, str]:
        return (Path(self.out.name).read_text(errors="replace"),
                Path(self.err.name).read_text(errors="replace"))

    def info(self, seconds: float = 60.0) -> dict:
        """run.json of this demo, once the stack is up (fails if the demo exits first)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"demo exited {self.proc.returncode}: {self.text()}"
            for run in (self.workdir / "runs").glob("*/run.json"):
                info = json.loads(run.read_text())
                if info["pid"] == self.proc.pid:
                    return {**info, "dir": run.parent}
            time.sleep(0.2)
        raise AssertionError(f"demo not up in {seconds} s: {self.text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)  # every child stops in turn; slow on a loaded machine
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.out.close()
        self.err.close()
        return self.proc.returncode


@pytest.fixture
def demos(tmp_path: Path) -> Iterator[list[Demo]]:
    started: list[Demo] = []
    yield started
    for demo in started:
        demo.stop()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in \
        Path(f"/proc/{pid}/status").read_text().lower()


def until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Wait for ``condition`` (polled), failing with ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.2)


def pushed(info: dict) -> float:
    text = requests.get(info["exporter"] + "/metrics", timeout=5).text
    return sum(metric_value(text, "payment_transactions_total", status=s)
               for s in ("approved", "denied", "failed"))


@pytest.mark.slow
def test_taken_port_is_refused_in_one_line_before_anything_starts(tmp_path: Path):
    ports = distinct_free_ports(4)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports[1]))
        holder.listen()
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "txwatch.stack", "--workdir", str(tmp_path / "w"),
             "--ports", ",".join(map(str, ports))], capture_output=True, text=True, timeout=30)
        took = time.monotonic() - started
    assert result.returncode == 2
    assert took < 10, took
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(ports[1]) in lines[0] and "Prometheus" in lines[0], lines
    assert not (tmp_path / "w").exists()  # no run directory, no data, no process


@pytest.mark.slow
def test_second_demo_leaves_the_first_running_and_intact(tmp_path: Path, demos: list[Demo]):
    workdir = tmp_path / "w"
    for i in range(5):  # stopped runs of earlier demos: pruning may remove some of these
        (workdir / "runs" / f"2000010{i}-000000-1").mkdir(parents=True)
        (workdir / "runs" / f"2000010{i}-000000-1" / "run.lock").touch()
    first = Demo(workdir, "--free-ports", "--speed", "600")
    demos.append(first)
    a = first.info()
    wal = a["dir"] / "prometheus-data" / "wal"
    until(lambda: pushed(a) > 0 and wal.is_dir() and any(wal.iterdir()), 30,
          "the first demo replaying, with a Prometheus WAL")
    before = pushed(a)
    files = [a["dir"] / f for f in ("run.json", "run.lock", "prometheus.yml",
                                    "exporter-state/state.db", "data/transactions.csv",
                                    "logs/prometheus.log")]
    files += list(wal.iterdir())
    assert all(p.exists() for p in files), [p for p in files if not p.exists()]

    same_ports = [str(a[k].rsplit(":", 1)[1]) for k in ("exporter", "prometheus",
                                                        "alertmanager", "sink")]
    clash = subprocess.run([sys.executable, "-m", "txwatch.stack", "--workdir", str(workdir),
                            "--ports", ",".join(same_ports)], capture_output=True, text=True,
                           timeout=30)
    assert clash.returncode == 2 and same_ports[0] in clash.stderr

    second = Demo(workdir, "--free-ports", "--speed", "600")
    demos.append(second)
    b = second.info()
    assert b["dir"] != a["dir"]
    assert second.stop() == 0
    assert "stopped." in second.text()[0]

    assert first.proc.poll() is None
    assert all(alive(pid) for pid in a["children"].values())
    for path in files:
        assert path.exists(), f"{path} of the live demo was removed"
    assert is_live(a["dir"]) and live_runs(workdir) == [a["dir"]]
    for name in ("exporter", "prometheus", "alertmanager"):
        assert requests.get(a[name] + "/-/ready", timeout=5).status_code == 200, name
    until(lambda: pushed(a) > before, 30, "the first demo still replaying into its exporter")
    assert first.stop() == 0
    assert not any(alive(pid) for pid in a["children"].values())
    assert not is_live(a["dir"])


@pytest.mark.slow
def test_a_killed_child_is_reported_with_its_log_and_everything_stops(
        tmp_path: Path, demos: list[Demo]):
    demo = Demo(tmp_path / "w", "--free-ports", "--speed", "60")
    demos.append(demo)
    info = demo.info()
    os.kill(info["children"]["alertmanager"], signal.SIGKILL)
    started = time.monotonic()
    code = demo.proc.wait(20)
    assert time.monotonic() - started < 15
    out, err = demo.text()
    assert code == 1
    assert "alertmanager exited with code -9" in err
    assert "alertmanager.log" in err and "stopping everything" in err
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in info["children"].values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in info["children"].values())


@pytest.mark.slow
def test_own_data_is_replayed_and_progress_is_in_data_time(tmp_path: Path,
                                                           demos: list[Demo]):
    paths = write(tmp_path / "mine", days=1, seed=5, start="2024-03-01 00:00")
    demo = Demo(tmp_path / "w", "--free-ports", "--speed", "600", "--data",
                str(paths["transactions"]), str(paths["auth_codes"]),
                "--incidents", str(paths["incidents"]))
    demos.append(demo)
    info = demo.info()
    deadline = time.monotonic() + 30
    while pushed(info) == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pushed(info) > 0
    deadline = time.monotonic() + 30
    while "progress: data time 2024-03-01" not in demo.text()[0]:
        assert time.monotonic() < deadline, demo.text()
        time.sleep(0.5)
    out = demo.text()[0]
    assert "board" in out.split("Where to look:")[1].splitlines()[1]  # the board comes first

    failed_before = metric_value(requests.get(info["exporter"] + "/metrics", timeout=5).text,
                                 "payment_transactions_total", status="failed")
    result = subprocess.run([sys.executable, "-m", "txwatch.stack", "inject", "--workdir",
                             str(tmp_path / "w"), "--share", "0.3", "--minutes", "2",
                             "--speed", "60"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    added = [int(line.split("+")[1].split()[0]) for line in result.stdout.splitlines()
             if line.startswith("inject ")]
    assert len(added) == 2 and all(n > 0 for n in added), result.stdout
    assert "pushed by the replay" in result.stdout  # it topped up the live traffic
    failed_after = metric_value(requests.get(info["exporter"] + "/metrics", timeout=5).text,
                                "payment_transactions_total", status="failed")
    assert failed_after - failed_before >= sum(added)


def test_injection_tops_the_minute_up_to_the_share():
    pushed = {"approved": 90.0, "failed": 1.0, "denied": 9.0}
    extra = extra_needed("failed", 0.05, pushed)
    assert (1 + extra) / (100 + extra) >= 0.05 > (extra) / (99 + extra)
    assert extra_needed("failed", 0.01, pushed) == 0  # already at the share
    body = minute_body("failed", 0.05, 200, None, 1_700_000_030.0)
    assert [r["count"] for r in body] == [190, 10]
    assert all(r["timestamp"] == "2023-11-14T22:13:00+00:00" for r in body)
    assert minute_body("failed", 0.05, 200, 7, 0.0) == [{"status": "failed", "count": 7}]


def test_inject_without_a_running_demo_says_so(tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "txwatch.stack", "inject", "--workdir",
                             str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "no running demo" in result.stderr


@pytest.mark.slow
def test_unreadable_data_is_refused_in_one_line(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("when,what\n1,2\n")
    result = subprocess.run([sys.executable, "-m", "txwatch.stack", "--workdir",
                             str(tmp_path / "w"), "--free-ports", "--data", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "cannot replay" in result.stderr and "bad.csv" in result.stderr


def test_pruning_never_touches_a_live_run(tmp_path: Path):
    live = new_run(tmp_path)
    try:
        for i in range(5):
            old = tmp_path / "runs" / f"1999010{i}-000000-1"
            old.mkdir()
            (old / "run.lock").touch()
        removed = prune(tmp_path, keep=0)
        assert live.path.exists() and is_live(live.path)
        assert len(removed) == 5 and not any(p.exists() for p in removed)
    finally:
        live.release()
    assert not is_live(live.path)
    assert prune(tmp_path, keep=0) == [live.path]


@pytest.mark.slow
def test_a_stranger_answering_on_our_port_is_not_taken_for_our_child(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The race the up-front check cannot close: the port is taken after it was checked.
    Another server then answers the readiness URL while our child fails to bind; the
    launcher must see that the listener is not its child (this lost a notification once)."""
    class Anything(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"Healthy.\n")

        def log_message(self, *args: object) -> None:
            pass

    exporter, prometheus, alertmanager = distinct_free_ports(3)
    stranger = ThreadingHTTPServer(("127.0.0.1", 0), Anything)
    threading.Thread(target=stranger.serve_forever, daemon=True).start()
    stack = LocalStack(tmp_path / "run", Ports(exporter, prometheus, alertmanager,
                                               stranger.server_address[1]))
    monkeypatch.setattr(launcher, "port_in_use", lambda port: False)  # checked too early
    monkeypatch.setattr(Ports, "taken", lambda self: [])
    try:
        with pytest.raises(PortInUse, match=str(stranger.server_address[1])):
            stack.start()
        assert not stack.procs  # everything started so far was stopped again
    finally:
        stack.stop()
        stranger.shutdown()
        stranger.server_close()


@pytest.mark.slow
def test_entering_a_started_stack_keeps_its_processes(fast_stack):
    stack = fast_stack().start()
    pids = {name: proc.pid for name, proc in stack.procs.items()}
    with stack as entered:
        assert entered is stack
        assert {name: proc.pid for name, proc in stack.procs.items()} == pids
        with pytest.raises(RuntimeError, match="already started"):
            stack.start()
    assert not stack.procs and not any(alive(pid) for pid in pids.values())


def test_a_relative_workdir_gives_an_absolute_run_dir(tmp_path, monkeypatch):
    """The servers run inside the run dir, so the paths handed to them must be absolute."""
    from txwatch.stack.runs import new_run

    monkeypatch.chdir(tmp_path)
    run = new_run(Path("out") / "demo")
    assert run.path.is_absolute() and run.path.is_relative_to(tmp_path)


@pytest.mark.slow
def test_victoriametrics_engine_spreads_the_replay_and_pages_an_injection(
        tmp_path: Path, demos: list[Demo]):
    demo = Demo(tmp_path / "w", "--free-ports", "--speed", "60", "--engine",
                "victoriametrics", "--replicas", "2", "--start-at", "2025-01-06 06:00")
    demos.append(demo)
    info = demo.info()
    assert len(info["exporters"]) == 2 and {"vmalert", "victoria-metrics"} <= \
        set(info["children"])
    deadline = time.monotonic() + 30  # run.json is written just before the lines print
    while "notifications" not in demo.text()[0]:
        assert time.monotonic() < deadline, demo.text()
        time.sleep(0.2)
    where = demo.text()[0].split("Where to look:")[1]
    assert f"{info['prometheus']}/vmui/" in where and info["vmalert"] in where
    deadline = time.monotonic() + 60
    while not all(pushed({"exporter": url}) > 0 for url in info["exporters"]):
        assert time.monotonic() < deadline, "the replay did not reach every replica"
        time.sleep(1.0)
    result = subprocess.run([sys.executable, "-m", "txwatch.stack", "inject", "--workdir",
                             str(tmp_path / "w"), "--status", "reversed", "--share", "0.3",
                             "--minutes", "6", "--speed", "20"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 150
    while "FIRING   [critical] PaymentRatioHighFast status=reversed" not in demo.text()[0]:
        assert time.monotonic() < deadline, demo.text()
        time.sleep(1.0)


@pytest.mark.slow
def test_ctrl_c_stops_a_demo_started_in_the_background(tmp_path: Path, demos: list[Demo]):
    demo = Demo(tmp_path / "w", "--free-ports", "--speed", "60", sigint_ignored=True)
    demos.append(demo)
    info = demo.info()
    assert demo.stop() == 0
    assert "stopped." in demo.text()[0]
    assert not any(alive(pid) for pid in info["children"].values())


def _shares(text: str, marker: str) -> list[float]:
    """Every percentage that follows ``marker`` in ``text`` ("... share 15.9% ...")."""
    return [float(m) for m in re.findall(re.escape(marker) + r" ([0-9.]+)%", text)]


@pytest.mark.slow
def test_the_inject_hint_runs_as_printed_and_its_defaults_page_each_status(
        tmp_path: Path, demos: list[Demo]):
    """The command the demo prints, run as typed from the demo's directory with its
    defaults, pages within 3 real minutes for failed, denied and reversed at the demo's
    speed (10x, quiet night traffic: the hardest case); the page quotes the 5-minute share
    inject reported; the last inject stops in one line when the demo stops."""
    demo = Demo(tmp_path / "w", "--free-ports", "--start-at", "2025-01-06 01:00")
    demos.append(demo)
    info = demo.info()
    until(lambda: "In another terminal:" in demo.text()[0] and pushed(info) > 0, 60,
          "the hint printed and the replay running")
    hint = demo.text()[0].split("In another terminal:")[1].strip().splitlines()[0].split()
    assert hint[1:] == ["inject", "--workdir", str(tmp_path / "w"), "--status", "failed"]
    assert (tmp_path / hint[0]).is_file() or Path(hint[0]).is_file() or shutil.which(hint[0])
    for status in ("failed", "denied", "reversed"):
        out = tmp_path / f"inject-{status}.out"
        with open(out, "wb") as sink, open(f"{out}.err", "wb") as err:
            # as typed in a terminal: SIGINT delivered (a runner that starts the suite in
            # the background has it ignored, and children inherit that)
            proc = subprocess.Popen([*hint[:-1], status], cwd=tmp_path, stdout=sink,
                                    stderr=err, preexec_fn=_sigint_default)
        try:
            page = f"FIRING   [critical] PaymentRatioHighFast status={status}"
            until(lambda: page in demo.text()[0], 180, f"{status}: {out.read_text()}")  # noqa: B023
            line = next(x for x in demo.text()[0].splitlines() if x.startswith(page))
            quoted = _shares(line, f"{status} share")[0]
            reported = _shares(out.read_text(), f"{status} share over 5m")
            assert reported and min(abs(r - quoted) for r in reported) <= 1.0, \
                (line, out.read_text())
            if status != "reversed":
                proc.send_signal(signal.SIGINT)
                assert proc.wait(30) == 130
                assert Path(f"{out}.err").read_text().splitlines() == [
                    "txwatch-demo inject: interrupted"]
        finally:
            if status != "reversed" and proc.poll() is None:
                proc.kill()
    try:
        assert demo.stop() == 0
        assert proc.wait(60) == 1
        lines = Path(f"{out}.err").read_text().splitlines()
        assert len(lines) == 1 and "stack stopped answering" in lines[0], lines
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_short_injection_warns_with_the_share_its_window_reaches(start_exporter):
    """10 data minutes at 10x are one of the fast page's 5 real minutes: 30% denied on a
    7% normal peaks near 11.6%, and inject says so; the default length fills the window."""
    url = start_exporter().url

    def replay_a_minute(_seconds: float) -> None:  # what the demo's replay pushes meanwhile
        requests.post(url + inject.TX_PATH, timeout=5, json=[
            {"status": "approved", "count": 93}, {"status": "denied", "count": 7}])

    lines: list[str] = []
    assert inject.inject(url, "denied", 0.3, 10, 10.0, 100, say=lines.append,
                         sleep=replay_a_minute) == 10 * 33  # 7 + 33 of 133 is 30.1%; 32: 29.5%
    assert lines[0].startswith("warning: 10 data minutes last 1 real minutes at 10x")
    assert "denied share peaks near 11.6%, not 30% (--minutes 50 fills it)" in lines[0]
    assert inject.peak_share(0.3, 0.07, 10, 10.0) == pytest.approx(0.3 * 0.2 + 0.07 * 0.8)
    quiet: list[str] = []
    inject.inject(url, "denied", 0.3, 50, 10.0, 100, say=quiet.append, sleep=replay_a_minute)
    assert not any(line.startswith("warning") for line in quiet) and len(quiet) == 50


@pytest.mark.slow
def test_a_sigkilled_demo_takes_its_children_with_it(tmp_path: Path, demos: list[Demo]):
    demo = Demo(tmp_path / "w", "--free-ports", "--speed", "60")
    demos.append(demo)
    children = demo.info()["children"]
    assert all(alive(pid) for pid in children.values())
    demo.proc.kill()
    demo.proc.wait(10)
    try:
        until(lambda: not any(alive(pid) for pid in children.values()), 30,
              f"children of a SIGKILLed demo still alive: {children}")
    finally:
        for pid in children.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_demo_rules_scale_every_keep_firing_for_to_the_replay_speed(tmp_path):
    """At 10 data minutes a real minute each alert's keep is a tenth of the shipped one
    (10m, the fast alert's 20m, the slow warning's 25m), or a warning would hold for hours
    of data."""
    from txwatch.rules import DEFAULT
    from txwatch.stack.demo import demo_rules

    out = demo_rules(tmp_path / "rules", 10.0, "http://127.0.0.1:1")
    text = (out / "alerts.yml").read_text(encoding="utf-8")
    keeps = {line.split(":", 1)[1].strip() for line in text.splitlines()
             if line.strip().startswith("keep_firing_for:")}
    assert DEFAULT.keep_slow_firing_for == "25m" and keeps == {"60s", "120s", "150s"}


def test_progress_names_the_incident_in_progress_and_the_next():
    from txwatch.stack.demo import Progress

    progress = Progress([{"start": "2025-01-07 02:15", "end": "2025-01-07 02:44",
                          "kind": "failed_spike_night"},
                         {"start": "2025-01-07 11:14", "end": "2025-01-07 11:43",
                          "kind": "failed_spike"}], 10.0)
    progress.minute = pd.Timestamp("2025-01-07 02:20", tz="UTC")
    line = progress.line()
    assert "incident in progress: failed_spike_night since 02:15" in line
    assert "next incident failed_spike at 11:14 data time (in 534 data minutes" in line
    progress.minute = pd.Timestamp("2025-01-07 03:00", tz="UTC")
    assert "in progress" not in progress.line()
