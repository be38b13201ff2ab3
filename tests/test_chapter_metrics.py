"""Headline figures recorded by the full (book) run of each chapter, within tolerances.

These read ``reports/metrics/<chapter>.json`` written by ``make report``; they skip when
the book has not been built, and fail under CI where it must have been.
"""

from __future__ import annotations

import numpy as np
import pytest


def test_eda_figures(recorded_metrics):
    m = recorded_metrics("01_eda")
    if m["is_demo"]:
        pytest.skip("EDA ran on demo data")
    assert m["n_customers"] == 25132
    assert m["top_products"] == ["RVSZ", "K6QO"]
    assert m["top1_rate"] == pytest.approx(21874 / 25132, abs=1e-4)
    assert m["top_basket"] == "K6QO + RVSZ"
    assert m["top_basket_share"] == pytest.approx(0.566, abs=0.005)
    assert m["share_two_products"] == pytest.approx(19601 / 25132, abs=1e-4)
    assert m["missing_join_date"] == 2
    assert sum(m["holders"].values()) > 2 * 25132


def test_explain_chapter_05_figures(recorded_metrics):
    m = recorded_metrics("05_explanations")
    if m["is_demo"]:
        pytest.skip("explanations chapter ran on demo data")
    assert m["n_explained"] == 1000
    # the campaign's offers: never the two dominant products
    assert "RVSZ" not in m["offerable"] and "K6QO" not in m["offerable"]
    assert m["main_offers"] == ["QBOL", "PYUQ", "GHYX", "RIBP"]
    assert m["main_offer_count"] == 864
    assert m["basket_share"] == pytest.approx(0.438, abs=0.005)
    shares = m["basket_share_by_product"]
    assert min(shares.values()) <= m["basket_share"] <= max(shares.values())
    # lifts are compared only for pairs held by at least 200 training customers
    assert m["min_pair_customers"] == 200
    assert m["agreement_share"] == pytest.approx(0.564, abs=0.005)
    assert m["agreement_share_top_recommendation"] == pytest.approx(0.815, abs=0.005)
    assert (m["n_pairs_compared"], m["n_pairs_disagree"]) == (27, 6)
    assert m["share_with_reason"] == 1.0
    assert 0 < m["share_with_association"] < 1


