"""What a paging alert says: the actual share and counts, the limit, the bound, the data minute.

An alert's value is the number it judged (a score, a count); an operator needs
more: how many of how many, against which limit, at which minute of the data. Prometheus
alert templates may ``query`` the server, so each message asks for those numbers with the
same PromQL builders the expressions use (:mod:`.inline`, :mod:`.normals`): the text cannot
describe a different window or limit than the alert evaluated.
"""

from __future__ import annotations

from txwatch.contract import (
    APPROVED_AUTH_CODE,
    AUTH_CODE_COUNTS,
    LAST_MINUTE_TIMESTAMP,
    TRANSACTIONS,
    Kind,
)

from .inline import counts, minutes
from .normals import limit, normal, shown_normal
from .settings import Confidence, Settings
from .wilson import number, wilson_lower

PERCENT = "humanizePercentage"
COUNT = 'printf "%.0f"'
SLOT = "\x00"  # where the alert's own label value goes (printf's %s)


def asked(promql: str, shown: str, label: str | None = None, before: str = "",
          after: str = "") -> str:
    """A template that runs ``promql`` at evaluation and shows its first value ``shown``
    between ``before`` and ``after`` (all three left out when the query finds nothing).

    With ``label``, the alert's value of that label is put where :data:`SLOT` stands (a
    Go raw string keeps PromQL's quotes as they are)."""
    escaped = promql.replace("%", "%%").replace(SLOT, "%s")
    if label:
        source = f"printf `{escaped}`" + f" $labels.{label}" * promql.count(SLOT)
    else:
        source = f"`{promql}`"
    return (f"{{{{ with {source} | query }}}}{before}{{{{ . | first | value | {shown} }}}}"
            f"{after}{{{{ end }}}}")


def asked_bound(k: str, n: str, label: str, z: float) -> str:
    """A template showing the Wilson lower bound at ``z`` of ``k`` in ``n`` (the alert's own
    ``label`` value in :data:`SLOT`), as a percentage; on one line, since the text is folded."""
    return asked(" ".join(wilson_lower(k, n, label, z).split()), PERCENT, label)


def shown_share(k: str, n: str, label: str) -> str:
    """A template showing k / n from the counts as the message shows them, so the line adds
    up ("8 of 402 (1.99%)"): increase() extrapolates to the window's edges, so k and n are
    rarely whole numbers, and their own quotient can differ from the rounded ones' in the
    second digit (the bound in the text is the one the alert judged)."""
    return asked(f"round({k}) / (round({n}) > 0)", PERCENT, label)


def _own(kind: Kind) -> str:
    return f'{kind.label}="{SLOT}"'


def share_facts(kind: Kind, s: Settings, window: str, which: str,
                z: float) -> dict[str, str]:
    """Templates for one label value's share over ``window``: k, n, share, its Wilson lower
    bound at ``z`` (one line: the template is folded), limit, normal."""
    k = counts(kind, s, window, "job", _own(kind))
    n = counts(kind, s, window, "job")
    mine = f"{{{_own(kind)}}}"
    return {
        "k": asked(f"round({k})", COUNT, kind.label),  # as the share rounds them (half up,
        "n": asked(f"round({n})", COUNT),              # where printf rounds half to even)
        "share": shown_share(k, n, kind.label),
        "bound": asked_bound(k, n, kind.label, z),
        "limit": asked(f"max({limit(kind, which)}{mine})", PERCENT, kind.label),
        "normal": asked(_normal_query(kind, mine), PERCENT, kind.label),
        "expected": asked(f"{n} * on () ({_normal_query(kind, mine)})", 'printf "%.1f"',
                          kind.label),
    }


def _normal_query(kind: Kind, mine: str) -> str:
    """The normal share of one label value: learned, or the table's warm-up default."""
    return shown_normal(kind, "ratio", mine)


def data_minute(s: Settings) -> str:
    """The newest complete data minute, which is what the alert saw (not the wall clock: a
    replay or a late backlog runs behind it)."""
    return asked(f"max({LAST_MINUTE_TIMESTAMP}{{{s.job_selector}}})", "humanizeTimestamp",
                 before=" Newest data minute: ", after=".")


