"""Detection quality on every traffic profile: the shipped rules backtested on each merchant.

For each profile of ``txwatch.history.profiles`` (and the real data set when present next to
the checkout), generates its full length (7-14 days, fixed seed), backtests the shipped
rules with the project's engine and reports incidents caught, median delay per incident
class, false critical pages per week and false warnings per day, against the bar of the
detection issue. Writes results/profiles.json and results/profiles.png. ``--seeds`` runs the
same profiles generated with other seeds as well (other noise, other incident minutes:
whether the figures hold beyond one draw) into results/profiles-seeds.json and .png.
Run: .venv/bin/python bench/profiles.py [--seed N] [--seeds N ...] [profile ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from common import RESULTS, save

from txwatch import contract
from txwatch.backtest.run import run
from txwatch.backtest.scoring import Score, load_incidents
from txwatch.history.dataset import load_dataset
from txwatch.history.generate import write
from txwatch.history.profiles import PROFILES
from txwatch.resources import rules_dir

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
INCIDENTS = Path(__file__).resolve().parent.parent / "docs" / "incidents" / "real-2025-07.json"
CLASSES = {"full outage": ("outage", "full_outage"), "partial outage": ("partial_outage",
                                                                         "approved_drop"),
           "slow drift": ("reversed_drift", "failed_ramp", "volume_slide", "failed_creep"),
           "code-mix shift": ("code_mix_shift",),
           "moderate rise": ("failed_denied_rise", "backend_reversed_rise",
                             "denied_rise_moderate")}
# A code-mix shift lasts 20 minutes like a spike, so it is held to the spikes' bar; code
# bursts (code_burst*) are spikes; slides and creeps are held to the slow drifts' bar.
BAR = {"spike": 3, "full outage": 3, "partial outage": 5, "slow drift": 30, "code-mix shift": 3,
       "moderate rise": 5}


def incident_class(kind: str) -> str:
    return next((name for name, kinds in CLASSES.items() if kind in kinds), "spike")


def one(name: str, files: list[Path], incidents: Path) -> dict[str, object]:
    started = time.monotonic()
    data = load_dataset(files, contract.STATUSES, contract.AUTH_CODES)
    result = run(data, rules_dir(), load_incidents(incidents))
    s = result.score
    assert s is not None
    return {**score_row(name, s), "seconds": round(time.monotonic() - started, 1)}


def score_row(name: str, s: Score) -> dict[str, object]:
    """One history's row of the results (bench/peer.py writes the peer's in this shape)."""
    return {"profile": name, "days": round(s.days, 1), "incidents": s.incidents,
            "caught": s.caught, "missed": s.missed,
            "false_critical_per_week": round(s.false_critical / s.days * 7, 2),
            "false_warning_per_day": round(s.false_warning / s.days, 2),
            "median_delay": class_delays(s),
            "pages_per_incident": median(s.pages) if s.pages else None,
            "paged_more_than_once": sum(p > 1 for p in s.pages)}


def class_delays(s: Score) -> dict[str, float]:
    """Median detection delay (data minutes) of the caught incidents of each class."""
    delays: dict[str, list[int]] = {}
    for kind, found in s.kinds.items():
        delays.setdefault(incident_class(kind), []).extend(d for d in found if d is not None)
    return {c: median(d) for c, d in sorted(delays.items()) if d}


def delays_within_bar(delays: dict[str, float]) -> bool:
    return all(v <= BAR[c] for c, v in delays.items())


def meets(row: dict[str, object]) -> bool:
    delays = row["median_delay"]
    assert isinstance(delays, dict)
    return (row["caught"] == row["incidents"] and row["false_critical_per_week"] <= 1
            and row["false_warning_per_day"] <= 1
            and delays_within_bar(delays))


def chart(rows: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(r["profile"]) for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 0.45 * len(rows) + 2), sharey=True)
    caught = [100 * int(r["caught"]) / max(1, int(r["incidents"])) for r in rows]
    axes[0].barh(names, caught, color=["#2a9d8f" if meets(r) else "#e76f51" for r in rows])
    axes[0].set_xlabel("incidents caught, %  (green: meets the whole bar)")
    width = 0.4
    ys = range(len(rows))
    axes[1].barh([y - width / 2 for y in ys], [r["false_critical_per_week"] for r in rows],
                 width, label="false critical / week", color="#d62728")
    axes[1].barh([y + width / 2 for y in ys], [r["false_warning_per_day"] for r in rows],
                 width, label="false warnings / day", color="#ffbf00")
    axes[1].axvline(1, ls="--", color="black", lw=0.8)
    axes[1].legend(fontsize=7)
    colours = ("#264653", "#e9c46a", "#f4a261", "#9d4edd", "#e63946", "#2a9d8f")
    for cls, colour in zip(BAR, colours, strict=True):
        values = [r["median_delay"].get(cls) for r in rows]  # type: ignore[union-attr]
        axes[2].scatter([v for v in values if v is not None],
                        [y for y, v in zip(ys, values, strict=True) if v is not None],
                        label=f"{cls} (bar {BAR[cls]})", color=colour)
    axes[2].set_xscale("symlog")
    axes[2].set_xlabel("median detection delay, data minutes")
    axes[2].legend(fontsize=7)
    fig.suptitle("txwatch shipped rules, backtested per traffic profile")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--seeds", type=int, nargs="*", default=[],
                   help="further seeds to run every profile with (results/profiles-seeds.json)")
    # segments: per segment, with the page that names it, in bench/segments.py
    p.add_argument("profiles", nargs="*",
                   default=[n for n in PROFILES if n not in ("demo", "segments")])
    args = p.parse_args()
    rows = []
    if (REAL / "transactions.csv").exists():
        rows.append(one("real data", [REAL / "transactions.csv",
                                      REAL / "transactions_auth_codes.csv"], INCIDENTS))
        print(rows[-1], flush=True)
    else:
        print(f"real data not found at {REAL}; skipping it", file=sys.stderr)
    rows += generated(args.profiles, args.seed)
    save("profiles", {"seed": args.seed, "bar": BAR, "rows": rows})
    chart(rows, RESULTS / "profiles.png")
    for r in rows:
        print(f"{r['profile']:<14} {'meets' if meets(r) else 'MISSES':<7} caught "
              f"{r['caught']}/{r['incidents']}, false crit/week {r['false_critical_per_week']}, "
              f"false warn/day {r['false_warning_per_day']}, delays {r['median_delay']}, "
              f"paged more than once {r['paged_more_than_once']}")
    if args.seeds:
        others = {seed: generated(args.profiles, seed) for seed in args.seeds}
        save("profiles-seeds", {"bar": BAR, "seeds": {
            str(seed): found for seed, found in [(args.seed, rows), *others.items()]}})
        print(seed_table(args.profiles, {args.seed: rows, **others}))
        seed_chart(args.profiles, {args.seed: rows, **others}, RESULTS / "profiles-seeds.png")
    return 0


def generated(profiles: list[str], seed: int) -> list[dict[str, object]]:
    """Every profile in ``profiles`` generated with ``seed`` and backtested."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in profiles:
            paths = write(Path(tmp) / name, None, seed, profile=name)
            rows.append({**one(name, [paths["transactions"], paths["auth_codes"]],
                               paths["incidents"]), "seed": seed})
            print(rows[-1], flush=True)
    return rows


