"""Association analysis of product holdings: support, confidence and lift.

Customers' portfolios are baskets of products held together. This module counts
how often products are held together and turns the counts into rules
``antecedent -> consequent`` with the three classic measures:

* **support** of an itemset: share of customers holding every product in it;
* **confidence** of ``A -> B``: share of holders of ``A`` who also hold ``B``,
  ``support(A + B) / support(A)``;
* **lift** of ``A -> B``: ``confidence(A -> B) / support(B)``; above 1 the products
  go together more often than chance.

The data hold no purchase dates, so a rule says products are *compatible* (held
together), not that one is bought *after* the other.

:class:`BestRuleRecommender` scores each product for a customer with the
confidence of the strongest rule that applies to what the customer holds, so it
can be compared with the other recommenders through the same
``fit(portfolio)`` / ``predict_proba(portfolio)`` interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from insurereco.contract import ID_COLUMN, PRODUCTS
from insurereco.errors import DataValidationError
from insurereco.models import Recommender
from insurereco.reporting import axes_or_new

__all__ = [
    "RULE_COLUMNS",
    "BestRuleRecommender",
    "association_rules",
    "item_support",
    "lift_agreement",
    "lift_matrix",
    "pair_effects",
    "plot_lift_heatmap",
    "product_matrix",
]

RULE_COLUMNS = (
    "antecedent",
    "consequent",
    "size",
    "n_antecedent",
    "n_rule",
    "support",
    "confidence",
    "lift",
)


def product_matrix(
    portfolio: pd.DataFrame, *, products: Sequence[str] | None = None
) -> pd.DataFrame:
    """Return the 0/1 product-holding columns of a portfolio as an ``int8`` frame.

    Parameters
    ----------
    portfolio : pandas.DataFrame
        One row per customer with one 0/1 column per product.
    products : sequence of str, optional
        Product columns to use; defaults to :data:`insurereco.contract.PRODUCTS`.

    Returns
    -------
    pandas.DataFrame
        Same rows as ``portfolio``, one ``int8`` column per product.

    Raises
    ------
    DataValidationError
        If a product column is missing, or holds values other than 0 and 1, or
        the portfolio has no rows.
    """
    products = tuple(products) if products is not None else PRODUCTS
    missing = [p for p in products if p not in portfolio.columns]
    if missing:
        raise DataValidationError(f"portfolio: missing product column(s) {missing}")
    if len(portfolio) == 0:
        raise DataValidationError("portfolio: no customers (0 rows)")
    matrix = portfolio.loc[:, list(products)]
    values = matrix.to_numpy()
    bad = ~np.isin(values, (0, 1))
    if bad.any():
        column = products[int(np.argwhere(bad)[0][1])]
        raise DataValidationError(f"portfolio: column {column!r} holds values other than 0/1")
    return matrix.astype("int8")


def item_support(portfolio: pd.DataFrame, *, products: Sequence[str] | None = None) -> pd.Series:
    """Share of customers holding each product (its support), in product order."""
    matrix = product_matrix(portfolio, products=products)
    return matrix.mean().rename("support")


def _pair_counts(values: np.ndarray) -> np.ndarray:
    return values.T.astype(np.int64) @ values.astype(np.int64)


def association_rules(
    portfolio: pd.DataFrame,
    *,
    min_support: float = 0.001,
    max_size: int = 3,
    products: Sequence[str] | None = None,
) -> pd.DataFrame:
    """List association rules between held products, strongest lift first.

    Every itemset (pair, or triple when ``max_size=3``) held by at least
    ``min_support`` of the customers gives one rule per product in it, with
    that product as the consequent and the others as the antecedent.

    Parameters
    ----------
    portfolio : pandas.DataFrame
        One row per customer with one 0/1 column per product.
    min_support : float, default 0.001
        Smallest share of customers who must hold the whole itemset (antecedent
        and consequent) for the rule to be kept. Rare itemsets give unstable
        confidences, so this is the main guard against over-reading them.
    max_size : {2, 3}, default 3
        Largest itemset considered (2 = pairs only, 3 = pairs and triples).
    products : sequence of str, optional
        Product columns; defaults to :data:`insurereco.contract.PRODUCTS`.

    Returns
    -------
    pandas.DataFrame
        Columns ``antecedent`` (products joined with ``" + "``), ``consequent``,
        ``size`` (items in the rule), ``n_antecedent`` (holders of the
        antecedent), ``n_rule`` (holders of antecedent and consequent),
        ``support``, ``confidence`` and ``lift``; sorted by lift, then support,
        descending.

    Raises
    ------
    DataValidationError
        If ``min_support`` is not in (0, 1], ``max_size`` is not 2 or 3, or the
        portfolio is malformed.
    """
    if not 0 < min_support <= 1:
        raise DataValidationError(f"association_rules: min_support={min_support} not in (0, 1]")
    if max_size not in (2, 3):
        raise DataValidationError(f"association_rules: max_size={max_size} must be 2 or 3")
    matrix = product_matrix(portfolio, products=products)
    names = list(matrix.columns)
    values = matrix.to_numpy().astype(bool)
    n = len(values)
    single = values.sum(axis=0)
    pairs = _pair_counts(values)
    min_count = min_support * n
    rows: list[tuple] = []
    for i, j in combinations(range(len(names)), 2):
        both = int(pairs[i, j])
        if both == 0 or both < min_count:
            continue
        for a, c in ((i, j), (j, i)):
            rows.append((names[a], names[c], 2, int(single[a]), both))
        if max_size == 3:
            holders_ij = values[:, i] & values[:, j]
            triple = holders_ij.astype(np.int64) @ values.astype(np.int64)
            for k in range(j + 1, len(names)):
                count = int(triple[k])
                if count == 0 or count < min_count:
                    continue
                for c, (a1, a2) in ((k, (i, j)), (j, (i, k)), (i, (j, k))):
                    n_ante = int(pairs[a1, a2])
                    rows.append((f"{names[a1]} + {names[a2]}", names[c], 3, n_ante, count))
    rules = pd.DataFrame(rows, columns=list(RULE_COLUMNS[:5]))
    rules["n_antecedent"] = rules["n_antecedent"].astype("int64")
    rules["n_rule"] = rules["n_rule"].astype("int64")
    rules["support"] = rules["n_rule"] / n
    rules["confidence"] = rules["n_rule"] / rules["n_antecedent"]
    consequent_support = rules["consequent"].map(pd.Series(single / n, index=names))
    rules["lift"] = (rules["confidence"] / consequent_support).astype("float64")
    return rules.sort_values(
        ["lift", "support", "antecedent", "consequent"],
        ascending=[False, False, True, True],
        ignore_index=True,
    )


def lift_matrix(
    portfolio: pd.DataFrame,
    *,
    min_support: float = 0.001,
    products: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Square table of pairwise lifts (symmetric), ``NaN`` where support is too low.

    Parameters
    ----------
    portfolio : pandas.DataFrame
        One row per customer with one 0/1 column per product.
    min_support : float, default 0.001
        Pairs held by fewer than this share of customers get ``NaN``; the
        diagonal is ``NaN`` too.
    products : sequence of str, optional
        Product columns; defaults to :data:`insurereco.contract.PRODUCTS`.

    Returns
    -------
    pandas.DataFrame
        Products x products, ``lift[a, b] = support(a + b) / (support(a) support(b))``.
    """
    matrix = product_matrix(portfolio, products=products)
    values = matrix.to_numpy()
    n = len(values)
    support = values.mean(axis=0)
    joint = _pair_counts(values) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = joint / np.outer(support, support)
    lift[(joint < min_support) | (joint == 0)] = np.nan
    np.fill_diagonal(lift, np.nan)
    return pd.DataFrame(lift, index=matrix.columns, columns=matrix.columns)


