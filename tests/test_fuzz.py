"""Hostile input: property-based fuzzing of the HTTP API with hypothesis.

Properties, over bodies that are random JSON, near-valid records with hostile fields,
NDJSON, CSV and raw bytes, under valid and invalid content types and idempotency keys:
never a 5xx; a refused request moves no counter; an accepted one moves the counters by
exactly what it says it applied; no status series appears, and auth-code series appear only
for codes of the accepted pattern, never past the bound on distinct codes (no cardinality
leak).
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import samples
from txwatch import contract
from txwatch.exporter.config import Config

TX = "/api/v1/transactions"
AC = "/api/v1/auth-codes"
EXAMPLES = 600
MAX_AUTH_CODES = 8  # small, so the fuzzer reaches the bound

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=False), st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)
labels = st.one_of(st.sampled_from(contract.STATUSES + contract.AUTH_CODES), st.text(max_size=40),
                   st.from_regex(contract.AUTH_CODE_PATTERN, fullmatch=True), json_values)
timestamps = st.one_of(st.just("2025-07-12 13:45:00"), st.text(max_size=30),
                       st.integers(-2**40, 2**40), st.floats(allow_nan=True),
                       st.datetimes().map(lambda d: d.isoformat()), json_values)
counts = st.one_of(st.integers(-5, 2**40), st.integers(0, 1000), st.floats(), st.text(max_size=5),
                   st.booleans(), st.none())
records = st.fixed_dictionaries({}, optional={
    "timestamp": timestamps, "status": labels, "auth_code": labels, "count": counts,
    "extra": json_values})


def _csv(rows: list[dict]) -> str:
    head = "timestamp,status,count\n"
    return head + "".join(f"{r.get('timestamp', '')},{r.get('status', '')},{r.get('count', '')}\n"
                          for r in rows)


valid = st.fixed_dictionaries({"status": st.sampled_from(contract.STATUSES),
                               "count": st.integers(0, 10**6)},
                              optional={"timestamp": st.just("2025-07-12T13:45:00Z")})
valid_codes = st.fixed_dictionaries({"auth_code": st.from_regex(contract.AUTH_CODE_PATTERN,
                                                                fullmatch=True)})
bodies = st.one_of(
    st.lists(valid, min_size=1, max_size=20).map(json.dumps),
    st.lists(valid_codes, min_size=1, max_size=4).map(json.dumps),
    st.lists(valid, min_size=1, max_size=20).map(_csv),
    st.lists(records, max_size=8).map(json.dumps),
    records.map(json.dumps),
    json_values.map(json.dumps),
    st.lists(records, max_size=5).map(lambda rs: "\n".join(json.dumps(r) for r in rs)),
    st.lists(records, max_size=5).map(_csv),
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)
content_types = st.sampled_from(["application/json", "application/x-ndjson", "text/csv",
                                 "text/csv; charset=utf-8", "application/xml", "text/plain",
                                 "", "application/json; charset=latin-1"])
keys = st.one_of(st.none(), st.text(max_size=20).filter(lambda k: "\n" not in k
                                                         and "\r" not in k))


COUNTERS = {kind.counter for kind in contract.KINDS}


def _series(text: str) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    return sorted((s.name, tuple(sorted(s.labels.items()))) for s in samples(text)
                  if s.name in COUNTERS)


def _total(text: str) -> float:
    return sum(s.value for s in samples(text) if s.name in COUNTERS)


@pytest.mark.slow
def test_fuzzed_requests_never_5xx_never_partial_series_bounded(start_exporter):
    ex = start_exporter(Config(max_auth_codes=MAX_AUTH_CODES))
    start = ex.metrics()
    series_before = _series(start)
    outcomes: Counter[int] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(path=st.sampled_from([TX, AC]), body=bodies, content_type=content_types, key=keys)
    def one(path: str, body: str, content_type: str, key: str | None) -> None:
        before = _total(ex.metrics())
        headers = {"Content-Type": content_type}
        if key is not None:
            headers["Idempotency-Key"] = key
        try:
            r = requests.post(ex.url + path, data=body.encode("utf-8", "surrogatepass"),
                              headers=headers, timeout=10)
        except (UnicodeEncodeError, requests.exceptions.InvalidHeader):
            return  # the client library itself refuses to send it
        outcomes[r.status_code] += 1
        assert r.status_code < 500, (r.status_code, r.text)
        after = _total(ex.metrics())
        if r.status_code == 200:
            moved = r.json()["transactions"]
            if r.headers.get("Idempotent-Replayed") == "true":
                moved = 0
            assert after - before == moved
        else:
            assert after == before, "a refused request moved a counter"
            if r.headers.get("Content-Type", "").startswith("text/plain"):
                # refused by the HTTP parser before routing (e.g. a control character in a
                # header): aiohttp answers 400 in plain text
                assert r.status_code == 400 and "Invalid" in r.text
            else:
                assert r.json()["error"]

    one()
    new = set(_series(ex.metrics())) - set(series_before)
    assert all(name == contract.AUTH_CODE_COUNTS.counter for name, _ in new), new
    codes = [dict(labels)["auth_code"] for _, labels in new]
    assert all(re.fullmatch(contract.AUTH_CODE_PATTERN, code) for code in codes), codes
    assert len(series_before) - len(contract.STATUSES) + len(new) <= MAX_AUTH_CODES
    print(f"fuzz: {sum(outcomes.values())} requests, status codes {dict(sorted(outcomes.items()))}"
          f", new auth codes {sorted(codes)}")
    assert sum(outcomes.values()) >= EXAMPLES // 2
    assert outcomes[200] > 0 and outcomes[422] > 0 and outcomes[400] > 0
