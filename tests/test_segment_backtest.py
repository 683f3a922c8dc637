"""A short segmented history backtested against the shipped rules (the full 14 days and 50
acquirers: bench/profiles.py --profile segments): an acquirer failing fully is paged within
3 data minutes by a page that names it, an acquirer losing most of its traffic too, an
incident in every acquirer at once is one page, and nothing else pages."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from txwatch import contract
from txwatch.backtest.run import run
from txwatch.backtest.scoring import load_incidents
from txwatch.history.dataset import load_dataset
from txwatch.history.generate import generate
from txwatch.history.profiles import PROFILES
from txwatch.resources import rules_dir

# 12 acquirers (acq-04 carries ~7%), three days: the first teaches the normals.
SCHEDULE = (("acquirer_failing", 14, (4,)), ("partial_outage", 11, (2,)),
            ("failed_spike", 3, None), ("acquirer_failing", 16, (9,)))


@pytest.mark.slow
def test_segment_incidents_are_each_one_page_naming_the_segment(tmp_path: Path):
    base = PROFILES["segments"]
    assert base.segments is not None
    profile = replace(base, segments=replace(base.segments, count=12, schedule=SCHEDULE))
    tx, codes, incidents = generate(3, 5, profile=profile)
    files = [tmp_path / "transactions.csv", tmp_path / "transactions_auth_codes.csv"]
    tx.to_csv(files[0], index=False)
    codes.to_csv(files[1], index=False)
    labels = tmp_path / "incidents.json"
    labels.write_text(json.dumps({"incidents": incidents}))
    data = load_dataset(files, contract.STATUSES, contract.AUTH_CODES)
    score = run(data, rules_dir(), load_incidents(labels)).score
    assert score is not None and score.incidents == 4
    assert score.caught == score.incidents, score.missed
    assert score.false_critical == 0, score.false_alerts
    for label, found in score.per_incident.items():
        assert found["pages"] == 1, (label, found)  # one page, whatever the segments
        if label.startswith(("acquirer_failing", "partial_outage")):
            assert found["named_delay"] is not None and found["named_delay"] <= 3, (label, found)
