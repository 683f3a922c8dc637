"""The generator's traffic profiles have the shape their descriptions promise, and the
original profiles still write the files published figures were computed from."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pandas as pd
import pytest

from txwatch.history.codes import code_probabilities
from txwatch.history.generate import expected_rate, generate, write
from txwatch.history.profiles import KINDS, MANY_CODES, PROFILES, Profile

# sha256 of the three files of ``write(folder, 2, 1, profile=name)``, computed before the
# generator learned the new traits: these files must never change for a seed.
PINNED = {
    "demo": "8da8e9ce18ea16ce91b5d41c23355f384508b7c594d694687a2848e7c52f7e30",
    "big_merchant": "1b6b5fa67b22f94ff8ff2a75281dca182a2600ab0be1827969e13e50fe893e9d",
    "small_shop": "3e59394a720ef33011fead70b36c3befcdd3ce5d810c7a338a3b3b06a7c9f679",
    "high_decline": "78cb70166ea35a954cec4ededafb8c8fedb9979aeb5c3d83651192ef9867d028",
    "weekly": "b1ee2f2f4c80b868980628b392870c1b22ea5c98a7e26713c734f0bf5d83fa36",
    "drift": "3319157aa52ad48a16dc51a361e893b3eec86f506751768a8b29c6df2eb6baac",
    "fraud": "2d8b7e1c1ca918bc43b77ad1af774fa32fda403817d0a6c40acf172e5aa9128b",
    "outages": "43b335dd842253c48d54bd87e2151361e07e60e04eaf44dae5618657e2f9b55d",
}


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


def _during(wide: pd.DataFrame, incidents: list[dict], kind: str) -> np.ndarray:
    mask = np.zeros(len(wide), dtype=bool)
    for i in (i for i in incidents if i["kind"] == kind):
        mask |= ((wide.index >= pd.Timestamp(i["start"], tz="UTC"))
                 & (wide.index <= pd.Timestamp(i["end"], tz="UTC")))
    assert mask.any(), kind
    return mask


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


@pytest.mark.parametrize("name", sorted(PINNED))
def test_the_original_profiles_write_the_same_files(tmp_path, name):
    paths = write(tmp_path, 2, 1, profile=name)
    digest = hashlib.sha256(b"".join(paths[k].read_bytes()
                                     for k in ("transactions", "auth_codes", "incidents")))
    assert digest.hexdigest() == PINNED[name]


def _flat_rate(profile: Profile) -> pd.Series:
    """The expected rate without the hourly wobble (so two days compare exactly), by UTC
    minute over the profile's range."""
    flat = dataclasses.replace(profile, wobble=0.0)
    index = pd.date_range(pd.Timestamp(profile.start or "2025-01-06", tz="UTC"),
                          periods=profile.days * 1440, freq="min")
    return pd.Series(expected_rate(flat, index, 1), index=index)


def test_a_local_clock_moves_the_daily_peak_an_hour_in_utc_on_the_dst_date():
    rate = _flat_rate(PROFILES["seasonal"])  # Berlin: peak 15:00 local
    peaks = rate.groupby(rate.index.normalize()).idxmax()
    change = pd.Timestamp("2025-03-30", tz="UTC")  # last Sunday of March 2025
    assert {f"{p:%H:%M}" for d, p in peaks.items() if d < change} == {"14:00"}  # CET
    assert {f"{p:%H:%M}" for d, p in peaks.items() if d >= change} == {"13:00"}  # CEST


def test_weekends_holidays_and_the_busy_day_switch_at_local_midnight():
    profile = PROFILES["seasonal"]
    rate = _flat_rate(profile).tz_convert("Europe/Berlin")
    eased = _flat_rate(dataclasses.replace(profile, abrupt_days=False)).tz_convert(
        "Europe/Berlin")

    def ratio(series: pd.Series, day: str, weekday: str, clock: str) -> float:
        at = (pd.Timestamp(f"{d} {clock}", tz="Europe/Berlin") for d in (day, weekday))
        return float(series[next(at)] / series[next(at)])

    # Saturday 5 April after an ordinary Friday: at the weekend level from its first minute
    assert ratio(rate, "2025-04-05", "2025-04-02", "00:00") == pytest.approx(profile.weekend)
    assert ratio(rate, "2025-04-04", "2025-04-01", "23:59") == pytest.approx(1.0)
    assert profile.weekend < ratio(eased, "2025-04-05", "2025-04-02", "00:00") < 1.0
    # the busy Friday (day 4) ends at midnight, straight into the weekend
    assert ratio(rate, "2025-03-28", "2025-03-26", "23:59") == pytest.approx(profile.busy)
    assert ratio(rate, "2025-03-29", "2025-03-26", "00:00") == pytest.approx(profile.weekend)
    assert ratio(rate, "2025-04-03", "2025-04-02", "00:00") == pytest.approx(profile.holiday)


