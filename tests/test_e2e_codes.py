"""A code the table does not list, end to end: pushed, accepted, paged on, backtested alike.

An issuer starts answering 91 (issuer unavailable), a code neither the contract
(``txwatch.contract.AUTH_CODES``) nor the threshold table (rules/thresholds.yml) lists. The
same pushes go twice through the shipped rules:

* live, real processes on loopback (exporter -> Prometheus -> Alertmanager -> sink), one
  push a second, each push one data minute. The rules are the shipped ones rendered with a
  second for each data minute where it matters: the code's 10-minute window becomes 10 s
  (with the shipped 10 minutes, the whole run would be one diluted window), its 5-minute
  watch step 5 s, its ``for`` and the keeps 5 s. The exporter must take 91 and the sink
  receive PaymentAuthCodeShareHigh about its burst (a warning, to the chat receiver), the
  message naming the code and its share;
* as a history (the per-minute CSVs of the data set), evaluated by the backtest with the
  shipped rules as rendered for production, where the data minutes are real minutes: 91 is
  watched from the 5-minute edge after it appears and the normals are learned from the
  40 minutes of steady traffic before it. The backtest must show the same alert, about 91,
  starting during the burst.
"""

from __future__ import annotations

import csv
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import requests

from tests.conftest import REPO, metric_value
from txwatch import contract
from txwatch.rules import Settings, write_rule_dir
from txwatch.stack.launcher import LocalStack
from txwatch.web.sink import read_log

CODE = "91"  # issuer unavailable: in neither the contract's list nor the table
ALERT = "PaymentAuthCodeShareHigh"
APPROVED, DENIED = "approved", "denied"
DECLINES = {"51": 0.03, "59": 0.015}  # each code's share of all transactions, steady
BURST_SHARE = 0.03  # 91's share of all transactions during the burst
NORMAL, BURST, TAIL = 40, 20, 5  # data minutes of each phase, in order
# One second of the live stack stands for one data minute of the history.
LIVE = Settings(auth_code_window="10s", code_watch_step="5s", auth_code_for="5s",
                keep_firing_for="5s", keep_fast_firing_for="5s", keep_slow_firing_for="5s")
SUMMARY = re.compile(rf"issuer auth code {CODE} share (?P<share>[0-9.]+)% over 10s "
                     r"\((?P<k>\d+) of (?P<n>\d+)\), limit (?P<limit>[0-9.]+)%")


@dataclass(frozen=True)
class Minute:
    """One data minute: its transactions by status and auth codes by code (00 = approved,
    the decline codes add up to denied)."""

    at: datetime
    codes: dict[str, int]

    @property
    def statuses(self) -> dict[str, int]:
        approved = self.codes[contract.APPROVED_AUTH_CODE]
        return {APPROVED: approved, DENIED: sum(self.codes.values()) - approved}

    def bodies(self) -> tuple[list[dict], list[dict]]:
        """The two pushes of this minute: (transactions, auth codes)."""
        stamp = self.at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return ([{"timestamp": stamp, "status": s, "count": n}
                 for s, n in self.statuses.items()],
                [{"timestamp": stamp, "auth_code": c, "count": n}
                 for c, n in self.codes.items()])


def history(start: datetime, seed: int = 91) -> list[Minute]:
    """Steady traffic (100-150 a minute), then 91 at BURST_SHARE of it, then steady again."""
    rng = np.random.default_rng(seed)
    minutes = []
    for i in range(NORMAL + BURST + TAIL):
        total = int(rng.integers(100, 151))
        shares = dict(DECLINES, **({CODE: BURST_SHARE} if NORMAL <= i < NORMAL + BURST
                                   else {}))
        declines = {code: int(rng.binomial(total, share)) for code, share in shares.items()}
        if CODE in declines:
            declines[CODE] = max(declines[CODE], 1)  # every burst minute carries the code
        approved = total - sum(declines.values())
        minutes.append(Minute(start + timedelta(minutes=i),
                              {contract.APPROVED_AUTH_CODE: approved, **declines}))
    return minutes


