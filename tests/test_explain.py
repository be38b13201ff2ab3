"""SHAP contributions and reasons in words."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from insurereco.explain import (
    BIAS,
    DRIVER_COLOURS,
    basket_association,
    contributions,
    describe_feature,
    feature_label,
    plot_contributions,
    plot_drivers,
    reasons,
    reasons_from_contributions,
    shared_legend,
    top_product,
)
from insurereco.models import PopularityRecommender, XGBoostRecommender
from insurereco.protocol import evaluation_split


@pytest.fixture(scope="module")
def setup(portfolio):
    split = evaluation_split(portfolio, test_size=0.25, random_state=0)
    model = XGBoostRecommender(n_estimators=30, learning_rate=0.3, max_depth=3, n_jobs=1)
    return model.fit(split.train), split.masked.head(60)


def test_contributions_add_up_to_the_margin(setup):
    model, customers = setup
    contrib = contributions(model, customers, chunk_size=25)
    assert contrib.index.tolist() == customers["ID"].tolist()
    assert (contrib["product"].to_numpy() == top_product(model, customers)).all()
    dmatrix = xgb.DMatrix(model.features_.transform(customers), enable_categorical=True)
    margin = model.booster_.predict(
        dmatrix, output_margin=True, iteration_range=(0, model.best_iteration_ + 1)
    )
    cls = pd.Index(model.products).get_indexer(contrib["product"])
    total = contrib.drop(columns="product").sum(axis=1).to_numpy()
    assert total == pytest.approx(margin[np.arange(len(cls)), cls], abs=1e-3)
    assert BIAS in contrib.columns


def test_reasons_are_words_for_each_requested_product(setup):
    model, customers = setup
    single = reasons(model, customers)
    assert single.columns.tolist() == ["reasons"]
    assert single["reasons"].str.len().gt(0).mean() > 0.9
    products = np.array([["QBOL", "PYUQ"]] * len(customers))
    double = reasons(model, customers, products=products, top_n=2, chunk_size=17)
    assert double.shape == (len(customers), 2)
    assert double[0].str.count(";").max() <= 1


def test_describe_feature_phrases():
    assert describe_feature("holds_RVSZ", 1) == "holds RVSZ"
    assert describe_feature("holds_QBOL", 0) == "does not hold QBOL"
    assert describe_feature("age", 38.0) == "aged 35-44"
    assert describe_feature("age", np.nan) == "age unknown"
    assert describe_feature("tenure_years", 2.4) == "joined 2 years ago"
    assert describe_feature("tenure_years", 0.3) == "joined less than a year ago"
    assert describe_feature("tenure_years", np.nan) == "join date unknown"
    assert describe_feature("branch_code", "748L") == "branch code 748L"
    assert describe_feature("marital_status", "U") == "marital status code U"
    assert describe_feature("occupation_category_code", "T4MS") == "occupation group code T4MS"
    assert describe_feature("occupation_code", None) == "occupation unknown"
    assert describe_feature("sex", "F") == "female"
    assert describe_feature("occupation_code", "OTHER") == "a rare occupation code"
    assert describe_feature("n_products", 1) == "holds 1 product in all"
    assert describe_feature("n_products", 0) == "holds no product yet"


def test_feature_labels():
    assert feature_label("holds_RVSZ") == "holds RVSZ"
    assert feature_label("n_products") == "number of products held"
    assert feature_label("tenure_years") == "years since joining"
    assert feature_label("marital_status") == "marital status code"
    assert feature_label("age") == "age"


def test_reasons_from_contributions_merges_basket_by_hand():
    features = pd.DataFrame(
        {"holds_RVSZ": [1.0], "holds_K6QO": [1.0], "holds_QBOL": [0.0], "age": [38.0],
         "branch_code": ["748L"]}
    )  # fmt: skip
    contrib = pd.DataFrame(
        {"holds_RVSZ": [0.8], "holds_K6QO": [0.5], "holds_QBOL": [0.1], "age": [0.2],
         "branch_code": [-0.4]}
    )  # fmt: skip
    words = reasons_from_contributions(contrib, features, top_n=3)
    assert words.iloc[0] == "holds RVSZ and K6QO; aged 35-44; does not hold QBOL"
    # offering QBOL: "does not hold QBOL" is true of every QBOL offer, so it is no reason
    offered = reasons_from_contributions(contrib, features, top_n=3, offered=["QBOL"])
    assert offered.iloc[0] == "holds RVSZ and K6QO; aged 35-44"


def test_not_holding_other_products_reads_as_what_the_model_makes_of_it():
    features = pd.DataFrame(
        {"holds_RVSZ": [1.0, 1.0], "holds_K6QO": [0.0, 0.0], "holds_ECY3": [0.0, 0.0],
         "holds_QBOL": [0.0, 0.0]}
    )  # fmt: skip
    contrib = pd.DataFrame(
        {"holds_RVSZ": [0.2, 0.2], "holds_K6QO": [0.5, 0.5], "holds_ECY3": [0.3, -0.1],
         "holds_QBOL": [0.9, 0.9]}
    )  # fmt: skip
    words = reasons_from_contributions(contrib, features, top_n=2, offered=["QBOL", "QBOL"])
    # the offer's own absence (0.9) is dropped; K6QO before ECY3; a negative one is no reason
    assert words.iloc[0] == (
        "does not hold K6QO or ECY3 (the model rates customers without them likelier to take "
        "QBOL); holds RVSZ"
    )
    assert words.iloc[1] == (
        "does not hold K6QO (the model rates customers without it likelier to take QBOL); "
        "holds RVSZ"
    )
    plain = reasons_from_contributions(contrib, features, top_n=1)
    assert plain.iloc[1] == "does not hold QBOL or K6QO"


def test_coded_reasons_read_as_one_group_favouring_the_offer_in_shap_order():
    features = pd.DataFrame(
        {"holds_RVSZ": [1.0, 1.0], "holds_QBOL": [0.0, 0.0], "age": [38.0, 38.0],
         "occupation_code": ["0OJM", "0OJM"], "marital_status": ["U", "U"]}
    )  # fmt: skip
    contrib = pd.DataFrame(
        {"holds_RVSZ": [0.6, 0.6], "holds_QBOL": [0.0, 0.0], "age": [0.1, 0.1],
         "occupation_code": [0.2, 0.5], "marital_status": [0.3, -0.2]}
    )  # fmt: skip
    words = reasons_from_contributions(contrib, features, top_n=3, offered=["QBOL", "PYUQ"])
    # the two codes weigh 0.5 together, below holding RVSZ (0.6): second, strongest code first
    assert words.iloc[0] == (
        "holds RVSZ; marital status code U and occupation code 0OJM (groups the model rates "
        "likelier to take QBOL); aged 35-44"
    )
    # a negative contribution is no reason: marital status is not said to favour PYUQ
    assert words.iloc[1] == (
        "holds RVSZ; occupation code 0OJM (a group the model rates likelier to take PYUQ); "
        "aged 35-44"
    )
    plain = reasons_from_contributions(contrib, features, top_n=2)
    assert plain.iloc[1] == "holds RVSZ; occupation code 0OJM"
    # at most two codes are named, and the reason weighs what it names (0.3 + 0.2, not 0.6)
    three = features.assign(branch_code=["748L", "748L"])
    contrib3 = contrib.assign(branch_code=[0.1, 0.1], holds_RVSZ=[0.55, 0.55])
    words = reasons_from_contributions(contrib3, three, top_n=2, offered=["QBOL", "QBOL"])
    assert words.iloc[0] == (
        "holds RVSZ; marital status code U and occupation code 0OJM (groups the model rates "
        "likelier to take QBOL)"
    )


def test_basket_association_picks_the_held_product_with_the_highest_known_lift():
    lift = pd.DataFrame(
        [[np.nan, 0.87, 1.3], [0.87, np.nan, np.nan], [1.3, np.nan, np.nan]],
        index=["RVSZ", "QBOL", "JWFN"],
        columns=["RVSZ", "QBOL", "JWFN"],
    )
    held = pd.DataFrame(
        {"RVSZ": [1, 1, 0, 1, 0], "QBOL": [0, 0, 1, 0, 0], "JWFN": [1, 0, 0, 0, 1]},
        index=list("abcde"),
    )
    found = basket_association(held, ["QBOL", "QBOL", "RVSZ", "JWFN", "QBOL"], lift)
    assert found.index.tolist() == list("abcde")
    assert found["partner"].iloc[:4].tolist() == ["RVSZ", "RVSZ", "QBOL", "RVSZ"]
    assert pd.isna(found["partner"].iloc[4])
    assert found["lift"].iloc[:4].tolist() == [0.87, 0.87, 0.87, 1.3]
    assert np.isnan(found["lift"].iloc[4])  # JWFN-QBOL is too rare to have a lift
    both = basket_association(held.iloc[:1], ["RVSZ"], lift)  # holds JWFN (1.3), RVSZ itself
    assert (both["partner"].iloc[0], both["lift"].iloc[0]) == ("JWFN", 1.3)
    with pytest.raises(ValueError, match="offers"):
        basket_association(held, ["QBOL"], lift)


def _bar_colours(ax) -> dict[str, str]:
    """Tick label -> colour of its bar, from the labelled bar groups of ``ax``."""
    import matplotlib

    labels = {round(t.get_position()[1]): t.get_text() for t in ax.get_yticklabels()}
    return {
        labels[round(bar.get_y() + bar.get_height() / 2)]: matplotlib.colors.to_hex(
            bar.get_facecolor()
        )
        for bar in ax.patches
    }


def test_plot_drivers_colours_each_kind_of_feature_and_drops_the_own_flag():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    importance = pd.Series(
        {"holds_QBOL": 0.9, "holds_RVSZ": 0.5, "holds_K6QO": 0.4, "n_products": 0.3,
         "age": 0.2, "holds_AHXO": 0.1}
    )  # fmt: skip
    direction = pd.Series({"holds_RVSZ": -0.2, "holds_K6QO": 0.3, "holds_AHXO": np.nan})
    fig, ax = plt.subplots()
    assert plot_drivers(importance, direction, offered="QBOL", ax=ax, title="QBOL") is ax
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["holds AHXO", "age", "number of products held", "holds K6QO", "holds RVSZ"]
    hexes = {k: matplotlib.colors.to_hex(c) for k, c in
             {"red": "tab:red", "blue": "tab:blue", "olive": "tab:olive",
              "purple": "tab:purple", "grey": "grey"}.items()}  # fmt: skip
    assert _bar_colours(ax) == {
        "holds AHXO": hexes["olive"],
        "age": hexes["grey"],
        "number of products held": hexes["purple"],
        "holds K6QO": hexes["red"],
        "holds RVSZ": hexes["blue"],
    }
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [label for _, label in DRIVER_COLOURS.values()]
    plt.close(fig)


def test_plot_contributions_words_the_bars_and_drops_the_own_flag():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = pd.Series({"holds_QBOL": -2.0, "holds_RVSZ": 0.6, "age": -0.3, "branch_code": 0.1})
    row = pd.Series({"holds_QBOL": 0, "holds_RVSZ": 1, "age": 38.0, "branch_code": "748L"})
    fig, ax = plt.subplots()
    assert plot_contributions(values, row, offered="QBOL", top_n=2, ax=ax) is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == ["aged 35-44", "holds RVSZ"]
    assert _bar_colours(ax) == {
        "aged 35-44": matplotlib.colors.to_hex("tab:blue"),
        "holds RVSZ": matplotlib.colors.to_hex("tab:red"),
    }
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "pushes towards the offer",
        "pushes away from the offer",
    ]
    plt.close(fig)


def test_shared_legend_lists_each_kind_once_across_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2)
    up = pd.Series({"holds_RVSZ": 0.5, "age": 0.1})
    plot_drivers(up, pd.Series({"holds_RVSZ": 0.2}), legend=False, ax=axes[0])
    plot_drivers(up, pd.Series({"holds_RVSZ": -0.2}), legend=False, ax=axes[1])
    assert axes[0].get_legend() is None
    legend = shared_legend(fig, axes)
    assert [t.get_text() for t in legend.get_texts()] == [
        DRIVER_COLOURS["up"][1],
        DRIVER_COLOURS["profile"][1],
        DRIVER_COLOURS["down"][1],
    ]
    plt.close(fig)


def test_reasons_never_cite_not_holding_the_offered_product(setup):
    model, customers = setup
    offered = top_product(model, customers)
    words = reasons(model, customers)["reasons"].to_numpy()
    not_held = [re.findall(r"does not hold ([^;(]+?)(?: \(|;|$)", w) for w in words]
    cited = [set(re.split(r", | or ", m[0])) if m else set() for m in not_held]
    assert any(cited), "the fixture should produce some 'does not hold' reasons"
    assert all(p not in c for p, c in zip(offered, cited, strict=True))


def test_only_xgboost_has_contributions(portfolio):
    with pytest.raises(TypeError, match="no feature contributions"):
        contributions(PopularityRecommender().fit(portfolio), portfolio.head(3))


def test_approximate_contributions_also_add_up(setup):
    model, customers = setup
    exact = contributions(model, customers.head(10))
    fast = contributions(model, customers.head(10), approximate=True)
    features = [c for c in exact.columns if c != "product"]
    assert fast[features].sum(axis=1).to_numpy() == pytest.approx(
        exact[features].sum(axis=1).to_numpy(), abs=1e-3
    )
