"""Why a product is recommended: SHAP contributions and reasons in words.

:func:`contributions` returns, for each customer and a chosen product (by default
the top recommendation), the TreeSHAP contribution of every feature to the
model's score for that product (xgboost ``pred_contribs=True``, log-odds scale of
the softmax class). :func:`reasons` turns the largest positive contributions into
short phrases such as "holds RVSZ and K6QO", "joined 2 years ago" or "aged 35-44";
profile fields known only by an internal code are worded as groups ("branch code
748L (a group the model rates likelier to take QBOL)"). Both work in chunks, so a
whole customer file is explained in bounded memory. :func:`basket_association`
finds, for each offer, the held product most associated with it (pairwise lift),
for the association phrase of :func:`insurereco.campaign.offer_sentence`;
:func:`plot_drivers` and :func:`plot_contributions` draw the global and
per-customer explanations.

Only :class:`~insurereco.models.XGBoostRecommender` has contributions.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import xgboost as xgb

from insurereco.contract import ID_COLUMN
from insurereco.features import OTHER
from insurereco.reporting import axes_or_new, threads

__all__ = [
    "AGE_BANDS",
    "BASKET_SIZE",
    "BIAS",
    "CODED_FIELDS",
    "CONTRIBUTION_COLOURS",
    "DRIVER_COLOURS",
    "basket_association",
    "contributions",
    "describe_feature",
    "feature_label",
    "plot_contributions",
    "plot_drivers",
    "reasons",
    "reasons_from_contributions",
    "shared_legend",
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

#: Feature counting the products held (a basket feature, like the ``holds_`` flags).
BASKET_SIZE = "n_products"

#: Profile fields known only by an internal code, and how they are named in words.
CODED_FIELDS = {
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
    """Phrase describing one feature value, e.g. ``("age", 38) -> "aged 35-44"``.

    Fields known only by an internal code (:data:`CODED_FIELDS`) say so:
    ``("occupation_code", "0OJM") -> "occupation code 0OJM"``, a code grouped as
    rare -> ``"a rare occupation code"``.
    """
    if name.startswith("holds_"):
        product = name.removeprefix("holds_")
        return f"holds {product}" if value == 1 else f"does not hold {product}"
    if name == BASKET_SIZE:
        n = int(value)
        if n == 0:
            return "holds no product yet"
        return f"holds {n} product{'s' if n != 1 else ''} in all"
    if name == "age":
        return _age_phrase(float(value))
    if name == "tenure_years":
        return _tenure_phrase(float(value))
    missing = value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value)
    if name == "sex":
        return "sex unknown" if missing else {"M": "male", "F": "female"}.get(value, "sex other")
    label = CODED_FIELDS.get(name, name)
    if missing:
        return f"{label} unknown"
    if value == OTHER:
        return f"a rare {label} code" if name in CODED_FIELDS else f"a rare {label}"
    return f"{label} code {value}" if name in CODED_FIELDS else f"{label} {value}"


def feature_label(name: str) -> str:
    """Plain name of a feature, e.g. ``"n_products" -> "number of products held"``."""
    if name.startswith("holds_"):
        return f"holds {name.removeprefix('holds_')}"
    if name == BASKET_SIZE:
        return "number of products held"
    if name == "tenure_years":
        return "years since joining"
    if name in CODED_FIELDS:
        return f"{CODED_FIELDS[name]} code"
    return name.replace("_", " ")


def _join(items: list[str], word: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def reasons_from_contributions(
    contribs: pd.DataFrame, features: pd.DataFrame, *, top_n: int = 3, offered=None
) -> pd.Series:
    """Turn contributions into the ``top_n`` positive reasons per row, in words.

    Contributions of held products are merged into one reason ("holds RVSZ and
    K6QO", their sum), and likewise for products not held and for the profile
    fields known only by an internal code (:data:`CODED_FIELDS`: "branch code 748L
    and occupation code 0OJM", the two largest, weighted by their sum); other
    features give one reason each. Reasons come in the order of their (summed)
    contributions, and only positive contributions count. A raw code cannot be
    told to a customer as it stands; with ``offered``, the coded reason says what
    its positive contribution means, e.g. "occupation code 0OJM (a group the model
    rates likelier to take QBOL)"; the products not held likewise read "does not
    hold K6QO (the model rates customers without it likelier to take QBOL)", since
    an absence alone looks like no reason to a CRM user. Not holding the offered
    product itself is true of every offer and says nothing, so that contribution is
    never a reason.

    Parameters
    ----------
    contribs : DataFrame
        Rows of :func:`contributions` (feature columns; others are ignored).
    features : DataFrame
        Feature values of the same rows, in the same order.
    top_n : int, default 3
        Most reasons per row, largest (summed) contribution first.
    offered : array-like of str, optional
        The product explained in each row; its own "does not hold" contribution is
        dropped, and the coded and not-held reasons name it.

    Returns
    -------
    Series
        ``"; "``-separated reasons (empty when nothing pushes towards the product),
        index of ``contribs``.
    """
    basket = [c for c in features.columns if c.startswith("holds_")]
    coded = [c for c in features.columns if c in CODED_FIELDS]
    others = [c for c in features.columns if c not in basket and c not in coded]
    values = contribs[basket].to_numpy(dtype=float)
    held = features[basket].to_numpy() == 1
    products = np.array([c.removeprefix("holds_") for c in basket])
    if offered is not None:
        offered = np.asarray(offered, dtype=str)
        own = offered[:, None] == products[None, :]
        values = np.where(own & ~held, 0.0, values)
    positive = np.maximum(values, 0)
    code_values = contribs[coded].to_numpy(dtype=float).reshape(len(contribs), len(coded))
    code_top = -np.sort(-np.maximum(code_values, 0), axis=1)[:, :_MAX_CODES]
    groups = np.column_stack(
        [
            np.where(held, positive, 0).sum(axis=1),
            np.where(~held, positive, 0).sum(axis=1),
            code_top.sum(axis=1),
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
                if g == 0:
                    phrase = f"holds {_join(top, 'and')}"
                else:
                    phrase = f"does not hold {_join(top, 'or')}"
                    if offered is not None:
                        them = "it" if len(top) == 1 else "them"
                        phrase += f" (the model rates customers without {them} likelier to take {offered[i]})"
                phrases.append(phrase)
            elif g == 2:
                up = np.flatnonzero(code_values[i] > 0)
                up = up[np.argsort(-code_values[i][up], kind="stable")][:_MAX_CODES]
                words = [describe_feature(coded[j], features[coded[j]].iat[i]) for j in up]
                phrase = _join(words, "and")
                if offered is not None:
                    group = "a group" if len(words) == 1 else "groups"
                    phrase += f" ({group} the model rates likelier to take {offered[i]})"
                phrases.append(phrase)
            else:
                name = others[g - 3]
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
        Customers whose SHAP contributions are computed at once (bounds memory use).
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


def basket_association(held: pd.DataFrame, offered, lift: pd.DataFrame) -> pd.DataFrame:
    """The held product most associated with each offer, and their lift.

    Parameters
    ----------
    held : DataFrame
        0/1 products held by each customer (one column per product).
    offered : array-like of str
        The product offered to each customer, same order as ``held``.
    lift : DataFrame
        Pairwise lifts, products x products (:func:`insurereco.association.lift_matrix`;
        ``NaN`` where the pair is too rare).

    Returns
    -------
    DataFrame
        Index of ``held``; ``partner`` (the held product with the highest known lift
        with the offer, missing when no held product has one) and ``lift`` (that
        lift, ``NaN`` without a partner). A lift above 1 means that customers holding
        the partner hold the offered product more often than the average customer.
    """
    offered = np.asarray(offered, dtype=object)
    if len(offered) != len(held):
        raise ValueError(f"{len(offered)} offers for {len(held)} customers")
    products = list(held.columns)
    pairs = lift.reindex(index=products, columns=pd.unique(offered)).to_numpy(dtype=float)
    column = pd.Index(pd.unique(offered)).get_indexer(offered)
    values = np.where(held.to_numpy() == 1, pairs[:, column].T, np.nan)
    known = ~np.isnan(values).all(axis=1)
    best = np.nanargmax(np.where(known[:, None], values, 0.0), axis=1)
    partner = np.where(known, np.asarray(products, dtype=object)[best], None)
    value = np.where(known, values[np.arange(len(values)), best], np.nan)
    return pd.DataFrame(
        {"partner": pd.array(partner, dtype="str"), "lift": value}, index=held.index
    )


#: Coded fields named (and summed) in one coded reason.
_MAX_CODES = 2

#: Colours and legend labels of the kinds of bars of :func:`plot_drivers`.
DRIVER_COLOURS = {
    "up": ("tab:red", "held product, pushes the offer up (among holders)"),
    "down": ("tab:blue", "held product, pushes the offer down (among holders)"),
    "unheld": ("tab:olive", "product none of these customers holds"),
    "size": ("tab:purple", "number of products held (basket)"),
    "profile": ("grey", "profile field (direction depends on the value)"),
}

#: Colours and legend labels of :func:`plot_contributions`.
CONTRIBUTION_COLOURS = {
    "for": ("tab:red", "pushes towards the offer"),
    "against": ("tab:blue", "pushes away from the offer"),
}


def _bars(ax, labels, widths, kinds, colours) -> None:
    """Horizontal bars, one labelled call per kind (so legends list each kind once)."""
    y = np.arange(len(labels))
    widths = np.asarray(widths, dtype=float)
    kinds = np.asarray(kinds, dtype=object)
    for kind, (colour, label) in colours.items():
        mine = kinds == kind
        if mine.any():
            ax.barh(y[mine], widths[mine], color=colour, label=label)
    ax.set_yticks(y, labels)


def shared_legend(fig, axes, *, ncol: int = 2):
    """One legend under ``fig`` for the labelled bars of all ``axes``, each label once.

    Parameters
    ----------
    fig : matplotlib Figure
        Figure the legend is placed on, centred at its bottom edge.
    axes : iterable of matplotlib Axes
        Axes drawn by :func:`plot_drivers` or :func:`plot_contributions`.
    ncol : int, default 2
        Columns of the legend.

    Returns
    -------
    matplotlib Legend
    """
    handles = {}
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    return fig.legend(
        list(handles.values()),
        list(handles),
        loc="lower center",
        ncol=ncol,
        frameon=False,
        bbox_to_anchor=(0.5, 0),
    )


def plot_drivers(
    importance: pd.Series,
    direction: pd.Series,
    *,
    offered: str | None = None,
    top_n: int = 8,
    legend: bool = True,
    ax=None,
    title: str | None = None,
):
    """Bars of the global drivers of one product, coloured by kind of feature.

    Parameters
    ----------
    importance : Series
        Mean absolute SHAP value of each feature (index: feature names).
    direction : Series
        Mean SHAP value of each ``holds_<X>`` feature among customers holding X
        (``NaN`` when none does); its sign colours the basket bars red (up) or blue
        (down). The number of products held is a basket feature too (purple);
        profile fields are grey (:data:`DRIVER_COLOURS`).
    offered : str, optional
        The product explained; its own ``holds_`` flag (0 for every customer who can
        be offered it) is left out.
    top_n : int, default 8
        Features shown, largest first.
    legend : bool, default True
        Draw the colour legend on ``ax`` (else use :func:`shared_legend`).
    ax : matplotlib Axes, optional
        Where to draw (a new figure when omitted).
    title : str, optional
        Title of ``ax`` (none when omitted).

    Returns
    -------
    matplotlib Axes
        Bars labelled by :func:`feature_label`, one labelled bar group per kind.
    """
    ax = axes_or_new(ax, figsize=(4, 4.5))
    if offered is not None:
        importance = importance.drop(f"holds_{offered}", errors="ignore")
    top = importance.sort_values(ascending=False, kind="stable").head(top_n)[::-1]
    kinds = []
    for name in top.index:
        if name == BASKET_SIZE:
            kinds.append("size")
        elif not name.startswith("holds_"):
            kinds.append("profile")
        elif np.isnan(direction.get(name, np.nan)):
            kinds.append("unheld")
        else:
            kinds.append("up" if direction[name] > 0 else "down")
    labels = [feature_label(name) for name in top.index]
    _bars(ax, labels, top.to_numpy(), kinds, DRIVER_COLOURS)
    ax.set_xlabel("mean |SHAP value|")
    if title is not None:
        ax.set_title(title)
    if legend:
        ax.legend(loc="lower right", fontsize=7)
    return ax


def plot_contributions(
    values: pd.Series,
    feature_values: pd.Series,
    *,
    offered: str | None = None,
    top_n: int = 6,
    legend: bool = True,
    ax=None,
    title: str | None = None,
):
    """Bars of one customer's largest SHAP values for one offer, labelled in words.

    Parameters
    ----------
    values : Series
        SHAP value of each feature for this customer and offer.
    feature_values : Series
        The customer's feature values (same names), worded by :func:`describe_feature`.
    offered : str, optional
        The product offered; its own ``holds_`` flag is left out, as in :func:`reasons`.
    top_n : int, default 6
        Features shown, largest absolute value first.
    legend : bool, default True
        Draw the colour legend on ``ax`` (else use :func:`shared_legend`).
    ax : matplotlib Axes, optional
        Where to draw (a new figure when omitted).
    title : str, optional
        Title of ``ax``, in small type (none when omitted).

    Returns
    -------
    matplotlib Axes
        Red bars push towards the offer, blue bars away (:data:`CONTRIBUTION_COLOURS`).
    """
    ax = axes_or_new(ax, figsize=(4, 4))
    values = values.astype(float)
    if offered is not None:
        values = values.drop(f"holds_{offered}", errors="ignore")
    order = values.abs().sort_values(ascending=False, kind="stable").index[:top_n]
    shown = values.reindex(order)[::-1]
    labels = [describe_feature(name, feature_values[name]) for name in shown.index]
    kinds = ["for" if v > 0 else "against" for v in shown.to_numpy()]
    _bars(ax, labels, shown.to_numpy(), kinds, CONTRIBUTION_COLOURS)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("SHAP value")
    if title is not None:
        ax.set_title(title, fontsize=9)
    if legend:
        ax.legend(loc="best", fontsize=7)
    return ax
