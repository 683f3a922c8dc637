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
from txwatch.stack.victoria import as_flags, shipped_flags
from txwatch.stack.victoria import main as render_vm_config

HA = ["-f", "docker-compose.yml", "-f", "docker-compose.ha.yml"]


def compose_config(*args: str) -> dict:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose not found: run scripts/setup"
    result = subprocess.run([binary, *args, "config"], capture_output=True, text=True,
                            timeout=60, cwd=REPO)
    assert result.returncode == 0, (args, result.stderr)
    return yaml.safe_load(result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("args", [[], ["--profile", "demo"], ["--profile", "vm"], HA],
                         ids=["base", "demo", "vm", "ha"])
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


@pytest.mark.slow
def test_vm_profile_runs_the_engines_with_the_shipped_flags_and_rule_order():
    services = compose_config("--profile", "vm")["services"]
    flags = shipped_flags()
    for component, service in (("victoria-metrics", "victoriametrics"),
                               ("vmagent", "vmagent"), ("vmalert", "vmalert")):
        command = [arg.replace("$$", "$") for arg in services[service]["command"]]
        missing = set(as_flags(flags[component])) - set(command)
        assert not missing, f"{service}: {missing}"
        assert services[service]["image"].endswith(":v1.79.5")  # the release tests run
    rules = [arg for arg in services["vmalert"]["command"] if arg.startswith("-rule=")]
    assert [r.rsplit("/", 1)[1] for r in rules] == \
        ["thresholds.yml", "recording.yml", "alerts.yml"]


def test_vm_config_renders_files_the_real_vmagent_and_vmalert_accept(tmp_path):
    assert render_vm_config(["--out", str(tmp_path)]) == 0
    rules = [f"-rule={tmp_path / 'rules' / name}"
             for name in ("thresholds.yml", "recording.yml", "alerts.yml")]
    checks = [[require_binary("vmalert"), "-dryRun", *rules, "-loggerLevel=ERROR"],
              [require_binary("vmagent"), f"-promscrape.config={tmp_path / 'vmagent.yml'}",
               "-promscrape.config.dryRun", "-loggerLevel=ERROR"]]
    for command in checks:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "keep_firing_for" not in (tmp_path / "rules" / "alerts.yml").read_text()
    scrape = yaml.safe_load((tmp_path / "vmagent.yml").read_text())
    assert [job["job_name"] for job in scrape["scrape_configs"]] == ["txwatch"]


def test_vm_config_refuses_a_rule_directory_without_thresholds(tmp_path, capsys):
    (tmp_path / "rules").mkdir()
    assert render_vm_config(["--rules", str(tmp_path / "rules"), "--out",
                             str(tmp_path / "out")]) == 2
    assert "thresholds.yml" in capsys.readouterr().err


def test_vm_flags_are_rendered_in_victoriametrics_style():
    assert as_flags({"search.latencyOffset": "5s", "disableAlertgroupLabel": True,
                     "off": False, "unset": None}) == \
        ["-search.latencyOffset=5s", "-disableAlertgroupLabel"]
    for component, flags in shipped_flags().items():
        assert flags, f"{component}: no flags"
