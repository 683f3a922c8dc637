"""The local stack: exporter, Prometheus, Alertmanager and the sink on loopback.

This is the one place besides docker-compose.yml that knows every config: it renders the
shipped prometheus/ and alertmanager/ configs with loopback ports and absolute paths into a
run directory, starts the four processes, waits until each is ready and stops them all.
Tests use it with shorter intervals; the rule files are always the shipped ones.

It never starts on a taken port and never mistakes another server for its own: ports are
checked before anything starts, and after readiness the process listening on each port must
be the child started for it (see :mod:`txwatch.stack.ports`). :meth:`LocalStack.exited`
tells a watcher which child died, :meth:`LocalStack.log_tail` why.
"""

from __future__ import annotations

import os
import string
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from txwatch import contract, ports
from txwatch.engines.procs import need, stop_process, wait_ready
from txwatch.resources import alertmanager_dir, prometheus_dir, rules_dir
from txwatch.stack.orphans import die_with_parent
from txwatch.stack.ports import PortInUse, distinct_free_ports, listener_is, port_in_use

NAMES = {"exporter": "exporter", "prometheus": "Prometheus", "alertmanager": "Alertmanager",
         "sink": "notification sink and board"}


@dataclass
class Ports:
    exporter: int = ports.EXPORTER
    prometheus: int = ports.PROMETHEUS
    alertmanager: int = ports.ALERTMANAGER
    sink: int = ports.SINK

    @classmethod
    def free(cls) -> Ports:
        return cls(*distinct_free_ports(4))

    def taken(self) -> list[PortInUse]:
        """The ports another process holds now, each with what the stack wanted it for."""
        return [PortInUse(NAMES[name], port) for name, port in vars(self).items()
                if port_in_use(port)]


