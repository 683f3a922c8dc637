"""The volume alerts: traffic stopped, and traffic significantly below its recent level."""

from __future__ import annotations

from txwatch.contract import TRANSACTIONS

from .alertrule import ALL, TABLE, alert_rule
from .inline import counts, minutes, poisson_upper
from .messages import COUNT, asked, data_minute, volume_text
from .settings import Settings
from .yamltext import Rule, block, indent


def _stopped(s: Settings, window: str) -> str:
    """No transaction in ``window`` while the hour before it had enough for that to be
    improbable (expected count >= the table's busy_min: P(0) < e^-busy_min)."""
    tx = TRANSACTIONS
    expected = f"{counts(tx, s, '1h', 'job', offset=window)} * {minutes(window) / 60:.6g}"
    return (f"(\n  {counts(tx, s, window, 'job')} < 1\n  and on (job)\n"
            f"  {expected} >= scalar({TABLE}busy_min)\n)")


def _traffic_low(s: Settings, window: str) -> str:
    """All transactions in ``window`` materially low (at most the table's drop factor x the
    level of the ``volume_reference`` before the window) and significantly low (their
    Poisson upper bound below ``volume_allowance`` x that level, which leaves room for the
    daily cycle's slope), when that level is large enough for the test to mean something.
    Total, not approved, volume: approvals that fall because denials rise are the share
    alerts' incident, not a second page. The recent level, not a seasonal one: a weekend or
    holiday eases in over a night and is no drop, while an outage is sudden."""
    tx = TRANSACTIONS
    now = counts(tx, s, window, "job")
    reference = s.volume_reference
    expected = (f"({counts(tx, s, reference, 'job', offset=window)}"
                f" * {minutes(window) / minutes(reference):.6g})")
    return block(f"""
        (
            {now}
          <= on (job) {expected} * scalar({TABLE}volume_drop_factor)
          and on (job)
            ({poisson_upper(now, s.volume.z)} < on (job) {expected} * {s.volume_allowance:g})
          and on (job)
            ({expected} >= scalar({TABLE}busy_min))
        )""").rstrip("\n")


def volume_alerts(s: Settings) -> list[Rule]:
    tx = TRANSACTIONS
    stopped = "\nor\n".join(_stopped(s, w) for w in s.stop_windows) + "\n"
    recently_stopped = (f"min_over_time(({counts(tx, s, s.stop_windows[0], 'job')})"
                        f"[20m:1m]) < 1")
    low = "\nor\n".join(_traffic_low(s, w) for w in s.volume_windows)
    return [
        alert_rule(s, "PaymentTrafficStopped", stopped,
                   "No transactions while traffic was flowing",
                   "No transaction in the last minutes, while the last hour had "
                   + asked(counts(tx, s, "1h", "job"), COUNT) + ", enough that an empty stretch "
                   "this long is improbable. Pushes still arrive (otherwise PaymentDataStale "
                   "fires), so the flow itself stopped." + data_minute(s),
                   labels=ALL, keep=s.keep_firing_for),
        alert_rule(s, "PaymentTrafficLow",
                   f"(\n{indent(low, '  ')}\n)\nunless on (job) {recently_stopped}\n",
                   "Transaction volume collapsed: "
                   + volume_text(tx, s, "5m", s.volume_reference, when=False),
                   "Transactions over the last minutes are significantly below the drop factor of "
                   "the table times the level just before (Poisson bound at "
                   f"{s.volume.text}): a partial outage. "
                   + volume_text(tx, s, "5m", s.volume_reference)
                   + " A full stop is paged by PaymentTrafficStopped instead.", labels=ALL,
                   keep=s.keep_firing_for),
    ]
