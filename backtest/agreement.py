"""How far two engines' episodes agree: the txwatch engine and ``vmalert -replay``.

Episodes are compared per alert and label set. One agrees when the other engine has an
episode of the same alert and labels that overlaps it; the start minutes of overlapping
pairs are compared too. Both run the same rule files, so what differs is the engines:
MetricsQL's ``increase()`` does not extrapolate to the window's edges and counts a series'
first sample from zero, so a share near its limit crosses it a minute earlier or later,
and the first minutes of a history differ. The always-firing Watchdog and the first
``skip`` minutes are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from txwatch.backtest.scoring import Episode

Key = tuple[str, tuple[tuple[str, str], ...]]


def _key(episode: Episode) -> Key:
    return episode.alertname, tuple(sorted(episode.labels.items()))


def _overlaps(a: Episode, b: Episode) -> bool:
    return a.start <= b.end and b.start <= a.end


@dataclass
class Agreement:
    ours: int = 0  # episodes considered, per engine
    peer: int = 0
    exact: int = 0  # same alert, labels, start and end
    only_ours: list[Episode] = field(default_factory=list)  # no overlapping peer episode
    only_peer: list[Episode] = field(default_factory=list)
    start_shifts: list[int] = field(default_factory=list)  # peer start - ours, overlapping

    @property
    def agreeing(self) -> bool:
        return not self.only_ours and not self.only_peer

    def lines(self) -> list[str]:
        shifts = sorted(self.start_shifts)
        spread = f"{shifts[0]:+d}..{shifts[-1]:+d}" if shifts else "-"
        text = [f"episodes: txwatch {self.ours}, vmalert {self.peer}; identical {self.exact}; "
                f"start shift of overlapping pairs (vmalert - txwatch, minutes) {spread}",
                f"episodes only one engine has: txwatch {len(self.only_ours)}, "
                f"vmalert {len(self.only_peer)}"]
        text += [f"  only txwatch: {_describe(e)}" for e in self.only_ours]
        text += [f"  only vmalert: {_describe(e)}" for e in self.only_peer]
        return text


def _describe(e: Episode) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted(e.labels.items()))
    return f"{e.alertname}{{{labels}}} minutes {e.start}-{e.end}"


def compare(ours: list[Episode], peer: list[Episode], skip: int = 5,
            ignore: frozenset[str] = frozenset({"Watchdog"})) -> Agreement:
    """Agreement of ``peer`` with ``ours`` outside the first ``skip`` minutes."""
    def kept(episodes: list[Episode]) -> list[Episode]:
        return [e for e in episodes if e.alertname not in ignore and e.end >= skip]
    mine, theirs = kept(ours), kept(peer)
    result = Agreement(ours=len(mine), peer=len(theirs))
    exact = {(_key(e), e.start, e.end) for e in mine}
    for e in theirs:
        result.exact += (_key(e), e.start, e.end) in exact
        partners = [o for o in mine if _key(o) == _key(e) and _overlaps(o, e)]
        if not partners:
            result.only_peer.append(e)
        else:
            result.start_shifts.append(e.start - partners[0].start)
    result.only_ours = [o for o in mine
                        if not any(_key(o) == _key(e) and _overlaps(o, e) for e in theirs)]
    return result
