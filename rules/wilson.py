"""The Wilson score lower bound as PromQL, written once for every bound the rules record.

The bound of a share p of n events at one-sided confidence z is

    (p + z^2/2n - z*sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)

With few events it stays low, so one failure out of twenty at night does not page; with
many it approaches p, so the threshold needs no per-volume tuning. The constants z^2,
z^2/2 and z^2/4 are computed here from z (``settings.Confidence``), never typed.
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
    """One recorded Wilson bound: ``record`` is the lower bound of ``share`` (a per-``label``
    ratio) given ``total`` events (per job) at ``confidence``; ``about`` says what it is
    for the comment of the rule file."""

    record: str
    share: str
    total: str
    label: str
    confidence: Confidence
    about: str


def wilson_lower(share: str, total: str, label: str, z: float) -> str:
    """The PromQL of the Wilson lower bound of the ``share`` series (one per ``label`` value)
    given the ``total`` series (one per job), at one-sided confidence ``z``."""
    to_all = f"ignoring ({label}) group_left"
    z2 = z * z
    return block(f"""
        (
            {share}
          + {to_all} () ({number(z2 / 2)} / {total})
          - {number(z)} * sqrt(
                {share}
                  * (1 - {share})
                  / {to_all} {total}
              + {to_all} ()
                ({number(z2 / 4)} / {total} ^ 2)
            )
        )
        / {to_all} () (1 + {number(z2)} / {total})
        """)


def explain(bounds: list[Bound]) -> str:
    """The comment above the bounds in recording.yml: the formula and each bound's z."""
    lines = [
        "Lower bound of the Wilson score interval:",
        "  (p + z^2/2n - z*sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)",
        "With few transactions (n small) the bound stays low, so one failure out of twenty",
        "at night does not page; with many it approaches p. It self-scales with volume.",
        "z is set in rules/settings.py; z^2, z^2/2 and z^2/4 are computed from it.",
    ]
    for bound in bounds:
        c = bound.confidence
        lines.append(f"{bound.record}:")
        lines += textwrap.wrap(f"z = {number(c.z)} (one-sided {c.text}, z^2 = "
                               f"{number(c.z * c.z)}): {bound.about}.", 86,
                               initial_indent="  ", subsequent_indent="  ")
    return "\n".join(lines)
