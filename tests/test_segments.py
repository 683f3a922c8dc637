"""Segments: records may carry configured dimensions (acquirer, method...), exposed as labels.

Pure units of the flags, the names, the parsing in JSON, NDJSON and CSV and the bound; then
the in-process app over HTTP: the series on /metrics (a record without a dimension keeps
today's series), refusals that are whole and name the record and field, and the API
description (fuzzed by schemathesis with two dimensions: slow). The state across restarts,
the schema upgrade and a real exporter process: tests/test_segments_state.py.
"""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import metric_value, samples
from tests.test_generated import promtool_check_metrics
from tests.test_schema import CHECKS, _documented
from txwatch import contract
from txwatch.exporter.bounds import Admission, Bound, TooManyLabels
from txwatch.exporter.cli import build_config, parse_args
from txwatch.exporter.config import Config, Limits
from txwatch.exporter.decode import BodyError, decode_body
from txwatch.exporter.parsing import validate

NOW = 1_752_400_000.0  # 2025-07-13T09:46:40Z
MINUTE = 1_752_327_900  # 2025-07-12 13:45
TS = "2025-07-12 13:45:00"
TX, AC = contract.TRANSACTIONS.path, contract.AUTH_CODE_COUNTS.path
FAMILY = contract.TRANSACTIONS.counter
STATUSES = frozenset(contract.STATUSES)


def run(body: bytes | str, media: str, dimensions: tuple[str, ...] = ("acquirer",)):
    raw = body.encode() if isinstance(body, str) else body
    return validate(decode_body(raw, media, "status", dimensions), "status", STATUSES, NOW,
                    Limits(), None, dimensions)