def test_tiny_nights_hold_one_to_five_transactions_a_minute(made):
    total = made["tiny_nights"][0].sum(axis=1)
    by_hour = total.groupby(total.index.hour).mean()
    assert by_hour[[23, 0, 1, 2, 3, 4, 5, 6]].between(1, 5).all(), by_hour
    assert by_hour[[13, 14, 15, 16]].min() > 60


def test_denials_split_over_the_profiles_many_decline_codes(made):
    tx, codes, incidents = made["many_codes"]
    assert (codes["00"] == tx["approved"]).all()
    assert (codes.drop(columns="00").sum(axis=1) == tx["denied"]).all()
    declines = codes.loc[_outside(tx, incidents).index].drop(columns="00").sum()
    shares = declines / declines.sum()
    for code, share in MANY_CODES.items():
        assert abs(shares[code] - share) < 0.1 * share + 0.002, (code, shares[code])
    assert declines["75"] == 0  # only its bursts carry code 75


def test_code_bursts_lift_their_code_to_the_target_share_of_all_transactions(made):
    tx, codes, incidents = made["many_codes"]
    total = tx.sum(axis=1)
    quiet = _outside(tx, incidents).index
    for name in ("code_burst", "code_burst_unlisted", "code_burst_59"):
        kind = KINDS[name]
        during = _during(tx, incidents, name)
        share = codes.loc[during, kind.code].sum() / total[during].sum()
        assert abs(share - kind.code_share) < 0.15 * kind.code_share, (name, share)
        normal = codes.loc[quiet, kind.code].sum() / total[quiet].sum()
        denied = [tx.loc[rows, "denied"].sum() / total[rows].sum() for rows in (quiet, during)]
        rise = kind.code_share - normal  # the burst's declines come on top
        assert abs(denied[1] - denied[0] - rise) < 0.3 * rise, (name, denied, rise)
    burst = _during(tx, incidents, "code_burst")  # 91: ~0.2% -> 3%, denied 5.5% -> ~8.3%
    assert 0.075 < tx.loc[burst, "denied"].sum() / total[burst].sum() < 0.092


def test_code_probabilities_keep_the_target_and_the_shifted_mix():
    mix = {"51": 0.5, "05": 0.3, "59": 0.2}
    denied = np.array([0.055, 0.055 + 0.03, 0.06])
    shift = np.array([np.nan, np.nan, 0.6])
    extra = {"91": np.array([0.0, 0.03, 0.0])}
    codes, probs = code_probabilities(mix, denied, shift, extra)
    assert codes == ["51", "05", "59", "91"]
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert np.allclose(probs[0], [0.5, 0.3, 0.2, 0.0])
    assert probs[1, 3] * denied[1] == pytest.approx(0.03)  # 91 at 3% of all
    assert np.allclose(probs[2], [0.25, 0.15, 0.6, 0.0])  # 59 to 60%, the rest in proportion


def test_a_volume_slide_reaches_a_quarter_and_a_failed_creep_two_percent(made):
    tx, _codes, incidents = made["creep"]
    total = tx.sum(axis=1)
    expected = pd.Series(expected_rate(PROFILES["creep"], tx.index, 5), index=tx.index)
    first, last, creep_first, creep_last = [], [], [], []
    for i in incidents:
        start, end = pd.Timestamp(i["start"], tz="UTC"), pd.Timestamp(i["end"], tz="UTC")
        if i["kind"] == "volume_slide":
            first.append(slice(start, start + pd.Timedelta("4min")))
            last.append(slice(end - pd.Timedelta("4min"), end))
        elif i["kind"] == "failed_creep":
            creep_first.append(tx.loc[start:start + pd.Timedelta("9min")])
            creep_last.append(tx.loc[end - pd.Timedelta("9min"):end])

    def level(spans: list[slice]) -> float:
        return sum(total[s].sum() for s in spans) / sum(expected[s].sum() for s in spans)

    assert level(first) > 0.85  # starts at the normal volume ...
    assert 0.22 < level(last) < 0.34  # ... ends near 25% (its last minute: 25%)
    early, late = pd.concat(creep_first).sum(), pd.concat(creep_last).sum()
    assert early["failed"] / early.sum() < 0.007  # from ~0.08% ...
    assert 0.014 < late["failed"] / late.sum() < 0.024  # ... to ~2% an hour later


def test_moderate_rises_reach_their_targets_at_their_volumes(made):
    tx, _codes, incidents = made["moderate"]
    total = tx.sum(axis=1)
    quiet = _outside(tx, incidents)
    assert abs(quiet["failed"].sum() / quiet.sum().sum() - 0.0008) < 0.0002
    for name, per_minute in (("failed_denied_rise", (45, 85)),
                             ("backend_reversed_rise", (170, 280)),
                             ("denied_rise_moderate", (130, 230))):
        during = _during(tx, incidents, name)
        assert per_minute[0] < total[during].mean() < per_minute[1], name
        for status, target in KINDS[name].shares.items():
            share = tx.loc[during, status].sum() / total[during].sum()
            assert abs(share - target) < 0.3 * target, (name, status, share)
