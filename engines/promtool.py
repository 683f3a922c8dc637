"""Evaluate the shipped rules over history in Prometheus' own engine (``promtool test rules``).

The history becomes the ``input_series`` of a generated unit-test file; the rule files are
loaded unchanged, so recording-rule chains and ``for`` behave exactly as in Prometheus.
One ``promql_expr_test`` per evaluation step asks for ``ALERTS{alertstate="firing"}`` and
expects nothing; promtool then prints, for every step where something fired, the alerts it
got. Parsing that listing gives the firing set per step. No PromQL is re-implemented here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from txwatch.engines.procs import batch_go_env
from txwatch.engines.series import Series

FIRING_QUERY = 'ALERTS{alertstate="firing"}'
# Window i > 0 of a file asks with a matcher no series has, so the listing says which window
# a firing belongs to (promtool names no test group in it); it matches every ALERTS series.
WINDOW_LABEL = "backtest_window"
_BLOCK = re.compile(r'expr: "ALERTS\{alertstate=\\"firing\\"'
                    rf'(?:, {WINDOW_LABEL}!=\\"(?P<window>\d+)\\")?\}}", time: (?P<time>\S+),\n'
                    r"\s+exp: nil\n\s+got: (?P<got>.*)")
_SAMPLE = re.compile(r"\{(?P<labels>[^{}]*)\} \S+")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Firing:
    """One alert firing at one evaluation step (minutes since the start of the data)."""

    step: int
    alertname: str
    labels: tuple[tuple[str, str], ...]


def _values(values: np.ndarray) -> str:
    """promtool's series notation; runs of a constant step use ``a+bxN``.

    A missing sample right after a present one is written ``stale`` (what a live server
    records when a series disappears), later ones ``_``.
    """
    out: list[str] = []
    i, n = 0, len(values)
    while i < n:
        if np.isnan(values[i]):
            out.append("stale" if i > 0 and not np.isnan(values[i - 1]) else "_")
            i += 1
            continue
        j = i + 1
        step = values[j] - values[i] if j < n and not np.isnan(values[j]) else None
        while j < n and step is not None and not np.isnan(values[j]) and \
                values[j] - values[j - 1] == step:
            j += 1
        if j - i >= 3 and step is not None:
            sign = "+" if step >= 0 else "-"
            out.append(f"{values[i]:.17g}{sign}{abs(step):.17g}x{j - i - 1}")
            i = j
        else:
            out.append(f"{values[i]:.17g}")
            i += 1
    return " ".join(out)


@dataclass(frozen=True)
class Window:
    """One stretch of history for promtool: its series (step 0 is the stretch's first), its
    length in steps and the steps whose firing alerts are asked for (all when None)."""

    series: list[Series]
    steps: int
    query_steps: Iterable[int] | None = None


def window_query(index: int) -> str:
    """What window ``index`` of a file asks for: the firing alerts, told apart by window."""
    if index == 0:
        return FIRING_QUERY
    return f'ALERTS{{alertstate="firing", {WINDOW_LABEL}!="{index}"}}'


def write_windows_file(path: Path, rules: list[Path], windows: list[Window],
                       interval_s: int = 60) -> None:
    """Write a promtool unit-test file with one test group per window, each asking for the
    firing alerts at its steps: one promtool process evaluates them all (a process start
    costs about as much as evaluating 40 steps of an alert)."""
    lines = ["rule_files:"] + [f"  - {str(r.resolve())!r}" for r in rules]
    lines += [f"evaluation_interval: {interval_s}s", "tests:"]
    for index, window in enumerate(windows):
        lines += [f"  - interval: {interval_s}s", "    input_series:"]
        for s in window.series:
            lines.append(f"      - series: {s.selector()!r}")
            lines.append(f"        values: '{_values(s.values)}'")
        steps = window.query_steps
        lines.append("    promql_expr_test:")
        for step in (range(window.steps) if steps is None else steps):
            lines.append(f"      - expr: '{window_query(index)}'")
            lines.append(f"        eval_time: {step * interval_s}s")
            lines.append("        exp_samples: []")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_test_file(path: Path, rules: list[Path], series: Iterable[Series], steps: int,
                    interval_s: int = 60, query_steps: Iterable[int] | None = None) -> None:
    """Write a promtool unit-test file asking for the firing alerts at the given steps."""
    write_windows_file(path, rules, [Window(list(series), steps, query_steps)], interval_s)


def parse_duration(text: str) -> float:
    """Seconds in a Go/Prometheus duration such as ``1d2h3m4s`` or ``15m``."""
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(ms|y|w|d|h|m|s)", text):
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400,
                                  "w": 604800, "y": 31536000}[unit]
    return total


def parse_window_firings(output: str, interval_s: int = 60) -> dict[int, list[Firing]]:
    """Firing alerts per step of each window, from promtool's failure listing."""
    firings: dict[int, list[Firing]] = {}
    for block in _BLOCK.finditer(output):
        step = round(parse_duration(block["time"]) / interval_s)
        found = firings.setdefault(int(block["window"] or 0), [])
        for sample in _SAMPLE.finditer(block["got"]):
            labels = dict(_LABEL.findall(sample["labels"]))
            name = labels.pop("alertname", "")
            labels.pop("__name__", None)
            labels.pop("alertstate", None)
            found.append(Firing(step, name, tuple(sorted(labels.items()))))
    return firings


def parse_firings(output: str, interval_s: int = 60) -> list[Firing]:
    """Firing alerts per step from promtool's failure listing of a one-window file."""
    return [f for found in parse_window_firings(output, interval_s).values() for f in found]


def evaluate_windows(rules: list[Path], windows: list[Window], interval_s: int = 60
                     ) -> list[list[Firing]]:
    """Run one promtool over the windows; return, per window, every (step, alert) that
    fired (steps counted from the window's first)."""
    binary = shutil.which("promtool")
    if binary is None:
        raise RuntimeError("promtool not found (Debian package 'prometheus')")
    with tempfile.TemporaryDirectory(prefix="txwatch-backtest-") as tmp:
        test_file = Path(tmp) / "backtest.yml"
        write_windows_file(test_file, rules, windows, interval_s)
        result = subprocess.run([binary, "test", "rules", str(test_file)], capture_output=True,
                                text=True, env=batch_go_env())
    output = result.stdout + result.stderr
    if result.returncode != 0 and "FAILED:" not in output:
        raise RuntimeError(f"promtool could not evaluate the rules:\n{output[-4000:]}")
    if re.search(r"could not|error", output.split("FAILED:")[0], re.I):
        raise RuntimeError(f"promtool reported an error:\n{output[-4000:]}")
    found = parse_window_firings(output, interval_s)
    return [found.get(index, []) for index in range(len(windows))]


def evaluate(rules: list[Path], series: list[Series], steps: int, interval_s: int = 60,
             query_steps: Iterable[int] | None = None) -> list[Firing]:
    """Run promtool over the series; return every (step, alert) that fired."""
    return evaluate_windows(rules, [Window(series, steps, query_steps)], interval_s)[0]
