"""Regenerate every generated file in the repo; ``--check`` fails when one is stale.

Generated files: ``docs/metrics-sample.prom`` (a deterministic /metrics sample that
``promtool check metrics`` lints in CI), the rule files ``rules/recording.yml`` and
``rules/alerts.yml`` (rendered by the ``txwatch.rules`` package with its default settings)
and the Grafana boards ``grafana/dashboards/*.json`` (built in scripts/dashboards.py). Run
``python scripts/generate.py`` after changing the exporter's metrics, the rules or the
boards; ``--pictures`` also draws the pictures of docs/ (scripts/pictures.py), which
``--check`` finds stale when what they depict has changed since they were drawn.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from prometheus_client import generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboards import BOARDS, render  # noqa: E402
from pictures import draw, stale  # noqa: E402

from txwatch.exporter.app import REGISTRY_KEY, build_app
from txwatch.exporter.config import Config
from txwatch.exporter.decode import decode_body
from txwatch.exporter.parsing import validate
from txwatch.exporter.store import Store
from txwatch.rules import RENDERED
from txwatch.stack.ha import ha_config_text

REPO = Path(__file__).resolve().parent.parent
SAMPLE_NOW = 1_752_400_000.0


def metrics_sample() -> str:
    """/metrics of an exporter fed two fixed batches, without clock- or process-dependent
    lines (``*_created`` and ``process_*``)."""
    config = Config()
    store = Store(config, lambda: SAMPLE_NOW)
    app = build_app(config, store, lambda: SAMPLE_NOW)
    for media, label, body in (
        ("text/csv", "status", b"timestamp,status,count\n2025-07-12 13:45:00,approved,116\n"
                               b"2025-07-12 13:45:00,denied,5\n2025-07-12 13:45:00,failed,1\n"),
        ("text/csv", "auth_code", b"timestamp,auth_code,count\n2025-07-12 13:45:00,00,116\n"
                                  b"2025-07-12 13:45:00,51,5\n"),
    ):
        allowed = frozenset(config.statuses if label == "status" else config.auth_codes)
        batch, _, _ = validate(decode_body(body, media, label), label, allowed, SAMPLE_NOW,
                               config.limits)
        kind = "transactions" if label == "status" else "auth_codes"
        asyncio.run(store.commit(kind, batch))
    text = generate_latest(app[REGISTRY_KEY]).decode()
    return "".join(line + "\n" for line in text.splitlines()
                   if "_created" not in line and "process_" not in line)


GENERATED: dict[str, Callable[[], str]] = {
    "docs/metrics-sample.prom": metrics_sample,
    "prometheus/prometheus-ha.yml":
        lambda: ha_config_text((REPO / "prometheus" / "prometheus.yml").read_text()),
    **{f"rules/{name}": make for name, make in RENDERED.items()},
    **{path: (lambda build=build: render(build())) for path, build in BOARDS.items()},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a file is stale")
    parser.add_argument("--pictures", action="store_true",
                        help="also draw the pictures of docs/ again (a browser and a "
                             "throwaway Prometheus: minutes) and record their sources")
    args = parser.parse_args()
    old = []
    for rel, make in GENERATED.items():
        path = REPO / rel
        content = make()
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                old.append(rel)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            print(f"wrote {rel}")
    if args.pictures and not args.check:
        draw(REPO)
    if old:
        print("stale generated files (run: python scripts/generate.py): " + ", ".join(old),
              file=sys.stderr)
    pictures = stale(REPO) if args.check else []
    if pictures:
        print("stale pictures (run: python scripts/generate.py --pictures):\n  "
              + "\n  ".join(pictures), file=sys.stderr)
    return 1 if old or pictures else 0


if __name__ == "__main__":
    sys.exit(main())
