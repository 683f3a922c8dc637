"""The local stack on VictoriaMetrics: exporter replicas, vmagent, victoria-metrics, vmalert.

The Prometheus path's pieces stay: the same exporters (several replicas here, scraped as one
job ``txwatch``, one ``instance`` each), the rule files (copied for vmalert by
:func:`txwatch.rules.vmalert.vmalert_rule_dir`), the Alertmanager config and the sink, whose
board queries VictoriaMetrics through its Prometheus API. The engine's flags come from the
shipped ``prometheus/victoriametrics.yml``; tests override intervals only. vmagent gets the
``global`` and ``scrape_configs`` of ``prometheus.yml`` (it refuses the rest).
"""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from txwatch import contract
from txwatch.engines.procs import need
from txwatch.resources import prometheus_dir, rules_dir
from txwatch.rules.vmalert import vmalert_rule_dir
from txwatch.stack.launcher import LocalStack
from txwatch.stack.ports import distinct_free_ports

SETTINGS_FILE = "victoriametrics.yml"
COMPONENTS = ("victoria-metrics", "vmagent", "vmalert")


def shipped_flags() -> dict[str, dict[str, Any]]:
    """Component -> flag -> value, as ``prometheus/victoriametrics.yml`` has them."""
    settings = yaml.safe_load((prometheus_dir() / SETTINGS_FILE).read_text(encoding="utf-8"))
    missing = [c for c in COMPONENTS if c not in settings]
    if missing:
        raise ValueError(f"{SETTINGS_FILE}: no section for {', '.join(missing)}")
    return settings


def as_flags(settings: dict[str, Any]) -> list[str]:
    """``-name=value`` flags (VictoriaMetrics' style); a true boolean is a bare ``-name``."""
    flags = []
    for name, value in settings.items():
        if value is True:
            flags.append(f"-{name}")
        elif value is not False and value is not None:
            flags.append(f"-{name}={value}")
    return flags


def vmagent_config(prometheus_config: dict[str, Any]) -> dict[str, Any]:
    """The scrape part of a Prometheus config, the exporters' job only."""
    config = {"global": copy.deepcopy(prometheus_config["global"])}
    config["global"].pop("evaluation_interval", None)  # vmagent evaluates nothing
    config["scrape_configs"] = [copy.deepcopy(job) for job in prometheus_config["scrape_configs"]
                                if job["job_name"] == contract.JOB]
    return config


