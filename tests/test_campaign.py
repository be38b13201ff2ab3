"""Tests of insurereco.campaign on small hand-checked rankings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insurereco.campaign import (
    CampaignParameters,
    action_rule,
    best_depth,
    best_offers,
    budget_outcome,
    campaign_curve,
    depth_sensitivity,
    depth_table,
    expected_vs_observed,
    load_campaign_parameters,
    offer_sentence,
    plot_depth_sensitivity,
    plot_expected_vs_observed,
    plot_gain,
    plot_lift,
    plot_profit,
)
from insurereco.errors import DataValidationError

SCORE = np.array([0.1, 0.8, 0.3, 0.9, 0.6])  # ranking: 0.9, 0.8, 0.6, 0.3, 0.1
ACCEPTED = np.array([0, 0, 0, 1, 1])  # accepted: 1, 0, 1, 0, 0 in ranking order
BASE = CampaignParameters(cost_per_contact=10, value_per_sale=100)


def test_curve_hand_checked():
    curve = campaign_curve(SCORE, ACCEPTED, parameters=BASE)
    assert curve["contacted"].tolist() == [0, 1, 2, 3, 4, 5]
    assert curve["accepted"].tolist() == [0, 1, 1, 2, 2, 2]
    assert curve["profit"].tolist() == [0, 90, 80, 170, 160, 150]
    np.testing.assert_allclose(curve["expected"], [0, 0.9, 1.7, 2.3, 2.6, 2.7])
    np.testing.assert_allclose(curve["gain"], [0, 0.5, 0.5, 1, 1, 1])
    assert curve["lift"].iloc[1] == pytest.approx(1 / 0.4)
    assert curve["conversion"].iloc[3] == pytest.approx(2 / 3)
    assert np.isnan(curve["conversion"].iloc[0])
    # Gain and lift against 4 possible acceptances (e.g. another strategy's offers).
    shared = campaign_curve(SCORE, ACCEPTED, parameters=BASE, n_possible=4)
    np.testing.assert_allclose(shared["gain"], [0, 0.25, 0.25, 0.5, 0.5, 0.5])
    assert shared["lift"].iloc[1] == pytest.approx(1 / 0.8)
    with pytest.raises(DataValidationError, match="n_possible"):
        campaign_curve(SCORE, ACCEPTED, parameters=BASE, n_possible=1)


def test_best_depth_budget_and_shares():
    curve = campaign_curve(SCORE, ACCEPTED, parameters=BASE)
    best = best_depth(curve)
    assert best["contacted"] == 3 and best["profit"] == 170
    assert budget_outcome(curve, 2)["profit"] == 80
    assert budget_outcome(curve, 50)["contacted"] == 5  # capped at the customer count
    table = depth_table(curve, shares=(0.2, 0.5, 1.0))
    assert table["contacted"].tolist() == [1, 3, 5]  # ceil(0.5 * 5) = 3
    with pytest.raises(DataValidationError):
        depth_table(curve, shares=(0.0,))


def test_action_rule_hand_checked():
    rule = action_rule(SCORE, ACCEPTED, parameters=BASE)
    # threshold 10/100 = 0.1: score 0.1 is not strictly above, the other 4 are contacted.
    assert rule["threshold"] == pytest.approx(0.1)
    assert rule["contacted"] == 4 and rule["accepted"] == 2
    assert rule["profit"] == pytest.approx(160)
    costly = CampaignParameters(cost_per_contact=50, value_per_sale=100)
    rule = action_rule(SCORE, ACCEPTED, parameters=costly)
    assert rule["contacted"] == 3 and rule["profit"] == pytest.approx(50)
    # With ties, the best depth is the smallest one (1 contact, profit 50).
    best = best_depth(campaign_curve(SCORE, ACCEPTED, parameters=costly))
    assert best["contacted"] == 1 and best["profit"] == 50


def test_losing_campaign_contacts_nobody():
    expensive = CampaignParameters(cost_per_contact=200, value_per_sale=100)
    best = best_depth(campaign_curve(SCORE, ACCEPTED, parameters=expensive))
    assert best["contacted"] == 0 and best["profit"] == 0
    assert action_rule(SCORE, ACCEPTED, parameters=expensive)["contacted"] == 0


def test_random_order_is_reproducible_and_ties_are_broken_at_random():
    rng = np.random.default_rng(1)
    order = rng.random(5)
    first = campaign_curve(SCORE, ACCEPTED, parameters=BASE, order_by=order, random_state=3)
    again = campaign_curve(SCORE, ACCEPTED, parameters=BASE, order_by=order, random_state=3)
    pd.testing.assert_frame_equal(first, again)
    flat = np.zeros(200)
    accepted = np.r_[np.ones(100, dtype=int), np.zeros(100, dtype=int)]
    tied = campaign_curve(flat, accepted, parameters=BASE, random_state=0)
    # With all scores tied, the first half is not simply the first 100 rows.
    assert 30 < tied["accepted"].iloc[100] < 70


def _fixed_ranking(n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    score = rng.beta(1.2, 6, size=n)
    return score, (rng.random(n) < score).astype(int)


def test_cheaper_contacts_and_dearer_sales_mean_deeper_and_more_profitable():
    """Rerunning with cost 5 / value 200 (vs 10 / 100) contacts more and earns more."""
    score, accepted = _fixed_ranking()
    default = CampaignParameters(cost_per_contact=10, value_per_sale=100)
    generous = CampaignParameters(cost_per_contact=5, value_per_sale=200)
    best_default = best_depth(campaign_curve(score, accepted, parameters=default))
    best_generous = best_depth(campaign_curve(score, accepted, parameters=generous))
    assert best_generous["share_contacted"] > best_default["share_contacted"]
    assert best_generous["profit"] > best_default["profit"]
    rule_default = action_rule(score, accepted, parameters=default)
    rule_generous = action_rule(score, accepted, parameters=generous)
    assert rule_generous["contacted"] > rule_default["contacted"]
    # Calibrated scores: the action rule lands close to the best fixed depth.
    assert rule_default["profit"] >= 0.9 * best_default["profit"]


def test_depth_sensitivity_is_monotone():
    score, accepted = _fixed_ranking()
    table = depth_sensitivity(
        score, accepted, value_per_sale=100, ratios=(0.02, 0.05, 0.1, 0.2, 0.5)
    )
    assert table["cost_per_contact"].tolist() == pytest.approx([2, 5, 10, 20, 50])
    assert table["best_share"].is_monotonic_decreasing
    assert table["rule_share"].is_monotonic_decreasing
    assert table["best_profit"].is_monotonic_decreasing


def test_expected_vs_observed_hand_checked():
    table = expected_vs_observed([0.05, 0.15, 0.15, 0.95], [0, 1, 0, 1], bins=(0, 0.1, 0.2, 1))
    assert table["band"].tolist() == ["0.00-0.10", "0.10-0.20", "0.20-1.00"]
    assert table["customers"].tolist() == [1, 2, 1]
    np.testing.assert_allclose(table["expected"], [0.05, 0.30, 0.95])
    assert table["observed"].tolist() == [0, 1, 1]
    assert table.loc[1, "high"] == pytest.approx(0.3 + 2 * np.sqrt(2 * 0.15 * 0.85))
    assert table.loc[1, "low"] == 0  # clipped at zero
    by_group = expected_vs_observed(
        [0.05, 0.15, 0.15, 0.95], [0, 1, 0, 1], groups=["b", "a", "b", "a"]
    )
    assert by_group["band"].tolist() == ["a", "b"]
    np.testing.assert_allclose(by_group["expected"], [1.10, 0.20])
    assert by_group["observed"].tolist() == [2, 0]


def test_best_offers_picks_top_product_and_scores_acceptance():
    proba = pd.DataFrame(
        {"A": [0.7, 0.0, 0.2], "B": [0.3, 0.4, 0.2], "C": [0.0, 0.6, 0.6]},
        index=pd.Index(["x", "y", "z"], name="ID"),
    )
    offers = best_offers(proba, pd.Series(["A", "B", "C"]))
    assert offers["product"].tolist() == ["A", "C", "C"]
    np.testing.assert_allclose(offers["score"], [0.7, 0.6, 0.6])
    assert offers["accepted"].tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    ("score", "accepted"),
    [([0.1, np.nan], [0, 1]), ([0.1, 0.2], [0, 2]), ([0.1], [0, 1])],
)
def test_bad_inputs_raise(score, accepted):
    with pytest.raises(DataValidationError):
        campaign_curve(score, accepted, parameters=BASE)


def test_parameters_from_rules_and_overrides():
    params = load_campaign_parameters()
    assert params.cost_per_contact > 0 and params.value_per_sale > 0
    override = load_campaign_parameters(cost_per_contact=5, value_per_sale=200)
    assert (override.cost_per_contact, override.value_per_sale) == (5, 200)
    assert override.break_even == pytest.approx(0.025)
    with pytest.raises(DataValidationError):
        CampaignParameters(cost_per_contact=-1, value_per_sale=100)
    with pytest.raises(DataValidationError):
        CampaignParameters(cost_per_contact=1, value_per_sale=0)


def test_plot_helpers_return_ax():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    score, accepted = _fixed_ranking(300)
    curves = {"model": campaign_curve(score, accepted, parameters=BASE)}
    rule = action_rule(score, accepted, parameters=BASE)
    table = depth_sensitivity(score, accepted, value_per_sale=100, ratios=(0.05, 0.1))
    fig, axes = plt.subplots(1, 5)
    assert plot_gain(curves, ax=axes[0]) is axes[0]
    assert plot_lift(curves, ax=axes[1]) is axes[1]
    assert plot_profit(curves, ax=axes[2], rule=rule) is axes[2]
    assert plot_expected_vs_observed(expected_vs_observed(score, accepted), ax=axes[3]) is axes[3]
    assert plot_depth_sensitivity(table, ax=axes[4]) is axes[4]
    plt.close(fig)


def test_offer_sentence():
    sentence = offer_sentence("QBOL", 0.344, "holds RVSZ and K6QO; aged 35-44")
    assert sentence == (
        "Offer QBOL (34% chance): holds RVSZ and K6QO; aged 35-44; "
        "similar customers often also hold QBOL."
    )
    assert offer_sentence("PYUQ", 0.5, "") == (
        "Offer PYUQ (50% chance): similar customers often also hold PYUQ."
    )


def test_campaign_chapter_figures(recorded_metrics):
    m = recorded_metrics("06_campaign")
    if m["is_demo"]:
        pytest.skip("campaign chapter ran on demo data")
    assert m["n_customers"] == 5026
    assert (m["cost_per_contact"], m["value_per_sale"]) == (10, 100)
    assert 0.2 < m["best_share"] < 0.5
    # The action rule earns within 2% of the best depth found in hindsight.
    assert m["rule_profit"] >= 0.98 * m["best_profit"] > 0
    # Calibration pays: expected and realised acceptances agree within 5%.
    assert m["rule_accepted"] == pytest.approx(m["rule_expected"], rel=0.05)
    gain = m["gain_at_20pct"]
    assert gain["model"] > 2 * gain["random"] and gain["model"] > 2 * gain["popularity"]
    assert m["budget_profit"]["model"] > m["budget_profit"]["random"]
    shares = list(m["sensitivity_best_share"].values())
    assert shares == sorted(shares, reverse=True)


@pytest.mark.notebooks
def test_campaign_notebook_responds_to_business_parameters(tmp_path):
    """Rerunning the campaign chapter with cost 5 / value 200 contacts deeper and earns more."""
    import json

    from insurereco.notebooks import execute_notebook

    results = {}
    for label, cost, value in (("default", 10, 100), ("cheap", 5, 200)):
        folder = tmp_path / label
        folder.mkdir()
        params = {"COST_PER_CONTACT": cost, "VALUE_PER_SALE": value, "METRICS_DIR": str(folder)}
        execute_notebook("06_campaign", profile="smoke", output_dir=folder, parameters=params)
        results[label] = json.loads((folder / "06_campaign.json").read_text())
    default, cheap = results["default"], results["cheap"]
    assert cheap["best_share"] > default["best_share"]
    assert cheap["rule_contacts"] > default["rule_contacts"]
    assert cheap["best_profit"] > default["best_profit"]
