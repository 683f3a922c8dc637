"""Load series into a running Prometheus through its remote-write receiver.

Used by the backtest engine: the throwaway Prometheus keeps everything in its head block
(``--storage.tsdb.min-block-duration`` far above the history), so recorded series of one
level can be appended at old timestamps and queried by the next level at once, without
writing blocks or restarting. The wire format is the remote-write 1.0 protobuf, snappy
compressed by ``cramjam``. The protobuf is written here: samples are encoded with numpy in
one pass (timestamps as fixed six-byte varints, which protobuf decoders accept).

Why not the ``protobuf`` package for the messages too (bench/remote_write.py, figures in
bench/results/remote_write.json): its Python API builds one message per sample, 0.75 to
1.3 us a sample against 0.02 us here; a 30-day backtest writes 4.8 M samples, so it adds
3.7 s of encoding and about 4 s of CPU to every run (best wall time 37.8 s against 33.4 s).
Snappy by cramjam costs 0.01 s per 11 MB and halves the bytes, so the hand-written literal
stream it replaced was not needed. tests/test_backtest_io.py decodes what this module
writes with ``protobuf`` and ``cramjam`` (:mod:`txwatch.engines.remote_pb`) and compares it
with protobuf's own encoding.
"""

from __future__ import annotations

from collections.abc import Callable

import cramjam
import numpy as np
import requests

from txwatch.engines.series import Series

SAMPLE_BYTES = 18
BATCH_SAMPLES = 250_000


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_samples(values: np.ndarray, timestamps_ms: np.ndarray) -> bytes:
    """Repeated ``Sample{double value = 1; int64 timestamp = 2}`` fields, vectorised."""
    n = len(values)
    if n and (timestamps_ms.min() < 0 or timestamps_ms.max() >= 1 << 42):
        raise ValueError("timestamps must be within [0, 2^42) ms")
    out = np.empty((n, SAMPLE_BYTES), dtype=np.uint8)
    out[:, 0] = 0x12  # TimeSeries.samples, length-delimited
    out[:, 1] = 16
    out[:, 2] = 0x09  # Sample.value, 64-bit
    out[:, 3:11] = values.astype("<f8").view(np.uint8).reshape(n, 8)
    out[:, 11] = 0x10  # Sample.timestamp, varint
    ts = timestamps_ms.astype(np.int64)
    for i in range(6):
        byte = (ts >> (7 * i)) & 0x7F
        out[:, 12 + i] = byte | (0x80 if i < 5 else 0)
    return out.tobytes()


def encode_write_request(series: list[Series], origin_s: float, step_s: float) -> bytes:
    parts = []
    for s in series:
        labels = sorted({"__name__": s.name, **s.labels}.items())
        label_bytes = b"".join(_field(1, _field(1, k.encode()) + _field(2, v.encode()))
                               for k, v in labels)
        present = ~np.isnan(s.values)
        times = (origin_s + np.flatnonzero(present) * step_s) * 1000
        samples = encode_samples(s.values[present], np.rint(times).astype(np.int64))
        parts.append(_field(1, label_bytes + samples))
    return b"".join(parts)


def encode_body(series: list[Series], origin_s: float, step_s: float) -> bytes:
    """The body of one remote-write POST: a snappy-compressed WriteRequest."""
    return bytes(cramjam.snappy.compress_raw(encode_write_request(series, origin_s, step_s)))


def write(url: str, series: list[Series], origin_s: float, step_s: float,
          encode: Callable[[list[Series], float, float], bytes] | None = None) -> int:
    """Send series to ``url``/api/v1/write in batches; return samples sent.

    ``encode`` builds each POST body (default :func:`encode_body`; the benchmark swaps in
    the protobuf one).
    """
    encode = encode or encode_body
    sent = 0
    batch: list[Series] = []
    size = 0

    def flush() -> None:
        body = encode(batch, origin_s, step_s)
        r = requests.post(f"{url}/api/v1/write", data=body, timeout=300, headers={
            "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Write-Version": "0.1.0"})
        if r.status_code // 100 != 2:
            raise RuntimeError(f"remote write refused: HTTP {r.status_code} {r.text[:300]}")

    for s in series:
        count = int((~np.isnan(s.values)).sum())
        if batch and size + count > BATCH_SAMPLES:
            flush()
            batch, size = [], 0
        batch.append(s)
        size += count
        sent += count
    if batch:
        flush()
    return sent
