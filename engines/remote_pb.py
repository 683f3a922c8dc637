"""The remote-write 1.0 messages through the ``protobuf`` package: a maintained encoder and
decoder to check :mod:`txwatch.engines.remote_write` against and to benchmark it with
(bench/remote_write.py). Snappy is ``cramjam``'s, as there.

The messages (``prometheus.WriteRequest``, ``TimeSeries``, ``Label``, ``Sample`` of
prompb's remote.proto and types.proto, field numbers as there; the fields we never send,
exemplars, histograms and metadata, are left out and kept as unknown fields if present) are
described with ``descriptor_pb2`` at import time, so there is no generated code and no protoc.
Needs the ``test`` extra (protobuf).
"""

from __future__ import annotations

import cramjam
import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from txwatch.engines.series import Series

_F = descriptor_pb2.FieldDescriptorProto


def _messages() -> dict[str, type]:
    proto = descriptor_pb2.FileDescriptorProto(name="txwatch/prompb_remote.proto",
                                               package="prometheus", syntax="proto3")
    layout = {
        "Label": [("name", 1, _F.TYPE_STRING, ""), ("value", 2, _F.TYPE_STRING, "")],
        "Sample": [("value", 1, _F.TYPE_DOUBLE, ""), ("timestamp", 2, _F.TYPE_INT64, "")],
        "TimeSeries": [("labels", 1, _F.TYPE_MESSAGE, "Label"),
                       ("samples", 2, _F.TYPE_MESSAGE, "Sample")],
        "WriteRequest": [("timeseries", 1, _F.TYPE_MESSAGE, "TimeSeries")],
    }
    for name, fields in layout.items():
        message = proto.message_type.add(name=name)
        for field, number, kind, of in fields:
            message.field.add(name=field, number=number, type=kind,
                              label=_F.LABEL_REPEATED if of else _F.LABEL_OPTIONAL,
                              type_name=f".prometheus.{of}" if of else None)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(
        f"prometheus.{name}")) for name in layout}


_CLASSES = _messages()
WriteRequest = _CLASSES["WriteRequest"]
Sample = _CLASSES["Sample"]


def encode(series: list[Series], origin_s: float, step_s: float) -> bytes:
    """A snappy-compressed WriteRequest built message by message (NaN = no sample)."""
    request = WriteRequest()
    for s in series:
        ts = request.timeseries.add()
        for key, value in sorted({"__name__": s.name, **s.labels}.items()):
            ts.labels.add(name=key, value=value)
        present = ~np.isnan(s.values)
        times = np.rint((origin_s + np.flatnonzero(present) * step_s) * 1000).astype(np.int64)
        ts.samples.extend(Sample(value=v, timestamp=t)
                          for v, t in zip(s.values[present].tolist(), times.tolist(),
                                          strict=True))
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def decode(body: bytes) -> list[tuple[dict[str, str], np.ndarray, np.ndarray]]:
    """(labels, values, timestamps in ms) per series of a snappy-compressed WriteRequest."""
    request = WriteRequest()
    request.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    return [({label.name: label.value for label in ts.labels},
             np.array([x.value for x in ts.samples], dtype=np.float64),
             np.array([x.timestamp for x in ts.samples], dtype=np.int64))
            for ts in request.timeseries]
