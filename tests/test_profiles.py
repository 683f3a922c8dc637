"""The generator's traffic profiles have the shape their descriptions promise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from txwatch.history.generate import expected_rate, generate
from txwatch.history.profiles import KINDS, PROFILES


def _wide(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    wide = frame.pivot_table(index="timestamp", columns=label, values="count", aggfunc="sum")
    wide.index = pd.to_datetime(wide.index, utc=True)
    return wide


def _outside(wide: pd.DataFrame, incidents: list[dict]) -> pd.DataFrame:
    mask = np.ones(len(wide), dtype=bool)
    for i in incidents:
        mask &= ~((wide.index >= pd.Timestamp(i["start"], tz="UTC"))
                  & (wide.index <= pd.Timestamp(i["end"], tz="UTC") + pd.Timedelta("1h")))
    return wide[mask]


@pytest.fixture(scope="module")
def made() -> dict[str, tuple[pd.DataFrame, pd.DataFrame, list[dict]]]:
    out = {}
    for name, profile in PROFILES.items():
        tx, codes, incidents = generate(profile.days, 5, profile=profile)
        out[name] = (_wide(tx, "status"), _wide(codes, "auth_code"), incidents)
    return out


def test_every_profile_is_deterministic_labelled_and_in_range(made):
    for name, profile in PROFILES.items():
        tx, _codes, incidents = made[name]
        assert len(tx) == profile.days * 1440
        assert incidents and {i["kind"] for i in incidents} <= set(KINDS)
        for i in incidents:
            assert tx.index[0] <= pd.Timestamp(i["start"], tz="UTC") <= tx.index[-1]
    again, _, _ = generate(3, 5, profile=PROFILES["small_shop"])
    first, _, _ = generate(3, 5, profile=PROFILES["small_shop"])
    pd.testing.assert_frame_equal(again, first)


def test_big_merchant_and_small_shop_volumes(made):
    big = made["big_merchant"][0].sum(axis=1)
    assert 1300 < big.between_time("12:00", "18:00").mean() < 1900
    shop = made["small_shop"][0].sum(axis=1)
    assert 3 < shop.between_time("12:00", "18:00").mean() < 5
    assert shop.between_time("01:00", "05:00").median() <= 1


def test_high_decline_normal_shares(made):
    tx, _codes, incidents = made["high_decline"]
    quiet = _outside(tx, incidents).sum()
    assert abs(quiet["denied"] / quiet.sum() - 0.12) < 0.005
    assert abs(quiet["reversed"] / quiet.sum() - 0.02) < 0.002


def test_weekly_profile_weekends_and_holiday(made):
    tx, _codes, incidents = made["weekly"]
    daily = tx.sum(axis=1).resample("1D").sum()
    profile = PROFILES["weekly"]
    weekdays = [d for n, d in enumerate(daily.index)
                if d.day_of_week < 5 and n not in profile.holidays]
    weekday = daily[weekdays].mean()
    weekend = daily[daily.index.day_of_week >= 5].mean()
    assert abs(weekend / weekday - profile.weekend) < 0.05
    (holiday,) = profile.holidays
    assert abs(daily.iloc[holiday] / weekday - profile.holiday) < 0.05
    for i in incidents:
        day = pd.Timestamp(i["start"], tz="UTC")
        assert day.day_of_week < 5 and (day.normalize() - daily.index[0]).days != holiday


def test_fraud_shifts_the_code_mix_not_the_denied_share(made):
    tx, codes, incidents = made["fraud"]
    during = np.zeros(len(tx), dtype=bool)
    for i in incidents:
        during |= ((tx.index >= pd.Timestamp(i["start"], tz="UTC"))
                   & (tx.index <= pd.Timestamp(i["end"], tz="UTC")))
    quiet = _outside(tx, incidents).index
    share59 = [codes.loc[rows, "59"].sum() / codes.loc[rows].sum().sum()
               for rows in (quiet, tx.index[during])]
    denied = [tx.loc[rows, "denied"].sum() / tx.loc[rows].sum().sum()
              for rows in (quiet, tx.index[during])]
    assert share59[1] > 2.5 * share59[0], share59  # code 59 triples ...
    assert abs(denied[1] - denied[0]) < 0.01, denied  # ... the denied share moves < 1 point


def test_drift_creeps_up_over_hours(made):
    tx, _codes, incidents = made["drift"]
    early, late = [], []
    for i in (i for i in incidents if i["kind"] == "reversed_drift"):
        start, end = pd.Timestamp(i["start"], tz="UTC"), pd.Timestamp(i["end"], tz="UTC")
        early.append(tx.loc[start:start + pd.Timedelta("30min")])
        late.append(tx.loc[end - pd.Timedelta("30min"):end])
    first, last = pd.concat(early).sum(), pd.concat(late).sum()
    assert first["reversed"] / first.sum() < 0.02  # starts near the normal 0.8% ...
    assert last["reversed"] / last.sum() > 0.03  # ... ends near 4%, three hours later


def test_wobble_makes_baselines_uneven_but_keeps_the_mean():
    profile = PROFILES["big_merchant"]
    index = pd.date_range("2025-01-06", periods=7 * 1440, freq="min", tz="UTC")
    rate = expected_rate(profile, index, 1)
    flat = expected_rate(PROFILES["demo"], index, 1)
    hourly = rate.reshape(-1, 60)[:, 0]
    assert np.std(np.diff(np.log(hourly))) > 0.03  # hour to hour, not a smooth curve
    assert np.allclose(flat.reshape(-1, 60).std(axis=1), flat.reshape(-1, 60).std(axis=1))
    assert 0.9 < rate.mean() / ((profile.peak + profile.trough) / 2) < 1.1
