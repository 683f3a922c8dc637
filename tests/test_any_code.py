"""Any issuer auth code of the right shape is accepted, up to a bound on distinct codes.

Units of the pattern check and the bound, the store across restarts and under concurrency,
the HTTP answers (a refusal is whole, names the record, the field, the pattern or the bound
and its flag) and the flags. An explicit ``--payment.auth-codes`` list still restricts.
"""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import metric_value, samples
from txwatch import contract
from txwatch.exporter.bounds import Admission, Bound, TooManyLabels
from txwatch.exporter.cli import build_config, parse_args
from txwatch.exporter.config import Config, Limits
from txwatch.exporter.decode import decode_body
from txwatch.exporter.parsing import Batch, validate
from txwatch.exporter.statedb import StateDB
from txwatch.exporter.store import Store

AC = contract.AUTH_CODE_COUNTS.path
FAMILY = contract.AUTH_CODE_COUNTS.counter
PATTERN = re.compile(contract.AUTH_CODE_PATTERN)
NOW = 1_752_400_000.0
LISTED = frozenset(contract.AUTH_CODES)


def check(records: list, pattern: re.Pattern[str] | None = PATTERN):
    body = json.dumps(records).encode()
    return validate(decode_body(body, "application/json", "auth_code"), "auth_code", LISTED,
                    NOW, Limits(), pattern)


def post(url: str, records: list, **headers: str) -> requests.Response:
    return requests.post(url + AC, json=records, headers=headers, timeout=10)


def codes(text: str) -> dict[str, float]:
    return {s.labels["auth_code"]: s.value for s in samples(text) if s.name == FAMILY}


# ---- the pattern (pure) ----------------------------------------------------------------
def test_unlisted_codes_of_the_pattern_are_valid_and_their_first_record_is_kept():
    batch, errors, n = check([{"auth_code": "00"}, {"auth_code": "91", "count": 4},
                              {"auth_code": "N7"}, {"auth_code": "91", "count": 2}])
    assert (errors, n) == ([], 0)
    assert batch.totals == {"00": 1, "91": 6, "N7": 1}
    assert batch.firsts == {"00": 0, "91": 1, "N7": 2}


@pytest.mark.parametrize("code", ["9", "911", "ab", "9 1", "91\n", " 91", "", "٩١"])
def test_codes_off_the_pattern_name_record_field_and_pattern(code):
    _, errors, n = check([{"auth_code": "05"}, {"auth_code": code}])
    assert n == 1
    error = errors[0].as_dict()
    assert (error["index"], error["field"], error["reason"]) == (1, "auth_code",
                                                                 "invalid_auth_code")
    assert contract.AUTH_CODE_PATTERN in error["message"]
    assert "--payment.auth-code-pattern" in error["message"]


def test_a_code_that_is_not_a_string_is_refused():
    _, errors, _ = check([{"auth_code": 91}])
    assert errors[0].reason == "invalid_auth_code" and "must be a string" in errors[0].message


def test_without_a_pattern_only_the_list_is_valid():
    _, errors, n = check([{"auth_code": "51"}, {"auth_code": "91"}], pattern=None)
    assert n == 1 and (errors[0].index, errors[0].reason) == (1, "unknown_auth_code")
    assert "known: 00, 51, 59" in errors[0].message


# ---- the bound (pure) ------------------------------------------------------------------
def test_admission_counts_known_and_earlier_batches_then_names_the_first_record_past():
    bound = {"auth_codes": Bound(5, "--payment.max-auth-codes", "auth_code")}
    admission = Admission({"auth_codes": {"00": 0, "51": 0, "59": 0}}, bound)
    assert admission.check("auth_codes", {"91": 1}, {"91": 0}) is None  # 4 known
    refusal = admission.check("auth_codes", {"51": 1, "14": 1, "96": 1, "05": 1},
                              {"51": 0, "96": 1, "14": 3, "05": 7})
    assert isinstance(refusal, TooManyLabels)
    assert [(e.index, e.field, e.reason) for e in refusal.errors] == [
        (3, "auth_code", "too_many_auth_codes"), (7, "auth_code", "too_many_auth_codes")]
    assert "'14' would be distinct auth_code number 6; at most 5" in refusal.errors[0].message
    assert "--payment.max-auth-codes" in refusal.errors[0].message and "5" in str(refusal)
    assert admission.check("auth_codes", {"96": 1}, {"96": 0}) is None  # the refused added none
    assert admission.check("auth_codes", {"14": 1}, {"14": 0}) is not None
    assert admission.check("transactions", {f"s{i}": 1 for i in range(50)}, {}) is None


