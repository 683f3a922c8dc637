"""Histories with segment columns (``timestamp,acquirer,status,count``): the loader keeps
every row and each segment's tables while the whole flow loads exactly as before, refuses
values the exporter would refuse by file, line and column; ``push`` sends the columns to an
exporter run with ``--segment.dimensions``; the ``segments`` profile generates skewed
segments with incidents in one, several and all of them, labelled by segment."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import metric_value
from txwatch import contract
from txwatch.backtest.incidents import IncidentsError, load_incidents, parse_incidents
from txwatch.exporter.config import Config
from txwatch.history import segmented
from txwatch.history.dataset import Dataset, HistoryError, load_dataset
from txwatch.history.generate import write
from txwatch.history.profiles import PROFILES
from txwatch.replay.push import batches, push

# The loaded tables of ``write(folder, 2, 1, profile=...)``, fingerprinted with the loader
# as it was before segment columns: a file without them must load to identical data.
BEFORE = {"demo": "87cc0cc8023473f8bef74cde96b2b4cc3a9ce7400e298e88503cc721ccec0471",
          "many_codes": "d2e12aa860f78b9e2cdd384b3097f72e288cd104e0a00fb859b3021beec644a1"}
SEGMENTED = ("timestamp,acquirer,status,count\n"
             "2025-07-12 13:45:00,acq-1,approved,5\n2025-07-12 13:45:00,acq-2,approved,3\n"
             "2025-07-12 13:45:00,,approved,2\n2025-07-12 13:46:00,acq-1,failed,1\n"
             "2025-07-12 13:46:00,NA,approved,4\n")
CODES = ("timestamp,auth_code,acquirer,count\n"  # another column order
         "2025-07-12 13:45:00,00,acq-1,5\n2025-07-12 13:46:00,51,acq-2,2\n")
LOAD = {"statuses": contract.STATUSES, "auth_codes": contract.AUTH_CODES}


def fingerprint(data: Dataset) -> str:
    digest = hashlib.sha256()
    for frame in (data.transactions, data.auth_codes, data.pushed.to_frame("pushed")):
        digest.update(frame.to_csv().encode())
        digest.update(repr((list(frame.dtypes.astype(str)), str(frame.index.dtype),
                            frame.index.freqstr, list(frame.columns))).encode())
    return digest.hexdigest()


def _files(folder: Path, **texts: str) -> list[Path]:
    for name, text in texts.items():
        (folder / f"{name}.csv").write_text(text)
    return [folder / f"{name}.csv" for name in texts]


# ---- the loader -------------------------------------------------------------------------
@pytest.mark.parametrize("profile", sorted(BEFORE))
def test_a_file_without_dimensions_loads_to_identical_data(tmp_path, profile):
    paths = write(tmp_path, 2, 1, profile=profile)
    data = load_dataset([paths["transactions"], paths["auth_codes"]], **LOAD)
    assert fingerprint(data) == BEFORE[profile]
    assert (data.dimensions, data.segment_transactions, data.segment_auth_codes) == ((), {}, {})


def test_splitting_a_file_into_segments_keeps_the_whole_flow(tmp_path):
    paths = write(tmp_path, 1, 2)
    plain = load_dataset([paths["transactions"], paths["auth_codes"]], **LOAD)
    rng = np.random.default_rng(0)
    for key in ("transactions", "auth_codes"):
        frame = pd.read_csv(paths[key], dtype={"auth_code": str})
        frame.insert(1, "acquirer", rng.choice(["acq-1", "acq-2", ""], len(frame)))
        frame.to_csv(tmp_path / f"seg-{key}.csv", index=False)
    split = load_dataset([tmp_path / "seg-transactions.csv", tmp_path / "seg-auth_codes.csv"],
                         **LOAD)
    pd.testing.assert_frame_equal(split.transactions, plain.transactions)
    pd.testing.assert_frame_equal(split.auth_codes, plain.auth_codes)
    pd.testing.assert_series_equal(split.pushed, plain.pushed)
    assert set(split.segment_transactions) == {"", "acquirer=acq-1", "acquirer=acq-2"}
    for whole, parts in ((split.transactions, split.segment_transactions),
                         (split.auth_codes, split.segment_auth_codes)):
        pd.testing.assert_frame_equal(sum(parts.values()), whole)


def test_every_row_is_kept_per_segment_and_na_is_a_value(tmp_path):
    data = load_dataset(_files(tmp_path, tx=SEGMENTED, codes=CODES), **LOAD)
    assert data.dimensions == ("acquirer",)
    assert data.transactions["approved"].tolist() == [10, 4]
    seg = data.segment_transactions
    assert sorted(seg) == ["", "acquirer=NA", "acquirer=acq-1", "acquirer=acq-2"]
    assert seg["acquirer=acq-1"]["approved"].tolist() == [5, 0]
    assert seg["acquirer=acq-1"]["failed"].tolist() == [0, 1]
    assert seg[""]["approved"].tolist() == [2, 0]  # an empty cell: the default segment
    assert seg["acquirer=NA"]["approved"].tolist() == [0, 4]  # "NA" is no missing value
    assert list(seg["acquirer=acq-2"].columns) == list(contract.STATUSES)
    assert data.segment_auth_codes["acquirer=acq-2"]["51"].tolist() == [0, 2]


@pytest.mark.parametrize("cell, shown", [("acq 1", "'acq 1'"), ("-acq", "'-acq'"),
                                         ("é", "'é'"), ("x" * 65, "'" + "x" * 64 + "'")])
def test_a_value_the_exporter_would_refuse_is_one_line_naming_file_line_column(
        tmp_path, cell, shown):
    text = SEGMENTED + f"2025-07-12 13:47:00,{cell},approved,1\n"
    with pytest.raises(HistoryError) as refused:
        load_dataset(_files(tmp_path, tx=text), **LOAD)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'tx.csv'}: line 7, ")
    assert f"column acquirer: {shown} is not a segment value" in message
    assert contract.SEGMENT_VALUE_PATTERN in message


@pytest.mark.parametrize("column", ["job", "Unnamed: 0", "__x"])
def test_a_column_that_cannot_be_a_dimension_is_refused_by_name(tmp_path, column):
    text = f"timestamp,{column},status,count\n2025-07-12 13:45:00,a,approved,1\n"
    with pytest.raises(HistoryError, match=f"column '{column}' is not a dimension"):
        load_dataset(_files(tmp_path, tx=text), **LOAD)


# ---- push -------------------------------------------------------------------------------
def test_push_sends_segment_columns_an_exporter_with_dimensions_counts(start_exporter,
                                                                       tmp_path):
    files = [str(p) for p in _files(tmp_path, tx=SEGMENTED, codes=CODES)]
    assert batches(files)[0][0].body.splitlines()[:2] == [
        "timestamp,acquirer,status,count", "2025-07-12 13:45:00,acq-1,approved,5"]
    ex = start_exporter(Config(dimensions=("acquirer", "method")), now=1_752_400_000.0)
    summary = push(files, ex.url)
    assert summary.failed == [] and (summary.records, summary.transactions) == (7, 22)
    text = ex.metrics()
    family = contract.TRANSACTIONS.counter
    assert metric_value(text, family, acquirer="acq-1", status="approved") == 5
    assert metric_value(text, family, acquirer="acq-1", status="failed") == 1
    assert metric_value(text, family, acquirer="NA", status="approved") == 4
    assert metric_value(text, family, status="approved") == 2  # the default segment
    assert metric_value(text, contract.AUTH_CODE_COUNTS.counter, acquirer="acq-2",
                        auth_code="51") == 2


def test_push_of_segments_to_an_exporter_without_dimensions_fails_with_its_error(
        start_exporter, tmp_path):
    ex = start_exporter(Config(), now=1_752_400_000.0)
    summary = push([str(p) for p in _files(tmp_path, tx=SEGMENTED)], ex.url, retries=2)
    assert summary.retries == 0 and len(summary.failed) == 2
    assert "HTTP 400" in summary.failed[0] and "CSV header must name columns" in \
        summary.failed[0] and "acquirer" in summary.failed[0]


# ---- the generator ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Dataset]:
    paths = write(tmp_path_factory.mktemp("seg"), 4, 7, profile="segments")
    return paths, load_dataset([paths["transactions"], paths["auth_codes"]], **LOAD)


def _share(frame: pd.DataFrame, rows: pd.Index | np.ndarray, *statuses: str) -> float:
    part = frame.loc[rows]
    return float(part[list(statuses)].sum().sum() / part.sum().sum())


def _during(data: Dataset, incident: dict) -> pd.DatetimeIndex:
    return data.transactions.loc[pd.Timestamp(incident["start"], tz="UTC"):
                                 pd.Timestamp(incident["end"], tz="UTC")].index


def test_segments_are_skewed_with_their_own_normals(made):
    _paths, data = made
    plan = PROFILES["segments"].segments
    assert plan is not None and 10 <= plan.count <= 50
    expected = segmented.sizes(plan)
    totals = pd.Series({k: v.to_numpy().sum() for k, v in data.segment_transactions.items()})
    measured = (totals / totals.sum()).sort_index().to_numpy()
    assert np.all(np.diff(expected) < 0) and expected[:3].sum() > 0.3  # a few large ...
    assert expected[-1] < 0.006 and (expected < 0.01).sum() >= 20  # ... a long tail
    assert abs(expected[3] - 0.05) < 0.005 and abs(expected[24] - 0.01) < 0.001
    assert np.allclose(measured, expected, rtol=0.15)  # acq-01 .. acq-50, sorted by name
    quiet = data.transactions.index[:1440]  # the first day has no incident
    denied = [_share(t, quiet, "denied") for t in data.segment_transactions.values()]
    assert max(denied) > 1.5 * min(denied)  # each segment its own normal


def test_incidents_show_in_the_segments_they_name_and_barely_in_the_whole_flow(made):
    paths, data = made
    labels = json.loads(paths["incidents"].read_text())["incidents"]
    seg = data.segment_transactions
    kinds = {i["kind"]: i for i in labels}
    failing = kinds["acquirer_failing"]  # acq-04, ~5% of the traffic, for 10 minutes
    assert failing["segments"] == ["acquirer=acq-04"]
    during = _during(data, failing)
    assert _share(seg["acquirer=acq-04"], during, "failed") > 0.99
    assert _share(data.transactions, during, "failed") < 0.08  # diluted in the whole flow
    rise = kinds["denied_rise_segment"]  # acq-25, ~1%, +10 points for 20 minutes
    assert rise["segments"] == ["acquirer=acq-25"]
    quiet = data.transactions.index[:1440]
    normal = _share(seg["acquirer=acq-25"], quiet, "denied")
    assert abs(_share(seg["acquirer=acq-25"], _during(data, rise), "denied")
               - normal - 0.10) < 0.04
    several, every = (i for i in labels if i["kind"] == "failed_spike")
    assert several["segments"] == ["acquirer=acq-02", "acquirer=acq-09", "acquirer=acq-17"]
    assert len(every["segments"]) == 50
    for name, frame in seg.items():
        hit = _share(frame, _during(data, several), "failed")
        assert (hit > 0.04) if name in several["segments"] else (hit < 0.02), name
    shares = [_share(frame, _during(data, every), "failed") for frame in seg.values()]
    assert np.median(shares) > 0.04 and min(shares) > 0.015


def test_the_whole_flow_is_the_sum_and_codes_follow_each_segment(made):
    paths, data = made
    pd.testing.assert_frame_equal(sum(data.segment_transactions.values()), data.transactions)
    pd.testing.assert_frame_equal(sum(data.segment_auth_codes.values()), data.auth_codes)
    for name, frame in data.segment_transactions.items():
        codes = data.segment_auth_codes[name]
        assert (codes["00"] == frame["approved"]).all(), name
        assert (codes.drop(columns="00").sum(axis=1) == frame["denied"]).all(), name
    assert data.pushed.all()  # every minute has rows (each segment's approved row)
    header = paths["transactions"].read_text().split("\n", 1)[0]
    assert header == "timestamp,acquirer,status,count"


def test_the_incidents_file_names_segments_and_older_files_still_load(made, tmp_path):
    paths, _data = made
    loaded = load_incidents(paths["incidents"])
    assert loaded[0].segments == ("acquirer=acq-04",)
    plain = [{k: v for k, v in i.items() if k != "segments"}
             for i in json.loads(paths["incidents"].read_text())["incidents"]]
    assert all(i.segments == () for i in parse_incidents(plain, "old"))
    for wrong in (["acq-04"], "acquirer=acq-04", ["acquirer=acq 4"]):
        with pytest.raises(IncidentsError, match="incident 1: segment"):
            parse_incidents([{**plain[0], "segments": wrong}], "x")
