"""High availability on loopback: two Prometheus replicas and two clustered Alertmanagers.

Both replicas load the shipped ``prometheus/prometheus-ha.yml`` (the file docker-compose's
HA override mounts), which differs from ``prometheus.yml`` only by the external label
``replica`` (taken from ``$TXWATCH_REPLICA``) and by alerting both Alertmanagers; alert
relabelling drops ``replica``, so the Alertmanagers see one alert. They gossip their
notification logs, so one notification leaves per alert; either can die. The exporter and
sink are the local stack's. :func:`ha_config` derives the HA file from the single one
(``scripts/generate.py`` writes it; a test fails when it is stale).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import yaml

from txwatch import ports
from txwatch.engines.procs import free_port, need
from txwatch.stack.launcher import LocalStack

REPLICAS = ("a", "b")
REPLICA_ENV = "TXWATCH_REPLICA"
# Compose service names of the two Alertmanagers (docker-compose.yml + docker-compose.ha.yml).
HA_ALERTMANAGERS = (f"alertmanager:{ports.ALERTMANAGER}", f"alertmanager-b:{ports.ALERTMANAGER}")
EXPAND_ENV_FLAG = "--enable-feature=expand-external-labels"


def ha_config(single: dict[str, Any]) -> dict[str, Any]:
    """The replica config: the single-server one plus a replica label and both AMs."""
    config = copy.deepcopy(single)
    config["global"].setdefault("external_labels", {})["replica"] = f"${{{REPLICA_ENV}}}"
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = \
        list(HA_ALERTMANAGERS)
    return config


def ha_config_text(single_text: str) -> str:
    header = (
        "# GENERATED from prometheus.yml by scripts/generate.py: edit prometheus.yml instead.\n"
        "# HA replicas (docker-compose.ha.yml, txwatch.stack.ha) run Prometheus with\n"
        f"# {EXPAND_ENV_FLAG} and {REPLICA_ENV}=a or b; the replica label\n"
        "# is dropped for alerts (alert_relabel_configs); every replica alerts both\n"
        "# Alertmanagers.\n")
    body = yaml.safe_dump(ha_config(yaml.safe_load(single_text)), sort_keys=False)
    return header + body


@dataclass
class HAStack:
    base: LocalStack
    peer_timeout: str = "2s"
    prometheus_ports: dict[str, int] = field(default_factory=dict)
    alertmanager_ports: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        kind, _, replica = name.partition("-")
        ports = self.prometheus_ports if kind == "prometheus" else self.alertmanager_ports
        return f"http://127.0.0.1:{ports[replica]}"

    def start(self) -> HAStack:
        base = self.base
        base.workdir.mkdir(parents=True, exist_ok=True)
        (base.workdir / "logs").mkdir(exist_ok=True)
        self.prometheus_ports = {r: free_port() for r in REPLICAS}
        self.alertmanager_ports = {r: free_port() for r in REPLICAS}
        gossip = {r: free_port() for r in REPLICAS}
        try:
            base.spawn("exporter", base.exporter_command(), "/-/ready")
            base.spawn("sink", base.sink_command(), "/-/healthy")
            am_cfg = base.write_config("alertmanager.yml", base.alertmanager_config())
            for r in REPLICAS:
                peers = [f"--cluster.peer=127.0.0.1:{gossip[o]}" for o in REPLICAS if o != r]
                base.spawn(f"alertmanager-{r}", [
                    need("prometheus-alertmanager"), f"--config.file={am_cfg}",
                    f"--storage.path={base.workdir / f'alertmanager-{r}'}",
                    f"--web.listen-address=127.0.0.1:{self.alertmanager_ports[r]}",
                    f"--cluster.listen-address=127.0.0.1:{gossip[r]}", *peers,
                    f"--cluster.peer-timeout={self.peer_timeout}", "--log.level=warn"],
                    "/-/ready", base_url=self.url(f"alertmanager-{r}"))
            for r in REPLICAS:
                cfg = base.workdir / f"prometheus-ha-{r}.yml"
                cfg.write_text(yaml.safe_dump(base.prometheus_config(
                    "prometheus-ha.yml", list(self.alertmanager_ports.values()),
                    self.prometheus_ports[r]), sort_keys=False))
                base.spawn(f"prometheus-{r}", [
                    need("prometheus"), f"--config.file={cfg}",
                    f"--storage.tsdb.path={base.workdir / f'prometheus-{r}'}",
                    f"--web.listen-address=127.0.0.1:{self.prometheus_ports[r]}",
                    EXPAND_ENV_FLAG, "--log.level=warn", *base.prometheus_flags],
                    "/-/ready", base_url=self.url(f"prometheus-{r}"), env={REPLICA_ENV: r})
        except BaseException:
            base.stop()
            raise
        return self

    def kill(self, name: str) -> None:
        self.base.kill(name, hard=True)

    def stop(self) -> None:
        self.base.stop()

    def __enter__(self) -> HAStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
