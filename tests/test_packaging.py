"""The installed package: one top-level module and the shipped configs inside it, so the
tools work from a wheel as well as from this checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the checkout, so no stale build/ directory can leak into it."""
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "out", "*.egg-info", "__pycache__", ".*_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(source)], check=True, capture_output=True, timeout=300)
    (built,) = out.glob("txwatch-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_files(wheel: Path) -> set[str]:
    return set(zipfile.ZipFile(wheel).namelist())


@pytest.mark.slow
def test_wheel_adds_only_the_txwatch_namespace(wheel_files):
    top = {name.split("/")[0] for name in wheel_files if not name.startswith("txwatch-")}
    assert top == {"txwatch"}


@pytest.mark.slow
def test_wheel_carries_the_shipped_configs(wheel_files):
    for path in ("txwatch/rules/recording.yml", "txwatch/rules/thresholds.yml",
                 "txwatch/rules/alerts.yml", "txwatch/prometheus/prometheus.yml",
                 "txwatch/prometheus/prometheus-ha.yml", "txwatch/alertmanager/alertmanager.yml",
                 "txwatch/alertmanager/templates/txwatch.tmpl",
                 "txwatch/rules/tests/ratio_alerts_test.yml",
                 "txwatch/alertmanager/examples/all-receivers.yml", "txwatch/contract.py",
                 "txwatch/exporter/app.py", "txwatch/engines/server.py",
                 "txwatch/web/sink.py", "txwatch/web/static/board.js"):
        assert path in wheel_files, path


@pytest.mark.slow
def test_installed_copy_finds_its_own_configs(wheel, tmp_path):
    """Installed outside this checkout, the stack renders configs from the installed files."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=300)
    script = (
        "import json, txwatch\n"
        "from txwatch.stack.launcher import LocalStack\n"
        "stack = LocalStack(__import__('pathlib').Path('run'))\n"
        "print(json.dumps({'package': txwatch.__file__,\n"
        "    'rules': stack.prometheus_config()['rule_files'],\n"
        "    'templates': stack.alertmanager_config()['templates']}))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(target)})
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["package"].startswith(str(target))
    for path in found["rules"] + found["templates"]:
        assert path.startswith(str(target)), path
    assert all(Path(p).is_file() for p in found["rules"])
    assert [Path(p).name for p in found["rules"]] == ["recording.yml", "thresholds.yml",
                                                      "alerts.yml"]