def test_bank_marketing_figures(recorded_metrics):
    m = recorded_metrics("08_bank_marketing")
    if m["is_demo"]:
        pytest.skip("bank chapter ran on demo data")
    assert m["n_calls"] == 41188
    assert m["duration_auc"] > 0.8
    # the number of contacts is only final at the end of the campaign: dropped like duration
    assert m["dropped_columns"] == ["duration", "campaign"]
    assert m["campaign_auc"] == pytest.approx(0.555, abs=0.005)
    assert m["random_best_auc"] == pytest.approx(0.794, abs=0.01)
    # over five random splits the best model averages about 0.80 (a random-split figure; the
    # 0.80 of Moro et al. 2014 came from a forward test on later calls and is not compared)
    repeated = m["random_repeated_auc"][m["random_repeated_best_model"]]
    assert repeated["mean"] == pytest.approx(0.801, abs=0.005)
    assert repeated["min"] < m["random_best_auc"] + 1e-9 < repeated["max"] + 1e-9
    # the random split mostly measures the month: the month's training rate alone scores
    # 0.776 (95% of the blend's lift above 0.5) and makes 50,640 EUR at break-even, 97% of
    # the blend's 52,060
    assert m["month_rate_auc"] == pytest.approx(0.776, abs=0.003)
    assert m["month_share_of_lift"] == pytest.approx(0.95, abs=0.03)
    assert m["month_rate_profit_break_even"] == pytest.approx(50640, abs=1)
    assert m["month_rate_profit_break_even"] / m["random_profit_break_even"] == pytest.approx(
        0.97, abs=0.03
    )
    auc = m["rolling_mean_auc"]
    assert auc["blend"] == pytest.approx(0.710, abs=0.01)
    # the blend's edge over logistic regression (+0.004 a month) is within month-to-month noise
    assert m["rolling_blend_vs_logistic"]["mean"] == pytest.approx(0.004, abs=0.005)
    assert not m["rolling_blend_vs_logistic"]["detectable"]
    # the economic indicators as known at a month's start (last month's values) cost the
    # forward blend a little ranking, 0.007 of AUC a month, worse in 10 of 11 months
    lag = m["rolling_lag_cost"]
    assert lag["mean"] == pytest.approx(m["rolling_lagged_blend_auc"] - auc["blend"], abs=1e-5)
    assert lag["mean"] == pytest.approx(-0.007, abs=0.003)
    assert lag["wins"] <= 2
    # within a month the big early months are ranked poorly (0.59), the rolling months better
    # (0.72), even on the random split
    assert m["random_within_early_mean"] == pytest.approx(0.59, abs=0.03)
    assert m["random_within_late_mean"] == pytest.approx(0.72, abs=0.03)
    assert m["random_within_late_mean"] > m["random_within_early_mean"] + 0.08
    # like for like: within the rolling months the random split does no detectably better than
    # the forward test (0.720 against 0.710); pooled, the forward blend falls to 0.659
    assert m["random_blend_within_month_auc"] == pytest.approx(0.720, abs=0.01)
    assert m["random_flatters"]["within_month"] == pytest.approx(
        m["random_blend_within_month_auc"] - auc["blend"], abs=1e-6
    )
    assert m["random_flatters"]["within_month"] < 0.02
    assert not m["forward_cost_within"]["detectable"]
    assert m["rolling_blend_pooled_auc"] == pytest.approx(0.659, abs=0.01)
    assert m["random_flatters"]["pooled"] == pytest.approx(0.063, abs=0.01)
    # every model in the reliability figure is close to the diagonal (forest included)
    assert max(m["random_ece"].values()) < 0.01
    # monthly volume: the month's calls x the rate of the last 500 calls misses by 12.7 a
    # month, less than any model variant; retraining helps the same model (XGBoost 46 -> 18,
    # blend 56 -> 31)
    gap = {k: v["mean abs. monthly gap"] for k, v in m["monthly_calibration"].items()}
    assert gap["recent rate only"] == pytest.approx(12.7, abs=0.1)
    assert m["best_calibration_variant"] == "recent rate only"
    assert gap["XGBoost, retrained"] == pytest.approx(17.9, abs=4)
    assert gap["blend, retrained"] == pytest.approx(30.5, abs=5)
    assert gap["XGBoost, once"] == pytest.approx(46.3, abs=5)
    assert gap["XGBoost, retrained"] < gap["XGBoost, once"]
    assert gap["blend, retrained"] < gap["blend, once"]
    # the first test month (2009-10, 180 subscriptions): both models' misses
    miss = m["first_month_miss"]
    assert miss["XGBoost, once"] == pytest.approx(30, abs=10)
    assert miss["XGBoost, retrained"] == pytest.approx(-2, abs=10)
    assert miss["blend, once"] == pytest.approx(85, abs=15)
    assert miss["blend, retrained"] == pytest.approx(107, abs=15)
    assert m["break_even_threshold"] == pytest.approx(0.1)
    # forward, about half subscribe: the break-even rule calls everyone and targeting adds
    # nothing at 50, 100 or 200 EUR a subscription
    assert m["rolling_break_even_share"] > 0.95
    assert m["rolling_profit_break_even"] == pytest.approx(m["rolling_profit_call_everyone"])
    sensitivity = m["value_sensitivity"]
    assert [row["value"] for row in sensitivity] == [50.0, 100.0, 200.0]
    assert max(row["rule_gain"] for row in sensitivity) < 500
    assert m["scenario_share_called"] > 0.95
    # the chance-only 90% range held the actual count in 7 of 11 months; widened by the
    # earlier months' error, in 9 of the 10 months that have an earlier error
    assert m["scenario_coverage"] == pytest.approx(7 / 11, abs=1e-6)
    assert m["scenario_coverage_widened"] == pytest.approx(0.9)
    assert m["profit_call_everyone"] < m["roi_thresholds"][0]["profit"]


