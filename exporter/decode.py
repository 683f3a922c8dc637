"""Pure decoding of ingest bodies into raw records: JSON, NDJSON and CSV.

The bytes of a request become an iterator of raw records (dicts, or tuples for CSV) or a
:class:`BodyError` naming what cannot be read; checking the records is
:mod:`txwatch.exporter.parsing`'s job. Nothing here touches state, the clock or the network.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

MISSING = object()  # a CSV column the header does not name
CHUNKED_JSON_BYTES = 2 * 1024 * 1024
_WHITESPACE = re.compile(r"[ \t\n\r]*")

JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl"})
CSV_TYPES = frozenset({"text/csv", "application/csv"})
SUPPORTED_TYPES = JSON_TYPES | NDJSON_TYPES | CSV_TYPES
# As the empty body: a push carries at least one record (the API description's minItems 1).
NO_RECORDS = "JSON array holds no records: send at least one record"


class BodyError(Exception):
    """The body as a whole cannot be read (malformed JSON/CSV, wrong encoding, empty)."""

    def __init__(self, message: str, index: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.index = index
        self.field = field

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


def decode_body(body: bytes, media_type: str, label_field: str,
                dimensions: tuple[str, ...] = ()) -> Iterator[Any]:
    """Yield raw records (dicts, or tuples for CSV) from a body of the given media type.

    A CSV tuple holds timestamp, label and count, then each of ``dimensions`` in order
    (:data:`MISSING` for a column the header does not name).
    """
    if not body.strip():
        raise BodyError("body is empty: send at least one record")
    if media_type in JSON_TYPES:
        if len(body) > CHUNKED_JSON_BYTES and body.lstrip()[:1] == b"[":
            return _json_elements(body)
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise BodyError(f"invalid JSON: {_why(exc)}") from None
        if doc == []:
            raise BodyError(NO_RECORDS)
        return iter(doc if isinstance(doc, list) else [doc])
    if media_type in NDJSON_TYPES:
        return _ndjson(body)
    if media_type in CSV_TYPES:
        return _csv(body, label_field, dimensions)
    raise BodyError(f"unsupported media type {media_type!r}")


def _ndjson(body: bytes) -> Iterator[Any]:
    lines = [line for line in body.splitlines() if line.strip()]
    docs = []
    for index, line in enumerate(lines):
        try:
            docs.append(json.loads(line))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise BodyError(f"invalid JSON on non-empty line {index + 1}: {_why(exc)}",
                            index=index) from None
    return iter(docs)


def _why(exc: Exception) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc)


def _json_elements(body: bytes) -> Iterator[Any]:
    """A large JSON body decoded one array element at a time.

    One ``json.loads`` of 10 MB holds the GIL for ~60 ms; element by element, the event loop
    thread gets its turn between elements (the caller runs this in a worker thread).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"invalid JSON: {exc}") from None
    decoder = json.JSONDecoder()
    skip = _WHITESPACE.match
    docs = []
    pos = skip(text, text.index("[") + 1).end()
    sep = text[pos:pos + 1]
    if sep == "]":
        pos = skip(text, pos + 1).end()
    while sep != "]":
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            raise BodyError(f"invalid JSON in element {len(docs)}: {_why(exc)}",
                            index=len(docs)) from None
        docs.append(doc)
        pos = skip(text, pos).end()
        sep = text[pos:pos + 1]
        if sep not in (",", "]"):
            raise BodyError(f"invalid JSON after element {len(docs) - 1}: expected , or ]",
                            index=len(docs) - 1)
        pos = skip(text, pos + 1).end()
    if text[pos:]:
        raise BodyError("invalid JSON: extra data after the array")
    if not docs:
        raise BodyError(NO_RECORDS)
    return iter(docs)


def _csv(body: bytes, label_field: str, dimensions: tuple[str, ...]) -> Iterator[Any]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BodyError(f"CSV is not UTF-8: {exc}") from None
    # newline=None: bare CR, LF and CRLF line ends all end a row.
    rows = csv.reader(io.StringIO(text, newline=None))
    try:
        header = [name.strip() for name in next(rows, [])]
    except csv.Error as exc:
        raise BodyError(f"CSV header cannot be read: {exc}", field="header") from None
    wanted = ("timestamp", label_field, "count", *dimensions)
    unknown = [name for name in header if name not in wanted]
    if unknown or label_field not in header or len(set(header)) != len(header):
        raise BodyError(f"CSV header must name columns from {','.join(wanted)} "
                        f"(with {label_field!r}); got {','.join(header)[:200]!r}", field="header")
    positions = [header.index(name) if name in header else -1 for name in wanted]
    if min(positions) >= 0:
        getter = itemgetter(*positions)  # fast path: every column present
    else:
        def getter(row: list[str]) -> tuple[Any, ...]:
            return tuple(row[p] if p >= 0 else MISSING for p in positions)
    width = len(header)
    records = []
    append = records.append
    index = -1
    try:
        for index, row in enumerate(rows):
            if len(row) != width:
                if not row:
                    continue
                raise BodyError(f"CSV row {index + 1} has {len(row)} fields, header has {width}",
                                index=index)
            append(getter(row))
    except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit
        raise BodyError(f"CSV row {index + 2} cannot be read: {exc}", index=index + 1) from None
    return iter(records)
