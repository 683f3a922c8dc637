"""python -m txwatch.rules: render recording.yml and alerts.yml for one deployment.

A deployment whose exporter is scraped under another job name, or whose runbook lives
elsewhere, renders its own copy instead of editing the shipped YAML (which is generated and
would be overwritten). The confidence levels are not options: they are behaviour, tuned by
backtest, and change in rules/settings.py with the rule tests.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path

from txwatch.exporter.segments import DIMENSIONS_FLAG, check_dimensions

from . import RENDERED, Settings
from .settings import DEFAULT


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m txwatch.rules", description=__doc__.split("\n\n")[0],
        epilog="Writes recording.yml and alerts.yml into --out. The alerts also need the "
               "threshold table: copy the shipped thresholds.yml (txwatch.resources.rules_dir"
               "()) or your own next to them.")
    p.add_argument("--job", default=DEFAULT.job, metavar="NAME",
                   help="scrape job of the exporter (job label the rules select; "
                        "default: %(default)s)")
    p.add_argument("--runbook-base", default=DEFAULT.runbook_base, metavar="URL",
                   help="runbook page; alerts link to <base>#<alertname in lower case> "
                        "(default: %(default)s)")
    p.add_argument("--keep-firing-for", default=DEFAULT.keep_firing_for, metavar="DURATION",
                   help="how long a payment alert stays firing after its condition clears, "
                        "so a flapping incident is one page (default: %(default)s)")
    p.add_argument("--keep-fast-firing-for", default=DEFAULT.keep_fast_firing_for,
                   metavar="DURATION", help="the same for the fast share alert, which has no "
                   "'for' and flickers inside long incidents (default: %(default)s)")
    p.add_argument("--keep-slow-firing-for", default=DEFAULT.keep_slow_firing_for,
                   metavar="DURATION", help="the same for the slow share warning, whose hour "
                   "still holds an ended incident (default: %(default)s)")
    p.add_argument("--segment-dimensions", default=",".join(DEFAULT.segment_dimensions),
                   metavar="NAMES", help="comma-separated dimensions the exporter is started "
                   "with (--segment.dimensions) whose segments are each judged against their "
                   "own normal; empty: none (default: %(default)s)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="directory to write the files to")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.job:
        parser().error("--job must not be empty")
    for option, value in (("--keep-firing-for", args.keep_firing_for),
                          ("--keep-fast-firing-for", args.keep_fast_firing_for),
                          ("--keep-slow-firing-for", args.keep_slow_firing_for)):
        if not re.fullmatch(r"(\d+[smhd])+", value):
            parser().error(f"{option}: not a duration like 10m: {value!r}")
    try:
        dimensions = check_dimensions(d for d in args.segment_dimensions.split(",") if d)
    except ValueError as error:
        parser().error(str(error).replace(DIMENSIONS_FLAG, "--segment-dimensions"))
    settings = Settings(job=args.job, runbook_base=args.runbook_base.rstrip("#"),
                        segment_dimensions=dimensions,
                        keep_firing_for=args.keep_firing_for,
                        keep_fast_firing_for=args.keep_fast_firing_for,
                        keep_slow_firing_for=args.keep_slow_firing_for)
    command = "python -m txwatch.rules " + shlex.join(
        ["--job", settings.job, "--runbook-base", settings.runbook_base,
         "--keep-firing-for", settings.keep_firing_for,
         "--keep-fast-firing-for", settings.keep_fast_firing_for,
         "--keep-slow-firing-for", settings.keep_slow_firing_for,
         "--segment-dimensions", ",".join(settings.segment_dimensions), "--out", "DIR"])
    args.out.mkdir(parents=True, exist_ok=True)
    for file_name, render in RENDERED.items():
        path = args.out / file_name
        path.write_text(render(settings, command), encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