def test_coil2000_figures(recorded_metrics):
    m = recorded_metrics("09_coil2000")
    if m["is_demo"]:
        pytest.skip("CoIL chapter ran on demo data")
    assert (m["n_train"], m["n_buyers_train"], m["n_selected"]) == (5822, 348, 800)
    assert m["cv_expected_hits_800"] == pytest.approx(127.7, abs=3)
    # the 90% range also counts the doubt about the cross-validated precision (1,165
    # selected training customers per repeat), so it is wider than the draw of 800 alone
    assert m["cv_n_pooled"] == 1165
    assert m["cv_low_800"] == pytest.approx(106, abs=3)
    assert m["cv_high_800"] == pytest.approx(150, abs=3)
    assert m["cv_low_800"] < m["cv_chance_low_800"] < m["cv_chance_high_800"] < m["cv_high_800"]
    assert m["cv_low_800"] > 2 * m["random_hits_800"]
    assert m["top_drivers"][0] == "PPERSAUT"
    # the model's own forecast (sum of probabilities over the 800) is the lower one; in
    # cross-validation its shortfall against the owners found is within chance (no case for
    # recalibrating)
    assert m["model_expected_hits_800"] == pytest.approx(118.5, abs=3)
    assert m["model_expected_hits_800"] < m["cv_model_hits_800"] < m["cv_expected_hits_800"]
    assert m["forecast_gap_z"] == pytest.approx(0.70, abs=0.2)
    # mailing the look-alikes (current holders left out) at the assumed buy share and the
    # rules' cost and value: a loss at every size, harder to break even the deeper it goes
    assert m["buy_share"] == 0.25
    rows = {r["selected"]: r for r in m["profit_table"]}
    assert sorted(rows) == [100, 200, 400, 800, 1200, 2000]
    assert rows[800]["holders_left_out"] == pytest.approx(118.5, abs=3)
    assert rows[800]["buyers"] / rows[800]["mailed"] == pytest.approx(0.036, abs=0.003)
    assert rows[800]["profit"] == pytest.approx(-4370, abs=300)
    assert rows[800]["break_even_share"] == pytest.approx(0.70, abs=0.05)
    assert all(r["profit"] < 0 for r in rows.values())
    shares = [r["break_even_share"] for r in m["profit_table"]]
    assert shares == sorted(shares) and shares[0] == pytest.approx(0.36, abs=0.05)
    # car band 6 holds most owners; bands 7-8 have none (the model's effect there is borrowed)
    assert m["car_top_band"] == 6
    owners, customers = m["car_band_owners"], m["car_band_customers"]
    assert (owners["6"], customers["6"]) == (262, 2319)
    assert (owners["7"] + owners["8"], customers["7"] + customers["8"]) == (0, 44)
    assert m["zip_up"].startswith("average income")
    assert m["zip_down"] == "income < 30.000 and lower level education"
    # the prose: fire-policy bands push up only in the middle; these zip-code traits one way
    assert m["fire_direction"] == "non-monotone: up at 3-4; down at 0-2, 5-6"
    directions = m["driver_directions"]
    assert directions["PPERSAUT"] == "higher -> more likely"
    for feature in ("MINKGEM", "MBERMIDD", "MKOOPKLA"):
        assert directions[feature] == "higher -> more likely"
    for feature in ("MINKM30", "MOPLLAAG"):
        assert directions[feature] == "higher -> less likely"
    assert not any(f in m["top_drivers"] for f in ("PPLEZIER", "APLEZIER"))  # no boat claim


def test_modelling_figures(recorded_metrics):
    m = recorded_metrics("03_modelling")
    if m["is_demo"]:
        pytest.skip("modelling chapter ran on demo data")
    assert m["n_test_customers"] == 5026
    # the chapter's XGBoost also learns from the 10,000 Test customers (answers unknown)
    assert m["n_unlabelled"] == 10000
    assert m["xgb_competition"] == pytest.approx(0.0281, abs=0.0005)
    assert m["xgb_hit3"] == pytest.approx(0.973, abs=0.005)
    assert m["xgb_hit3_non_dominant"] == pytest.approx(0.900, abs=0.01)
    assert m["xgb_ece"] < 0.01
    # each customer's top offer alone: also under the 0.01 target on split 0
    assert m["xgb_top_ece"] == pytest.approx(0.0072, abs=0.002)
    # five evaluation splits: split 0 is the chapter's model (the same fit); the mean is the
    # recorded figure the benchmark table quotes
    spread, plain = m["split_spread"], m["split_spread_plain"]
    assert [row["split_seed"] for row in spread] == [0, 1, 2, 3, 4]
    assert spread[0]["competition"] == pytest.approx(m["xgb_competition"], abs=1e-6)
    assert spread[0]["hit@3 non-dominant"] == pytest.approx(m["xgb_hit3_non_dominant"], abs=1e-6)
    assert m["split_mean"]["competition"] == pytest.approx(0.0280, abs=0.0003)
    assert m["split_mean"]["hit@3 non-dominant"] == pytest.approx(0.903, abs=0.005)
    assert (
        min(r["competition"] for r in spread)
        < m["split_mean"]["competition"]
        < max(r["competition"] for r in spread)
    )
    # the unlabelled customers lower the metric on every split, by about 0.0003 on average
    assert m["split_mean_plain"]["competition"] == pytest.approx(0.0283, abs=0.0003)
    assert all(s["competition"] < p["competition"] for s, p in zip(spread, plain, strict=True))
    assert m["unlabelled_gain"] == pytest.approx(0.0003, abs=0.00015)
    # learning curve (training customers only): its last point is split 0 without the Test
    # customers, and more customers help by about 0.0014 of the metric per doubling
    curve = m["learning_curve"]
    assert curve[-1]["n_customers"] == 20106
    assert curve[-1]["competition"] == pytest.approx(plain[0]["competition"], abs=1e-6)
    assert [p["competition"] for p in curve] == sorted(
        (p["competition"] for p in curve), reverse=True
    )
    assert m["gain_per_doubling"] == pytest.approx(0.0014, abs=0.0005)
    # the competition's test customers, by the model's own reckoning (the plain split models):
    # it scores what it expects on held-out customers, and expects about as much on Test ones
    check, mean = m["expected_check"], m["expected_check_mean"]
    assert [r["split_seed"] for r in check] == [0, 1, 2, 3, 4]
    assert [r["realised"] for r in check] == pytest.approx(
        [p["competition"] for p in plain], abs=1e-6
    )
    assert mean["expected"] == pytest.approx(mean["realised"], abs=0.0005)
    assert mean["difference"] == pytest.approx(0.0001, abs=0.0004)
    assert m["expected_on_test"] == pytest.approx(
        m["split_mean"]["competition"] + mean["difference"], abs=3e-6
    )
    # luck of the draw: about 0.0008 on a split's 5,026 held-out customers, less on the
    # 10,000 Test ones (one over the square root of the count), too little for the gap
    assert mean["chance_sd"] == pytest.approx(0.00077, abs=0.0001)
    assert mean["chance_sd_customers"] == pytest.approx(
        mean["chance_sd"] * np.sqrt(m["n_test_customers"] / 10_000), rel=0.1
    )
    spread_difference = np.std([r["difference"] for r in check], ddof=1)
    assert m["luck_band"] == pytest.approx(
        2 * np.sqrt(2 * mean["chance_sd_customers"] ** 2 + spread_difference**2), abs=3e-6
    )
    assert m["expected_on_test"] - 0.02578 > m["luck_band"]
    assert m["luck_explains_gap"] is False
    # one measure of luck, twice the standard deviation: between the five splits, and from
    # the model's probabilities for the draw of hidden products alone; the two agree
    scores = [r["competition"] for r in spread]
    assert m["split_luck"] == pytest.approx(2 * np.std(scores, ddof=1), abs=1e-6)
    assert m["luck_held_out"] == pytest.approx(2 * mean["chance_sd"], abs=3e-6)
    assert m["split_luck"] == pytest.approx(m["luck_held_out"], rel=0.25)
    # the model beats both baselines where it matters: the non-dominant products
    assert m["xgb_hit3_non_dominant"] > m["cooccurrence_hit3_non_dominant"] + 0.1
    assert m["cooccurrence_hit3_non_dominant"] > m["popularity_hit3_non_dominant"]