def seed_chart(profiles: list[str], by_seed: dict[int, list[dict[str, object]]],
               path: Path) -> None:
    """Per profile, one bar per seed: incidents missed, false pages a week, false warnings a
    day (the bar's limits dashed): whether a profile's figures hold on other draws."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = sorted(by_seed)
    panels = (("incidents missed", lambda r: int(r["incidents"]) - int(r["caught"]), 0),
              ("false critical / week", lambda r: r["false_critical_per_week"], 1),
              ("false warnings / day", lambda r: r["false_warning_per_day"], 1))
    fig, axes = plt.subplots(1, 3, figsize=(15, 0.5 * len(profiles) + 2), sharey=True)
    height = 0.8 / len(seeds)
    for ax, (label, value, limit) in zip(axes, panels, strict=True):
        for i, seed in enumerate(seeds):
            rows = {r["profile"]: r for r in by_seed[seed]}
            ax.barh([y + i * height for y in range(len(profiles))],
                    [value(rows[name]) for name in profiles], height, label=f"seed {seed}")
        ax.axvline(limit, ls="--", color="black", lw=0.8)
        ax.set_xlabel(label)
    axes[0].set_yticks([y + 0.4 - height / 2 for y in range(len(profiles))], profiles)
    axes[0].legend(fontsize=7)
    fig.suptitle("txwatch shipped rules on other draws of each profile (dashed: the bar)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def seed_table(profiles: list[str], by_seed: dict[int, list[dict[str, object]]]) -> str:
    """Markdown: per profile and seed, caught, false pages a week, false warnings a day."""
    seeds = sorted(by_seed)
    lines = ["| profile | " + " | ".join(f"seed {s}: caught, false crit/week, false warn/day, "
                                         "delays" for s in seeds) + " |",
             "| --- |" + " --- |" * len(seeds)]
    for name in profiles:
        cells = []
        for seed in seeds:
            r = next(x for x in by_seed[seed] if x["profile"] == name)
            delays = ", ".join(f"{c} {v:g}" for c, v in r["median_delay"].items())  # type: ignore[union-attr]
            cells.append(f"{r['caught']}/{r['incidents']}, {r['false_critical_per_week']:g}, "
                         f"{r['false_warning_per_day']:g}, {delays}"
                         + ("" if meets(r) else " (bar missed)"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
