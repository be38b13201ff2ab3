"""Portfolio features: basket flags, ages, tenure and categorical codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insurereco.contract import PRODUCTS
from insurereco.features import CATEGORICAL_COLUMNS, OTHER, PortfolioFeatures


def test_feature_columns_and_basket(portfolio):
    encoder = PortfolioFeatures().fit(portfolio)
    features = encoder.transform(portfolio)
    assert list(features.columns) == encoder.feature_names_
    assert features["n_products"].tolist() == portfolio[list(PRODUCTS)].sum(axis=1).tolist()
    assert (features["holds_RVSZ"].to_numpy() == portfolio["RVSZ"].to_numpy()).all()
    for column in CATEGORICAL_COLUMNS:
        assert isinstance(features[column].dtype, pd.CategoricalDtype)


def test_reference_date_is_latest_join_and_ages(portfolio):
    encoder = PortfolioFeatures().fit(portfolio)
    assert encoder.reference_date_ == portfolio["join_date"].max()
    features = encoder.transform(portfolio.head(5))
    expected = encoder.reference_date_.year - portfolio["birth_year"].head(5).astype(float)
    assert features["age"].to_numpy() == pytest.approx(expected.to_numpy())


def test_missing_join_date_gives_missing_tenure(portfolio):
    df = portfolio.head(4).copy()
    df.loc[df.index[0], "join_date"] = pd.NaT
    features = PortfolioFeatures(reference_date="2020-08-01").fit(portfolio).transform(df)
    assert np.isnan(features["tenure_years"].iloc[0])
    assert (features["tenure_years"].iloc[1:] >= 0).all()


def test_stray_and_unseen_codes_become_other(portfolio):
    df = portfolio.head(3).copy()
    df["marital_status"] = ["f", "m", None]
    df["branch_code"] = ["NEVERSEEN", df["branch_code"].iloc[1], None]
    features = PortfolioFeatures(min_category_count=20).fit(portfolio).transform(df)
    # lowercase 'f' is upper-cased to 'F', too rare to keep -> OTHER; 'm' -> 'M'
    assert features["marital_status"].iloc[0] == OTHER
    assert features["marital_status"].iloc[1] == "M"
    assert pd.isna(features["marital_status"].iloc[2])
    assert features["branch_code"].iloc[0] == OTHER
    assert pd.isna(features["branch_code"].iloc[2])


def test_rare_codes_grouped(portfolio):
    encoder = PortfolioFeatures(min_category_count=10_000).fit(portfolio)
    assert encoder.categories_["occupation_code"] == [OTHER]
