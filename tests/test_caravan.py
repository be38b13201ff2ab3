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


def _fold_table(hits, selected, predicted=None):
    import pandas as pd

    table = pd.DataFrame({"fold": range(len(hits)), "selected": selected, "hits": hits})
    table["precision"] = table["hits"] / table["selected"]
    table["recall"], table["roc_auc"] = 0.5, 0.7  # not used by the functions tested
    if predicted is not None:
        table["predicted_hits"] = predicted
    return table


def test_hits_range_adds_the_doubt_about_the_precision():
    from insurereco.caravan import hits_range

    # 2 repeats x 2 folds of 50 selected, precision 0.2 in every fold: one repeat pools
    # 100 distinct customers. By hand: sd of the hits in 800 = 800 sqrt(0.2 x 0.8 / 100 +
    # 0.2 x 0.8 / 800) = 33.9, so the 90% range is about 160 -/+ 1.645 x 33.9 = 104 to 216.
    table = _fold_table([10, 10, 10, 10], [50, 50, 50, 50])
    out = hits_range(table, n_repeats=2, random_state=1)
    assert out["n_pooled"] == 100
    assert out["expected_hits"] == pytest.approx(160.0)
    assert out["sd"] == pytest.approx(33.9, abs=1.0)
    assert out["low"] == pytest.approx(104, abs=3) and out["high"] == pytest.approx(216, abs=3)
    assert hits_range(table, n_repeats=2, random_state=1) == out  # seeded
    # the chance of the draw of 800 alone (hits_estimate, the between-fold term is 0 here)
    chance = hits_estimate(table, base_rate=0.05)
    assert out["low"] < chance["low"] and out["high"] > chance["high"]
    # counting the 4 folds as 4 new samples (n_repeats=1) would narrow the range
    assert hits_range(table, n_repeats=1)["high"] < out["high"]
    with pytest.raises(ValueError):
        hits_range(table, n_repeats=3)


def test_forecast_gap_by_hand():
    from insurereco.caravan import forecast_gap

    # one repeat, 2 folds of 100 selected: 50 found, 40 forecast. Variance bound
    # 40 x (1 - 40 / 200) = 32, so z = 10 / sqrt(32) = 1.77 (within chance).
    table = _fold_table([30, 20], [100, 100], predicted=[20.0, 20.0])
    out = forecast_gap(table, n_repeats=1, n_select=800)
    assert out["found"] == pytest.approx(200.0)
    assert out["forecast"] == pytest.approx(160.0)
    assert out["understatement"] == pytest.approx(0.2)
    assert out["z"] == pytest.approx(10 / np.sqrt(32))
    # the same counts over two repeats are one sample seen twice: per repeat, the same z
    twice = _fold_table([30, 20, 30, 20], [100] * 4, predicted=[20.0] * 4)
    assert forecast_gap(twice, n_repeats=2)["z"] == pytest.approx(out["z"])


def test_owner_rate_by_value_by_hand():
    from insurereco.caravan import owner_rate_by_value

    bands = [5, 5, 6, 6, 6, 7]
    owners = [0, 1, 1, 1, 0, 0]
    shap = [-0.1, -0.3, 0.5, 0.5, 0.2, 0.4]
    table = owner_rate_by_value(bands, owners, shap_values=shap)
    assert list(table.index) == [5, 6, 7]
    assert table["customers"].tolist() == [2, 3, 1]
    assert table["owners"].tolist() == [1, 2, 0]
    assert table["owner_rate"].tolist() == pytest.approx([0.5, 2 / 3, 0.0])
    # band 7 has no owner, yet the model may push it up: both are shown side by side
    assert table["mean_shap"].tolist() == pytest.approx([-0.2, 0.4, 0.4])
    assert "mean_shap" not in owner_rate_by_value(bands, owners).columns


def test_trait_list_joins_one_direction_of_one_level():
    import pandas as pd

    from insurereco.caravan import trait_list

    drivers = pd.DataFrame(
        {
            "meaning": [
                "Contribution car policies (band 0-9, customer's own)",
                "Average income (zip-code level)",
                "Lower level education (zip-code level)",
                "Middle management (zip-code level)",
                "Purchasing power class (zip-code level)",
            ],
            "direction": ["higher -> more likely", "higher -> more likely"]
            + ["higher -> less likely", "higher -> more likely", "higher -> more likely"],
        }
    )
    up = trait_list(drivers, direction="higher -> more likely")
    assert up == "average income, middle management and purchasing power class"
    assert trait_list(drivers, direction="higher -> less likely") == "lower level education"
    assert trait_list(drivers, direction="no clear effect") == ""
    # the first `top` in rank order; only the first letter is lower-cased
    assert trait_list(drivers, direction="higher -> more likely", top=2) == (
        "average income and middle management"
    )
    drivers.loc[1, "meaning"] = "Social class C (zip-code level)"
    assert trait_list(drivers, direction="higher -> more likely", top=1) == "social class C"


def test_lookalike_profit_by_hand():
    from insurereco.caravan import lookalike_profit

    # top 1: p = 0.5; mailed 0.5 non-holders, buyers 0.5 x (0.5 x 0.5) = 0.125,
    # cost 10 x 0.5 = 5, revenue 100 x 0.125 = 12.5, profit 7.5; break-even share
    # 5 / (100 x 0.25) = 0.2. Top 2 adds p = 0.2: mailed 0.5 + 0.8 = 1.3, resemblance
    # 0.25 + 0.16 = 0.41, buyers 0.205, cost 13, revenue 20.5, profit 7.5.
    table = lookalike_profit(
        [0.2, 0.5, 0.1], sizes=[1, 2], buy_share=0.5, cost_per_contact=10, value_per_sale=100
    )
    assert table["selected"].tolist() == [1, 2]
    assert table["holders_left_out"].tolist() == pytest.approx([0.5, 0.7])
    assert table["mailed"].tolist() == pytest.approx([0.5, 1.3])
    assert table["lowest_probability"].tolist() == pytest.approx([0.5, 0.2])
    assert table["buyers"].tolist() == pytest.approx([0.125, 0.205])
    assert table["profit"].tolist() == pytest.approx([7.5, 7.5])
    assert table["break_even_share"].tolist() == pytest.approx([0.2, 13 / 41])
    # no buyers at a zero share: the mailing only costs
    none = lookalike_profit(
        [0.2, 0.5], sizes=[2], buy_share=0, cost_per_contact=10, value_per_sale=100
    )
    assert none["profit"].iloc[0] == pytest.approx(-13.0)
    with pytest.raises(ValueError):
        lookalike_profit([0.2], sizes=[2], buy_share=0.5, cost_per_contact=10, value_per_sale=100)
    with pytest.raises(ValueError):
        lookalike_profit([0.2], sizes=[1], buy_share=1.5, cost_per_contact=10, value_per_sale=100)


def test_challenge_constants():
    from insurereco.caravan import CHALLENGE_EVAL_OWNERS, CHALLENGE_WINNER_HITS

    assert (CHALLENGE_WINNER_HITS, CHALLENGE_EVAL_OWNERS) == (121, 238)
