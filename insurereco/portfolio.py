"""Descriptive analysis of a product portfolio: holding rates, baskets, co-holding,
profiles by product and data-quality notes. Plot helpers take ``ax`` and return it.
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from insurereco.contract import PRODUCTS, STANDARD_MARITAL_CODES

__all__ = [
    "basket_label",
    "basket_sizes",
    "coholding_matrix",
    "data_quality",
    "holding_rates",
    "plot_basket_sizes",
    "plot_coholding",
    "plot_holding_rates",
    "plot_profile_by_product",
    "profile_by_product",
    "strongest_pairs",
    "top_baskets",
]


def _flags(portfolio: pd.DataFrame) -> pd.DataFrame:
    return portfolio.loc[:, list(PRODUCTS)]


def holding_rates(portfolio: pd.DataFrame) -> pd.DataFrame:
    """Holders and share of customers per product, most held first.

    Returns
    -------
    DataFrame
        Index ``product``; columns ``holders`` (int) and ``rate`` (share of customers).
    """
    flags = _flags(portfolio)
    table = pd.DataFrame({"holders": flags.sum().astype(int), "rate": flags.mean()})
    table.index.name = "product"
    return table.sort_values(["holders", "rate"], ascending=False)


def basket_sizes(portfolio: pd.DataFrame) -> pd.Series:
    """Number of customers by number of products held (index: basket size)."""
    sizes = _flags(portfolio).sum(axis=1).value_counts().sort_index()
    sizes.index.name = "products held"
    return sizes.rename("customers")


def basket_label(flags: pd.DataFrame) -> pd.Series:
    """One readable label per row such as ``"K6QO + RVSZ"`` (products sorted by name)."""
    names = np.array(flags.columns)
    return pd.Series(
        [" + ".join(sorted(names[row.astype(bool)])) for row in flags.to_numpy()],
        index=flags.index,
        name="basket",
    )


def top_baskets(portfolio: pd.DataFrame, *, n: int = 10) -> pd.DataFrame:
    """The ``n`` most common exact baskets with their count and share of customers."""
    labels = basket_label(_flags(portfolio))
    counts = labels.value_counts().head(n)
    return pd.DataFrame(
        {"customers": counts.astype(int), "share": counts / len(labels)}
    ).rename_axis("basket")


def coholding_matrix(portfolio: pd.DataFrame, *, normalize: str = "row") -> pd.DataFrame:
    """Co-holding between products.

    Parameters
    ----------
    portfolio : DataFrame
        One row per customer with a 0/1 column per product of
        :data:`insurereco.contract.PRODUCTS`.
    normalize : {"row", "count"}, default "row"
        ``"count"``: number of customers holding both products (diagonal = holders).
        ``"row"``: P(column held | row held), i.e. the confidence of the rule row -> column.

    Returns
    -------
    DataFrame
        Products x products, ordered by popularity.
    """
    order = holding_rates(portfolio).index
    flags = _flags(portfolio)[order].to_numpy(dtype=float)
    counts = pd.DataFrame(flags.T @ flags, index=order, columns=order)
    if normalize == "count":
        return counts.astype(int)
    if normalize != "row":
        raise ValueError(f"normalize must be 'row' or 'count', got {normalize!r}")
    holders = np.diag(counts.to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts.div(np.where(holders > 0, holders, np.nan), axis=0)


def strongest_pairs(
    portfolio: pd.DataFrame, *, min_holders: int = 100, n: int = 10
) -> pd.DataFrame:
    """The ``n`` product pairs with the highest co-holding confidence P(B | A).

    Only antecedents A held by at least ``min_holders`` customers are considered.

    Returns
    -------
    DataFrame
        Columns ``holders of`` (A), ``also hold`` (B), ``customers`` (holding both) and
        ``confidence``.
    """
    confidence = coholding_matrix(portfolio, normalize="row")
    counts = coholding_matrix(portfolio, normalize="count")
    holders = pd.Series(np.diag(counts), index=counts.index)
    keep = holders[holders >= min_holders].index
    table = (
        pd.DataFrame(
            {
                "customers": counts.loc[keep].stack(),
                "confidence": confidence.loc[keep].stack(),
            }
        )
        .rename_axis(["holders of", "also hold"])
        .reset_index()
    )
    table = table[table["holders of"] != table["also hold"]]
    return table.sort_values("confidence", ascending=False, kind="stable").head(n)


def profile_by_product(
    portfolio: pd.DataFrame,
    column: str,
    *,
    products: list[str] | None = None,
    reference: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Distribution of a profile field among the holders of each product.

    Parameters
    ----------
    portfolio : DataFrame
        One row per customer with a 0/1 column per product and the profile fields.
    column : str
        A profile field; ``"age"`` and ``"tenure_years"`` are derived from ``birth_year``
        and ``join_date`` at ``reference`` (default: the latest join date).
    products : list of str, optional
        Products to include (default: all held by at least one customer).
    reference : Timestamp, optional
        Date at which ``"age"`` (by calendar year) and ``"tenure_years"`` are computed;
        default: the latest ``join_date``.

    Returns
    -------
    DataFrame
        Long table with columns ``product`` and ``column`` (one row per holder).
    """
    values = _profile_values(portfolio, column, reference=reference)
    products = products or [p for p in PRODUCTS if portfolio[p].any()]
    parts = [
        pd.DataFrame({"product": product, column: values[portfolio[product] == 1]})
        for product in products
    ]
    return pd.concat(parts, ignore_index=True)


