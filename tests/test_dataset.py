"""Loading a user's history drops nothing silently: every auth code of the file is kept
(and becomes a scraped counter in backfills and backtests); statuses the rules and the
exporter do not know refuse the file, by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from txwatch import contract
from txwatch.history import promsource
from txwatch.history.dataset import load_dataset
from txwatch.history.scrape import scrape_series

TX = ("timestamp,status,count\n"
      "2025-07-12 13:46:00,approved,8\n2025-07-12 13:45:00,approved,10\n"
      "2025-07-12 13:45:00,denied,3\n2025-07-12 13:46:00,denied,2\n")
CODES = ("timestamp,auth_code,count\n"  # sorted by code, like the data set
         "2025-07-12 13:45:00,00,10\n2025-07-12 13:46:00,00,8\n2025-07-12 13:46:00,05,2\n"
         "2025-07-12 13:45:00,51,1\n2025-07-12 13:45:00,91,2\n")


def _files(tmp_path: Path, tx: str = TX, codes: str = CODES) -> list[Path]:
    paths = [tmp_path / "tx.csv", tmp_path / "codes.csv"]
    for path, text in zip(paths, (tx, codes), strict=True):
        path.write_text(text)
    return paths


def test_every_auth_code_is_kept_the_contracts_first(tmp_path):
    data = load_dataset(_files(tmp_path), contract.STATUSES, contract.AUTH_CODES)
    assert list(data.auth_codes.columns) == ["00", "51", "59", "05", "91"]
    assert data.auth_codes["91"].tolist() == [2, 0]
    assert data.auth_codes["05"].tolist() == [0, 2]
    assert data.auth_codes["59"].tolist() == [0, 0]  # listed, absent: still a column
    assert list(data.transactions.columns) == list(contract.STATUSES)


def test_without_a_codes_file_the_contracts_codes_are_zero(tmp_path):
    data = load_dataset(_files(tmp_path)[:1], contract.STATUSES, contract.AUTH_CODES)
    assert list(data.auth_codes.columns) == list(contract.AUTH_CODES)
    assert data.auth_codes.to_numpy().sum() == 0


def test_unknown_statuses_refuse_the_file_by_name(tmp_path):
    tx = TX + "2025-07-12 13:45:00,stolen,1\n2025-07-12 13:46:00,chargeback,4\n"
    with pytest.raises(ValueError, match="chargeback, stolen") as refused:
        load_dataset(_files(tmp_path, tx), contract.STATUSES, contract.AUTH_CODES)
    message = str(refused.value)
    assert "tx.csv" in message and "approved, denied" in message
    assert "--payment.statuses" in message and "txwatch.contract.STATUSES" in message


def test_simulated_scrapes_count_every_code(tmp_path):
    data = load_dataset(_files(tmp_path), contract.STATUSES, contract.AUTH_CODES)
    series = list(scrape_series(data, scrapes_per_minute=2))
    codes = {s.labels["auth_code"]: s.values.tolist() for s in series
             if s.name == contract.AUTH_CODE_COUNTS.counter}
    assert set(codes) == {"00", "51", "59", "05", "91"}
    assert codes["91"] == [2.0, 2.0, 2.0, 2.0] and codes["05"] == [0.0, 0.0, 2.0, 2.0]
    accepted = next(s for s in series if s.labels.get("kind") == "auth_codes")
    assert accepted.values.tolist() == [5.0, 5.0, 10.0, 10.0]  # one record per code a minute


def test_history_read_from_prometheus_keeps_every_code_and_refuses_unknown_statuses(
        monkeypatch):
    """``tune --prometheus`` follows the CSV loader: each code Prometheus holds is a column,
    and a status the configuration does not list refuses the history."""
    start = pd.Timestamp("2025-07-12 13:45", tz="UTC")
    answers = {"status": {"approved": np.array([0.0, 10, 18]), "denied": np.array([0.0, 3, 5])},
               "auth_code": {"00": np.array([0.0, 10, 18]), "91": np.array([0.0, 2, 2]),
                             "05": np.array([0.0, 0, 2]), "51": np.array([0.0, 1, 1])}}

    def query(url, expr, begin, steps, timeout):  # type: ignore[no-untyped-def]
        return answers["status" if "(status)" in expr else "auth_code"]

    monkeypatch.setattr(promsource, "_query", query)
    data = promsource.fetch_dataset("http://prom", start, start + pd.Timedelta("2min"))
    assert list(data.auth_codes.columns) == ["00", "51", "59", "05", "91"]
    assert data.auth_codes["91"].tolist() == [2, 0] and data.auth_codes["05"].tolist() == [0, 2]
    answers["status"]["stolen"] = np.array([0.0, 1, 1])
    with pytest.raises(ValueError, match="unknown status\\(es\\) stolen"):
        promsource.fetch_dataset("http://prom", start, start + pd.Timedelta("2min"))
