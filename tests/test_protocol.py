"""Evaluation protocol: customer split, one hidden product, expansion weighted 1/n."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insurereco.contract import PRODUCTS
from insurereco.metrics import customer_scores
from insurereco.protocol import (
    HIDDEN_COLUMN,
    WEIGHT_COLUMN,
    evaluation_split,
    expand_completions,
    expand_portfolio,
    expected_score_check,
    held_matrix,
    held_out_summary,
    learning_curve,
    repeated_evaluation,
    split_customers,
)


def _tiny() -> pd.DataFrame:
    rows = {"ID": ["A", "B"], **{p: [0, 0] for p in PRODUCTS}}
    df = pd.DataFrame(rows)
    df.loc[0, ["RVSZ", "K6QO"]] = 1
    df.loc[1, ["RVSZ", "K6QO", "QBOL"]] = 1
    return df


def test_expand_gives_one_row_per_held_product_weighted_one_over_n():
    expanded = expand_portfolio(_tiny())
    assert len(expanded) == 5
    assert expanded.groupby("ID")[WEIGHT_COLUMN].sum().tolist() == pytest.approx([1.0, 1.0])
    assert sorted(expanded.loc[expanded.ID == "A", HIDDEN_COLUMN]) == ["K6QO", "RVSZ"]
    assert expanded.loc[expanded.ID == "B", WEIGHT_COLUMN].tolist() == pytest.approx([1 / 3] * 3)
    # the removed product is no longer in the basket, the others still are
    for _, row in expanded.iterrows():
        assert row[row[HIDDEN_COLUMN]] == 0
    assert held_matrix(expanded).sum(axis=1).tolist() == [1, 1, 2, 2, 2]


def test_expand_completions_weights_each_completion_by_its_probability():
    customers = _tiny()
    customers.loc[0, "K6QO"] = 0  # A now holds RVSZ only: one product is missing
    proba = np.zeros((2, len(PRODUCTS)))
    col = {p: i for i, p in enumerate(PRODUCTS)}
    proba[0, [col["K6QO"], col["QBOL"], col["P5DA"]]] = [0.7, 0.295, 0.005]
    proba[0, col["RVSZ"]] = 0.5  # held: never a completion, whatever the input says
    expanded = expand_completions(customers, proba, min_proba=0.01)
    # B has no probability anywhere: no completion, no row
    assert set(expanded["ID"]) == {"A"}
    # A completed with K6QO (0.7/0.995) or QBOL (0.295/0.995), each expanded into 2 examples
    assert len(expanded) == 4
    assert expanded[WEIGHT_COLUMN].sum() == pytest.approx(1.0)
    by_basket = expanded.assign(basket=[
        "+".join(p for p in PRODUCTS if row[p]) for _, row in expanded.iterrows()
    ]).set_index(["basket", HIDDEN_COLUMN])[WEIGHT_COLUMN]  # fmt: skip
    assert by_basket[("RVSZ", "K6QO")] == pytest.approx(0.7 / 0.995 / 2)
    assert by_basket[("K6QO", "RVSZ")] == pytest.approx(0.7 / 0.995 / 2)
    assert by_basket[("RVSZ", "QBOL")] == pytest.approx(0.295 / 0.995 / 2)
    assert by_basket[("QBOL", "RVSZ")] == pytest.approx(0.295 / 0.995 / 2)
    assert "P5DA" not in set(expanded[HIDDEN_COLUMN])
    assert list(expanded.columns) == [*customers.columns, HIDDEN_COLUMN, WEIGHT_COLUMN]


def test_expand_completions_refuses_bad_arguments():
    customers = _tiny()
    with pytest.raises(ValueError, match="min_proba"):
        expand_completions(customers, np.zeros((2, len(PRODUCTS))), min_proba=1.0)
    with pytest.raises(ValueError, match="shape"):
        expand_completions(customers, np.zeros((3, len(PRODUCTS))))


def test_split_is_by_customer_disjoint_and_seeded(portfolio):
    first, second = split_customers(portfolio, test_size=0.2, random_state=3)
    assert len(second) == 400
    assert set(first.ID).isdisjoint(second.ID)
    assert len(first) + len(second) == len(portfolio)
    again = split_customers(portfolio, test_size=0.2, random_state=3)[1]
    assert again.ID.tolist() == second.ID.tolist()
    assert split_customers(portfolio, random_state=4)[1].ID.tolist() != second.ID.tolist()


def test_split_refuses_duplicated_customers(portfolio):
    doubled = pd.concat([portfolio.head(10), portfolio.head(10)])
    with pytest.raises(ValueError, match="duplicated"):
        split_customers(doubled)


def test_evaluation_split_hides_exactly_one_held_product(portfolio):
    split = evaluation_split(portfolio, test_size=0.25, random_state=1)
    before = held_matrix(split.complete)
    after = held_matrix(split.masked)
    assert ((before - after).sum(axis=1) == 1).all()
    assert (after <= before).all()
    column = pd.Index(PRODUCTS).get_indexer(split.hidden)
    assert (before[np.arange(len(before)), column] == 1).all()
    assert set(split.train.ID).isdisjoint(split.masked.ID)


def test_hidden_product_is_uniform_among_held():
    df = _tiny().iloc[[1] * 3000].reset_index(drop=True)
    df["ID"] = [f"C{i}" for i in range(len(df))]
    split = evaluation_split(df, test_size=0.5, random_state=0)
    shares = split.hidden.value_counts(normalize=True)
    assert set(shares.index) == {"RVSZ", "K6QO", "QBOL"}
    assert shares.to_numpy() == pytest.approx([1 / 3] * 3, abs=0.04)


def test_learning_curve_refits_on_growing_customer_shares(portfolio):
    from insurereco.models import CooccurrenceRecommender, PopularityRecommender

    split = evaluation_split(portfolio, test_size=0.25, random_state=0)
    model = CooccurrenceRecommender()
    curve = learning_curve(model, split, fractions=(0.1, 1.0), random_state=3)
    assert curve["n_customers"].tolist() == [round(0.1 * len(split.train)), len(split.train)]
    assert not hasattr(model, "prior_")  # the model passed in is left untouched
    full = model.fit(split.train).predict_proba(split.masked)
    scores = customer_scores(full, held_matrix(split.masked), split.hidden)
    assert curve["competition"].iloc[-1] == pytest.approx(scores["competition"].mean())
    assert curve["hit@3"].between(0, 1).all()
    # the basket model learns from data: a tenth of the customers does worse than all of them
    assert curve["log_loss"].iloc[0] > curve["log_loss"].iloc[-1]
    flat = learning_curve(PopularityRecommender(), split, fractions=(0.5,))
    assert len(flat) == 1
    with pytest.raises(ValueError, match="fractions"):
        learning_curve(model, split, fractions=(0.0,))


def test_repeated_evaluation_scores_one_fresh_fit_per_split_seed(portfolio):
    from insurereco.metrics import dominant_products
    from insurereco.models import CooccurrenceRecommender, XGBoostRecommender

    model = CooccurrenceRecommender()
    table = repeated_evaluation(model, portfolio, n_repeats=3, test_size=0.25, random_state=4)
    assert table.index.tolist() == [4, 5, 6]
    assert table.columns.tolist() == ["competition", "hit@3", "hit@3 non-dominant", "log_loss"]
    assert not hasattr(model, "prior_")  # the model passed in is left untouched
    # each row is a one-split evaluation with that seed
    split = evaluation_split(portfolio, test_size=0.25, random_state=5)
    scores = customer_scores(
        model.fit(split.train).predict_proba(split.masked), held_matrix(split.masked), split.hidden
    )
    non_dominant = ~split.hidden.isin(dominant_products(split.train, PRODUCTS)).to_numpy()
    assert table.loc[5, "competition"] == pytest.approx(scores["competition"].mean())
    assert table.loc[5, "hit@3 non-dominant"] == pytest.approx(scores["hit@3"][non_dominant].mean())
    # different splits give different figures: the point of repeating
    assert table["competition"].nunique() == 3
    # a model with a seed gets the split's seed
    xgb = XGBoostRecommender(n_estimators=5, random_state=0)
    again = repeated_evaluation(xgb, portfolio, n_repeats=1, test_size=0.25, random_state=5)
    split_model = XGBoostRecommender(n_estimators=5, random_state=5).fit(split.train)
    expected = customer_scores(
        split_model.predict_proba(split.masked), held_matrix(split.masked), split.hidden
    )
    assert again.loc[5, "log_loss"] == pytest.approx(expected["log_loss"].mean())
    with pytest.raises(ValueError, match="n_repeats"):
        repeated_evaluation(model, portfolio, n_repeats=0)
    with pytest.raises(ValueError, match="n_jobs"):
        repeated_evaluation(model, portfolio, n_repeats=1, n_jobs=0)


def test_splits_fitted_in_parallel_give_the_same_table(portfolio):
    from insurereco.models import XGBoostRecommender

    model = XGBoostRecommender(n_estimators=5, n_jobs=1, random_state=0)
    options = {"n_repeats": 2, "test_size": 0.25, "random_state": 3}
    one_by_one = repeated_evaluation(model, portfolio, **options)
    together = repeated_evaluation(model, portfolio, n_jobs=2, **options)
    pd.testing.assert_frame_equal(one_by_one, together)


def test_repeated_evaluation_and_learning_curve_pass_unlabelled_customers(portfolio):
    from insurereco.models import XGBoostRecommender
    from insurereco.synthetic import make_portfolio, mask_one_product

    others = make_portfolio(300, random_state=9).assign(ID=lambda d: "U" + d["ID"])
    unlabelled, _ = mask_one_product(others, random_state=9)
    model = XGBoostRecommender(n_estimators=5, n_jobs=1, random_state=2)
    table = repeated_evaluation(
        model, portfolio, n_repeats=1, unlabelled=unlabelled, random_state=2
    )
    split = evaluation_split(portfolio, random_state=2)
    fitted = XGBoostRecommender(n_estimators=5, n_jobs=1, random_state=2).fit(
        split.train, unlabelled=unlabelled
    )
    expected = held_out_summary(fitted.predict_proba(split.masked), split)
    assert table.loc[2, "competition"] == pytest.approx(expected["competition"])
    calls = []

    def recording_fit(model, portfolio, *, unlabelled=None):
        calls.append((len(portfolio), unlabelled is not None))
        return model.fit(portfolio, unlabelled=unlabelled)

    curve = learning_curve(model, split, fractions=(1.0,), unlabelled=unlabelled, fit=recording_fit)
    assert curve.loc[0, "competition"] == pytest.approx(expected["competition"])
    assert calls == [(len(split.train), True)]
    plain = repeated_evaluation(model, portfolio, n_repeats=1, random_state=2)
    assert plain.loc[2, "competition"] != pytest.approx(expected["competition"])
    # evaluated customers can never be given as unlabelled ones
    with pytest.raises(ValueError, match="also evaluated or training"):
        repeated_evaluation(model, portfolio, n_repeats=1, unlabelled=split.masked)
    with pytest.raises(ValueError, match="also evaluated or training"):
        learning_curve(model, split, unlabelled=split.masked.head(3))
    with pytest.raises(ValueError, match="also evaluated or training"):
        learning_curve(model, split, unlabelled=split.train.head(3))


def test_held_out_summary_means_per_customer_scores(portfolio):
    from insurereco.models import CooccurrenceRecommender

    split = evaluation_split(portfolio, test_size=0.25, random_state=1)
    proba = CooccurrenceRecommender().fit(split.train).predict_proba(split.masked)
    summary = held_out_summary(proba, split)
    scores = customer_scores(proba, held_matrix(split.masked), split.hidden)
    assert summary["competition"] == pytest.approx(scores["competition"].mean())
    assert summary["log_loss"] == pytest.approx(scores["log_loss"].mean())
    # non-dominant: customers whose hidden product is neither of the two most held
    assert summary["hit@3 non-dominant"] == pytest.approx(
        scores["hit@3"][~split.hidden.isin(["RVSZ", "K6QO"]).to_numpy()].mean()
    )
    # an array in product order gives the same figures as the frame
    assert held_out_summary(proba.to_numpy(), split) == pytest.approx(summary)


def test_expected_score_check_compares_other_customers_with_held_out_ones(portfolio):
    from insurereco.metrics import competition_score_sd, expected_competition_score
    from insurereco.models import CooccurrenceRecommender
    from insurereco.synthetic import make_portfolio, mask_one_product

    others = make_portfolio(400, random_state=9).assign(ID=lambda d: "U" + d["ID"])
    customers, _ = mask_one_product(others, random_state=9)
    model = CooccurrenceRecommender()
    table = expected_score_check(model, portfolio, customers, n_repeats=2, random_state=3)
    assert table.index.tolist() == [3, 4]
    assert table.columns.tolist() == [
        "realised",
        "expected",
        "expected_customers",
        "chance_sd",
        "chance_sd_customers",
        "difference",
    ]
    # split 4 by hand: the realised figure is repeated_evaluation's, the others expectations
    split = evaluation_split(portfolio, random_state=4)
    fitted = CooccurrenceRecommender().fit(split.train)
    row = table.loc[4]
    assert row["realised"] == pytest.approx(
        repeated_evaluation(model, portfolio, n_repeats=1, random_state=4).loc[4, "competition"]
    )
    expected = expected_competition_score(fitted.predict_proba(split.masked)).mean()
    assert row["expected"] == pytest.approx(expected)
    assert row["expected_customers"] == pytest.approx(
        expected_competition_score(fitted.predict_proba(customers)).mean()
    )
    assert row["difference"] == pytest.approx(row["expected_customers"] - expected)
    assert row["chance_sd"] == pytest.approx(
        competition_score_sd(fitted.predict_proba(split.masked))
    )
    assert row["chance_sd_customers"] == pytest.approx(
        competition_score_sd(fitted.predict_proba(customers))
    )
    # customers drawn like the portfolio's are about as hard as held-out ones
    assert abs(table["difference"].mean()) < 0.2 * table["expected"].mean()
    # fits never see the customers; labelled customers and empty files are refused
    calls = []

    def recording_fit(model, portfolio, *, unlabelled=None):
        calls.append(unlabelled)
        return model.fit(portfolio)

    expected_score_check(model, portfolio, customers, n_repeats=1, fit=recording_fit)
    assert calls == [None]
    with pytest.raises(ValueError, match="also labelled customers"):
        expected_score_check(model, portfolio, portfolio.head(3), n_repeats=1)
    with pytest.raises(ValueError, match="no customer"):
        expected_score_check(model, portfolio, customers.head(0), n_repeats=1)
    with pytest.raises(ValueError, match="n_repeats"):
        expected_score_check(model, portfolio, customers, n_repeats=0)
