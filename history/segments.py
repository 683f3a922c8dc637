"""Segment columns of a history: the dimensions (acquirer, method...) a row may carry.

A history may hold ``timestamp,<dimension>...,status,count`` (any column order), as a
pushed CSV may when the exporter runs with ``--segment.dimensions``. Every column that is
not the time, the label or the count is a dimension; nothing is dropped: the aggregate per
status and code sums every segment, exactly as a file without such columns loads, and the
per-segment tables are kept beside it for what judges each segment against its own normal.

Names and values follow the exporter's rules (a label name free to use; a short token),
checked here with the exporter's own pattern, so a history the loader accepts is one the
exporter accepts too, and a bad cell is refused by file, line and column rather than found
out minute by minute during a push. An empty cell is the default segment, as in a push.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from txwatch import contract
from txwatch.exporter.segments import LABEL_NAME, VALUE, VALUE_RULE, encode

FIXED = ("timestamp", "count")
SEGMENT = "(segment)"  # the loader's column of canonical segments: no label name clashes


class SegmentColumnError(ValueError):
    """A dimension column or value the exporter would refuse (a HistoryError's sibling:
    the CLI shows the message alone)."""


def dimension_columns(columns: Iterable[str], label: str) -> tuple[str, ...]:
    """The columns other than the time, the label and the count, in the file's order."""
    return tuple(c for c in columns if c not in (*FIXED, label))


def check_names(names: tuple[str, ...], source: str) -> None:
    """Refuse a column that cannot be a dimension: the exporter would refuse the header."""
    for name in names:
        if not LABEL_NAME.fullmatch(name) or name.startswith(("__", "exported_")) \
                or name in contract.RESERVED_LABELS:
            raise SegmentColumnError(
                f"{source}: column {name!r} is not a dimension the exporter can take (a "
                "Prometheus label name, not __*, exported_* or one of "
                f"{', '.join(sorted(contract.RESERVED_LABELS))}); the columns are "
                "timestamp, status or auth_code, count and dimensions such as acquirer")


def check_values(frame: pd.DataFrame, names: tuple[str, ...], source: str) -> None:
    """Refuse the first cell (in file order) that is not a segment value; empty is fine."""
    for name in names:
        cells = frame[name]  # a segment's value repeats every minute: each checked once
        wrong = [v for v in cells.unique() if v != "" and VALUE.fullmatch(v) is None]
        if wrong:
            row = int(cells.isin(wrong).to_numpy().argmax())
            raise SegmentColumnError(
                f"{source}: line {row + 2}, column {name}: {cells.iloc[row][:64]!r} is not a "
                f"segment value ({VALUE_RULE}: {contract.SEGMENT_VALUE_PATTERN})")


def segment_column(frame: pd.DataFrame, names: tuple[str, ...]) -> pd.Series:
    """Each row's segment as the exporter spells it (``acquirer=acq-1,method=credit``;
    ``""``: the default segment), so both sides name a segment alike."""
    if not names:
        return pd.Series("", index=frame.index)
    keys = frame[list(names)]  # spelled once per distinct combination, not per row
    groups = keys.groupby(list(names), sort=False).ngroup().to_numpy()
    spelled = np.array([encode((n, v) for n, v in zip(names, row, strict=True) if v)
                        for row in keys.drop_duplicates().itertuples(index=False)], dtype=object)
    return pd.Series(spelled[groups], index=frame.index)


def per_segment(frame: pd.DataFrame, wide: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Segment -> minute table shaped like ``wide`` (its index and columns), for a frame
    with a :data:`SEGMENT` column; empty when no row carries a dimension."""
    if frame[SEGMENT].eq("").all():
        return {}
    label = next(c for c in frame.columns if c in contract.KIND_BY_LABEL)
    minute = frame["timestamp"].dt.floor("min")
    table = frame.assign(minute=minute).pivot_table(
        index="minute", columns=[SEGMENT, label], values="count", aggfunc="sum")
    out = {}
    for segment in sorted(frame[SEGMENT].unique()):
        part = table[segment].reindex(index=wide.index, columns=wide.columns)
        part = part.fillna(0).astype("int64")
        part.columns.name = None
        out[segment] = part
    return out
