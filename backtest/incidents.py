"""Labelled incidents: the file a backtest, ``tune`` and the demo read, and its checks.

Kept apart from scoring because a label file comes from people and other tools, and a
wrong one must be refused with a sentence naming the file and the incident, not a
``KeyError`` from deep in the scorer. Two shapes are accepted, since both are written in
practice: the generator's ``{"incidents": [...]}`` and a plain JSON list of the same
objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from txwatch import contract
from txwatch.exporter.segments import LABEL_NAME, VALUE, VALUE_RULE

if TYPE_CHECKING:  # pandas is imported when a file is read: `--help` stays quick
    import pandas as pd

WHOLE_FLOW = "all"  # an incident about the whole flow (an outage, a volume drop)
INCIDENTS_FORMAT = ("incidents file: JSON, either {\"incidents\": [...]} (what `txwatch-replay "
          "generate` writes) or a plain list [...]; each incident {\"start\": \"2025-01-07 "
          "02:15\", \"end\": \"2025-01-07 02:44\", \"statuses\": [\"failed\"], \"kind\": "
          "\"failed_spike\"} (\"name\" instead of \"kind\" is accepted); times are "
          "ISO-8601 or 'YYYY-MM-DD HH:MM', UTC unless they carry a zone; end is the last "
          "minute of the incident (inclusive); statuses are the ones the incident is about, "
          f"of {', '.join(contract.STATUSES)}, or \"all\" for the whole flow (outages, "
          "volume drops); optional \"segments\": [\"acquirer=acq-07\"], the segments it "
          "hits, each dimension=value[,dimension=value] as the exporter names a segment "
          "(absent: the whole flow)")


class IncidentsError(ValueError):
    """An incidents file the loader refuses; the message names the file and what to fix
    (the CLI shows it alone, like a refused history)."""


@dataclass(frozen=True)
class Incident:
    start: pd.Timestamp
    end: pd.Timestamp
    kind: str
    statuses: tuple[str, ...]
    # The segments it hits, as the exporter spells one ("acquirer=acq-07"); () is the whole
    # flow, which is what every label file written before segments means.
    segments: tuple[str, ...] = ()


def load_incidents(path: Path) -> list[Incident]:
    """The incidents of ``path`` (see INCIDENTS_FORMAT); IncidentsError for anything else."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise IncidentsError(f"{path}: cannot read the incidents file: {reason}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise IncidentsError(f"{path}: not JSON ({error.msg}, line {error.lineno} column "
                             f"{error.colno}); expected {INCIDENTS_FORMAT}") from None
    return parse_incidents(doc, str(path))


def parse_incidents(doc: Any, source: str) -> list[Incident]:
    """Incidents from a decoded document, either shape; IncidentsError names the first
    wrong incident by its position."""
    items = doc.get("incidents") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise IncidentsError(f"{source}: expected a list of incidents or an object with "
                             f"\"incidents\"; {INCIDENTS_FORMAT}")
    return [_incident(item, f"{source}: incident {n + 1}") for n, item in enumerate(items)]


def _incident(item: Any, where: str) -> Incident:
    if not isinstance(item, dict):
        raise IncidentsError(f"{where}: expected an object, got {type(item).__name__}")
    name = item.get("kind", item.get("name"))
    missing = [key for key in ("start", "end", "statuses") if key not in item]
    if missing or name is None:
        missing += [] if name is not None else ["kind (or name)"]
        raise IncidentsError(f"{where}: missing {', '.join(missing)}; each incident needs "
                             "start, end, statuses and kind or name")
    statuses = item["statuses"]
    if not isinstance(statuses, list) or not statuses or \
            not all(isinstance(s, str) for s in statuses):
        raise IncidentsError(f"{where}: statuses must be a non-empty list of status names, "
                             f"got {json.dumps(statuses)}")
    unknown = [s for s in statuses if s not in (*contract.STATUSES, WHOLE_FLOW)]
    if unknown:
        raise IncidentsError(f"{where}: unknown status {unknown[0]!r}; known: "
                             f"{', '.join(contract.STATUSES)}, or {WHOLE_FLOW} (the whole "
                             "flow: outages, volume drops)")
    start, end = _utc(item["start"], f"{where}: start"), _utc(item["end"], f"{where}: end")
    if end < start:
        raise IncidentsError(f"{where}: end {item['end']} is before start {item['start']}")
    return Incident(start, end, str(name), tuple(statuses), _segments(item, where))


def _segments(item: dict[str, Any], where: str) -> tuple[str, ...]:
    """The optional ``segments``: each ``dimension=value`` pairs joined by commas, checked
    with the exporter's rules so a typo is refused here, not silently never matched."""
    found = item.get("segments", [])
    if not isinstance(found, list) or not all(isinstance(s, str) for s in found):
        raise IncidentsError(f"{where}: segments must be a list of segments such as "
                             f"\"acquirer=acq-07\", got {json.dumps(found)}")
    for segment in found:
        for pair in segment.split(","):
            name, equals, value = pair.partition("=")
            if not (equals and LABEL_NAME.fullmatch(name) and VALUE.fullmatch(value)):
                raise IncidentsError(
                    f"{where}: segment {segment!r} is not dimension=value[,dimension=value] "
                    f"with a label name and a value of {VALUE_RULE}")
    return tuple(found)


def _utc(text: Any, where: str) -> pd.Timestamp:
    """A label's time; times without a zone are UTC, like the data set's."""
    import pandas as pd

    try:
        if not isinstance(text, str):
            raise ValueError
        stamp = pd.Timestamp(text)
        if stamp is pd.NaT:
            raise ValueError
    except ValueError:
        raise IncidentsError(f"{where}: not a time: {json.dumps(text)} (e.g. "
                             "\"2025-01-07 02:15\")") from None
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp
