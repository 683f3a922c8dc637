"""Generated files are fresh, and /metrics passes the real ``promtool check metrics``."""

from __future__ import annotations

import subprocess
import sys

import requests

from tests.conftest import REPO, require_binary


def promtool_check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), "check", "metrics"], input=text,
                          capture_output=True, text=True, timeout=30)


def test_generated_files_are_fresh():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "generate.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_stored_metrics_sample_is_lint_clean():
    sample = (REPO / "docs" / "metrics-sample.prom").read_text(encoding="utf-8")
    assert "payment_transactions_total" in sample
    result = promtool_check_metrics(sample)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


def test_live_metrics_after_traffic_are_lint_clean(start_exporter):
    ex = start_exporter()
    requests.post(ex.url + "/api/v1/transactions", json=[{"status": "failed"}], timeout=5)
    requests.post(ex.url + "/api/v1/transactions", json={"status": "nope"}, timeout=5)
    result = promtool_check_metrics(ex.metrics())
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_catches_a_broken_sample():
    broken = "# TYPE payment_transactions counter\npayment_transactions{status=\"x\"} 1\n"
    assert promtool_check_metrics(broken).returncode != 0
