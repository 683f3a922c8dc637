"""The peer on the same histories: Grafana's promql-anomaly-detection framework, backtested.

Reads the framework's rule files from a checkout (or a bare git directory: ``git show``) at
run time, never from this repository, adds our tagging and alert rules (``peer_rules.yml``,
set up as the framework's README prescribes) in a temporary rules directory and backtests
that directory with the project's engine on every traffic profile (the same seed and days
as bench/profiles.py) and on the real data when present. Scored like bench/profiles.py:
incidents caught, median delay per incident class, false critical pages per week, false
warnings per day. Writes results/peer.json and results/peer.png (side by side with
txwatch's own figures from results/profiles.json).

Adaptations the engine needs (bench/README.md, "Peer"): the framework's selectors that
name no metric (``{anomaly_name!="", ...}``) also get a ``__name__`` matcher for our
tagging records, which are the only series such a selector can match here, so the engine's
dependency analysis (by metric name) sees no cycle; the framework's own alert rules are
replaced by ours (the same expression and ``for``, severity critical, plus the labels of
the tagged series).
Run: .venv/bin/python bench/peer.py --framework PATH [--seed N] [profile ...]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from common import RESULTS, save
from profiles import BAR, INCIDENTS, REAL, meets, score_row

from txwatch import contract
from txwatch.backtest.run import run
from txwatch.backtest.scoring import load_incidents
from txwatch.history.dataset import load_dataset
from txwatch.history.generate import write
from txwatch.history.profiles import PROFILES

OURS = Path(__file__).resolve().parent / "peer_rules.yml"
TRAINING = pd.Timedelta(hours=26)
STRATEGY = "adaptive"  # the framework's default; the only strategy our rules tag
# The framework's input selectors name no metric; our tagging records are what they match.
NAMELESS = re.compile(r'\{\s*anomaly_name\s*!=\s*""')
TAGGED = '{__name__=~"anomaly:payments:.+", anomaly_name!=""'


class Framework:
    """The framework's files, from a checkout or from a (bare) git directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.git = not (path / "rules").is_dir()
        if self.git and not (path / "HEAD").is_file() and not (path / ".git").exists():
            raise SystemExit(f"{path}: neither a checkout (rules/) nor a git directory")

    def _git(self, *args: str) -> str:
        return subprocess.run(["git", f"--git-dir={self.path}", *args], check=True,
                              capture_output=True, text=True).stdout

    def read(self, name: str) -> str:
        if self.git:
            return self._git("show", f"HEAD:{name}")
        return (self.path / name).read_text(encoding="utf-8")

    def commit(self) -> str | None:
        try:
            if self.git:
                return self._git("rev-parse", "HEAD").strip()
            return subprocess.run(["git", "-C", str(self.path), "rev-parse", "HEAD"],
                                  check=True, capture_output=True, text=True).stdout.strip()
        except subprocess.CalledProcessError:
            return None


def build_rules(framework: Framework, out: Path) -> dict[str, object]:
    """Write the framework's strategy file (adapted, see the module docstring) and ours to
    ``out``; return what was done, for the results."""
    out.mkdir(parents=True, exist_ok=True)
    name = f"rules/{STRATEGY}.yml"
    doc = yaml.safe_load(framework.read(name))
    theirs = [r for g in doc["groups"] for r in g["rules"] if "alert" in r]
    ours = [r for g in yaml.safe_load(OURS.read_text(encoding="utf-8"))["groups"]
            for r in g["rules"] if "alert" in r]
    for alert in ours:
        same = next((r for r in theirs if r["alert"] == alert["alert"]), None)
        if same is None or _words(same["expr"]) != _words(alert["expr"]) \
                or same.get("for") != alert.get("for"):
            print(f"warning: the framework's {alert['alert']} differs from ours "
                  f"(peer_rules.yml); ours is used", file=sys.stderr)
    rewritten = 0
    for group in doc["groups"]:
        group["rules"] = [r for r in group["rules"] if "alert" not in r]
        for rule in group["rules"]:
            rule["expr"], n = NAMELESS.subn(TAGGED, str(rule["expr"]))
            rewritten += n
    doc["groups"] = [g for g in doc["groups"] if g["rules"]]
    if not rewritten:
        raise SystemExit(f"{name}: no {NAMELESS.pattern} selector found: the framework "
                         "changed, check its selection rule")
    (out / f"anomaly-{STRATEGY}.yml").write_text(yaml.safe_dump(doc, sort_keys=False),
                                                  encoding="utf-8")
    (out / "payments-peer.yml").write_text(OURS.read_text(encoding="utf-8"), encoding="utf-8")
    return {"commit": framework.commit(), "file": name, "selectors_rewritten": rewritten,
            "alerts_replaced": [r["alert"] for r in theirs],
            "alerts": [{"alert": r["alert"], "for": r.get("for"), **r.get("labels", {})}
                       for r in ours]}