def plot_lift_heatmap(lift: pd.DataFrame, *, ax=None, annotate: bool = True, max_lift=None):
    """Draw a pairwise lift table as a heatmap on a log scale centred on 1.

    Parameters
    ----------
    lift : pandas.DataFrame
        Output of :func:`lift_matrix` (products with no kept pair can be dropped
        beforehand).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.
    annotate : bool, default True
        Write the lift in each cell.
    max_lift : float, optional
        Colour-scale limit (symmetric on a log scale); defaults to the largest
        finite lift.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import seaborn as sns
    from matplotlib.colors import LogNorm

    ax = axes_or_new(ax, figsize=(8, 7))
    finite = lift.to_numpy()[np.isfinite(lift.to_numpy())]
    top = float(max_lift) if max_lift is not None else float(finite.max() if finite.size else 2)
    top = max(top, 1.01)
    norm = LogNorm(vmin=1 / top, vmax=top)
    display = lift.clip(lower=1 / top, upper=top)
    sns.heatmap(
        display,
        ax=ax,
        cmap="RdBu_r",
        norm=norm,
        annot=lift.round(1) if annotate else False,
        fmt="g",
        annot_kws={"fontsize": 7},
        linewidths=0.5,
        linecolor="white",
        cbar_kws={"label": "lift (log scale; 1 = independent)"},
        mask=lift.isna(),
    )
    ax.set_xlabel("product B")
    ax.set_ylabel("product A")
    ax.set_title("Lift of holding A and B together")
    return ax


class BestRuleRecommender(Recommender):
    """Recommend with the single strongest association rule, as a baseline.

    Each product a customer does not hold is scored with the highest confidence
    among the rules whose antecedent the customer holds in full and whose
    consequent is that product. The empty rule ``{} -> product`` (confidence =
    the product's support) always applies, so a product with no matching rule
    falls back to its popularity. :meth:`predict_proba` (inherited from
    :class:`insurereco.models.Recommender`) zeroes held products and rescales
    each row to sum to one, which keeps the ranking of the confidences.

    Parameters
    ----------
    min_support : float, default 0.001
        Passed to :func:`association_rules`.
    max_size : {2, 3}, default 3
        Passed to :func:`association_rules`.
    products : tuple of str, default PRODUCTS
        Product columns.

    Attributes
    ----------
    rules_ : pandas.DataFrame
        The rules learnt by :meth:`fit`.
    support_ : pandas.Series
        Support of each product (the empty rule's confidence).
    """

    def __init__(
        self,
        *,
        min_support: float = 0.001,
        max_size: int = 3,
        products: tuple[str, ...] = PRODUCTS,
    ) -> None:
        self.min_support = min_support
        self.max_size = max_size
        self.products = products

    def fit(self, portfolio: pd.DataFrame, y=None) -> BestRuleRecommender:
        """Learn the rules from complete portfolios (one row per customer)."""
        self.rules_ = association_rules(
            portfolio,
            min_support=self.min_support,
            max_size=self.max_size,
            products=self.products,
        )
        self.support_ = item_support(portfolio, products=self.products)
        return self

    def _best(self, portfolio: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Return the best confidence and the index of the best rule (-1 = empty rule)."""
        if not hasattr(self, "rules_"):
            raise DataValidationError("BestRuleRecommender: call fit(portfolio) before predicting")
        held = product_matrix(portfolio, products=self.products).to_numpy().astype(bool)
        position = {p: k for k, p in enumerate(self.products)}
        best = np.tile(self.support_.to_numpy(dtype=float), (len(held), 1))
        which = np.full(best.shape, -1, dtype=np.int64)
        for rule_id, (antecedent, consequent, confidence) in enumerate(
            self.rules_[["antecedent", "consequent", "confidence"]].itertuples(index=False)
        ):
            items = [position[p] for p in antecedent.split(" + ")]
            applies = held[:, items].all(axis=1)
            column = position[consequent]
            better = applies & (confidence > best[:, column])
            best[better, column] = confidence
            which[better, column] = rule_id
        best[held] = 0.0
        which[held] = -2
        return best, which

    def _scores(self, portfolio: pd.DataFrame) -> np.ndarray:
        return self._best(portfolio)[0]

    def explain(self, portfolio: pd.DataFrame) -> pd.DataFrame:
        """Name the rule behind each customer's top product.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``ID``: ``product`` (top score), ``confidence`` of the
            rule used, ``antecedent`` (empty string for the popularity
            fallback) and ``lift`` of that rule (1 for the fallback).
        """
        best, which = self._best(portfolio)
        top = best.argmax(axis=1)
        rows = np.arange(len(best))
        rule_id = which[rows, top]
        used = rule_id >= 0
        antecedent = np.full(len(best), "", dtype=object)
        lift = np.ones(len(best))
        antecedent[used] = self.rules_["antecedent"].to_numpy()[rule_id[used]]
        lift[used] = self.rules_["lift"].to_numpy()[rule_id[used]]
        return pd.DataFrame(
            {
                "product": np.asarray(self.products)[top],
                "confidence": best[rows, top],
                "antecedent": pd.array(antecedent, dtype="str"),
                "lift": lift,
            },
            index=pd.Index(portfolio[ID_COLUMN], name=ID_COLUMN),
        )


def pair_effects(contribs: pd.DataFrame, held: pd.DataFrame) -> pd.DataFrame:
    """Average effect of holding product X on the score of recommended product P.

    Parameters
    ----------
    contribs : pandas.DataFrame
        One row per customer with a ``product`` column (the product explained,
        P) and ``holds_<X>`` columns (contribution of holding X to P's score),
        as returned by :func:`insurereco.explain.contributions`.
    held : pandas.DataFrame
        0/1 products held by the same customers, same order, one column per X.

    Returns
    -------
    pandas.DataFrame
        One row per (held product X, explained product P) with at least one
        customer holding X: ``held_product``, ``product``, ``customers`` and
        ``mean_effect`` (mean contribution among customers holding X).
    """
    if len(contribs) != len(held):
        raise DataValidationError(
            f"pair_effects: {len(contribs)} contribution rows but {len(held)} held rows"
        )
    rows = []
    flags = held.to_numpy().astype(bool)
    target = contribs["product"].to_numpy()
    for j, held_product in enumerate(held.columns):
        column = f"holds_{held_product}"
        if column not in contribs.columns:
            continue
        mine = flags[:, j]
        if not mine.any():
            continue
        frame = pd.DataFrame(
            {"product": target[mine], "effect": contribs[column].to_numpy(dtype=float)[mine]}
        )
        grouped = frame.groupby("product", sort=True)["effect"].agg(["size", "mean"])
        for product, (count, mean) in grouped.iterrows():
            rows.append((held_product, product, int(count), float(mean)))
    return pd.DataFrame(rows, columns=["held_product", "product", "customers", "mean_effect"])


def lift_agreement(effects: pd.DataFrame, lift: pd.DataFrame) -> pd.DataFrame:
    """Say whether model effects and association lifts point the same way.

    Holding X pushes P up in the model when ``mean_effect > 0``; X and P go
    together in the data when ``lift(X, P) > 1``. They agree when both say
    "up" or both say "down".

    Parameters
    ----------
    effects : pandas.DataFrame
        Output of :func:`pair_effects`.
    lift : pandas.DataFrame
        Output of :func:`lift_matrix` (``NaN`` pairs are marked ``agrees = NA``).

    Returns
    -------
    pandas.DataFrame
        ``effects`` with ``lift`` and ``agrees`` (nullable boolean) added.
    """
    out = effects.copy()
    values = [
        lift.at[x, p] if x in lift.index and p in lift.columns else np.nan
        for x, p in zip(out["held_product"], out["product"], strict=True)
    ]
    out["lift"] = np.asarray(values, dtype=float)
    agrees = (out["mean_effect"] > 0) == (out["lift"] > 1)
    out["agrees"] = pd.array(agrees, dtype="boolean")
    out.loc[out["lift"].isna(), "agrees"] = pd.NA
    return out
