"""schemathesis against the served /api/v1/openapi.json: no 5xx, every answer matches it,
every request the description forbids refused.

The operations come from the running exporter's own description; hypothesis draws bounded
examples (valid and invalid bodies, headers) for each, sent with a right token, a wrong one
and none. Each request gets a fresh Idempotency-Key: schemathesis draws the same few key
strings for different bodies, and a key reused with another body is refused with 422 as the
description says (the IETF Idempotency-Key draft's answer), tested on its own below.
"Schema-valid data accepted" is not asked: a timestamp too far ahead of the exporter's
clock, or not a calendar date (2025-02-30), is a string the description allows and the
server refuses (422 naming the record and field), a rule relative to now that a schema
cannot state.
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from jsonschema_rs import Draft202012Validator
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from txwatch.contract import KINDS, Kind
from txwatch.exporter.config import Config

NOW = 1_752_327_930.0
EXAMPLES = 150
# No 5xx, every answer as described (status, type, headers, body), what the description
# forbids refused.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]


@pytest.mark.slow
def test_ingest_api_follows_its_description(start_exporter, tmp_path):
    ex = start_exporter(Config(state_dir=tmp_path, token="t0ken"), now=NOW)
    schema = schemathesis.openapi.from_url(ex.url + "/api/v1/openapi.json")
    calls = [0]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 2
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            for token in ("Bearer t0ken", "bearer wrong", None):
                if case.headers and "Idempotency-Key" in case.headers:
                    case.headers["Idempotency-Key"] = uuid.uuid4().hex
                response = case.call(headers={"Authorization": token} if token else {})
                calls[0] += 1
                assert response.status_code < 500, response.text[:300]
                case.validate_response(response, checks=CHECKS)

        check()
    assert calls[0] >= 3 * len(operations) * 20


def _documented(spec: dict, kind: Kind, media_type: str, body: bytes) -> bool:
    """Whether the API description accepts this body (jsonschema, $refs resolved in it)."""
    schema = spec["paths"][kind.path]["post"]["requestBody"]["content"][media_type]["schema"]
    instance = json.loads(body) if media_type == "application/json" else body.decode()
    validator = Draft202012Validator({**schema, "components": spec["components"]})
    return validator.is_valid(instance)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_description_and_server_agree_on_what_schemathesis_found(start_exporter, kind):
    """The cases schemathesis found (no network needed): the description is the judge of
    shape, docs/api.md of the rest. A refused body is one the description forbids; a
    body it allows is accepted, or refused for a reason it documents (a reused key)."""
    ex = start_exporter(now=NOW)
    spec = requests.get(ex.url + "/api/v1/openapi.json", timeout=5).json()
    label, value = kind.label, kind.defaults[0]
    record = {"timestamp": "2025-07-12 13:45:00", label: value, "count": 2}
    cases = [  # (media type, body, allowed by the description, answer)
        ("application/json", b"[]", False, 400),
        ("application/json", json.dumps([record]).encode(), True, 200),
        ("text/csv", b"C\x10X.`z", False, 400),
        ("text/csv", "\u00af".encode(), False, 400),
        ("text/csv", f"timestamp,{label},count\n2025-07-12 13:45:00,{value},3\n".encode(),
         True, 200),
        ("text/csv", f"{label}\r{value}\r".encode(), True, 200),
        ("application/x-ndjson", json.dumps(record).encode() + b"\n", True, 200),
        ("application/x-ndjson", b"hello", False, 400),
    ]
    for media_type, body, allowed, status in cases:
        assert _documented(spec, kind, media_type, body) is allowed, (media_type, body)
        r = requests.post(ex.url + kind.path, data=body, timeout=5,
                          headers={"Content-Type": media_type})
        assert r.status_code == status, (media_type, body, r.text)
    # A key reused with another body: allowed in shape, refused as the description says.
    operation = spec["paths"][kind.path]["post"]
    key = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    assert "422 idempotency_conflict" in key["description"]
    assert "idempotency_conflict" in operation["responses"]["422"]["description"]
    for count, status in ((1, 200), (2, 422)):
        r = requests.post(ex.url + kind.path, json={**record, "count": count}, timeout=5,
                          headers={"Idempotency-Key": "reused"})
        assert r.status_code == status and (status == 200 or
                                            r.json()["error"] == "idempotency_conflict")
