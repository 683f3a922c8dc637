"""keep_firing_for in the backtest engine: the steps after an alert's expression last held
are evaluated too, so a kept alert is seen firing there (promtool decides whether it is)."""

from __future__ import annotations

import numpy as np

from txwatch.backtest.engine import kept_on


def test_candidates_are_widened_forward_by_the_kept_steps_only():
    candidates = np.zeros(12, dtype=bool)
    candidates[[2, 9]] = True
    widened = kept_on(candidates, 3)
    assert np.flatnonzero(widened).tolist() == [2, 3, 4, 5, 9, 10, 11]
    assert np.array_equal(kept_on(candidates, 0), candidates)
    assert kept_on(candidates, 100).sum() == 10  # never past the end, never before a step