@dataclass
class VictoriaStack:
    """``base`` supplies the workdir, sink and Alertmanager; its Prometheus port is
    VictoriaMetrics' (the sink and anything else asking "Prometheus" get its API)."""

    base: LocalStack
    replicas: int = 3
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # tests: timing
    ports: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        if name == "victoria-metrics":
            return self.base.url("prometheus")
        if name in self.ports:
            return f"http://127.0.0.1:{self.ports[name]}"
        return self.base.url(name)

    @property
    def exporter_names(self) -> list[str]:
        return [f"exporter-{i}" for i in range(1, self.replicas + 1)]

    @property
    def exporter_urls(self) -> list[str]:
        return [self.url(name) for name in self.exporter_names]

    @property
    def targets(self) -> list[str]:
        return [url.removeprefix("http://") for url in self.exporter_urls]

    def flags(self, component: str) -> list[str]:
        settings = dict(shipped_flags()[component])
        if component == "vmalert" and self.base.evaluation_interval:  # as Prometheus'
            settings["evaluationInterval"] = self.base.evaluation_interval
        return as_flags({**settings, **self.overrides.get(component, {})})

    def start(self) -> VictoriaStack:
        base = self.base
        base.check_can_start()
        extra = distinct_free_ports(self.replicas + 1, avoid=set(vars(base.ports).values()))
        self.ports = {"exporter-1": base.ports.exporter, "vmagent": extra[0], "vmalert": extra[1],
                      **{f"exporter-{i}": extra[i] for i in range(2, self.replicas + 1)}}
        work = base.workdir
        base.exporters = self.targets
        scrape = base.write_config("vmagent.yml", vmagent_config(base.prometheus_config()))
        am_cfg = base.write_config("alertmanager.yml", base.alertmanager_config())
        rules = vmalert_rule_dir(base.rules or rules_dir(), work / "vmalert-rules")
        vm = self.url("victoria-metrics")
        try:
            for name in self.exporter_names:
                base.spawn(name, base.exporter_command(self.ports[name], f"{name}-state"),
                            "/-/ready", base_url=self.url(name))
            base.spawn("sink", base.sink_command(), "/-/healthy",
                        inherit_stdout=base.sink_to_terminal)
            base.spawn("alertmanager", base.alertmanager_command(am_cfg), "/-/ready")
            base.spawn("victoria-metrics", [
                need("victoria-metrics"), f"-storageDataPath={work / 'victoria-metrics-data'}",
                f"-httpListenAddr=127.0.0.1:{base.ports.prometheus}", "-loggerLevel=WARN",
                # /api/v1/alerts and /api/v1/rules answered by vmalert, as Prometheus does
                # (the board's "firing now", Grafana's alert list)
                f"-vmalert.proxyURL={self.url('vmalert')}",
                *self.flags("victoria-metrics")], "/health", base_url=vm)
            base.spawn("vmagent", [
                need("vmagent"), f"-promscrape.config={scrape}",
                f"-remoteWrite.url={vm}/api/v1/write",
                f"-remoteWrite.tmpDataPath={work / 'vmagent-data'}",
                f"-httpListenAddr=127.0.0.1:{self.ports['vmagent']}", "-loggerLevel=WARN",
                *self.flags("vmagent")], "/health", base_url=self.url("vmagent"))
            base.spawn("vmalert", [
                need("vmalert"), *(f"-rule={path}" for path in rules),
                f"-datasource.url={vm}", f"-remoteWrite.url={vm}", f"-remoteRead.url={vm}",
                f"-notifier.url={base.url('alertmanager')}", f"-external.url={vm}",
                f"-httpListenAddr=127.0.0.1:{self.ports['vmalert']}", "-loggerLevel=WARN",
                *self.flags("vmalert")], "/health", base_url=self.url("vmalert"))
        except BaseException:
            base.stop()
            raise
        return self

    def stop(self) -> None:
        self.base.stop()

    def __enter__(self) -> VictoriaStack:
        return self if self.base.procs else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def render(rules: Path, prometheus_config: Path, out: Path) -> list[Path]:
    """What vmagent and vmalert read, derived from the files Prometheus reads: the rule
    files for vmalert (in order) and vmagent's scrape config. docker-compose's "vm" profile
    runs this before vmagent and vmalert start, so a retuned threshold table reaches both
    engines."""
    out.mkdir(parents=True, exist_ok=True)
    written = vmalert_rule_dir(rules, out / "rules")
    scrape = out / "vmagent.yml"
    config = yaml.safe_load(prometheus_config.read_text(encoding="utf-8"))
    scrape.write_text(yaml.safe_dump(vmagent_config(config), sort_keys=False),
                      encoding="utf-8")
    return [*written, scrape]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m txwatch.stack.victoria",
                                description=render.__doc__)
    p.add_argument("--rules", type=Path, default=rules_dir(), help="rule directory")
    p.add_argument("--prometheus-config", type=Path, default=prometheus_dir() /
                   "prometheus.yml", help="the Prometheus config to take scrape_configs from")
    p.add_argument("--out", type=Path, required=True, help="writes rules/ and vmagent.yml")
    args = p.parse_args(argv)
    try:
        written = render(args.rules, args.prometheus_config, args.out)
    except (OSError, ValueError, KeyError) as exc:
        print(f"txwatch.stack.victoria: {exc}", file=sys.stderr)
        return 2
    print("\n".join(str(path) for path in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
