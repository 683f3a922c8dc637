"""The OpenAPI 3 description of the ingest API, built from the running configuration.

The label enums (or, for auth codes, the pattern and the bound on distinct codes) and the
segment dimensions with their bound come from the config, so the description never drifts
from what the exporter accepts; schema-based fuzzers (schemathesis) and clients read it
from ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import re
from itertools import permutations
from typing import Any

from txwatch import contract
from txwatch.contract import KINDS, Kind, Reason
from txwatch.exporter import segments
from txwatch.exporter.config import Config

_ERROR = {
    "type": "object",
    "required": ["error", "message", "errors"],
    "properties": {
        "error": {"type": "string", "description": "reason label, e.g. invalid_record"},
        "message": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object",
            "properties": {"index": {"type": ["integer", "null"]},
                           "field": {"type": ["string", "null"]},
                           "reason": {"type": "string"}, "message": {"type": "string"}}}},
    },
}
_ACCEPTED = {"type": "object", "required": ["accepted", "transactions"],
             "properties": {"accepted": {"type": "integer", "description": "records applied"},
                            "transactions": {"type": "integer",
                                             "description": "sum of their counts"}}}


def _label(values: tuple[str, ...], pattern: re.Pattern[str] | None,
           bound: tuple[int, str] | None) -> dict[str, Any]:
    """A listed label is an enum; a patterned one says the bound it is accepted up to."""
    if pattern is None:
        return {"type": "string", "enum": list(values)}
    limit = f"at most {bound[0]} distinct values are kept ({bound[1]}), " if bound else ""
    return {"type": "string", "pattern": pattern.pattern, "examples": list(values),
            "description": f"any value matching the pattern (the whole value); {limit}"
                           f"the examples included, always exposed from 0; a request that "
                           f"would add one past the bound is refused whole: 422 "
                           f"invalid_record naming the record and field"}


def _dimension(name: str, max_values: int) -> dict[str, Any]:
    """A segment dimension: optional, a short token, bounded in distinct values."""
    return {"type": "string", "pattern": contract.SEGMENT_VALUE_PATTERN, "example": "acq-1",
            "description": f"segment dimension {name} ({segments.DIMENSIONS_FLAG}): omit it "
                           "(in CSV: leave the cell empty) to count in the default segment, "
                           "exposed without the label; at most "
                           f"{max_values} distinct values are kept over the state's "
                           f"lifetime, both endpoints together ({segments.MAX_VALUES_FLAG}); "
                           "a request that would add one past the bound, or carries a value "
                           "off the pattern, is refused whole: 422 invalid_record naming the "
                           "record and field"}


def _record(label_field: str, values: tuple[str, ...], pattern: re.Pattern[str] | None = None,
            bound: tuple[int, str] | None = None, dimensions: tuple[str, ...] = (),
            max_values: int = contract.MAX_SEGMENT_VALUES) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [label_field],
        "properties": {
            "timestamp": {"type": "string",
                          "description": "ISO-8601, or 'YYYY-MM-DD HH:MM:SS' taken as UTC; "
                                         "default: now", "example": "2025-07-12 13:45:00"},
            label_field: _label(values, pattern, bound),
            "count": {"type": "integer", "minimum": 0, "default": 1},
            **{name: _dimension(name, max_values) for name in dimensions},
        },
    }


def csv_header_pattern(label_field: str, dimensions: tuple[str, ...] = ()) -> str:
    """The header lines the server reads (columns in any order, the label one required).

    Every order is listed while that stays short (up to one dimension); with more, the
    pattern only says which names a header may hold (each once, the label required: the
    description says so and a header breaking that is a 400).
    """
    names = ("timestamp", label_field, "count", *dimensions)
    if len(names) > 4:
        name = f"({'|'.join(names)})"
        return f"^\\ufeff?({name}(,{name}){{0,{len(names) - 1}}})(\\r\\n|\\n|\\r|$)"
    headers = sorted({",".join(p) for n in range(1, len(names) + 1)
                      for p in permutations(names, n) if label_field in p},
                     key=lambda h: (-len(h), h))
    return f"^\\ufeff?({'|'.join(headers)})(\\r\\n|\\n|\\r|$)"


def _operation(kind: Kind, ttl_hours: float, dimensions: tuple[str, ...]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{kind.record}"}
    label_field, example = kind.label, kind.defaults[0]
    columns = ",".join(("timestamp", *dimensions, label_field, "count"))
    values = ",".join(("2025-07-12 13:45:00", *(["acq-1"] * len(dimensions)), example, "116"))
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "summary": f"Push {kind.name.replace('_', ' ')} counts by {label_field}",
        "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                   "pattern": "^[ -~]+$"},
                        "description": "a retried request with the same key is answered "
                                       f"as before and not applied again (kept {ttl_hours:g} "
                                       "h); the same key with a different body is refused: "
                                       "422 idempotency_conflict"}],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"oneOf": [ref, {"type": "array", "items": ref,
                                                          "minItems": 1}]}},
            "application/x-ndjson": {"schema": {
                "type": "string", "pattern": "^\\s*\\{",
                "description": "one record object per line; at least one"}},
            "text/csv": {"schema": {"type": "string",
                                    "pattern": csv_header_pattern(label_field, dimensions),
                                    "description": "a header naming the columns (each once, "
                                                   f"{label_field} required), then one "
                                                   "record per row"},
                         "example": f"{columns}\n{values}\n"},
        }},
        "responses": {
            "200": {"description": "all records applied (or a replayed Idempotency-Key)",
                    "content": {"application/json": {"schema": _ACCEPTED}}},
            **{str(code): {"description": "nothing applied; error: " + " | ".join(
                r.value for r in Reason if r.http_status == code), **error}
               for code in sorted({r.http_status for r in Reason})},
        },
    }


def openapi_spec(config: Config) -> dict[str, Any]:
    """The full OpenAPI document for this configuration."""
    security = [{"bearer": []}] if config.token else []
    return {
        "openapi": "3.1.0",
        "info": {"title": "txwatch exporter", "version": "1",
                 "description": "Push per-minute payment transaction counts; scrape /metrics."},
        "paths": {kind.path: {"post": _operation(kind, config.idempotency_ttl_seconds / 3600,
                                                 config.dimensions)} for kind in KINDS},
        "security": security,
        "components": {
            "schemas": {**{kind.record: _record(kind.label, config.labels(kind),
                                                config.pattern(kind), config.bound(kind),
                                                config.dimensions, config.max_segment_values)
                           for kind in KINDS}, "Error": _ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
