"""Reading transaction CSVs (the data set's two formats) into per-minute tables.

The data set is sorted by status, not by time, so everything here sorts. A file is
recognised by its header: ``timestamp,status,count`` or ``timestamp,auth_code,count``, with
any dimension columns besides (``timestamp,acquirer,status,count``: see ``segments.py``).

Nothing of a user's history is dropped silently: issuers answer dozens of auth codes (05,
14, 54, 57, 91, 96 ...), and a burst of one the contract does not list is exactly what a
backtest must see, so every code in the file is kept. Statuses are different: the exporter
accepts and the rules watch only the configured ones, so a file with others is refused
with their names rather than backtested as if they did not exist.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pandas._libs.parsers import STR_NA_VALUES  # read_csv's own default NA strings

from txwatch.contract import KIND_BY_LABEL
from txwatch.history import segments
from txwatch.history.segments import SEGMENT


class HistoryError(ValueError):
    """A history the loader refuses (unreadable header, unknown statuses): the CLI shows
    the message alone, since the fix is in the file or the configuration, not the code."""


@dataclass
class Dataset:
    """Minute-indexed wide tables (one column per label value), sorted by time.

    ``transactions`` and ``auth_codes`` are the whole flow (every segment summed); with
    dimension columns, ``segment_transactions`` / ``segment_auth_codes`` hold each segment's
    own tables (same index and columns), keyed as the exporter spells a segment
    (``acquirer=acq-1``; ``""`` for rows without a value), and sum to the whole flow.
    """

    transactions: pd.DataFrame
    auth_codes: pd.DataFrame
    pushed: pd.Series  # True for minutes that had at least one row (a push happened)
    dimensions: tuple[str, ...] = ()
    segment_transactions: dict[str, pd.DataFrame] = field(default_factory=dict)
    segment_auth_codes: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def start(self) -> pd.Timestamp:
        return self.transactions.index[0]

    @property
    def end(self) -> pd.Timestamp:
        return self.transactions.index[-1]


def read_frame(source: str | Path) -> tuple[str, pd.DataFrame]:
    """Read one CSV (``-`` is stdin); return its label column and long-format frame, whose
    dimension columns (if any) hold strings, ``""`` where a cell is empty."""
    text = io.StringIO(sys.stdin.read()) if str(source) == "-" else source
    columns = [str(c) for c in pd.read_csv(text, nrows=0).columns]
    if isinstance(text, io.StringIO):
        text.seek(0)
    label = next((c for c in columns if c in KIND_BY_LABEL), None)
    if label is None or "timestamp" not in columns:
        raise HistoryError(f"{source}: header must be timestamp,status,count or "
                         f"timestamp,auth_code,count; got {','.join(columns)}")
    dims = segments.dimension_columns(columns, label)
    try:
        segments.check_names(dims, str(source))
        # Dimension cells are read verbatim ("NA" is an acquirer, not a missing value);
        # the other columns exactly as before.
        frame = pd.read_csv(text, dtype={"auth_code": str, **dict.fromkeys(dims, str)},
                            keep_default_na=False,
                            na_values={c: STR_NA_VALUES for c in columns if c not in dims})
        if dims:
            frame[list(dims)] = frame[list(dims)].fillna("")
            segments.check_values(frame, dims, str(source))
    except segments.SegmentColumnError as error:
        raise HistoryError(str(error)) from None
    if "count" not in frame.columns:
        frame["count"] = 1
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="mixed")
    return label, frame.sort_values(["timestamp", label], kind="stable").reset_index(drop=True)


def to_wide(frame: pd.DataFrame, label: str, columns: tuple[str, ...] | None = None,
            index: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """Sum counts per minute and label; minutes with no row become 0."""
    minute = frame["timestamp"].dt.floor("min")
    wide = frame.assign(minute=minute).pivot_table(index="minute", columns=label,
                                                   values="count", aggfunc="sum")
    if index is None:
        index = pd.date_range(wide.index.min(), wide.index.max(), freq="min")
    wide = wide.reindex(index).fillna(0).astype("int64")
    if columns is not None:
        wide = wide.reindex(columns=list(columns), fill_value=0)
    wide.columns.name = None
    return wide


def code_columns(found: Iterable[object], auth_codes: tuple[str, ...]) -> list[str]:
    """The contract's codes first (present or not: the rules expect them), then every other
    code of the history in sorted order."""
    return list(auth_codes) + sorted({str(c) for c in found} - set(auth_codes))


def check_statuses(found: Iterable[object], statuses: tuple[str, ...],
                   source: str = "") -> None:
    """Refuse statuses outside the configured list: the exporter would reject them and no
    rule watches them, so a backtest that summed or dropped them would mislead."""
    unknown = sorted({str(s) for s in found} - set(statuses))
    if unknown:
        raise HistoryError(
            f"{source or 'transactions'}: unknown status(es) {', '.join(unknown)}; the "
            f"configured statuses are {', '.join(statuses)}. The rules and the exporter only "
            "know the configured statuses (txwatch.contract.STATUSES, which the rules and "
            "rules/thresholds.yml are built on, and the exporter's --payment.statuses): map "
            "these to one of them in the file, or add them to that configuration")


def load_dataset(files: list[str | Path], statuses: tuple[str, ...],
                 auth_codes: tuple[str, ...]) -> Dataset:
    """Load transactions (required) and auth codes (optional) on one minute index: every
    configured status and every auth code of the files (see the module docstring)."""
    frames: dict[str, pd.DataFrame] = {}
    dims: list[str] = []
    for source in files:
        label, frame = read_frame(source)
        if label == "status":
            check_statuses(frame["status"].unique(), statuses, str(source))
        found = segments.dimension_columns(frame.columns, label)
        dims += [d for d in found if d not in dims]
        frame = frame.assign(**{SEGMENT: segments.segment_column(frame, found)})
        frames[label] = pd.concat([frames[label], frame]) if label in frames else frame
    if "status" not in frames:
        raise HistoryError("need a transactions file (timestamp,status,count)")
    tx = to_wide(frames["status"], "status", statuses)
    codes = (to_wide(frames["auth_code"], "auth_code",
                     tuple(code_columns(frames["auth_code"]["auth_code"].unique(), auth_codes)),
                     tx.index)
             if "auth_code" in frames
             else pd.DataFrame(0, index=tx.index, columns=list(auth_codes)))
    pushed = pd.Series(tx.index.isin(frames["status"]["timestamp"].dt.floor("min")),
                       index=tx.index)
    return Dataset(tx, codes, pushed, tuple(dims), segments.per_segment(frames["status"], tx),
                   segments.per_segment(frames["auth_code"], codes)
                   if "auth_code" in frames else {})
