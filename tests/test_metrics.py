"""Recommender metrics on hand-worked examples."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from insurereco.metrics import (
    competition_log_loss,
    competition_score_sd,
    customer_scores,
    dominant_products,
    evaluate,
    expected_competition_score,
    hidden_rank,
    per_product,
    plot_hit_rates,
)

PRODUCTS3 = ["A", "B", "C"]


def _example():
    # customer 1 holds A, hidden B; customer 2 holds C, hidden B
    proba = pd.DataFrame([[0.0, 0.75, 0.25], [0.6, 0.4, 0.0]], columns=PRODUCTS3)
    held = np.array([[1, 0, 0], [0, 0, 1]])
    hidden = np.array(["B", "B"])
    return proba, held, hidden


def test_customer_scores_by_hand():
    scores = customer_scores(*_example())
    assert scores["rank"].tolist() == [1, 2]
    # customer 1: (-ln .75 - ln .75) / 3 ; customer 2: (-ln .4 - ln .4) / 3
    assert scores["competition"].to_numpy() == pytest.approx(
        [2 * -np.log(0.75) / 3, 2 * -np.log(0.4) / 3]
    )
    assert scores["mrr"].tolist() == [1.0, 0.5]
    assert scores["hit@1"].tolist() == [1.0, 0.0]
    assert scores["log_loss"].to_numpy() == pytest.approx([-np.log(0.75), -np.log(0.4)])


def test_competition_metric_matches_zindi_definition():
    proba, held, _ = _example()
    truth = np.array([[1, 1, 0], [0, 1, 1]])
    holding = np.where(held == 1, 1.0, proba.to_numpy())
    expected = (2 * -np.log(0.75) / 3 + 2 * -np.log(0.4) / 3) / 2
    assert competition_log_loss(truth, holding) == pytest.approx(expected)
    assert customer_scores(*_example())["competition"].mean() == pytest.approx(expected)


def test_ties_count_against_the_model():
    proba = np.array([[0.5, 0.5, 0.0]])
    assert hidden_rank(proba, np.array([[0, 0, 1]]), np.array(["0"])).tolist() == [2]


def test_evaluate_overall_and_non_dominant_with_intervals():
    proba, held, hidden = _example()
    hidden = np.array(["C", "A"])  # customer 1: C ranked 2nd; customer 2: A ranked 1st
    result = evaluate(proba, held, hidden, dominant=("A",), n_boot=50, random_state=0)
    overall = result.loc["overall"]
    assert overall.loc["hit@1", "value"] == pytest.approx(0.5)
    assert overall.loc["mrr", "value"] == pytest.approx(0.75)
    assert result.loc[("non_dominant", "hit@1"), "value"] == pytest.approx(0.0)
    assert result.loc[("non_dominant", "hit@1"), "n_customers"] == 1
    assert (result["ci_low"] <= result["value"] + 1e-12).all()
    assert (result["value"] <= result["ci_high"] + 1e-12).all()
    assert {"competition", "hit@3", "hit@5", "mrr", "log_loss", "ece"} <= set(overall.index)
    # top offers: B at .75 (wrong, C hidden) and A at .6 (right), in different bins
    assert overall.loc["top_ece", "value"] == pytest.approx((0.75 + 0.4) / 2)


def test_evaluate_finds_the_dominant_products_in_the_complete_portfolios():
    proba = pd.DataFrame([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]], columns=list("ABC"))
    held = np.array([[0, 0, 1], [1, 0, 0], [0, 0, 1]])
    hidden = np.array(["B", "C", "A"])  # complete: C held 3 times, A twice, B once
    found = evaluate(proba, held, hidden, dominant=None, n_boot=0)
    given = evaluate(proba, held, hidden, dominant=("C", "A"), n_boot=0)
    pd.testing.assert_frame_equal(found, given)
    assert found.loc[("non_dominant", "hit@1"), "n_customers"] == 1  # hidden B only


def test_per_product_hit_rates():
    table = per_product(*_example())
    assert table.loc["B", "n_hidden"] == 2
    assert table.loc["B", "hit@1"] == pytest.approx(0.5)
    assert np.isnan(table.loc["A", "hit@1"])
    # column B: both customers have it, p = .75 and .4
    assert table.loc["B", "competition"] == pytest.approx((-np.log(0.75) - np.log(0.4)) / 2)


def test_unknown_hidden_product_is_rejected():
    proba, held, _ = _example()
    with pytest.raises(ValueError, match="hidden products"):
        customer_scores(proba, held, np.array(["B", "Z"]))


def test_dominant_products_are_the_most_held(portfolio):
    from insurereco.contract import PRODUCTS

    assert dominant_products(portfolio, PRODUCTS) == ("RVSZ", "K6QO")


def test_expected_competition_score_by_hand():
    proba, held, _ = _example()
    # customer 1: B (0.75) then C (0.25) hidden; each time the other product costs -ln(1 - p)
    first = (0.75 * (-np.log(0.75) - np.log(0.75)) + 0.25 * (-np.log(0.25) - np.log(0.25))) / 3
    second = (0.6 * (-np.log(0.6) - np.log(0.6)) + 0.4 * (-np.log(0.4) - np.log(0.4))) / 3
    assert expected_competition_score(proba) == pytest.approx([first, second])
    # a certain answer costs nothing; a row that does not sum to one is rescaled
    assert expected_competition_score(np.array([[0.0, 1.0, 0.0]])) == pytest.approx(
        [0.0], abs=1e-12
    )
    assert expected_competition_score(2 * proba.to_numpy()) == pytest.approx([first, second])
    assert expected_competition_score(np.zeros((1, 3))) == pytest.approx([0.0], abs=1e-12)


def test_expected_competition_score_is_what_exact_probabilities_score_on_average():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.full(5, 0.5), size=4000)
    held = np.zeros_like(proba, dtype=int)
    hidden = np.array([rng.choice(5, p=row) for row in proba]).astype(str)
    realised = customer_scores(proba, held, hidden)["competition"].mean()
    assert realised == pytest.approx(expected_competition_score(proba).mean(), rel=0.03)
    # overconfident probabilities score worse than they expect
    sharp = proba**3 / (proba**3).sum(axis=1, keepdims=True)
    sharp_realised = customer_scores(sharp, held, hidden)["competition"].mean()
    assert sharp_realised > 1.2 * expected_competition_score(sharp).mean()


def test_competition_score_sd_by_hand():
    proba, _, _ = _example()
    # customer 1 scores 2 ln(4/3) / 3 with chance 0.75, 2 ln 4 / 3 with chance 0.25
    first = np.array([2 * np.log(4 / 3), 2 * np.log(4)]) / 3
    second = np.array([2 * np.log(1 / 0.6), 2 * np.log(1 / 0.4)]) / 3
    variance = np.cov(first, aweights=[0.75, 0.25], bias=True) + np.cov(
        second, aweights=[0.6, 0.4], bias=True
    )
    assert competition_score_sd(proba) == pytest.approx(np.sqrt(variance) / 2)
    # certain answers leave nothing to luck
    assert competition_score_sd(np.eye(3)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="finite, non-negative"):
        competition_score_sd(np.array([[0.5, -0.5]]))


def test_competition_score_sd_is_the_spread_of_the_realised_score_over_draws():
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.full(5, 0.5), size=300)
    held = np.zeros_like(proba, dtype=int)
    draws = [
        customer_scores(proba, held, [str(rng.choice(5, p=row)) for row in proba])[
            "competition"
        ].mean()
        for _ in range(300)
    ]
    assert np.std(draws) == pytest.approx(competition_score_sd(proba), rel=0.15)
    # four times the customers, half the spread
    assert competition_score_sd(np.tile(proba, (4, 1))) == pytest.approx(
        competition_score_sd(proba) / 2
    )


def test_expected_competition_score_refuses_bad_input():
    with pytest.raises(ValueError, match="customers x products"):
        expected_competition_score(np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="finite, non-negative"):
        expected_competition_score(np.array([[0.5, -0.5]]))
    with pytest.raises(ValueError, match="finite, non-negative"):
        expected_competition_score(np.array([[0.5, np.nan]]))


def test_plot_hit_rates_draws_each_interval_as_computed():
    # a percentile bootstrap interval may miss the point estimate (here model "b", Hit@3):
    # the plot must draw it as it is, not fail on a negative error bar
    index = pd.MultiIndex.from_product([["overall"], ["hit@1", "hit@3"]])
    results = {
        "a": pd.DataFrame(
            {"value": [0.5, 0.8], "ci_low": [0.4, 0.7], "ci_high": [0.6, 0.9]}, index=index
        ),
        "b": pd.DataFrame(
            {"value": [0.6, 0.9], "ci_low": [0.5, 0.91], "ci_high": [0.7, 0.95]}, index=index
        ),
    }
    fig, ax = plt.subplots()
    assert plot_hit_rates(results, ks=(1, 3), ax=ax) is ax
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.5, 0.8, 0.6, 0.9])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Hit@1", "Hit@3"]
    spans = sorted(
        tuple(np.round(seg[:, 1], 2)) for seg in ax.collections[0].get_segments()
    ) + sorted(tuple(np.round(seg[:, 1], 2)) for seg in ax.collections[3].get_segments())
    assert spans == [(0.4, 0.6), (0.7, 0.9), (0.5, 0.7), (0.91, 0.95)]
    assert ax.get_legend_handles_labels()[1] == ["a", "b"]
    plt.close(fig)
