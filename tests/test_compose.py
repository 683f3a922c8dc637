"""Deployment configs: docker-compose (base, demo profile, HA override), the Dockerfile and
the Prometheus configs, checked with the real docker-compose and promtool."""

from __future__ import annotations

import shutil
import subprocess
import tomllib

import pytest
import yaml

from tests.conftest import REPO, require_binary
from txwatch.resources import prometheus_dir
from txwatch.stack.ha import HA_ALERTMANAGERS, ha_config_text

HA = ["-f", "docker-compose.yml", "-f", "docker-compose.ha.yml"]


def compose_config(*args: str) -> dict:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose not found: run scripts/setup"
    result = subprocess.run([binary, *args, "config"], capture_output=True, text=True,
                            timeout=60, cwd=REPO)
    assert result.returncode == 0, (args, result.stderr)
    return yaml.safe_load(result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("args", [[], ["--profile", "demo"], HA], ids=["base", "demo", "ha"])
def test_docker_compose_config_is_valid_and_images_pinned(args):
    for name, service in compose_config(*args)["services"].items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image"


@pytest.mark.slow
def test_ha_override_every_prometheus_replica_alerts_every_alertmanager():
    services = compose_config(*HA)["services"]
    replicas = {n: s for n, s in services.items() if s["image"].startswith("prom/prometheus")}
    assert set(replicas) == {"prometheus", "prometheus-b"}
    ha = yaml.safe_load((REPO / "prometheus" / "prometheus-ha.yml").read_text())
    targets = ha["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    managers = {n for n, s in services.items() if s["image"].startswith("prom/alertmanager")}
    assert {t.split(":")[0] for t in targets} == managers == {"alertmanager", "alertmanager-b"}
    seen = set()
    for service in replicas.values():
        assert "--config.file=/etc/prometheus/prometheus-ha.yml" in service["command"]
        assert "--enable-feature=expand-external-labels" in service["command"]
        seen.add(service["environment"]["TXWATCH_REPLICA"])
    assert seen == {"a", "b"}


def test_ha_config_is_the_single_config_plus_replica_and_both_alertmanagers():
    single = yaml.safe_load((prometheus_dir() / "prometheus.yml").read_text())
    ha = yaml.safe_load(ha_config_text((prometheus_dir() / "prometheus.yml").read_text()))
    assert ha["global"]["external_labels"].pop("replica") == "${TXWATCH_REPLICA}"
    assert ha["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == \
        list(HA_ALERTMANAGERS)
    ha["alerting"]["alertmanagers"] = single["alerting"]["alertmanagers"]
    assert ha == single


def test_dockerfile_copies_every_package_folder():
    copied = {source.rstrip("/") for line in (REPO / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY ") for source in line.split()[1:-1]}
    for source in copied:
        assert (REPO / source).exists(), source
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_dirs = set(pyproject["tool"]["setuptools"]["package-dir"].values())
    assert package_dirs <= copied, package_dirs - copied


@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus-ha.yml"])
def test_prometheus_configs_pass_promtool(name):
    result = subprocess.run([require_binary("promtool"), "check", "config",
                             str(REPO / "prometheus" / name)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
