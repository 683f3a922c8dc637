"""The volume alerts: traffic stopped, and traffic significantly below what this hour
normally brings (:mod:`.seasonal`; the recent level where no history exists)."""

from __future__ import annotations

from txwatch.contract import TRANSACTIONS, Kind

from .alertrule import ALL, TABLE, alert_rule
from .inline import counts, minutes
from .inputs import Definer, recorded
from .messages import COUNT, asked, data_minute
from .seasonal import REFERENCE, expected, lowest, scale
from .settings import Settings
from .wilson import number, poisson_upper
from .yamltext import Rule, block


def volume_definers(s: Settings) -> dict[str, Definer]:
    """The levels and tests the volume alerts read per window: ``stop_expected`` (the
    count the hour before implies, where it is at least the table's busy_min: enough for
    an empty window to be improbable), ``recent_expected`` (the count the
    ``volume_reference`` before implies), and the low-volume tests (:func:`_test`) against
    the recent level, the seasonal expectation, and the seasonal one at ``volume_veto``."""
    tx = TRANSACTIONS

    def stop_expected(kind: Kind, at: str, window: str) -> str:
        reference = s.stop_reference
        return (f"{counts(tx, s, reference, 'job', offset=window)}"
                f" * {minutes(window) / minutes(reference):.6g}\n"
                f"  >= scalar({TABLE}busy_min)")

    def recent_expected(kind: Kind, at: str, window: str) -> str:
        reference = s.volume_reference
        return (f"{counts(tx, s, reference, 'job', offset=window)}"
                f" * {minutes(window) / minutes(reference):.6g}")

    def noise(window: str) -> str:
        return f"({lowest(window)} * on (job) max by (job) ({scale()}))"

    return {
        "stop_expected": stop_expected, "recent_expected": recent_expected,
        "low_recent": lambda kind, at, w: _test(s, w, _recent(w)),
        "low_seasonal": lambda kind, at, w: _test(s, w, lowest(w), noise(w)),
        "low_seasonal_veto": lambda kind, at, w: _test(s, w, lowest(w), noise(w),
                                                        s.volume_veto.z),
        "volume_low": lambda kind, at, w: _traffic_low(s, w),
    }


def _stopped(window: str) -> str:
    """No transaction in ``window`` while the hour before it had enough for that to be
    improbable (expected count >= the table's busy_min: P(0) < e^-busy_min)."""
    return (f"{recorded(TRANSACTIONS, 'count', window, 'job')} < 1 and on (job) "
            f"{recorded(TRANSACTIONS, 'stop_expected', window, 'job')}")


def _recent(window: str) -> str:
    """The count of ``window`` the level of the ``volume_reference`` before it implies."""
    return recorded(TRANSACTIONS, "recent_expected", window, "job")


def _test(s: Settings, window: str, expected: str, noise: str = "",
          z: float | None = None) -> str:
    """All transactions in ``window`` materially low (at most the table's drop factor x
    ``expected``) and significantly low (their Poisson upper bound below
    ``volume_allowance`` x ``expected``), when ``expected`` is large enough for the test
    to mean something. ``noise``: the variance of ``expected`` itself (a count of another
    day, scaled), added under the bound's square root: two noisy counts, not one. ``z``:
    the bound's confidence (by default the alert's own)."""
    tx = TRANSACTIONS
    now = counts(tx, s, window, "job")
    z = s.volume.z if z is None else z
    if noise:
        upper = (f"({now} + {number(z * z / 2)} + {number(z)} * sqrt({now} + "
                 f"{number(z * z / 4)} + on (job) {noise}))")
    else:
        upper = poisson_upper(now, z)
    return block(f"""
        (
            {now}
          <= on (job) {expected} * scalar({TABLE}volume_drop_factor)
          and on (job)
            ({upper} < on (job) {expected} * {s.volume_allowance:g})
          and on (job)
            ({expected} >= scalar({TABLE}busy_min))
        )""").rstrip("\n")