def series(text: str, name: str = FAMILY) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of a family, keyed by its sorted labels."""
    return {tuple(sorted(s.labels.items())): s.value for s in samples(text) if s.name == name}


# ---- flags and names (pure) -------------------------------------------------------------
def test_no_dimension_by_default_and_the_flag_takes_a_list_or_repeats():
    assert (build_config(parse_args([])).dimensions, Config().max_segment_values) == ((), 100)
    listed = build_config(parse_args(["--segment.dimensions=acquirer,method",
                                      "--segment.max-values=7"]))
    assert (listed.dimensions, listed.max_segment_values) == (("acquirer", "method"), 7)
    repeated = parse_args(["--segment.dimensions", "acquirer", "--segment.dimensions=brand"])
    assert repeated.dimensions == ("acquirer", "brand")


@pytest.mark.parametrize("names, why", [
    (["acq-uirer"], "not a Prometheus label name"), (["1st"], "not a Prometheus label name"),
    (["__name__"], "not a Prometheus label name"), (["status"], "clashes"), (["job"], "clashes"),
    (["instance"], "clashes"), (["le"], "clashes"), (["auth_code"], "clashes"),
    (["severity"], "clashes"), (["count"], "clashes"), (["exported_job"], "clashes"),
    (["acquirer", "acquirer"], "named twice"),
], ids=lambda v: "-".join(v) if isinstance(v, list) else None)
def test_a_bad_dimension_name_stops_the_start_with_one_clear_line(names, why, capsys):
    with pytest.raises(SystemExit):
        parse_args([f"--segment.dimensions={name}" for name in names])
    err = capsys.readouterr().err
    assert "--segment.dimensions" in err and why in err and "Traceback" not in err
    with pytest.raises(ValueError, match=why):
        Config(dimensions=tuple(names))


@pytest.mark.parametrize("value", ["0", "-3", "x"])
def test_the_bound_must_be_a_positive_integer(value, capsys):
    with pytest.raises(SystemExit):
        parse_args([f"--segment.max-values={value}"])
    assert "--segment.max-values" in capsys.readouterr().err


# ---- parsing (pure) ---------------------------------------------------------------------
RECORDS = [{"timestamp": TS, "acquirer": "acq-1", "status": "failed", "count": 3},
           {"timestamp": TS, "status": "failed", "count": 2},
           {"timestamp": TS, "acquirer": "acq-2", "status": "approved", "count": 5},
           {"timestamp": TS, "acquirer": "acq-1", "status": "failed", "count": 1}]
CSV = "timestamp,acquirer,status,count\n" + "".join(
    f"{r['timestamp']},{r.get('acquirer', '')},{r['status']},{r['count']}\n" for r in RECORDS)


@pytest.mark.parametrize("media, body", [
    ("application/json", json.dumps(RECORDS)),
    ("application/x-ndjson", "\n".join(json.dumps(r) for r in RECORDS)),
    ("text/csv", CSV),
], ids=["json", "ndjson", "csv"])
def test_each_format_counts_records_in_their_segment_and_the_rest_in_the_default(media, body):
    batch, errors, n = run(body, media)
    assert (errors, n, batch.records) == ([], 0, 4)
    assert batch.totals == {"failed": 2} and batch.minutes == {(MINUTE, "failed"): 2}
    assert {s: c.totals for s, c in batch.segments.items()} == {
        "acquirer=acq-1": {"failed": 4}, "acquirer=acq-2": {"approved": 5}}
    assert batch.segments["acquirer=acq-1"].minutes == {(MINUTE, "failed"): 4}
    assert batch.values == {"acquirer": {"acq-1": 0, "acq-2": 2}}  # first record of each
    assert batch.firsts == {"failed": 0, "approved": 2}


@pytest.mark.parametrize("media, body", [
    ("application/json", json.dumps([{"status": "failed", "count": 2}])),
    ("text/csv", "timestamp,status,count\n2025-07-12 13:45:00,failed,2\n"),
], ids=["json", "csv"])
def test_records_without_dimensions_parse_as_before_whether_or_not_any_is_configured(
        media, body):
    for dimensions in ((), ("acquirer", "method")):
        batch, errors, _ = run(body, media, dimensions)
        assert errors == [] and batch.totals == {"failed": 2}
        assert (batch.segments, batch.values) == ({}, {})


def test_two_dimensions_make_one_segment_whatever_the_order_of_keys_or_columns():
    dims = ("method", "acquirer")
    json_batch, _, _ = run(json.dumps([{"method": "credit", "acquirer": "acq-1",
                                        "status": "denied"}, {"status": "denied",
                                                               "method": "debit"}]),
                           "application/json", dims)
    csv_batch, _, _ = run("acquirer,status,method\nacq-1,denied,credit\n,denied,debit\n",
                          "text/csv", dims)
    for batch in (json_batch, csv_batch):
        assert {s: c.totals for s, c in batch.segments.items()} == {
            "acquirer=acq-1,method=credit": {"denied": 1}, "method=debit": {"denied": 1}}
        assert batch.totals == {} and batch.values == {"method": {"credit": 0, "debit": 1},
                                                       "acquirer": {"acq-1": 0}}


@pytest.mark.parametrize("value", ["", " acq-1", "acq 1", "acq/1", "-acq", "é", "a" * 65,
                                   7, None, True, ["acq-1"], {"id": 1}])
def test_a_bad_value_names_its_record_and_field(value):
    body = json.dumps([{"acquirer": "acq-1", "status": "failed"},
                       {"acquirer": value, "status": "failed"}])
    _, errors, n = run(body, "application/json")
    assert n == 1 and (errors[0].index, errors[0].field, errors[0].reason) == (
        1, "acquirer", "invalid_acquirer")
    assert errors[0].message.startswith("acquirer ")
    assert ("omit the field" if value == "" else "letters, digits") in errors[0].message


def test_a_value_of_64_characters_is_a_value():
    batch, errors, _ = run(json.dumps({"acquirer": "A" + "b.c:d_e-" * 7, "status": "failed"}),
                           "application/json")
    assert errors == [] and list(batch.values["acquirer"]) == ["A" + "b.c:d_e-" * 7]


def test_fields_that_are_not_configured_dimensions_stay_errors():
    _, errors, n = run(json.dumps([{"status": "failed", "brand": "visa"}]), "application/json")
    assert n == 1 and (errors[0].field, errors[0].reason) == ("brand", "unknown_field")
    _, errors, _ = run(json.dumps({"status": "failed", "acquirer": "a"}), "application/json",
                       ())  # the key of a dimension is unknown where none is configured
    assert (errors[0].field, errors[0].reason) == ("acquirer", "unknown_field")
    with pytest.raises(BodyError) as refusal:
        run("timestamp,brand,status,count\n2025-07-12 13:45:00,visa,failed,1\n", "text/csv")
    assert refusal.value.field == "header" and "brand" in refusal.value.message


# ---- the bound (pure) -------------------------------------------------------------------
def test_a_batch_past_one_bound_adds_nothing_to_any_other():
    bounds = {"auth_codes": Bound(4, "--payment.max-auth-codes", "auth_code"),
              "segment.acquirer": Bound(2, "--segment.max-values", "acquirer",
                                        "too_many_acquirer_values")}
    admission = Admission({"auth_codes": {"00", "51", "59"}, "segment.acquirer": {"acq-1"}},
                          bounds)
    refusal = admission.admit([("auth_codes", {"91"}, {"91": 0}),
                               ("segment.acquirer", {"acq-2", "acq-3"},
                                {"acq-2": 1, "acq-3": 4})])
    assert isinstance(refusal, TooManyLabels) and "nothing was applied" in str(refusal)
    assert [(e.index, e.field, e.reason) for e in refusal.errors] == [
        (4, "acquirer", "too_many_acquirer_values")]
    assert "acquirer 'acq-3' would be distinct acquirer number 3; at most 2" in (
        refusal.errors[0].message) and "--segment.max-values" in refusal.errors[0].message
    assert admission.check("auth_codes", {"05"}, {"05": 0}) is None  # 91 was not added
    assert admission.check("segment.acquirer", {"acq-3"}, {"acq-3": 0}) is None
    assert admission.check("segment.acquirer", {"acq-4"}, {"acq-4": 0}) is not None


# ---- over HTTP ----------------------------------------------------------------------------
def segmented(start_exporter, **config):
    return start_exporter(Config(dimensions=("acquirer",), **config), now=NOW)


def test_metrics_label_segments_and_keep_the_default_series_as_before(start_exporter):
    ex = segmented(start_exporter)
    assert requests.post(ex.url + TX, json=RECORDS, timeout=5).status_code == 200
    assert requests.post(ex.url + AC, data="acquirer,auth_code,count\nacq-1,91,2\n,51,1\n",
                         headers={"Content-Type": "text/csv"}, timeout=5).status_code == 200
    text = ex.metrics()
    assert 'payment_transactions_total{acquirer="acq-1",status="failed"} 4.0' in text
    assert 'payment_transactions_total{status="failed"} 2.0' in text  # no acquirer label
    tx = series(text)
    assert len(tx) == 3 * len(contract.STATUSES)  # every status of each segment, from 0
    assert tx[(("acquirer", "acq-2"), ("status", "approved"))] == 5
    assert tx[(("acquirer", "acq-2"), ("status", "failed"))] == 0
    assert sum(tx.values()) == 11  # summed over segments: every transaction pushed
    codes = series(text, contract.AUTH_CODE_COUNTS.counter)
    assert codes[(("acquirer", "acq-1"), ("auth_code", "91"))] == 2
    assert codes[(("auth_code", "51"),)] == 1 and (("auth_code", "91"),) not in codes
    # The minute gauges are per segment too; a share is within its segment.
    assert metric_value(text, contract.LAST_MINUTE, acquirer="acq-1", status="failed") == 4
    assert metric_value(text, contract.LAST_MINUTE_RATIO, acquirer="acq-2",
                        status="approved") == 1.0
    assert metric_value(text, contract.LAST_MINUTE_RATIO, status="failed") == 1.0
    result = promtool_check_metrics(text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_push_past_the_bound_is_refused_whole_in_either_endpoint(start_exporter):
    ex = segmented(start_exporter, max_segment_values=2)
    ok = [{"acquirer": "acq-1", "status": "failed"}, {"acquirer": "acq-2", "status": "denied"}]
    assert requests.post(ex.url + TX, json=ok, timeout=5).status_code == 200
    before, snapshot = ex.payment_lines(), ex.store.snapshot()
    for path, label in ((TX, "status"), (AC, "auth_code")):
        value = "approved" if label == "status" else "00"
        r = requests.post(ex.url + path, timeout=5, headers={"Idempotency-Key": path},
                          json=[{label: value, "count": 9}, {"acquirer": "acq-1", label: value},
                                {"acquirer": "acq-3", label: value}])
        assert r.status_code == 422, r.text
        doc = r.json()
        assert doc["error"] == "invalid_record" and "nothing was applied" in doc["message"]
        assert [(e["index"], e["field"], e["reason"]) for e in doc["errors"]] == [
            (2, "acquirer", "too_many_acquirer_values")]
        assert "at most 2" in doc["errors"][0]["message"]
        assert "--segment.max-values" in doc["errors"][0]["message"]
    assert ex.payment_lines() == before and ex.store.snapshot() == snapshot
    assert ex.store.snapshot().idempotency_keys == 0  # a refusal is not remembered
    assert metric_value(ex.metrics(), "txwatch_exporter_records_rejected_total",
                        reason="invalid_record") == 6
    again = requests.post(ex.url + TX, json=[{"acquirer": "acq-2", "status": "failed"}],
                          timeout=5)  # a known value still goes in
    assert again.status_code == 200
    assert metric_value(ex.metrics(), FAMILY, acquirer="acq-2", status="failed") == 1


def test_a_bad_value_over_http_is_refused_whole(start_exporter):
    ex = segmented(start_exporter)
    before = ex.payment_lines()
    r = requests.post(ex.url + TX, data="acquirer,status,count\nacq-1,failed,3\nacq 2,failed,1\n",
                      headers={"Content-Type": "text/csv"}, timeout=5)
    assert r.status_code == 422
    assert [(e["index"], e["field"], e["reason"]) for e in r.json()["errors"]] == [
        (1, "acquirer", "invalid_acquirer")]
    assert ex.payment_lines() == before


def test_the_description_documents_dimensions_and_agrees_with_the_server(start_exporter):
    ex = segmented(start_exporter, max_segment_values=42)
    spec = requests.get(ex.url + "/api/v1/openapi.json", timeout=5).json()
    for kind in contract.KINDS:
        record = spec["components"]["schemas"][kind.record]
        dim = record["properties"]["acquirer"]
        assert dim["pattern"] == contract.SEGMENT_VALUE_PATTERN
        assert "acquirer" not in record["required"] and record["additionalProperties"] is False
        for words in ("default segment", "at most 42", "--segment.max-values", "422"):
            assert words in dim["description"], words
    good = {"timestamp": TS, "acquirer": "acq-1", "status": "failed"}
    cases = [("application/json", json.dumps([good]), True, 200),
             ("application/json", json.dumps([{**good, "acquirer": "acq 1"}]), False, 422),
             ("application/json", json.dumps([{**good, "brand": "visa"}]), False, 422),
             ("text/csv", f"timestamp,acquirer,status,count\n{TS},acq-1,failed,2\n", True, 200),
             ("text/csv", "status,acquirer\nfailed,\n", True, 200),
             ("text/csv", f"timestamp,brand,status,count\n{TS},visa,failed,2\n", False, 400)]
    for media, body, allowed, status in cases:
        assert _documented(spec, contract.TRANSACTIONS, media, body.encode()) is allowed, body
        r = requests.post(ex.url + TX, data=body, headers={"Content-Type": media}, timeout=5)
        assert r.status_code == status, (body, r.text)
    example = spec["paths"][TX]["post"]["requestBody"]["content"]["text/csv"]["example"]
    assert example.startswith("timestamp,acquirer,status,count\n")
    r = requests.post(ex.url + TX, data=example, headers={"Content-Type": "text/csv"}, timeout=5)
    assert r.status_code == 200, r.text


@pytest.mark.slow
def test_schemathesis_with_two_dimensions_finds_no_5xx_and_no_answer_off_the_description(
        start_exporter, tmp_path):
    """Two dimensions take the CSV header pattern past the listed orders (the loose one)."""
    ex = start_exporter(Config(state_dir=tmp_path, dimensions=("acquirer", "method"),
                               max_segment_values=3), now=NOW)
    schema = schemathesis.openapi.from_url(ex.url + "/api/v1/openapi.json")
    answers: dict[int, int] = {}
    for operation in [result.ok() for result in schema.get_all_operations()]:
        @given(case=operation.as_strategy())
        @settings(max_examples=100, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            response = case.call()
            answers[response.status_code] = answers.get(response.status_code, 0) + 1
            assert response.status_code < 500, response.text[:300]
            case.validate_response(response, checks=CHECKS)

        check()
    assert answers.get(200, 0) > 0 and answers.get(422, 0) > 0, answers
