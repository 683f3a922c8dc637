"""Expected transactions per minute: a merchant's day, week and clock.

The original shape (a cosine day in UTC, weekends and holidays eased over the night) is
kept bit for bit for the profiles that use it, since published figures depend on their
files. The other path adds what real traffic does and a rule must not page on: a local
clock (the whole day moves an hour in UTC on the daylight-saving date), levels that switch
at midnight (a weekend, a holiday, a busy day that simply ends), and nights narrowed to
near-empty by raising the daily bell to a power.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from txwatch.history.profiles import Profile


def traffic_rate(minute_of_day: np.ndarray, peak: float = 130.0, trough: float = 15.0,
                 power: float = 1.0) -> np.ndarray:
    """Expected transactions per minute over the day (trough 03:00, peak 15:00 on the
    merchant's clock); ``power`` > 1 narrows the bell so nights stay near the trough."""
    hours = minute_of_day / 60.0
    bell = 0.5 - 0.5 * np.cos(2 * np.pi * (hours - 3.0) / 24.0)
    if power != 1.0:
        bell = bell ** power
    return trough + (peak - trough) * bell


def expected_rate(profile: Profile, index: pd.DatetimeIndex, seed: int) -> np.ndarray:
    """Expected transactions per minute: daily cycle x weekend / holiday x hourly wobble."""
    if profile.plain_clock:
        minute_of_day = np.asarray(index.hour * 60 + index.minute, dtype=float)
        rate = traffic_rate(minute_of_day, profile.peak, profile.trough)
        rate = rate * day_factor(profile, index)
    else:
        clock = local_clock(profile, index)
        minute_of_day = np.asarray(clock.hour * 60 + clock.minute, dtype=float)
        rate = traffic_rate(minute_of_day, profile.peak, profile.trough, profile.cycle_power)
        rate = rate * day_levels(profile, clock)
    if profile.wobble:  # its own random stream: the main one stays as it was
        hours = len(index) // 60 + 1
        factor = np.random.default_rng([seed, 1]).lognormal(0.0, profile.wobble, hours)
        rate = rate * np.repeat(factor, 60)[:len(index)]
    return rate


def _level(profile: Profile, first: pd.Timestamp, day: int) -> float:
    """Volume factor of day number ``day`` (weekend x holiday; busy days come apart)."""
    weekday = (first + pd.Timedelta(days=day)).day_of_week
    value = profile.weekend if weekday >= 5 else 1.0
    return value * (profile.holiday if day in profile.holidays else 1.0)


def day_factor(profile: Profile, index: pd.DatetimeIndex) -> np.ndarray:
    """Volume factor of weekends and holidays, eased from one day's level to the next over
    the night between them (22:00 to 06:00), as real traffic does: the morning ramp does
    not come, and there is no step at midnight."""
    days = len(index) // 1440 + 1
    first = index[0].normalize()
    level = [_level(profile, first, day) for day in range(-1, days + 1)]
    knots, values = [], []
    for day in range(days + 1):
        knots += [day * 1440 - 120, day * 1440 + 360]
        values += [level[day], level[day + 1]]
    return np.interp(np.arange(len(index)), knots, values)


def local_clock(profile: Profile, index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Wall-clock time of every minute on the merchant's clock (naive): across a DST change
    an hour is skipped or repeated, as the merchant's customers live it."""
    if profile.timezone is None:
        return index.tz_localize(None)
    return index.tz_convert(profile.timezone).tz_localize(None)


def day_numbers(clock: pd.DatetimeIndex) -> np.ndarray:
    """Day number (0 = the first day) of every minute on a wall clock."""
    first = clock[0].normalize()
    return np.asarray((clock.normalize() - first).days)


def day_levels(profile: Profile, clock: pd.DatetimeIndex) -> np.ndarray:
    """Weekend, holiday and busy-day factor on the merchant's wall clock: switched at
    midnight with ``abrupt_days`` (a closed office, a shop's opening day), else eased over
    the night as in :func:`day_factor`; a busy day always ends at midnight."""
    first = clock[0].normalize()
    numbers = day_numbers(clock)
    level = np.array([_level(profile, first, d) for d in range(-1, int(numbers.max()) + 2)])
    if profile.abrupt_days:
        factor = level[numbers + 1]
    else:
        minutes = np.asarray((clock - first) / pd.Timedelta(minutes=1), dtype=float)
        knots = np.ravel([[d * 1440 - 120, d * 1440 + 360] for d in range(len(level) - 1)])
        values = np.ravel([[level[d], level[d + 1]] for d in range(len(level) - 1)])
        factor = np.interp(minutes, knots, values)
    if profile.busy_days:
        factor = factor * np.where(np.isin(numbers, profile.busy_days), profile.busy, 1.0)
    return factor
