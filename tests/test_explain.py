"""SHAP contributions and reasons in words."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from insurereco.explain import (
    BIAS,
    contributions,
    describe_feature,
    reasons,
    reasons_from_contributions,
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
    assert describe_feature("branch_code", "748L") == "branch 748L"
    assert describe_feature("sex", "F") == "female"
    assert describe_feature("occupation_code", "OTHER") == "a rare occupation"


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


def test_reasons_never_cite_not_holding_the_offered_product(setup):
    model, customers = setup
    offered = top_product(model, customers)
    words = reasons(model, customers)["reasons"].to_numpy()
    not_held = [re.findall(r"does not hold ([^;]+)", w) for w in words]
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
