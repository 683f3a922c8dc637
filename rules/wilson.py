"""The Wilson score lower bound as PromQL, written once for every bound the rules record
and every bound the paging alerts compute inline.

With few events the bound stays low, so one failure out of twenty at night does not page;
with many it approaches the share, so the threshold needs no per-volume tuning. The
constants (z^2 - 1, z^2 - 2, z^2) are computed here from z (``settings.Confidence``),
never typed.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from .settings import Confidence
from .yamltext import block


def number(value: float) -> str:
    """A constant as PromQL text: 12 significant digits, so the square of a two-decimal z
    prints as the four decimals it is, not with the binary float's long tail."""
    return f"{value:.12g}"


@dataclass(frozen=True)
class Bound:
    """One recorded Wilson bound: ``record`` is the lower bound of the share of ``count``
    (events per ``label`` value) in ``total`` events (per job) at ``confidence``; ``about``
    says what it is for, in the comment of the rule file."""

    record: str
    count: str
    total: str
    label: str
    confidence: Confidence
    about: str


def wilson_lower(count: str, total: str, label: str, z: float) -> str:
    """The PromQL of the continuity-corrected Wilson lower bound (Newcombe 1998) of each
    ``label`` value's share, from its event ``count`` (one series per label value) and the
    ``total`` events (one per job), at one-sided confidence ``z``:

        (2k + z^2 - 1 - z*sqrt(z^2 - 2 - 1/n + 4k(n - k + 1)/n)) / (2(n + z^2))

    The correction matters where paging is decided at low volume: of 20 transactions in five
    minutes, the plain bound at z = 3.5 lets 6 denials through (P = 7e-4 at a 5.8% normal
    share), the corrected one needs 7 (P = 1.5e-4). At high volume the two agree.
    4k(n - k + 1)/n is written 4k(1 + 1/n) - 4k^2/n: PromQL joins need a vector on the left.
    ``count`` and ``total`` may be recorded series or inline sums over the counter."""
    k, n = count, f"({total} > 0)"
    to_all = f"ignoring ({label}) group_left ()"
    z2 = z * z
    return block(f"""
        clamp_min(
          (
              2 * {k}
            + {number(z2 - 1)}
            - {number(z)} * sqrt(
                  4 * {k} * {to_all} (1 + 1 / {n})
                - 4 * {k} ^ 2 / {to_all} {n}
                - {to_all} (1 / {n})
                + {number(z2 - 2)}
              )
          )
          / {to_all} (2 * ({n} + {number(z2)})),
          0
        )
        """)


def explain(bounds: list[Bound]) -> str:
    """The comment above the bounds in recording.yml: the formula and each bound's z."""
    lines = [
        "Lower bound of the Wilson score interval with continuity correction, k of n events:",
        "  (2k + z^2 - 1 - z*sqrt(z^2 - 2 - 1/n + 4k(n - k + 1)/n)) / (2(n + z^2))",
        "With few transactions (n small) the bound stays low, so one failure out of twenty",
        "at night does not page; with many it approaches p. It self-scales with volume.",
        "z is set in rules/settings.py; the constants are computed from it.",
    ]
    for bound in bounds:
        c = bound.confidence
        lines.append(f"{bound.record}:")
        lines += textwrap.wrap(f"z = {number(c.z)} (one-sided {c.text}, z^2 = "
                               f"{number(c.z * c.z)}): {bound.about}.", 86,
                               initial_indent="  ", subsequent_indent="  ")
    return "\n".join(lines)


def wilson_score(count: str, total: str, limit: str, label: str) -> str:
    """How many standard deviations each ``label`` value's count sits above what the
    ``limit`` share allows (the continuity-corrected score statistic):

        Z = (k - 1/2 - nL) / sqrt(nL(1 - L)) = ((k - 1/2)/n - L) * sqrt(n) / sqrt(L(1 - L))

    ``Z > z`` holds exactly when the Wilson lower bound of :func:`wilson_lower` at ``z`` is
    above ``L`` (the bound is the L where Z = z), for 0 < L < 1; at L = 1 nothing exceeds
    it. The comparison needs about half of the bound's operations and series selections,
    and Prometheus' cost of a range evaluation is operations x steps (the code-mix alert's
    candidate search over 30 days: 7-8 s -> 3 s, the same episodes). ``limit`` is one
    series per ``label`` value carrying ``severity``, as the recorded limits do."""
    n = f"({total} > 0)"
    return block(f"""
        (
            ((({count} - 0.5) / ignoring ({label}) group_left () {n})
              - on ({label}) group_left (severity) {limit})
          * ignoring ({label}, severity) group_left () sqrt({n})
        )
        / on ({label}, severity) group_left () sqrt({limit} * (1 - {limit}))
        """)


def poisson_upper(count: str, z: float) -> str:
    """The score upper bound of a Poisson mean given an observed ``count``:
    k + z^2/2 + z*sqrt(k + z^2/4). Below an expected level, the count is significantly low
    (at one-sided confidence z) rather than a quiet stretch of normal traffic."""
    return (f"({count} + {number(z * z / 2)} + {number(z)} * sqrt({count} + "
            f"{number(z * z / 4)}))")