@dataclass
class LocalStack:
    workdir: Path
    ports: Ports = field(default_factory=Ports)
    scrape_interval: str | None = None   # None: as in prometheus/prometheus.yml
    evaluation_interval: str | None = None
    route_timing: dict[str, str] | None = None  # e.g. group_wait for tests
    sink_to_terminal: bool = False  # demo: print notifications on the terminal
    prometheus_flags: list[str] = field(default_factory=list)  # tests: e.g. resend delay
    rules: Path | None = None  # a rendered rule directory; None: the shipped rules
    # Scrape these exporter addresses (host:port) instead of starting an exporter: a
    # Prometheus beside another engine, on the same replicas (tests/test_victoria.py).
    exporters: list[str] | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    commands: dict[str, tuple[list[str], str, bool, str | None, dict[str, str] | None]] = \
        field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{getattr(self.ports, name)}"

    @property
    def sink_log(self) -> Path:
        return self.workdir / "alerts.jsonl"

    # ---- configuration --------------------------------------------------------------
    def prometheus_config(self, name: str = "prometheus.yml",
                          alertmanager_ports: list[int] | None = None,
                          own_port: int | None = None) -> dict[str, Any]:
        """A shipped Prometheus config with loopback targets and absolute rule paths."""
        config = yaml.safe_load((prometheus_dir() / name).read_text())
        rules = self.rules or rules_dir()
        config["rule_files"] = [str(rules / Path(f).name) for f in config["rule_files"]]
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [
            f"127.0.0.1:{port}" for port in alertmanager_ports or [self.ports.alertmanager]]
        targets = {contract.JOB: self.exporters or [f"127.0.0.1:{self.ports.exporter}"],
                   "prometheus": [f"127.0.0.1:{own_port or self.ports.prometheus}"]}
        for job in config["scrape_configs"]:
            job["static_configs"][0]["targets"] = targets[job["job_name"]]
        if self.scrape_interval:
            config["global"]["scrape_interval"] = self.scrape_interval
        if self.evaluation_interval:
            config["global"]["evaluation_interval"] = self.evaluation_interval
        return config

    def alertmanager_config(self) -> dict[str, Any]:
        source = alertmanager_dir() / "alertmanager.yml"
        text = string.Template(source.read_text()).safe_substitute(os.environ)  # secrets: env
        sink = f"//127.0.0.1:{self.ports.sink}/"
        config = yaml.safe_load(text.replace(f"//sink:{ports.SINK}/", sink))
        config["templates"] = [str((source.parent / t).resolve()) for t in config["templates"]]
        if self.route_timing:
            for route in [config["route"], *config["route"].get("routes", [])]:
                route.update(self.route_timing)
        return config

    # ---- lifecycle ------------------------------------------------------------------
    def start(self) -> LocalStack:
        """Start the four processes; raise PortInUse before starting any if a port is taken."""
        self.check_can_start()
        prom_cfg = self.write_config("prometheus.yml", self.prometheus_config())
        am_cfg = self.write_config("alertmanager.yml", self.alertmanager_config())
        try:
            if self.exporters is None:
                self.spawn("exporter", self.exporter_command(), "/-/ready")
            self.spawn("sink", self.sink_command(), "/-/healthy",
                        inherit_stdout=self.sink_to_terminal)
            self.spawn("alertmanager", self.alertmanager_command(am_cfg), "/-/ready")
            self.spawn("prometheus", [
                need("prometheus"), f"--config.file={prom_cfg}",
                f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{self.ports.prometheus}",
                # the graph link of every notification (generatorURL) is built from it
                f"--web.external-url={self.url('prometheus')}",
                "--web.enable-lifecycle", "--log.level=warn", *self.prometheus_flags],
                "/-/ready")
        except BaseException:
            self.stop()
            raise
        return self

    def check_can_start(self) -> None:
        """Refuse a second start (it would find its own ports taken and orphan the
        children), and a taken port before anything starts; make the run directory."""
        if self.procs:
            raise RuntimeError("the stack is already started")
        taken = self.ports.taken()
        if taken:
            raise taken[0]
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)

    def write_config(self, name: str, config: dict[str, Any]) -> Path:
        """A rendered config, as YAML in the run directory."""
        path = self.workdir / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    @property
    def exporter_urls(self) -> list[str]:
        """The exporters this stack's engine scrapes (where pushes go)."""
        return [f"http://{target}" for target in self.exporters] if self.exporters else \
            [self.url("exporter")]

    def exporter_command(self, port: int | None = None,
                         state: str = "exporter-state") -> list[str]:
        return [sys.executable, "-m", "txwatch.exporter",
                f"--web.listen-address=127.0.0.1:{port or self.ports.exporter}",
                f"--state.dir={self.workdir / state}"]

    def alertmanager_command(self, config: Path) -> list[str]:
        return [need("prometheus-alertmanager"), f"--config.file={config}",
                f"--storage.path={self.workdir / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{self.ports.alertmanager}",
                "--cluster.listen-address=", "--log.level=warn"]

    def sink_command(self) -> list[str]:
        return [sys.executable, "-m", "txwatch.web.sink",
                f"--web.listen-address=127.0.0.1:{self.ports.sink}",
                f"--log.file={self.sink_log}", f"--prometheus.url={self.url('prometheus')}"]

    def spawn(self, name: str, cmd: list[str], ready: str, inherit_stdout: bool = False,
               base_url: str | None = None, env: dict[str, str] | None = None) -> None:
        """Start one child, wait until it answers, and make sure the answer was its own."""
        self.commands[name] = (cmd, ready, inherit_stdout, base_url, env)
        base = base_url or self.url(name)
        port = int(base.rsplit(":", 1)[1])
        if port_in_use(port):
            raise PortInUse(name, port)
        log_path = self.workdir / "logs" / f"{name}.log"
        with open(log_path, "ab") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(cmd, cwd=self.workdir, stderr=log,
                                    stdout=None if inherit_stdout else log,
                                    env={**os.environ, **env} if env else None,
                                    preexec_fn=die_with_parent())  # even on SIGKILL
        self.procs[name] = proc
        try:
            wait_ready(base + ready, proc, f"{name} (log: {log_path})")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{self.log_tail(name)}") from None
        if proc.poll() is not None or listener_is(proc.pid, port) is False:
            raise PortInUse(name, port)  # something else answered; ours could not bind

    def exited(self) -> dict[str, int]:
        """Children that have died since they were started: name -> exit code."""
        return {name: code for name, proc in self.procs.items()
                if (code := proc.poll()) is not None}

    def log_tail(self, name: str, lines: int = 15) -> str:
        """The last lines of a child's log, to say why it died."""
        path = self.workdir / "logs" / f"{name}.log"
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"(no log at {path})"
        tail = text.splitlines()[-lines:]
        return "\n".join(f"  | {line}" for line in tail) if tail else f"(empty log {path})"

    def kill(self, name: str, hard: bool = False) -> None:
        """Stop one component (SIGKILL with ``hard``), for fault tests."""
        proc = self.procs.pop(name)
        if hard:
            proc.kill()
        else:
            proc.terminate()
        proc.wait(15)

    def restart(self, name: str) -> None:
        """Start a stopped component again with the same command and data."""
        self.spawn(name, *self.commands[name])

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            stop_process(self.procs.pop(name))

    def __enter__(self) -> LocalStack:
        return self if self.procs else self.start()  # `with LocalStack(...).start() as s`

    def __exit__(self, *exc: object) -> None:
        self.stop()