def test_a_bound_lowered_below_the_stored_codes_keeps_them_and_refuses_new_ones():
    stored = {"auth_codes": dict.fromkeys(["00", "51", "59", "05", "14", "91"], 1)}
    admission = Admission(stored, {"auth_codes": Bound(4, "--payment.max-auth-codes",
                                                       "auth_code")})
    assert admission.check("auth_codes", {"91": 2, "05": 1}, {"91": 0, "05": 1}) is None
    refusal = admission.check("auth_codes", {"91": 1, "96": 1}, {"91": 0, "96": 1})
    assert refusal is not None and [e.index for e in refusal.errors] == [1]


# ---- the store: atomic with the commit, durable ---------------------------------------
def _store(path, **config) -> Store:
    return Store(Config(state_dir=path, **config), lambda: NOW, StateDB(path))


def _batch(**totals: int) -> Batch:
    return Batch(totals=totals, records=len(totals),
                 firsts={code: i for i, code in enumerate(totals)})


def test_codes_seen_survive_a_restart_and_count_toward_the_bound(tmp_path, start_exporter):
    async def first() -> None:
        store = _store(tmp_path, max_auth_codes=5)
        await store.commit("auth_codes", _batch(**{"91": 4}))
        await store.close()

    async def second() -> Store:
        store = _store(tmp_path, max_auth_codes=5)
        assert store.snapshot().totals["auth_codes"] == {"00": 0, "51": 0, "59": 0, "91": 4}
        with pytest.raises(TooManyLabels):  # 91 still counts: 4 known, 2 new > 5
            await store.commit("auth_codes", _batch(**{"96": 1, "14": 1}))
        await store.commit("auth_codes", _batch(**{"96": 1, "91": 1}))
        await store.close()
        return store

    asyncio.run(first())
    asyncio.run(second())
    ex = start_exporter(Config(state_dir=tmp_path, max_auth_codes=5))  # a third start
    assert codes(ex.metrics()) == {"00": 0, "51": 0, "59": 0, "91": 5, "96": 1}
    r = post(ex.url, [{"auth_code": "96"}, {"auth_code": "14"}])
    assert r.status_code == 422 and r.json()["errors"][0]["index"] == 1
    assert codes(ex.metrics())["96"] == 1


def test_concurrent_new_codes_stop_exactly_at_the_bound(tmp_path):
    store = _store(tmp_path, max_auth_codes=10)
    new = [f"{i:02d}" for i in range(10, 40)]

    async def race() -> list:
        return await asyncio.gather(*(store.commit("auth_codes", _batch(**{code: 1}), key=code)
                                      for code in new), return_exceptions=True)

    results = asyncio.run(race())
    accepted = [code for code, r in zip(new, results, strict=True) if isinstance(r, tuple)]
    assert len(accepted) == 7 and all(isinstance(r, (tuple, TooManyLabels)) for r in results)
    assert set(store.snapshot().totals["auth_codes"]) == LISTED | set(accepted)
    assert store.snapshot().idempotency_keys == 7  # a refused request's key is not kept
    asyncio.run(store.close())


# ---- over HTTP -------------------------------------------------------------------------
def test_an_unlisted_code_is_accepted_and_exposed(start_exporter):
    ex = start_exporter()
    r = post(ex.url, [{"auth_code": "91", "count": 3}, {"auth_code": "05"}, {"auth_code": "51"}])
    assert r.status_code == 200, r.text
    text = ex.metrics()
    assert metric_value(text, FAMILY, auth_code="91") == 3
    assert codes(text) == {"00": 0, "51": 1, "59": 0, "91": 3, "05": 1}
    assert f'{FAMILY}{{auth_code="91"}} 3.0' in text


def test_a_code_off_the_pattern_is_refused_whole(start_exporter):
    ex = start_exporter()
    before = ex.payment_lines()
    r = post(ex.url, [{"auth_code": "00", "count": 9}, {"auth_code": "05"}, {"auth_code": "5x"}])
    assert r.status_code == 422
    doc = r.json()
    assert doc["error"] == "invalid_record" and "nothing was applied" in doc["message"]
    assert [(e["index"], e["field"], e["reason"]) for e in doc["errors"]] == [
        (2, "auth_code", "invalid_auth_code")]
    assert contract.AUTH_CODE_PATTERN in doc["errors"][0]["message"]
    assert ex.payment_lines() == before and "05" not in codes(ex.metrics())