def _words(expr: object) -> str:
    return " ".join(str(expr).split())


def one(name: str, files: list[Path], incidents: Path, rules: Path) -> dict[str, object]:
    """Backtest the peer's rules on one history; the row of bench/profiles.py's shape."""
    started = time.monotonic()
    data = load_dataset(files, contract.STATUSES, contract.AUTH_CODES)
    result = run(data, rules, load_incidents(incidents),
                 lambda msg: print(f"  {name}: {msg}", flush=True))
    s = result.score
    assert s is not None
    early = sum(" critical @" in a and pd.Timestamp(a.split(" @")[1][:16], tz="UTC")
                < data.start + TRAINING for a in s.false_alerts)
    return {**score_row(name, s),
            "false_critical": s.false_critical,
            # the framework's README: its bands need 24-26 hours of data to be fully
            # trained; the false pages of those first hours, and the rate after them
            "false_critical_first_26h": early,
            "false_critical_per_week_after_26h": round(
                (s.false_critical - early) / (s.days - TRAINING / pd.Timedelta(days=1)) * 7, 2),
            "seconds": round(time.monotonic() - started, 1)}


def txwatch_rows() -> dict[str, dict[str, object]]:
    """txwatch's own rows from results/profiles.json (bench/profiles.py), by profile."""
    path = RESULTS / "profiles.json"
    if not path.exists():
        return {}
    return {str(r["profile"]): r for r in json.loads(path.read_text())["rows"]}


def default_seed() -> int:
    """The seed txwatch's figures were made with (results/profiles.json), else
    bench/profiles.py's default."""
    path = RESULTS / "profiles.json"
    return int(json.loads(path.read_text()).get("seed", 11)) if path.exists() else 11


