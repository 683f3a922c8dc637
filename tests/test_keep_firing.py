"""keep_firing_for and hysteresis in the backtest engine: the steps after an alert's
expression last held are evaluated too, so a kept alert is seen firing there, and an alert
held by its own ``ALERTS`` series is followed for as long as promtool keeps it firing
(promtool decides whether it is, in both cases)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import generated_history, require_binary
from txwatch.backtest import alertstage, engine
from txwatch.backtest.alertstage import kept_on, reads_own_alerts


def test_candidates_are_widened_forward_by_the_kept_steps_only():
    candidates = np.zeros(12, dtype=bool)
    candidates[[2, 9]] = True
    widened = kept_on(candidates, 3)
    assert np.flatnonzero(widened).tolist() == [2, 3, 4, 5, 9, 10, 11]
    assert np.array_equal(kept_on(candidates, 0), candidates)
    assert kept_on(candidates, 100).sum() == 10  # never past the end, never before a step


def test_an_alert_reading_its_own_alerts_series_is_recognised():
    held = 'x > 1 or (-1 * max(ALERTS{alertname="A", alertstate="firing"}) and y > 0)'
    assert reads_own_alerts(held, "A")
    assert not reads_own_alerts(held, "B")
    assert not reads_own_alerts('ALERTS{alertname="AB"}', "A")
    assert not reads_own_alerts("x > 1", "A")


@pytest.mark.slow
def test_a_held_page_is_followed_past_its_candidates_as_promtool_fires_it(tmp_path,
                                                                          monkeypatch):
    """A reversed drift (0.8% -> 4% over 3 hours): the paging alert first fires on a brief
    crossing of its fast limit and is then held by its own ALERTS series while the share
    stays above the slow limit, long after the last step its expression held without the
    hold (the candidate search has no ALERTS). The engine's windows, extended while the
    alert still fires at their end, give exactly the steps promtool fires at when it is
    asked at every step of the history, and one episode per drift."""
    require_binary("prometheus")
    require_binary("promtool")
    from txwatch.backtest.scoring import to_episodes
    from txwatch.resources import rule_files, rules_dir

    raw, steps = generated_history(tmp_path / "data", 2, 11, "drift")
    files = rule_files(rules_dir())
    extended = []
    real_extended = alertstage.extended

    def spy(*args, **kwargs):
        found = real_extended(*args, **kwargs)
        extended.append(found is not None)
        return found

    shipped, _, _ = engine.evaluate_history(raw, steps, files)
    # Windows that start with no margin past keep_firing_for and grow by 5 steps: the
    # extension is what finds the end of the hold, over several rounds.
    monkeypatch.setattr(alertstage, "extended", spy)
    monkeypatch.setattr(alertstage, "HOLD_AHEAD", 0)
    monkeypatch.setattr(alertstage, "EXTEND", 5)
    windowed, _, _ = engine.evaluate_history(raw, steps, files)
    assert any(extended), "the drift's page never outlasted its first windows"
    monkeypatch.setattr(alertstage, "kept_on", lambda held, _steps: np.ones_like(held))
    everywhere, _, _ = engine.evaluate_history(raw, steps, files)

    def fast(firings):
        return sorted((f for f in firings if f.alertname == "PaymentRatioHighFast"),
                      key=lambda f: (f.step, f.labels))

    assert fast(windowed) == fast(everywhere) == fast(shipped)
    pages = [e for e in to_episodes(fast(windowed)) if e.labels.get("status") == "reversed"]
    assert len(pages) == 1, pages
