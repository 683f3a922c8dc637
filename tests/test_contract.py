"""The metric contract is what the exporter exposes and answers: names, kinds, reasons."""

from __future__ import annotations

import requests

from tests.conftest import REPO, samples
from txwatch import contract


def _exposed() -> set[str]:
    return {s.name for s in samples((REPO / "docs" / "metrics-sample.prom").read_text())}


def test_every_contract_metric_is_exposed_under_its_name():
    exposed = _exposed()
    wanted = {k.counter for k in contract.KINDS} | {
        contract.LAST_MINUTE, contract.LAST_MINUTE_RATIO, contract.LAST_MINUTE_TIMESTAMP,
        contract.NEWEST_DATA_TIMESTAMP, contract.LAST_PUSH_TIMESTAMP,
        f"{contract.RECORDS_ACCEPTED}_total", f"{contract.RECORDS_REJECTED}_total",
        f"{contract.IDEMPOTENT_REPLAYS}_total", contract.IDEMPOTENCY_KEYS}
    assert wanted <= exposed, wanted - exposed
    assert all(n.startswith(("payment_", contract.SELF_PREFIX)) for n in exposed), exposed


def test_every_refusal_reason_is_counted_from_zero_and_documented(start_exporter):
    ex = start_exporter()
    text = ex.metrics()
    reasons = {s.labels["reason"]: s.value for s in samples(text)
               if s.name == f"{contract.RECORDS_REJECTED}_total"}
    assert reasons == {r.value: 0.0 for r in contract.Reason}
    spec = requests.get(ex.url + "/api/v1/openapi.json", timeout=5).json()
    for kind in contract.KINDS:
        responses = spec["paths"][kind.path]["post"]["responses"]
        for reason in contract.Reason:
            assert reason.value in responses[str(reason.http_status)]["description"]


def test_a_refusal_answers_the_status_of_its_reason(start_exporter):
    ex = start_exporter()
    r = requests.post(ex.url + contract.TRANSACTIONS.path, data=b"x",
                      headers={"Content-Type": "application/xml"}, timeout=5)
    assert r.status_code == contract.Reason.UNSUPPORTED_MEDIA_TYPE.http_status
    assert r.json()["error"] == contract.Reason.UNSUPPORTED_MEDIA_TYPE.value