def chart(rows: list[dict[str, object]], own: dict[str, dict[str, object]],
          path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(r["profile"]) for r in rows]
    peer = {str(r["profile"]): r for r in rows}
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.6 * len(rows) + 2.2), sharey=True)
    height = 0.4
    ys = list(range(len(names)))

    def caught(r: dict[str, object]) -> tuple[float, str]:
        return 100 * int(r["caught"]) / max(1, int(r["incidents"])), \
            f"{r['caught']}/{r['incidents']}"

    def pages(r: dict[str, object]) -> tuple[float, str]:
        first = r.get("false_critical_first_26h")
        return float(r["false_critical_per_week"]), f"{r['false_critical_per_week']:g}" + (
            f" ({r['false_critical']} pages, {first} in the first 26 h)" if first else "")

    panels = (("incidents caught, %", caught, 100),
              ("false critical pages / week  (symlog; dashed: the bar)", pages, 1))
    for ax, (label, value, limit) in zip(axes, panels, strict=True):
        for shift, source, colour, who in (
                (-height / 2, own, "#2a9d8f", "txwatch (results/profiles.json)"),
                (height / 2, peer, "#e76f51", "peer: Grafana promql-anomaly-detection")):
            shown = [(y + shift, value(source[n])) for y, n in zip(ys, names, strict=True)
                     if n in source]
            bars = ax.barh([y for y, _ in shown], [v for _, (v, _) in shown], height,
                           label=who, color=colour)
            ax.bar_label(bars, [text for _, (_, text) in shown], fontsize=7, padding=2)
        ax.axvline(limit, ls="--", color="black", lw=0.8)
        ax.set_xlabel(label)
    axes[0].set_xlim(0, 118)
    axes[1].set_xscale("symlog")
    axes[1].set_xlim(0, 150)
    axes[0].set_yticks(ys, names)
    axes[0].invert_yaxis()
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=8)
    fig.suptitle("txwatch shipped rules vs Grafana promql-anomaly-detection (adaptive bands, "
                 "its AnomalyDetected alert, every alert critical), same histories")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def table(rows: list[dict[str, object]], own: dict[str, dict[str, object]]) -> str:
    """Per profile, the peer's figures and txwatch's beneath them."""
    lines = [f"{'profile':<14} {'':<8} {'caught':>7} {'crit/wk':>8} {'>26h':>6} {'warn/d':>7}"
             "  delays  (>26h: false critical pages a week after the peer's 26 h of training)"]
    for r in rows:
        for who, row in (("peer", r), ("txwatch", own.get(str(r["profile"])))):
            if row is None:
                continue
            lines.append(
                f"{str(r['profile']) if who == 'peer' else '':<14} {who:<8} "
                f"{row['caught']:>3}/{row['incidents']:<3} "
                f"{row['false_critical_per_week']:>8} "
                f"{row.get('false_critical_per_week_after_26h', '-')!s:>6} "
                f"{row['false_warning_per_day']:>7}  "
                f"{row['median_delay']}{'' if meets(row) else '  (bar missed)'}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--framework", type=Path,
                   help="a checkout of grafana/promql-anomaly-detection or its git directory")
    p.add_argument("--seed", type=int, default=None,
                   help="default: the seed of results/profiles.json (bench/profiles.py)")
    p.add_argument("--no-real", action="store_true", help="skip the real data set")
    p.add_argument("--chart-only", action="store_true",
                   help="only redraw results/peer.png from results/peer.json")
    # segments: the peer's bands watch the aggregate only (bench/segments.py: txwatch's)
    p.add_argument("profiles", nargs="*",
                   default=[n for n in PROFILES if n not in ("demo", "segments")])
    args = p.parse_args()
    if args.chart_only:
        rows = json.loads((RESULTS / "peer.json").read_text())["rows"]
        chart(rows, txwatch_rows(), RESULTS / "peer.png")
        print(table(rows, txwatch_rows()))
        return 0
    if args.framework is None:
        p.error("--framework is required (a checkout or the git directory of "
                "grafana/promql-anomaly-detection)")
    seed = default_seed() if args.seed is None else args.seed
    framework = Framework(args.framework.resolve())
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="txwatch-peer-") as tmp:
        rules = Path(tmp) / "rules"
        setup = build_rules(framework, rules)
        print(f"peer rules: framework {setup['commit'] or '?'} {setup['file']}, "
              f"{setup['selectors_rewritten']} selectors tagged with __name__, alerts "
              f"{setup['alerts']}", flush=True)
        todo: list[tuple[str, list[Path], Path, int | None]] = []
        if not args.no_real and (REAL / "transactions.csv").exists():
            todo.append(("real data", [REAL / "transactions.csv",
                                       REAL / "transactions_auth_codes.csv"], INCIDENTS, None))
        elif not args.no_real:
            print(f"real data not found at {REAL}; skipping it", file=sys.stderr)
        for name in args.profiles:
            paths = write(Path(tmp) / name, None, seed, profile=name)
            todo.append((name, [paths["transactions"], paths["auth_codes"]],
                         paths["incidents"], seed))
        for number, (name, files, incidents, drawn) in enumerate(todo, 1):
            print(f"[{number}/{len(todo)}] {name}: backtesting the peer", flush=True)
            row = one(name, files, incidents, rules)
            if drawn is not None:
                row["seed"] = drawn
            rows.append(row)
            print(f"[{number}/{len(todo)}] {name}: caught {row['caught']}/"
                  f"{row['incidents']}, false crit/week {row['false_critical_per_week']}, "
                  f"false warn/day {row['false_warning_per_day']}, delays "
                  f"{row['median_delay']} ({row['seconds']} s)", flush=True)
            save("peer", {"seed": seed, "bar": BAR, "peer": setup, "rows": rows})
    own = txwatch_rows()
    chart(rows, own, RESULTS / "peer.png")
    print(table(rows, own))
    return 0


if __name__ == "__main__":
    sys.exit(main())