def decline_codes(s: Settings, window: str) -> str:
    """For a denied alert only: the decline codes furthest above the count their learned
    normal share implies over ``window`` (at most three), so the page names the issuer
    answer that drives it (a 91 burst raises denied and pages; the code's own warning is
    then muted by Alertmanager's critical-over-warning inhibition). A code with no learned
    normal yet (first seen in the last hours) counts whole."""
    ac = AUTH_CODE_COUNTS
    declines = f'{s.job_selector}, {ac.label}!="{APPROVED_AUTH_CODE}"'
    k = f"sum by ({ac.label}) (increase({ac.counter}{{{declines}}}[{window}]))"
    n = f"sum(increase({ac.counter}{{{s.job_selector}}}[{window}]))"
    usual = f'max by ({ac.label}) ({normal(ac)}{{{ac.label}!="{APPROVED_AUTH_CODE}"}})'
    expected = f"{n} * on () group_right () {usual}"
    excess = f"topk(3, (({k} - on ({ac.label}) group_left () ({expected})) or {k}) >= 1)"
    return (f'{{{{ if eq $labels.status "denied" }}}}{{{{ with query `{excess}` }}}} Decline '
            f"codes furthest above their normal count over {window}:{{{{ range . }}}} "
            f"{{{{ .Labels.{ac.label} }}}} (+{{{{ .Value | printf \"%.0f\" }}}}){{{{ end }}}}."
            f"{{{{ end }}}}{{{{ end }}}}")


def ratio_text(kind: Kind, s: Settings, window: str, which: str, what: str,
               confidence: Confidence,
               or_normal: tuple[Confidence, Confidence] | None = None,
               held: str | None = None) -> tuple[str, str]:
    """(summary, description) of a share alert over ``window`` against its ``which`` limit,
    tested at ``confidence``; ``or_normal`` (guard, normal): or at the guard's confidence
    with the count significantly above what the normal share implies; ``held``: what the
    alert says while a hysteresis branch holds it (its value is then negative)."""
    f = share_facts(kind, s, window, which, confidence.z)
    label = f"{{{{ $labels.{kind.label} }}}}"
    if kind.label == "auth_code":
        label = f"code {label}"
    lead = f"{what} " if what else ""
    summary = (f"{lead}{label} share {f['share']} over {window} ({f['k']} of {f['n']}), "
               f"limit {f['limit']}")
    opening = (f"{f['k']} of {f['n']} {kind.name.replace('_', ' ')} over the last {window} "
               f"were {label} ({f['share']}); this deployment's normal share is "
               f"{f['normal']}.")
    limit_is = (f"the {which} limit {f['limit']} (normal x factor + margin, within the "
                f"table's floor and cap)")
    if or_normal is None:
        test = (f"The lower {confidence.text} confidence bound of that share, {f['bound']}, "
                f"is above {limit_is}.")
    else:
        # The alert's value is the score against the limit: above z, the strict test held
        guard, far = or_normal
        lower = share_facts(kind, s, window, which, guard.z)["bound"]
        test = (f"{{{{ if gt $value {number(confidence.z)} }}}}The lower {confidence.text} "
                f"confidence bound of that share, {f['bound']}, is above {limit_is}."
                f"{{{{ else }}}}The lower {guard.text} confidence bound of that share, {lower}, "
                f"is above {limit_is}, and {f['k']} is far more than the {f['expected']} its "
                f"normal share implies (Poisson test at {far.text} confidence).{{{{ end }}}}")
    if held is not None:
        test = f"{{{{ if lt $value 0.0 }}}}{held}{{{{ else }}}}{test}{{{{ end }}}}"
    codes = decline_codes(s, window) if kind is TRANSACTIONS else ""
    return summary, f"{opening} {test}{codes}{data_minute(s)}"


def volume_text(kind: Kind, s: Settings, window: str, reference: str,
                when: bool = True) -> str:
    """Transactions in the last ``window`` against what the ``reference`` before implied."""
    now = counts(kind, s, window, "job")
    before = counts(kind, s, reference, "job", offset=window)
    scale = minutes(window) / minutes(reference)
    return (f"{asked(now, COUNT)} transactions in the last {window}, where the {reference} "
            f"before implied about {asked(f'{before} * {scale:.6g}', COUNT)}."
            f"{data_minute(s) if when else ''}")