def test_calibration_figures(recorded_metrics):
    m = recorded_metrics("04_calibration")
    if m["is_demo"]:
        pytest.skip("calibration chapter ran on demo data")
    assert m["n_test"] == 5026
    # pooled over every (customer, product) cell, far under the 0.01 target
    assert m["ece_after"] == pytest.approx(0.0009, abs=0.0005)
    assert m["ece_after"] < m["ece_best_rule"] / 10 and m["ece_after"] < m["ece_popularity"] / 10
    # top offers only: the shipped model meets the target too, within what chance gives
    assert m["top_ece_after"] == pytest.approx(0.0072, abs=0.002)
    assert m["top_ece_target_met"] is True
    assert m["top_ece_chance_mean"] == pytest.approx(0.0098, abs=0.0015)
    assert m["top_ece_after"] <= m["top_ece_chance_high"]
    assert m["top_offer_observed"] == pytest.approx(m["top_offer_expected"], rel=0.02)
    assert m["top_offer_low"] <= m["top_offer_observed"] <= m["top_offer_high"]
    # read against chance: 2 of 20 products outside is not unusual (23%); no branch outside
    assert (m["products_within_range"], m["products_checked"]) == (18, 20)
    assert m["products_outside_p_value"] == pytest.approx(0.23, abs=0.01)
    assert (m["groups_outside_range"], m["groups_checked"]) == (0, 15)
    assert m["groups_outside_p_value"] == 1.0
    # probabilities from 0.0001 to 0.01 (log-binned reliability panel) are too low: they add
    # up to 45 hidden products and 65 were found, above the range chance allows (32 to 59)
    assert m["small_expected"] == pytest.approx(45.3, abs=3)
    assert m["small_observed"] == 65
    assert m["small_observed"] > m["small_high"]


def test_explain_and_act_chapters_check_the_model_the_modelling_chapter_reports(
    recorded_metrics,
):
    """Chapters 02 and 04 score the shipped model on the modelling chapter's first split."""
    modelling = recorded_metrics("03_modelling")
    association = recorded_metrics("02_association")
    calibration = recorded_metrics("04_calibration")
    assert calibration["n_test"] == modelling["n_test_customers"]
    assert calibration["calibration_method"] == modelling["calibration_method"]
    assert calibration["ece_after"] == pytest.approx(modelling["xgb_ece"], abs=1e-6)
    assert calibration["top_ece_after"] == pytest.approx(modelling["xgb_top_ece"], abs=1e-6)
    assert association["model_overall_hit@1"] == pytest.approx(modelling["xgb_hit1"], abs=1e-6)
    assert association["model_non_dominant_hit@3"] == pytest.approx(
        modelling["xgb_hit3_non_dominant"], abs=1e-6
    )
