"""High availability on loopback: two Prometheus replicas and two clustered Alertmanagers.

Both replicas evaluate the same rules over the same exporter and send every alert to both
Alertmanagers; the replicas differ only by the external label ``replica``, which alert
relabelling drops, so the Alertmanagers see one alert. The Alertmanagers gossip their
notification logs, so one notification leaves per alert; either can die. The exporter and
sink are the local stack's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from txwatch.prom.procs import free_port
from txwatch.stack.launcher import LocalStack, need

REPLICAS = ("a", "b")


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
            base._spawn("exporter", base.exporter_command(), "/-/ready")
            base._spawn("sink", base.sink_command(), "/-/healthy")
            am_cfg = base.workdir / "alertmanager.yml"
            am_cfg.write_text(yaml.safe_dump(base.alertmanager_config(), sort_keys=False))
            for r in REPLICAS:
                peers = [f"--cluster.peer=127.0.0.1:{gossip[o]}" for o in REPLICAS if o != r]
                base._spawn(f"alertmanager-{r}", [
                    need("prometheus-alertmanager"), f"--config.file={am_cfg}",
                    f"--storage.path={base.workdir / f'alertmanager-{r}'}",
                    f"--web.listen-address=127.0.0.1:{self.alertmanager_ports[r]}",
                    f"--cluster.listen-address=127.0.0.1:{gossip[r]}", *peers,
                    f"--cluster.peer-timeout={self.peer_timeout}", "--log.level=warn"],
                    "/-/ready", base_url=self.url(f"alertmanager-{r}"))
            for r in REPLICAS:
                cfg = base.workdir / f"prometheus-{r}.yml"
                cfg.write_text(yaml.safe_dump(self.prometheus_config(r), sort_keys=False))
                base._spawn(f"prometheus-{r}", [
                    need("prometheus"), f"--config.file={cfg}",
                    f"--storage.tsdb.path={base.workdir / f'prometheus-{r}'}",
                    f"--web.listen-address=127.0.0.1:{self.prometheus_ports[r]}",
                    "--log.level=warn", *base.prometheus_flags],
                    "/-/ready", base_url=self.url(f"prometheus-{r}"))
        except BaseException:
            base.stop()
            raise
        return self

    def prometheus_config(self, replica: str) -> dict:
        config = self.base.prometheus_config()
        config["global"].setdefault("external_labels", {})["replica"] = replica
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [
            f"127.0.0.1:{p}" for p in self.alertmanager_ports.values()]
        return config

    def kill(self, name: str) -> None:
        self.base.kill(name, hard=True)

    def stop(self) -> None:
        self.base.stop()

    def __enter__(self) -> HAStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
