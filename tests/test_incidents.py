"""Labelled incidents as users hand them over: both shapes, and every wrong file refused in
one line (exit 2) by ``txwatch-replay backtest`` and ``tune``, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from txwatch.backtest.incidents import INCIDENTS_FORMAT, IncidentsError, load_incidents
from txwatch.history.generate import write
from txwatch.replay.cli import main


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "txwatch.replay", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write(tmp_path_factory.mktemp("d"), days=2, seed=21)  # 3 incidents, all caught


def test_the_plain_list_reads_as_the_generators_object(day, tmp_path):
    wrapped = json.loads(day["incidents"].read_text())["incidents"]
    assert wrapped, "the generator labelled no incident"
    plain = tmp_path / "plain.json"
    # other tools write a bare list, some with "name" where the generator says "kind"
    plain.write_text(json.dumps([{("name" if n % 2 else "kind"): i["kind"],
                                  **{k: i[k] for k in ("start", "end", "statuses")}}
                                 for n, i in enumerate(wrapped)]))
    assert load_incidents(plain) == load_incidents(day["incidents"])
    first = load_incidents(plain)[0]
    assert first.start == pd.Timestamp(wrapped[0]["start"], tz="UTC")
    assert first.kind == wrapped[0]["kind"] and first.statuses == tuple(wrapped[0]["statuses"])


def test_incidents_about_the_whole_flow_load(tmp_path):
    """Outages and volume drops are labelled "all" (the whole flow), as the generator writes
    them; the loader must not refuse them as an unknown status."""
    labels = [{"start": "2025-01-07 10:00", "end": "2025-01-07 10:09",
               "statuses": ["all", "approved"], "kind": "full_outage"}]
    path = tmp_path / "outage.json"
    path.write_text(json.dumps(labels))
    assert load_incidents(path)[0].statuses == ("all", "approved")
    path.write_text(json.dumps([labels[0] | {"statuses": ["al"]}]))
    with pytest.raises(IncidentsError, match="unknown status 'al'"):
        load_incidents(path)


def test_a_time_with_a_zone_keeps_it():
    from txwatch.backtest.incidents import parse_incidents

    [one] = parse_incidents([{"start": "2025-01-07T03:15:00+01:00", "end": "2025-01-07 02:44",
                              "statuses": ["failed"], "name": "x"}], "test")
    assert one.start == pd.Timestamp("2025-01-07 02:15", tz="UTC") == \
        one.end - pd.Timedelta(minutes=29)


BAD = {
    "not json": ("{'incidents': []}", "not JSON"),
    "a number": ("3", "expected a list of incidents"),
    "not objects": ('["2025-01-07 02:15"]', "incident 1: expected an object, got str"),
    "no statuses": ('[{"start": "2025-01-07 02:15", "end": "2025-01-07 02:44", "name": "x"}]',
                    "incident 1: missing statuses"),
    "no name": ('{"incidents": [{"start": "2025-01-07 02:15", "end": "2025-01-07 02:44", '
                '"statuses": ["failed"]}]}', "incident 1: missing kind (or name)"),
    "one status as text": ('[{"start": "2025-01-07 02:15", "end": "2025-01-07 02:44", '
                           '"statuses": "failed", "kind": "x"}]',
                           'statuses must be a non-empty list of status names, got "failed"'),
    "unknown status": ('[{"start": "2025-01-07 02:15", "end": "2025-01-07 02:44", '
                       '"statuses": ["failed"], "kind": "x"}, {"start": "2025-01-07 03:15", '
                       '"end": "2025-01-07 03:44", "statuses": ["faild"], "kind": "x"}]',
                       "incident 2: unknown status 'faild'"),
    "bad time": ('[{"start": "yesterday-ish", "end": "2025-01-07 02:44", '
                 '"statuses": ["failed"], "kind": "x"}]', 'incident 1: start: not a time'),
    "empty time": ('[{"start": "2025-01-07 02:15", "end": "", '
                   '"statuses": ["failed"], "kind": "x"}]', 'incident 1: end: not a time'),
    "backwards": ('[{"start": "2025-01-07 02:15", "end": "2025-01-07 02:14", '
                  '"statuses": ["failed"], "kind": "x"}]', "end 2025-01-07 02:14 is before"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_malformed_incidents_file_is_one_line_and_exit_2(case, day, tmp_path, capsys):
    text, expected = BAD[case]
    path = tmp_path / "incidents.json"
    path.write_text(text)
    with pytest.raises(IncidentsError, match=str(path)):
        load_incidents(path)
    for command in ("backtest", "tune"):
        extra = ["--dry-run"] if command == "tune" else []
        assert main([command, "--data", str(day["transactions"]), "--incidents", str(path),
                     *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"txwatch-replay {command}: {path}"), err
        assert expected in err, err


def test_missing_files_are_one_line_and_exit_2(day, tmp_path):
    missing = tmp_path / "missing.csv"
    for args in (["backtest", "--data", str(missing)],
                 ["backtest", "--data", str(day["transactions"]), "--incidents",
                  str(tmp_path / "missing.json")],
                 ["tune", "--dry-run", "--data", str(missing)],
                 ["analyze", str(missing)]):
        out = _cli(*args)
        assert out.returncode == 2, out.stderr
        lines = out.stderr.splitlines()
        assert len(lines) == 1 and "No such file or directory" in lines[0], out.stderr
        assert lines[0].startswith(f"txwatch-replay {args[0]}: ") and "missing." in lines[0]


def test_the_incidents_format_is_in_the_help_and_the_docs():
    for command in ("backtest", "tune"):
        out = _cli(command, "--help")
        assert out.returncode == 0
        flat = " ".join(out.stdout.split())
        assert '{"incidents": [...]}' in flat and "plain list" in flat, command
        assert '"name" instead of "kind"' in flat and "inclusive" in flat, command
    replay_doc = (Path(__file__).parent.parent / "docs" / "replay.md").read_text()
    assert '{"incidents": [...]}' in replay_doc and '"name"' in replay_doc
    assert "plain list" in replay_doc
    assert INCIDENTS_FORMAT.startswith("incidents file: JSON")


@pytest.mark.slow
def test_backtest_scores_a_plain_list(day, tmp_path):
    """The plain list is not only parsed: the backtest scores the incidents it names."""
    plain = tmp_path / "plain.json"
    wrapped = json.loads(day["incidents"].read_text())["incidents"]
    plain.write_text(json.dumps([{**i, "name": i.pop("kind")} for i in wrapped]))
    out = _cli("backtest", "--json", "--data", str(day["transactions"]),
               str(day["auth_codes"]), "--incidents", str(plain))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["incidents"] == len(wrapped)
    assert doc["rule_sets"]["A"]["score"]["caught"] == len(wrapped)  # as with its own file