def write_history(minutes: list[Minute], folder: Path) -> list[Path]:
    """The data set's two files: transactions.csv and transactions_auth_codes.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    tx, ac = folder / "transactions.csv", folder / "transactions_auth_codes.csv"
    with tx.open("w", newline="") as t, ac.open("w", newline="") as a:
        tx_rows, ac_rows = csv.writer(t), csv.writer(a)
        tx_rows.writerow(["timestamp", "status", "count"])
        ac_rows.writerow(["timestamp", "auth_code", "count"])
        for minute in minutes:
            stamp = minute.at.strftime("%Y-%m-%d %H:%M:%S")
            tx_rows.writerows([stamp, s, n] for s, n in minute.statuses.items())
            ac_rows.writerows([stamp, c, n] for c, n in minute.codes.items())
    return [tx, ac]


def backtest(files: list[Path]):
    from txwatch.backtest.run import run
    from txwatch.history.dataset import load_dataset
    from txwatch.resources import rules_dir

    data = load_dataset(files, contract.STATUSES, contract.AUTH_CODES)
    return run(data, rules_dir(), None)


def _about_code(row: dict) -> bool:
    return (row["labels"].get("alertname") == ALERT
            and row["labels"].get("auth_code") == CODE and row["status"] == "firing")


def _push(stack: LocalStack, minute: Minute) -> None:
    transactions, codes = minute.bodies()
    for kind, body in ((contract.TRANSACTIONS, transactions),
                       (contract.AUTH_CODE_COUNTS, codes)):
        requests.post(stack.url("exporter") + kind.path, json=body,
                      timeout=5).raise_for_status()


@pytest.mark.slow
def test_an_unlisted_code_is_accepted_paged_on_live_and_in_the_backtest(fast_stack, tmp_path):
    assert CODE not in contract.AUTH_CODES
    assert f'auth_code: "{CODE}"' not in (REPO / "rules" / "thresholds.yml").read_text()
    # Data minutes in the past, from an hour edge (the exporter refuses future ones)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    minutes = history(start)
    pushed = sum(m.codes.get(CODE, 0) for m in minutes)
    assert pushed > 0 and all(CODE in m.codes for m in minutes[NORMAL:NORMAL + BURST])

    # ---- live: one data minute a second through the whole stack ----
    rules = tmp_path / "rules"
    write_rule_dir(rules, LIVE)
    with fast_stack(rules=rules) as stack:
        metrics = stack.url("exporter") + "/metrics"
        burst_began = burst_ended = 0.0
        for i, minute in enumerate(minutes):
            tick = time.monotonic()
            if i == NORMAL:
                assert not [r for r in read_log(stack.sink_log, 1000) if _about_code(r)]
                assert f'auth_code="{CODE}"' not in requests.get(metrics, timeout=5).text
                burst_began = time.time()
            _push(stack, minute)
            if i == NORMAL + BURST - 1:
                burst_ended = time.time()
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        deadline = time.monotonic() + 10
        while not (sent := [r for r in read_log(stack.sink_log, 1000) if _about_code(r)]):
            assert time.monotonic() < deadline, (
                f"no {ALERT} about {CODE}; sink has {read_log(stack.sink_log, 1000)}")
            time.sleep(0.5)

        exposed = requests.get(metrics, timeout=5).text
        assert metric_value(exposed, contract.AUTH_CODE_COUNTS.counter,
                            auth_code=CODE) == pushed

    first = sent[-1]  # newest first
    assert burst_began < first["received_at"] < burst_ended + TAIL + 2, (
        first["received_at"] - burst_began)
    assert first["labels"] == {"alertname": ALERT, "auth_code": CODE, "job": contract.JOB,
                               "severity": "warning", "status": DENIED,
                               "monitor": "txwatch"}, first["labels"]
    assert first["receiver"] == "chat"
    summary = first["annotations"]["summary"]
    found = SUMMARY.fullmatch(summary)
    assert found, summary
    share, limit = float(found["share"]), float(found["limit"])
    k, n = int(found["k"]), int(found["n"])
    assert 0 < k <= pushed and k < n, summary
    assert share == pytest.approx(100 * k / n, abs=0.01), summary
    assert limit < share < 3 * BURST_SHARE * 100, summary
    assert f"were code {CODE}" in first["annotations"]["description"]

    # ---- the same pushes as a history, backtested with the shipped rules ----
    result = backtest(write_history(minutes, tmp_path / "history"))
    assert result.data.start == start and len(result.data.transactions) == len(minutes)
    assert CODE in result.data.auth_codes.columns
    episodes = [e for e in result.episodes
                if e.alertname == ALERT and e.labels.get("auth_code") == CODE]
    assert len(episodes) == 1, result.episode_lines()
    episode = episodes[0]
    assert NORMAL <= episode.start < NORMAL + BURST, result.episode_lines()
    assert episode.notifies and not episode.paging
    assert episode.labels["status"] == DENIED
