"""Why a product is recommended: SHAP contributions and reasons in words.

:func:`contributions` returns, for each customer and a chosen product (by default
the top recommendation), the TreeSHAP contribution of every feature to the
model's score for that product (xgboost ``pred_contribs=True``, log-odds scale of
the softmax class). :func:`reasons` turns the largest positive contributions into
short phrases such as "holds RVSZ and K6QO", "joined 2 years ago", "branch 748L"
or "aged 35-44". Both work in chunks, so a whole customer file is explained in
bounded memory.

Only :class:`~insurereco.models.XGBoostRecommender` has contributions.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import xgboost as xgb

from insurereco.contract import ID_COLUMN
from insurereco.features import OTHER
from insurereco.reporting import threads

__all__ = [
    "AGE_BANDS",
    "BIAS",
    "contributions",
    "describe_feature",
    "reasons",
    "reasons_from_contributions",
    "top_product",
]

#: Column of :func:`contributions` holding the expected score (SHAP base value).
BIAS = "bias"

#: Upper bounds (exclusive) and labels of the age bands used in phrases.
AGE_BANDS: tuple[tuple[float, str], ...] = (
    (25, "aged under 25"),
    (35, "aged 25-34"),
    (45, "aged 35-44"),
    (55, "aged 45-54"),
    (65, "aged 55-64"),
    (np.inf, "aged 65 or more"),
)

_PROFILE_LABELS = {
    "marital_status": "marital status",
    "branch_code": "branch",
    "occupation_code": "occupation",
    "occupation_category_code": "occupation group",
}


def _check_model(model) -> None:
    if not hasattr(model, "booster_"):
        raise TypeError(
            f"{type(model).__name__} has no feature contributions; use a fitted XGBoostRecommender"
        )


def top_product(model, portfolio: pd.DataFrame) -> np.ndarray:
    """Code of the top recommended (most probable non-held) product of each customer."""
    proba = model.predict_proba(portfolio)
    return proba.columns.to_numpy()[proba.to_numpy().argmax(axis=1)]


def _class_index(model, products, n: int) -> np.ndarray:
    """Class indices (n, r) for ``products`` given per row as (n,) or (n, r) codes."""
    codes = np.asarray(products, dtype=object)
    codes = codes.reshape(n, -1)
    index = pd.Index(model.products).get_indexer(codes.ravel()).reshape(codes.shape)
    if (index < 0).any():
        raise ValueError(f"unknown product(s) {sorted(set(codes[index < 0]))[:3]}")
    return index


def _chunks(
    model, portfolio: pd.DataFrame, chunk_size: int, approximate: bool = False
) -> Iterator[tuple[slice, pd.DataFrame, np.ndarray]]:
    """Yield (row slice, feature frame, contributions (n, classes, features + 1)) per chunk."""
    for start in range(0, len(portfolio), chunk_size):
        chunk = portfolio.iloc[start : start + chunk_size]
        features = model.features_.transform(chunk)
        dmatrix = xgb.DMatrix(features, enable_categorical=True, nthread=threads(model.n_jobs))
        contribs = model.booster_.predict(
            dmatrix,
            pred_contribs=True,
            approx_contribs=approximate,
            iteration_range=(0, model.best_iteration_ + 1),
        )
        yield slice(start, start + len(chunk)), features, contribs


def contributions(
    model,
    portfolio: pd.DataFrame,
    *,
    products=None,
    chunk_size: int = 20_000,
    approximate: bool = False,
) -> pd.DataFrame:
    """SHAP contribution of each feature to the score of one product per customer.

    Parameters
    ----------
    model : XGBoostRecommender
        Fitted model.
    portfolio : DataFrame
        Customers (masked portfolios, one row each).
    products : array-like of str, optional
        Product to explain for each customer; default the top recommendation.
    chunk_size : int, default 20_000
        Customers explained at once.
    approximate : bool, default False
        Use xgboost's fast path attribution (``approx_contribs``: each tree's gain
        along the decision path, Saabas' method) instead of exact TreeSHAP. About
        ten times faster; same additivity, slightly different split of credit.

    Returns
    -------
    DataFrame
        Index ``ID``; ``product``, one column per feature and ``bias``. Each row sums
        (over features and bias) to the model's raw score for that product.
    """
    _check_model(model)
    if products is None:
        products = top_product(model, portfolio)
    index = _class_index(model, products, len(portfolio))[:, 0]
    names = [*model.feature_names_, BIAS]
    out = np.empty((len(portfolio), len(names)), dtype="float32")
    for rows, _, contribs in _chunks(model, portfolio, chunk_size, approximate):
        out[rows] = contribs[np.arange(rows.stop - rows.start), index[rows]]
    frame = pd.DataFrame(out, columns=names, index=pd.Index(portfolio[ID_COLUMN], name=ID_COLUMN))
    frame.insert(0, "product", np.asarray(model.products)[index])
    return frame


def _age_phrase(age: float) -> str:
    if np.isnan(age):
        return "age unknown"
    return next(label for bound, label in AGE_BANDS if age < bound)


def _tenure_phrase(years: float) -> str:
    if np.isnan(years):
        return "join date unknown"
    if years < 1:
        return "joined less than a year ago"
    whole = int(years)
    return f"joined {whole} year{'s' if whole > 1 else ''} ago"


def describe_feature(name: str, value) -> str:
    """Phrase describing one feature value, e.g. ``("age", 38) -> "aged 35-44"``."""
    if name.startswith("holds_"):
        product = name.removeprefix("holds_")
        return f"holds {product}" if value == 1 else f"does not hold {product}"
    if name == "n_products":
        n = int(value)
        return f"holds {n} product{'s' if n != 1 else ''} in all"
    if name == "age":
        return _age_phrase(float(value))
    if name == "tenure_years":
        return _tenure_phrase(float(value))
    missing = value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value)
    if name == "sex":
        return "sex unknown" if missing else {"M": "male", "F": "female"}.get(value, "sex other")
    label = _PROFILE_LABELS.get(name, name)
    if missing:
        return f"{label} unknown"
    if value == OTHER:
        return f"a rare {label}"
    return f"{label} {value}"


def _join(items: list[str], word: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def reasons_from_contributions(
    contribs: pd.DataFrame, features: pd.DataFrame, *, top_n: int = 3, offered=None
) -> pd.Series:
    """Turn contributions into the ``top_n`` positive reasons per row, in words.

    Contributions of held products are merged into one reason ("holds RVSZ and
    K6QO", their sum), and likewise for products not held; other features give
    one reason each. Only positive contributions count. Not holding the offered
    product itself is true of every offer and says nothing to a CRM user, so that
    contribution is never a reason.

    Parameters
    ----------
    contribs : DataFrame
        Rows of :func:`contributions` (feature columns; others are ignored).
    features : DataFrame
        Feature values of the same rows, in the same order.
    top_n : int, default 3
    offered : array-like of str, optional
        The product explained in each row; its own "does not hold" contribution is
        dropped.

    Returns
    -------
    Series
        ``"; "``-separated reasons (empty when nothing pushes towards the product),
        index of ``contribs``.
    """
    basket = [c for c in features.columns if c.startswith("holds_")]
    others = [c for c in features.columns if c not in basket]
    values = contribs[basket].to_numpy(dtype=float)
    held = features[basket].to_numpy() == 1
    products = np.array([c.removeprefix("holds_") for c in basket])
    if offered is not None:
        own = np.asarray(offered, dtype=str)[:, None] == products[None, :]
        values = np.where(own & ~held, 0.0, values)
    positive = np.maximum(values, 0)
    groups = np.column_stack(
        [
            np.where(held, positive, 0).sum(axis=1),
            np.where(~held, positive, 0).sum(axis=1),
            contribs[others].to_numpy(dtype=float),
        ]
    )
    order = np.argsort(-groups, axis=1, kind="stable")[:, :top_n]
    out = []
    for i in range(len(groups)):
        phrases = []
        for g in order[i]:
            if groups[i, g] <= 0:
                break
            if g < 2:
                mask = (held[i] if g == 0 else ~held[i]) & (values[i] > 0)
                top = products[mask][np.argsort(-values[i][mask], kind="stable")][:3].tolist()
                phrases.append(
                    f"holds {_join(top, 'and')}" if g == 0 else f"does not hold {_join(top, 'or')}"
                )
            else:
                name = others[g - 2]
                phrases.append(describe_feature(name, features[name].iat[i]))
        out.append("; ".join(phrases))
    return pd.Series(out, index=contribs.index, name="reasons", dtype="str")


def reasons(
    model,
    portfolio: pd.DataFrame,
    *,
    products=None,
    top_n: int = 3,
    chunk_size: int = 20_000,
    approximate: bool = False,
) -> pd.DataFrame:
    """Top reasons in words for recommending products to customers.

    Parameters
    ----------
    model : XGBoostRecommender
        Fitted model.
    portfolio : DataFrame
        Customers (masked portfolios).
    products : array-like of str, shape (n,) or (n, r), optional
        Product(s) to explain per customer; default the top recommendation. With
        ``r`` columns, the contributions are computed once per chunk and reused.
    top_n : int, default 3
        Reasons per (customer, product).
    chunk_size : int, default 20_000
    approximate : bool, default False
        See :func:`contributions`.

    Returns
    -------
    DataFrame
        Index ``ID``; one column of ``"; "``-separated reasons per requested product
        (``0 .. r-1``; a single column ``reasons`` when ``products`` is 1-D or None).
    """
    _check_model(model)
    one_dimensional = products is None or np.ndim(products) == 1
    if products is None:
        products = top_product(model, portfolio)
    index = _class_index(model, products, len(portfolio))
    codes = np.asarray(products, dtype=object).reshape(index.shape)
    names = list(model.feature_names_)
    result = np.empty(index.shape, dtype=object)
    for rows, features, contribs in _chunks(model, portfolio, chunk_size, approximate):
        n = rows.stop - rows.start
        features = features.reset_index(drop=True)
        for r in range(index.shape[1]):
            picked = contribs[np.arange(n), index[rows, r], : len(names)]
            frame = pd.DataFrame(picked, columns=names)
            result[rows, r] = reasons_from_contributions(
                frame, features, top_n=top_n, offered=codes[rows, r]
            ).to_numpy()
    columns = ["reasons"] if one_dimensional else list(range(index.shape[1]))
    frame = pd.DataFrame(
        result, columns=columns, index=pd.Index(portfolio[ID_COLUMN], name=ID_COLUMN)
    )
    return frame.astype("str")