def test_a_push_past_the_bound_is_refused_whole(start_exporter):
    ex = start_exporter(Config(max_auth_codes=5))
    assert post(ex.url, [{"auth_code": "05"}, {"auth_code": "14"}]).status_code == 200
    before = ex.payment_lines()
    r = post(ex.url, [{"auth_code": "00", "count": 3}, {"auth_code": "05"}, {"auth_code": "91"}],
             **{"Idempotency-Key": "k1"})
    assert r.status_code == 422
    doc = r.json()
    assert doc["error"] == "invalid_record"
    assert [(e["index"], e["field"], e["reason"]) for e in doc["errors"]] == [
        (2, "auth_code", "too_many_auth_codes")]
    assert "at most 5" in doc["errors"][0]["message"]
    assert "--payment.max-auth-codes" in doc["errors"][0]["message"]
    assert ex.payment_lines() == before  # not even the 00 and 05 of the refused request
    again = post(ex.url, [{"auth_code": "00", "count": 3}, {"auth_code": "05"},
                          {"auth_code": "91"}], **{"Idempotency-Key": "k1"})
    assert again.status_code == 422  # the refusal was not remembered as an answer
    assert metric_value(ex.metrics(), "txwatch_exporter_records_rejected_total",
                        reason="invalid_record") == 6
    assert post(ex.url, [{"auth_code": "14", "count": 2}]).status_code == 200  # known code
    assert codes(ex.metrics()) == {"00": 0, "51": 0, "59": 0, "05": 1, "14": 3}


def test_concurrent_pushes_of_new_codes_over_http_stop_at_the_bound(start_exporter):
    ex = start_exporter(Config(max_auth_codes=10))
    new = [f"{i:02d}" for i in range(10, 40)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda code: post(ex.url, [{"auth_code": code}]).status_code,
                                new))
    assert sorted(set(answers)) == [200, 422] and answers.count(200) == 7
    exposed = codes(ex.metrics())
    assert len(exposed) == 10 and sum(exposed.values()) == 7


def test_an_explicit_list_still_restricts(start_exporter):
    ex = start_exporter(Config(auth_codes=("00", "05"), auth_code_pattern=None))
    assert post(ex.url, [{"auth_code": "05"}]).status_code == 200
    for code in ("91", "51"):
        r = post(ex.url, [{"auth_code": code}])
        assert r.status_code == 422 and r.json()["errors"][0]["reason"] == "unknown_auth_code"
    assert codes(ex.metrics()) == {"00": 0, "05": 1}
    spec = requests.get(ex.url + "/api/v1/openapi.json", timeout=5).json()
    assert spec["components"]["schemas"]["AuthCode"]["properties"]["auth_code"]["enum"] == [
        "00", "05"]


def test_openapi_describes_the_pattern_and_the_bound(start_exporter):
    ex = start_exporter(Config(max_auth_codes=42))
    spec = requests.get(ex.url + "/api/v1/openapi.json", timeout=5).json()
    code = spec["components"]["schemas"]["AuthCode"]["properties"]["auth_code"]
    assert code["pattern"] == contract.AUTH_CODE_PATTERN and "enum" not in code
    assert "at most 42" in code["description"] and "--payment.max-auth-codes" in code["description"]
    status = spec["components"]["schemas"]["Transaction"]["properties"]["status"]
    assert status["enum"] == list(contract.STATUSES)


# ---- flags ------------------------------------------------------------------------------
def test_flags_default_to_the_pattern_and_an_explicit_list_restricts():
    config = build_config(parse_args([]))
    assert (config.auth_code_pattern, config.max_auth_codes, config.auth_codes) == (
        "^[0-9A-Z]{2}$", 100, contract.AUTH_CODES)
    config = build_config(parse_args(["--payment.auth-codes", "00,05", "--payment.max-auth-codes",
                                      "2"]))
    assert (config.auth_codes, config.auth_code_pattern) == (("00", "05"), None)
    config = build_config(parse_args(["--payment.auth-code-pattern", "^[0-9]{2}$",
                                      "--payment.max-auth-codes", "20"]))
    assert (config.auth_code_pattern, config.max_auth_codes) == ("^[0-9]{2}$", 20)


@pytest.mark.parametrize("argv", [
    ["--payment.auth-codes", "00", "--payment.auth-code-pattern", "^..$"],
    ["--payment.auth-code-pattern", "(["],
    ["--payment.max-auth-codes", "2"],
    ["--payment.max-auth-codes", "0"],
])
def test_bad_flags_stop_at_start(argv, capsys):
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert "--payment." in capsys.readouterr().err
