"""Tests of insurereco.caravan (CoIL 2000 helpers) on the synthetic stand-in."""

from __future__ import annotations

import numpy as np
import pytest

from insurereco.caravan import (
    COIL_CATEGORICAL,
    COIL_COLUMNS,
    choose_by_cv,
    cv_top_capture,
    describe,
    hits_estimate,
    make_coil_like,
    select_top,
)
from insurereco.propensity import infer_schema


def test_columns_and_descriptions():
    assert len(COIL_COLUMNS) == 86
    assert COIL_COLUMNS[:3] == ("MOSTYPE", "MAANTHUI", "MGEMOMV") and COIL_COLUMNS[-1] == "CARAVAN"
    assert "car policies" in describe("PPERSAUT")
    assert "zip-code" in describe("MOPLLAAG")


def test_synthetic_shape_and_rate():
    train = make_coil_like(2000, random_state=0)
    assert list(train.columns) == list(COIL_COLUMNS)
    assert 0.02 < train["CARAVAN"].mean() < 0.15
    assert list(make_coil_like(10, split="eval").columns) == list(COIL_COLUMNS[:-1])


def test_choose_by_cv_and_estimate():
    train = make_coil_like(1500, random_state=0)
    schema = infer_schema(train, target="CARAVAN", categorical=COIL_CATEGORICAL)
    X, _ = schema.encode(train)
    y = schema.labels(train)
    candidates = {"logistic": ("logistic", {"C": 0.1}), "tree": ("tree", {"max_depth": 3})}
    best, summary, folds = choose_by_cv(schema, X, y, candidates=candidates, n_repeats=1)
    assert best in candidates and len(folds[best]) == 5
    assert (folds[best]["selected"] == 60).all()
    est = hits_estimate(folds[best], base_rate=float(y.mean()))
    assert est["low"] < est["expected_hits"] < est["high"]
    # the synthetic signal is strong enough to beat random selection
    assert est["expected_hits"] > 1.5 * est["random_hits"]


def test_select_top_row_order():
    p = np.array([0.1, 0.9, 0.3, 0.8])
    sel = select_top(p, n=2)
    assert sel["row"].tolist() == [1, 3]
    assert sel["probability"].tolist() == [0.9, 0.8]
    with pytest.raises(ValueError):
        select_top(p, n=5)


def test_shap_recovers_synthetic_drivers():
    from insurereco.caravan import importance_table, shap_by_feature
    from insurereco.propensity import fit_estimator

    train = make_coil_like(2000, random_state=3)
    schema = infer_schema(train, target="CARAVAN", categorical=COIL_CATEGORICAL)
    X, _ = schema.encode(train)
    y = schema.labels(train)
    model = fit_estimator("xgboost", schema, X, y, params={"n_estimators": 50, "max_depth": 2})
    values = shap_by_feature(model, X, schema)
    assert list(values.columns) == schema.features
    margin = model.predict_proba(X)[:, 1]
    # SHAP values plus the base value add up to the model's log-odds
    logit = np.log(margin / (1 - margin))
    base = logit - values.sum(axis=1).to_numpy()
    assert np.ptp(base) < 1e-3
    table = importance_table(values, X, top=5)
    assert "PPERSAUT" in set(table["feature"])
    row = table.set_index("feature").loc["PPERSAUT"]
    assert row["direction"] == "higher -> more likely"


def test_shap_direction_reads_the_mean_by_value():
    from insurereco.caravan import mean_shap_by_value, shap_direction

    x = np.repeat(np.arange(6), 50)
    rising = x * 0.1 + 0.001 * np.sin(np.arange(len(x)))
    assert shap_direction(x, rising) == "higher -> more likely"
    assert shap_direction(x, -rising) == "higher -> less likely"
    # a small dip against the trend (under a quarter of the range) is ignored
    bumpy = np.select([x == 3], [0.18], default=x * 0.1)
    assert shap_direction(x, bumpy) == "higher -> more likely"
    # the middle values push up, both ends down: the pattern of the fire-policy bands
    hump = np.where((x == 2) | (x == 3), 0.3, -0.2)
    assert shap_direction(x, hump) == "non-monotone: up at 2-3; down at 0-1, 4-5"
    assert shap_direction(x, np.full(len(x), 0.01)) == "no clear effect"
    # values held by too few customers do not count
    table = mean_shap_by_value(np.append(x, 9), np.append(hump, 5.0))
    assert list(table.index) == [0, 1, 2, 3, 4, 5]
    assert table["size"].tolist() == [50] * 6


def test_value_ranges_joins_neighbours():
    from insurereco.caravan import value_ranges

    kept = [0, 1, 2, 3, 5, 6, 8]
    assert value_ranges([0, 1, 2, 5, 8], kept) == "0-2, 5, 8"
    # 3 and 5 are neighbours when 4 is not among the kept values
    assert value_ranges([3, 5, 6], kept) == "3-6"
    assert value_ranges([1.0], kept) == "1"


def test_cv_folds_carry_the_models_own_forecast():
    train = make_coil_like(1200, random_state=1)
    schema = infer_schema(train, target="CARAVAN", categorical=COIL_CATEGORICAL)
    X, _ = schema.encode(train)
    y = schema.labels(train)
    table = cv_top_capture("logistic", schema, X, y, params={"C": 0.1}, n_repeats=1)
    assert ((table["predicted_hits"] > 0) & (table["predicted_hits"] < table["selected"])).all()
    # the probabilities of the selected customers are the highest ones, so their mean is
    # above the base rate
    assert (table["predicted_hits"] / table["selected"] > y.mean()).all()