def _traffic_low(s: Settings, window: str) -> str:
    """The volume of ``window`` against what this hour normally brings: the lowest seasonal
    expectation (the same window a day and a week ago, each scaled to today: a drop must
    be one against both, :mod:`.seasonal`), its own Poisson noise counted (the scale x the
    expectation: the variance of a scaled count). Pages when the seasonal test holds (a
    slide, which the recent level follows down), or when the recent-level test holds and
    the seasonal one agrees at ``volume_veto`` confidence (a sudden drop, seen as fast as
    the recent level sees it), or, before a day of history, on the recent level alone. The
    recent level alone pages on normal but abrupt changes (a busy day ending, a weekend
    starting at midnight, a steep evening decline into a near-empty night). Total, not
    approved, volume: approvals that fall because denials rise are the share alerts'
    incident, not a second page. Written R unless (E unless A) or S: recent, unless a
    seasonal expectation exists that does not agree, or seasonal."""
    def low(test: str) -> str:
        return recorded(TRANSACTIONS, test, window, "job")
    return block(f"""
        {low('low_recent')}
          unless on (job)
        ({lowest(window)} unless on (job) {low('low_seasonal_veto')})
          or
        {low('low_seasonal')}
        """)


def _expected_text(s: Settings, window: str) -> str:
    """A template naming what ``window`` was expected to hold and where that came from."""
    recent = f'label_replace({_recent(window)}, "{REFERENCE}", "recent", "", "")'
    source = f"bottomk(1, {expected(window)}) or on (job) {recent}"
    seasons = "".join(
        f'{{{{ {"if" if i == 0 else "else if"} eq $from "{k}" }}}}the same time '
        f"{_AGO.get(k, k + ' ago')}, scaled to today,"
        for i, k in enumerate(s.volume_seasons))
    return (f"{{{{ with `{source}` | query }}}}{{{{ $from := . | first | label "
            f'"{REFERENCE}" }}}}{seasons}{{{{ else }}}}the {s.volume_reference} before'
            f"{{{{ end }}}} implied about {{{{ . | first | value | {COUNT} }}}}{{{{ end }}}}")


_AGO = {"1d": "yesterday", "1w": "last week", "167h": "last week an hour later in UTC",
        "169h": "last week an hour earlier in UTC"}


def _volume_text(s: Settings, window: str, when: bool = True) -> str:
    now = counts(TRANSACTIONS, s, window, "job")
    return (f"{asked(now, COUNT)} transactions in the last {window}, where "
            f"{_expected_text(s, window)}.{data_minute(s) if when else ''}")


def volume_alerts(s: Settings) -> list[Rule]:
    tx = TRANSACTIONS
    stopped = "\nor ".join(_stopped(w) for w in s.stop_windows) + "\n"
    first = counts(tx, s, s.stop_windows[0], "job", recorded_ok=False)
    recently_stopped = (f"min_over_time(({first})"
                        f"[20m:1m]) < 1")
    low = "\nor ".join(recorded(tx, "volume_low", w, "job") for w in s.volume_windows)
    return [
        alert_rule(s, "PaymentTrafficStopped", stopped,
                   "No transactions while traffic was flowing",
                   "No transaction in the last minutes, while the last hour had "
                   + asked(counts(tx, s, s.stop_reference, "job"), COUNT)
                   + ", enough that an empty stretch this long is improbable. Pushes still "
                   "arrive (otherwise PaymentDataStale fires), so the flow itself stopped."
                   + data_minute(s),
                   labels=ALL, keep=s.keep_firing_for),
        alert_rule(s, "PaymentTrafficLow",
                   f"(\n    {low}\n)\nunless on (job) {recently_stopped}\n",
                   "Transaction volume collapsed: " + _volume_text(s, s.fast_window, when=False),
                   "Transactions over the last minutes are significantly below the drop factor of "
                   "the table times what this hour normally brings (Poisson bound at "
                   f"{s.volume.text}): a partial outage. " + _volume_text(s, s.fast_window)
                   + " A full stop is paged by PaymentTrafficStopped instead.", labels=ALL,
                   keep=s.keep_firing_for),
    ]