def _profile_values(
    portfolio: pd.DataFrame, column: str, *, reference: pd.Timestamp | None
) -> pd.Series:
    """A profile column, or a derived one (``age``, ``tenure_years``)."""
    reference = reference or portfolio["join_date"].max()
    if column == "age":
        return (reference.year - portfolio["birth_year"]).astype("Float64")
    if column == "tenure_years":
        return (reference - portfolio["join_date"]).dt.days / 365.25
    return portfolio[column]


def data_quality(portfolio: pd.DataFrame, *, reference_year: int | None = None) -> pd.DataFrame:
    """Data-quality notes: missing values, stray codes, implausible ages, empty baskets.

    Returns
    -------
    DataFrame
        One row per check with columns ``check``, ``rows`` and ``note``.
    """
    reference_year = reference_year or int(portfolio["join_date"].max().year)
    age = reference_year - portfolio["birth_year"]
    marital = portfolio["marital_status"]
    sizes = _flags(portfolio).sum(axis=1)
    checks = [
        ("missing join_date", portfolio["join_date"].isna().sum(), "tenure unknown"),
        ("missing birth_year", portfolio["birth_year"].isna().sum(), "age unknown"),
        (
            f"marital status not in {'/'.join(STANDARD_MARITAL_CODES)}",
            (~marital.isin(STANDARD_MARITAL_CODES) & marital.notna()).sum(),
            "stray codes such as 'f'/'F'; kept as their own category",
        ),
        ("age under 18", (age < 18).sum(), "minors or wrong birth year"),
        ("age over 90", (age > 90).sum(), "very old or wrong birth year"),
        ("holds no product", (sizes == 0).sum(), "nothing to learn from the basket"),
    ]
    table = pd.DataFrame(checks, columns=["check", "rows", "note"])
    table["rows"] = table["rows"].astype(int)
    return table


def plot_holding_rates(portfolio: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Horizontal bar chart of the share of customers holding each product."""
    ax = ax or plt.gca()
    rates = holding_rates(portfolio)
    sns.barplot(x=rates["rate"], y=rates.index, ax=ax, color="tab:blue")
    ax.set_xscale("log")
    ax.set_xlabel("share of customers holding the product (log scale)")
    ax.set_ylabel("product")
    for i, (holders, rate) in enumerate(zip(rates["holders"], rates["rate"], strict=True)):
        ax.annotate(
            f"{rate:.1%} ({holders:,})", (rate, i), xytext=(3, 0),
            textcoords="offset points", va="center", fontsize=8,
        )  # fmt: skip
    return ax


def plot_basket_sizes(portfolio: pd.DataFrame, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Bar chart of the number of customers by number of products held."""
    ax = ax or plt.gca()
    sizes = basket_sizes(portfolio)
    ax.bar(sizes.index.astype(str), sizes.to_numpy(), color="tab:blue")
    ax.set_xlabel("number of products held")
    ax.set_ylabel("customers")
    ax.set_yscale("log")
    return ax


def plot_coholding(
    portfolio: pd.DataFrame, *, min_holders: int = 50, ax: plt.Axes | None = None
) -> plt.Axes:
    """Heatmap of P(column held | row held) for products with at least ``min_holders``."""
    ax = ax or plt.gca()
    matrix = coholding_matrix(portfolio, normalize="row")
    keep = holding_rates(portfolio).query("holders >= @min_holders").index
    matrix = matrix.loc[keep, keep]
    mask = np.eye(len(keep), dtype=bool)
    sns.heatmap(
        matrix, mask=mask, cmap="Blues", vmin=0, vmax=1, annot=True, fmt=".0%",
        annot_kws={"fontsize": 6}, cbar_kws={"label": "share of row holders who also hold column"},
        ax=ax,
    )  # fmt: skip
    ax.set_xlabel("also holds")
    ax.set_ylabel("holders of")
    return ax


def plot_profile_by_product(
    portfolio: pd.DataFrame,
    column: str,
    *,
    products: list[str],
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Box plot of a numeric profile field (e.g. ``age``) among holders of each product."""
    ax = ax or plt.gca()
    long = profile_by_product(portfolio, column, products=products)
    long[column] = long[column].astype(float)
    with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib's deprecated `vert`
        warnings.simplefilter("ignore", category=DeprecationWarning)
        sns.boxplot(data=long, x=column, y="product", order=products, ax=ax, color="tab:blue",
                    fliersize=1)  # fmt: skip
    ax.set_ylabel("holders of")
    return ax
