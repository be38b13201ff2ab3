"""Tests of insurereco.association on a hand-checked basket table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insurereco.association import (
    BestRuleRecommender,
    association_rules,
    item_support,
    lift_agreement,
    lift_matrix,
    pair_effects,
    plot_lift_heatmap,
    product_matrix,
)
from insurereco.errors import DataValidationError
from insurereco.synthetic import make_portfolio

PRODUCTS = ("A", "B", "C")


@pytest.fixture
def baskets() -> pd.DataFrame:
    """10 customers: AB x4, A x1, BC x2, ABC x1, C x2.

    support A = .6, B = .7, C = .5; AB = .5, BC = .3, AC = .1, ABC = .1.
    """
    rows = [(1, 1, 0)] * 4 + [(1, 0, 0)] + [(0, 1, 1)] * 2 + [(1, 1, 1)] + [(0, 0, 1)] * 2
    frame = pd.DataFrame(rows, columns=list(PRODUCTS), dtype="int8")
    frame.insert(0, "ID", [f"C{i}" for i in range(len(frame))])
    return frame


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    return make_portfolio(1500, random_state=0)


def rule(rules: pd.DataFrame, antecedent: str, consequent: str) -> pd.Series:
    match = rules[(rules["antecedent"] == antecedent) & (rules["consequent"] == consequent)]
    assert len(match) == 1, (antecedent, consequent)
    return match.iloc[0]


def test_item_support(baskets):
    support = item_support(baskets, products=PRODUCTS)
    np.testing.assert_allclose(support.to_numpy(), [0.6, 0.7, 0.5])


def test_pair_rules_hand_checked(baskets):
    rules = association_rules(baskets, min_support=0.2, max_size=2, products=PRODUCTS)
    # A + C (support .1) is below the minimum support: only AB and BC remain, both ways.
    assert len(rules) == 4
    ab = rule(rules, "A", "B")
    assert ab["n_antecedent"] == 6 and ab["n_rule"] == 5
    assert ab["support"] == pytest.approx(0.5)
    assert ab["confidence"] == pytest.approx(5 / 6)
    assert ab["lift"] == pytest.approx((5 / 6) / 0.7)
    bc = rule(rules, "B", "C")
    assert bc["confidence"] == pytest.approx(3 / 7)
    assert bc["lift"] == pytest.approx((3 / 7) / 0.5)
    # Lift is symmetric, confidence is not.
    ba = rule(rules, "B", "A")
    assert ba["lift"] == pytest.approx(ab["lift"])
    assert ba["confidence"] == pytest.approx(5 / 7)
    # Sorted by lift, strongest first.
    assert rules["lift"].is_monotonic_decreasing


def test_triple_rules_hand_checked(baskets):
    rules = association_rules(baskets, min_support=0.1, max_size=3, products=PRODUCTS)
    triples = rules[rules["size"] == 3]
    assert len(triples) == 3
    assert rule(rules, "A + B", "C")["confidence"] == pytest.approx(1 / 5)
    assert rule(rules, "A + B", "C")["lift"] == pytest.approx(0.2 / 0.5)
    assert rule(rules, "A + C", "B")["confidence"] == pytest.approx(1.0)
    assert rule(rules, "B + C", "A")["lift"] == pytest.approx((1 / 3) / 0.6)
    # Raising the minimum support removes the triple.
    stricter = association_rules(baskets, min_support=0.15, products=PRODUCTS)
    assert (stricter["size"] == 2).all()


def test_lift_matrix(baskets):
    lift = lift_matrix(baskets, min_support=0.2, products=PRODUCTS)
    assert lift.loc["A", "B"] == pytest.approx(0.5 / (0.6 * 0.7))
    assert lift.loc["B", "A"] == pytest.approx(lift.loc["A", "B"])
    assert np.isnan(lift.loc["A", "C"])  # support .1 < .2
    assert np.isnan(np.diag(lift.to_numpy())).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda df: df.drop(columns="B"), "missing product column"),
        (lambda df: df.assign(C=df["C"] * 2), "'C' holds values other than 0/1"),
        (lambda df: df.iloc[:0], "no customers"),
    ],
)
def test_bad_portfolio_raises(baskets, change, message):
    with pytest.raises(DataValidationError, match=message):
        product_matrix(change(baskets), products=PRODUCTS)


@pytest.mark.parametrize("kwargs", [{"min_support": 0}, {"min_support": 1.5}, {"max_size": 4}])
def test_bad_options_raise(baskets, kwargs):
    with pytest.raises(DataValidationError):
        association_rules(baskets, products=PRODUCTS, **kwargs)


def test_best_rule_recommender_uses_strongest_applicable_rule(baskets):
    model = BestRuleRecommender(min_support=0.1, products=PRODUCTS).fit(baskets)
    customers = pd.DataFrame(
        {"ID": ["only_a", "a_and_c", "nothing"], "A": [1, 1, 0], "B": [0, 0, 0], "C": [0, 1, 0]}
    )
    reasons = model.explain(customers)
    # Holder of A only: A -> B (5/6) beats popularity of B (.7); A -> C (1/6) loses to .5.
    assert reasons.loc["only_a", "product"] == "B"
    assert reasons.loc["only_a", "confidence"] == pytest.approx(5 / 6)
    assert reasons.loc["only_a", "antecedent"] == "A"
    # Holder of A and C: the triple rule A + C -> B has confidence 1.
    assert reasons.loc["a_and_c", "antecedent"] == "A + C"
    assert reasons.loc["a_and_c", "confidence"] == pytest.approx(1.0)
    # No product held: popularity fallback (empty antecedent, lift 1).
    assert reasons.loc["nothing", "product"] == "B"
    assert reasons.loc["nothing", "antecedent"] == ""
    assert reasons.loc["nothing", "lift"] == 1.0
    proba = model.predict_proba(customers)
    assert list(proba.columns) == list(PRODUCTS)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba.loc["only_a", "A"] == 0.0  # held products are never offered
    assert proba.loc["only_a", "B"] == pytest.approx((5 / 6) / (5 / 6 + 0.5))


def test_best_rule_recommender_requires_fit(baskets):
    with pytest.raises(DataValidationError, match="fit"):
        BestRuleRecommender(products=PRODUCTS).predict_proba(baskets)


def test_synthetic_portfolio_bundle_has_high_lift(synthetic):
    rules = association_rules(synthetic, min_support=0.01)
    top = rule(rules, "JZ9D", "J9JW")
    assert top["lift"] > 3  # the synthetic JZ9D + J9JW bundle
    model = BestRuleRecommender(min_support=0.01).fit(synthetic)
    proba = model.predict_proba(synthetic)
    held = synthetic[list(proba.columns)].to_numpy().astype(bool)
    assert (proba.to_numpy()[held] == 0).all()


def test_plot_lift_heatmap_returns_ax(baskets):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    out = plot_lift_heatmap(lift_matrix(baskets, products=PRODUCTS).fillna(1.0), ax=ax)
    assert out is ax
    plt.close(fig)


def test_pair_effects_and_lift_agreement(baskets):
    contribs = pd.DataFrame(
        {
            "product": ["B", "B", "C", "C"],
            "holds_A": [0.4, 0.2, 0.3, 0.0],
            "holds_B": [0.0, 0.0, -0.5, 0.0],
            "holds_C": [0.0, 0.0, 0.0, 0.0],
        }
    )
    held = pd.DataFrame({"A": [1, 1, 1, 0], "B": [0, 0, 1, 0], "C": [0, 0, 0, 0]})
    effects = pair_effects(contribs, held)
    assert effects[["held_product", "product", "customers"]].values.tolist() == [
        ["A", "B", 2],
        ["A", "C", 1],
        ["B", "C", 1],
    ]
    np.testing.assert_allclose(effects["mean_effect"], [0.3, 0.3, -0.5])
    lift = lift_matrix(baskets, min_support=0.2, products=PRODUCTS)
    checked = lift_agreement(effects, lift)
    # A -> B: effect up, lift 1.19 > 1: agree. A -> C: lift NaN (support .1): unknown.
    # B -> C: effect down, lift 0.86 < 1: agree.
    assert checked["agrees"].tolist() == [True, pd.NA, True]
    with pytest.raises(DataValidationError):
        pair_effects(contribs, held.iloc[:2])


def test_association_chapter_figures(recorded_metrics):
    m = recorded_metrics("02_association")
    if m["is_demo"]:
        pytest.skip("association chapter ran on demo data")
    assert m["n_customers"] == 25132
    assert m["n_rules"] == m["n_pairs"] + m["n_triples"] > 100
    assert m["top_pair_lift"] > 10 and m["top_pair_support"] >= 0.01
    # The best rule beats popularity but not the model, most clearly off the dominant products.
    for subset in ("overall", "non_dominant"):
        rule, model = m[f"best_rule_{subset}_hit@1"], m[f"model_{subset}_hit@1"]
        assert m[f"popularity_{subset}_hit@1"] < rule < model
    assert m["model_overall_hit@1"] == pytest.approx(0.89, abs=0.02)
    assert m["model_non_dominant_hit@1"] - m["best_rule_non_dominant_hit@1"] > 0.2
