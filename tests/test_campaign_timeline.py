"""Tests of insurereco.campaign_timeline: month derivation, rolling origin, prior shift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insurereco.campaign_timeline import (
    derive_campaign_months,
    lag_period_values,
    make_bank_campaign,
    monthly_expected_vs_actual,
    prior_shift,
    recent_rate,
    rolling_origin_predict,
    rolling_origin_splits,
)
from insurereco.errors import DataValidationError
from insurereco.propensity import infer_schema


def test_derive_months_rolls_over_years():
    months = pd.Series(["may", "may", "jun", "dec", "mar", "apr", "may", "nov", "may"])
    out = derive_campaign_months(months)
    assert out["period"].tolist() == [
        "2008-05", "2008-05", "2008-06", "2008-12", "2009-03", "2009-04", "2009-05",
        "2009-11", "2010-05",
    ]  # fmt: skip
    assert out["month_index"].tolist() == [0, 0, 1, 7, 10, 11, 12, 18, 24]
    assert out["run"].tolist() == [0, 0, 1, 2, 3, 4, 5, 6, 7]
    with pytest.raises(DataValidationError, match="unknown month"):
        derive_campaign_months(["may", "maybe"])
    with pytest.raises(DataValidationError, match="empty"):
        derive_campaign_months([])


def test_synthetic_campaign_spans_real_calendar():
    df = make_bank_campaign(3000, random_state=0)
    periods = derive_campaign_months(df["month"])["period"]
    assert periods.iloc[0] == "2008-05" and periods.iloc[-1] == "2010-11"
    assert periods.nunique() == 26
    early, late = df["y"].iloc[:500].eq("yes").mean(), df["y"].iloc[-300:].eq("yes").mean()
    assert late > early + 0.2


def test_rolling_origin_splits_train_strictly_before():
    months = np.repeat([0, 1, 2, 5, 6], [50, 50, 10, 50, 50])
    splits = rolling_origin_splits(months, n_last=4, min_calls=20)
    assert [m for m, _, _ in splits] == [1, 5, 6]  # month 2 has too few calls
    for m, train, test in splits:
        assert (months[train] < m).all() and (months[test] == m).all()
        assert train.max() < test.min()


def test_rolling_origin_predict_fills_test_months_only():
    df = make_bank_campaign(2000, random_state=1)
    schema = infer_schema(df, target="y", drop=["duration", "campaign"])
    X, _ = schema.encode(df)
    y = schema.labels(df)
    months = derive_campaign_months(df["month"])["month_index"].to_numpy()
    splits = rolling_origin_splits(months, n_last=3, min_calls=30)
    p = rolling_origin_predict("logistic", schema, X, y, splits)
    tested = np.concatenate([t for _, _, t in splits])
    assert not np.isnan(p[tested]).any()
    assert np.isnan(np.delete(p, tested)).all()
    shuffled_index = pd.Series(y, index=np.arange(len(y))[::-1])  # y is taken by position
    same = rolling_origin_predict("logistic", schema, X, shuffled_index, splits)
    np.testing.assert_array_equal(same, p)


def test_prior_shift_and_recent_rate():
    p = np.array([0.1, 0.5, 0.9])
    same = prior_shift(p, train_rate=0.2, new_rate=0.2)
    np.testing.assert_allclose(same, p)
    up = prior_shift(p, train_rate=0.1, new_rate=0.5)
    # odds x 9: 0.1 -> 1/9*9 = 1 -> 0.5
    assert up[0] == pytest.approx(0.5)
    assert (np.argsort(up) == np.argsort(p)).all()
    with pytest.raises(ValueError):
        prior_shift(p, train_rate=0, new_rate=0.5)
    months = np.array([0, 0, 1, 1, 2])
    y = np.array([0, 1, 1, 1, 0])
    assert recent_rate(months, y, 2, window=3) == 1.0
    assert recent_rate(months, y, 2, window=4) == pytest.approx(3 / 4)
    with pytest.raises(ValueError):
        recent_rate(months, y, 0)


def test_monthly_expected_vs_actual_totals():
    table = monthly_expected_vs_actual(
        ["2009-01", "2009-01", "2009-02"], [1, 0, 1], {"m": [0.5, 0.25, 0.5]}
    )
    assert table["period"].tolist() == ["2009-01", "2009-02", "total"]
    assert table["actual"].tolist() == [1, 1, 2]
    assert table["expected_m"].tolist() == pytest.approx([0.75, 0.5, 1.25])
    assert table["calls"].tolist() == [2, 1, 3]


def test_lag_period_values_takes_the_previous_period_with_rows():
    frame = pd.DataFrame({"rate": [1.0, 1.0, 2.0, 4.0, 4.0], "other": list("abcde")})
    period = ["2009-03", "2009-03", "2009-04", "2009-07", "2009-07"]  # May, June: no calls
    lagged = lag_period_values(frame, columns=["rate"], period=period)
    assert lagged["rate"].tolist() == [1.0, 1.0, 1.0, 2.0, 2.0]  # first month keeps its own
    assert lagged["other"].tolist() == list("abcde")
    assert frame["rate"].tolist() == [1.0, 1.0, 2.0, 4.0, 4.0]  # input untouched
    two = lag_period_values(frame, columns=["rate"], period=period, lags=2)
    assert two["rate"].tolist() == [1.0, 1.0, 1.0, 1.0, 1.0]
    with pytest.raises(DataValidationError, match="not found"):
        lag_period_values(frame, columns=["nope"], period=period)
    with pytest.raises(DataValidationError, match="period labels"):
        lag_period_values(frame, columns=["rate"], period=period[:2])
