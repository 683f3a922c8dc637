"""The OpenAPI 3 description of the ingest API, built from the running configuration.

The label enums come from the config, so the description never drifts from what the
exporter accepts; schema-based fuzzers (schemathesis) and clients read it from
``/api/v1/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from exporter.config import Config

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


def _record(label_field: str, values: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [label_field],
        "properties": {
            "timestamp": {"type": "string",
                          "description": "ISO-8601, or 'YYYY-MM-DD HH:MM:SS' taken as UTC; "
                                         "default: now", "example": "2025-07-12 13:45:00"},
            label_field: {"type": "string", "enum": list(values)},
            "count": {"type": "integer", "minimum": 0, "default": 1},
        },
    }


def _operation(summary: str, schema_name: str, label_field: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema_name}"}
    example = "00" if label_field == "auth_code" else "approved"
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "summary": summary,
        "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                        "schema": {"type": "string", "maxLength": 255},
                        "description": "a retried request with the same key is answered "
                                       "as before and not applied again (kept >= 24 h)"}],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"oneOf": [ref, {"type": "array", "items": ref}]}},
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"},
                         "example": f"timestamp,{label_field},count\n"
                                    f"2025-07-12 13:45:00,{example},116\n"},
        }},
        "responses": {
            "200": {"description": "all records applied (or a replayed Idempotency-Key)",
                    "content": {"application/json": {"schema": _ACCEPTED}}},
            **{code: {"description": text, **error} for code, text in (
                ("400", "malformed body"), ("401", "missing token"), ("403", "wrong token"),
                ("408", "body too slow"), ("413", "body or batch too large"),
                ("415", "unsupported Content-Type"),
                ("422", "invalid record(s); nothing applied"),
                ("503", "could not be stored; nothing applied"))},
        },
    }


def openapi_spec(config: Config) -> dict[str, Any]:
    """The full OpenAPI document for this configuration."""
    security = [{"bearer": []}] if config.token else []
    return {
        "openapi": "3.1.0",
        "info": {"title": "txwatch exporter", "version": "1",
                 "description": "Push per-minute payment transaction counts; scrape /metrics."},
        "paths": {
            "/api/v1/transactions": {"post": _operation(
                "Push transaction counts by status", "Transaction", "status")},
            "/api/v1/auth-codes": {"post": _operation(
                "Push issuer auth-code counts", "AuthCode", "auth_code")},
        },
        "security": security,
        "components": {
            "schemas": {"Transaction": _record("status", config.statuses),
                        "AuthCode": _record("auth_code", config.auth_codes),
                        "Error": _ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
