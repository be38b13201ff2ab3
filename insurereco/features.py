"""Features of a (masked) portfolio for the recommender.

:class:`PortfolioFeatures` turns a portfolio into one row of model features per
customer:

* ``holds_<PRODUCT>``: the 21 flags of the products still held (the basket);
* ``n_products``: basket size;
* ``age``: years between birth year and the reference date (missing stays NaN);
* ``tenure_years``: years between ``join_date`` and the reference date (missing
  ``join_date`` stays NaN: gradient boosting learns where to send it);
* ``sex``, ``marital_status``, ``branch_code``, ``occupation_code``,
  ``occupation_category_code``: pandas categoricals with the categories learnt at
  fit time. Codes are stripped and upper-cased (the stray lowercase ``'f'`` marital
  status becomes ``'F'``); codes seen fewer than ``min_category_count`` times in
  training, and codes never seen, become ``"OTHER"``; missing stays missing.
  XGBoost splits these natively, which suits the 200+ occupation codes better
  than one-hot columns and keeps one feature per variable for explanations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from insurereco.contract import PRODUCTS

__all__ = [
    "CATEGORICAL_COLUMNS",
    "OTHER",
    "PortfolioFeatures",
    "basket_feature",
]

#: Profile columns encoded as categoricals.
CATEGORICAL_COLUMNS: tuple[str, ...] = (
    "sex",
    "marital_status",
    "branch_code",
    "occupation_code",
    "occupation_category_code",
)

#: Category for rare and unseen codes.
OTHER = "OTHER"

_DAYS_PER_YEAR = 365.25


def basket_feature(product: str) -> str:
    """Name of the feature flagging that ``product`` is held (``holds_<product>``)."""
    return f"holds_{product}"


def _clean_codes(values: pd.Series) -> pd.Series:
    """Strip and upper-case codes, keeping missing values missing."""
    return values.astype("str").str.strip().str.upper().where(values.notna())


class PortfolioFeatures(TransformerMixin, BaseEstimator):
    """Encode basket and profile of each customer as model features.

    Parameters
    ----------
    min_category_count : int, default 20
        Codes seen fewer times than this in training are grouped into ``"OTHER"``.
    reference_date : str or Timestamp, optional
        Date at which age and tenure are measured. By default the latest
        ``join_date`` seen at fit time, so the features do not depend on when the
        code runs.
    products : tuple of str, default PRODUCTS
        Product columns.

    Attributes
    ----------
    categories_ : dict
        Categories kept for each categorical column.
    reference_date_ : Timestamp
    feature_names_ : list of str
    """

    def __init__(
        self,
        *,
        min_category_count: int = 20,
        reference_date: str | pd.Timestamp | None = None,
        products: tuple[str, ...] = PRODUCTS,
    ) -> None:
        self.min_category_count = min_category_count
        self.reference_date = reference_date
        self.products = products

    def fit(self, portfolio: pd.DataFrame, y=None):
        """Learn categories and the reference date from ``portfolio``."""
        self.categories_ = {}
        for column in CATEGORICAL_COLUMNS:
            counts = _clean_codes(portfolio[column]).value_counts()
            kept = sorted(counts.index[counts >= self.min_category_count])
            self.categories_[column] = [*kept, OTHER]
        if self.reference_date is not None:
            self.reference_date_ = pd.Timestamp(self.reference_date)
        else:
            latest = portfolio["join_date"].max()
            self.reference_date_ = pd.Timestamp("2020-08-01") if pd.isna(latest) else latest
        self.feature_names_ = [
            *(basket_feature(p) for p in self.products),
            "n_products",
            "age",
            "tenure_years",
            *CATEGORICAL_COLUMNS,
        ]
        return self

    def transform(self, portfolio: pd.DataFrame) -> pd.DataFrame:
        """Return the feature frame (same index as ``portfolio``)."""
        basket = portfolio.loc[:, list(self.products)].to_numpy(dtype="float32")
        features = pd.DataFrame(
            basket, columns=[basket_feature(p) for p in self.products], index=portfolio.index
        )
        features["n_products"] = basket.sum(axis=1)
        reference = self.reference_date_
        birth = pd.to_numeric(portfolio["birth_year"], errors="coerce").astype("float64")
        features["age"] = (reference.year - birth).astype("float32")
        joined = pd.to_datetime(portfolio["join_date"], errors="coerce")
        tenure = (reference - joined).dt.days / _DAYS_PER_YEAR
        features["tenure_years"] = tenure.astype("float32")
        for column in CATEGORICAL_COLUMNS:
            categories = self.categories_[column]
            codes = _clean_codes(portfolio[column])
            known = codes.isin(categories) | codes.isna()
            codes = codes.where(known, OTHER)
            features[column] = pd.Categorical(codes, categories=categories)
        return features

    def get_feature_names_out(self, input_features=None):
        """Names of the output features."""
        return np.asarray(self.feature_names_, dtype=object)
