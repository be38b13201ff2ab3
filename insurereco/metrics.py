"""Metrics of the recommender, with bootstrap intervals over customers.

Inputs are always, for the same customers in the same order:

* ``proba``: customers x products probabilities that each product is the hidden
  one (held products 0, see :meth:`insurereco.models.Recommender.predict_proba`);
* ``held``: 0/1 flags of the products the customer is known to hold (masked
  portfolio);
* ``hidden``: the hidden product code of each customer.

Metrics:

* ``competition``: the Zindi metric, mean binary log loss over all products of each
  customer, held products predicted 1 (so they cost nothing), then averaged over
  customers;
* ``hit@k``: share of customers whose hidden product is in the top ``k``;
* ``mrr``: mean reciprocal rank of the hidden product;
* ``log_loss``: multi-class log loss of the hidden product (``-log p_hidden``);
* ``ece``: expected calibration error over (customer, non-held product) cells;
* ``top_ece``: expected calibration error of each customer's top product only (the
  offer a campaign would make; see
  :func:`insurereco.calibration.top_label_calibration_error`). Pooling every cell,
  ``ece`` is diluted by the many probabilities near 0; ``top_ece`` is not, and on a few
  thousand customers it stays near 0.01 even for exact probabilities (see
  :func:`insurereco.calibration.chance_calibration_error`).

:func:`expected_competition_score` gives, without any answer, the competition metric a
customer would score on average if the probabilities were exact: on customers whose
answers are unknown (such as the Zimnat Test file), it tells how hard they are for the
model compared with held-out customers. :func:`competition_score_sd` says how far the
luck of which product was hidden alone moves that metric, averaged over customers.

Ranks count ties against the model (a hidden product tied with another is ranked
below it). "Non-dominant" customers are those whose hidden product is not one of
the two most held products (RVSZ and K6QO in Zimnat): always answering those two
scores well overall and is useless for cross-selling.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from insurereco.calibration import expected_calibration_error, top_label_calibration_error

__all__ = [
    "ADDITIVE_METRICS",
    "competition_log_loss",
    "competition_score_sd",
    "customer_scores",
    "dominant_products",
    "evaluate",
    "expected_competition_score",
    "hidden_rank",
    "per_product",
    "plot_hit_rates",
]

_EPS = 1e-15

#: Metrics that are means of per-customer scores (see :func:`customer_scores`).
ADDITIVE_METRICS: tuple[str, ...] = ("competition", "hit@1", "hit@3", "hit@5", "mrr", "log_loss")


def _arrays(
    proba, held, hidden, products=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Return probability matrix, held flags, hidden class index and product names."""
    if isinstance(proba, pd.DataFrame):
        products = list(proba.columns)
    matrix = np.asarray(proba, dtype=float)
    flags = np.asarray(held, dtype=bool)
    hidden = np.asarray(hidden)
    if products is None:
        products = [str(i) for i in range(matrix.shape[1])]
    if matrix.shape != flags.shape or len(hidden) != len(matrix):
        raise ValueError(
            f"proba {matrix.shape}, held {flags.shape} and hidden ({len(hidden)}) must describe "
            "the same customers and products"
        )
    index = pd.Index(products).get_indexer(hidden.astype(str))
    if (index < 0).any():
        unknown = sorted(set(hidden[index < 0].astype(str)))[:3]
        raise ValueError(f"hidden products not among the predicted columns: {', '.join(unknown)}")
    return matrix, flags, index, products


def competition_log_loss(truth, holding_proba) -> float:
    """Zindi metric: mean binary log loss over every (customer, product) cell.

    Parameters
    ----------
    truth : array-like, shape (n, k)
        0/1 true holdings (complete portfolio).
    holding_proba : array-like, shape (n, k)
        Predicted probability of holding each product (held products 1).
    """
    y = np.asarray(truth, dtype=float)
    p = np.clip(np.asarray(holding_proba, dtype=float), _EPS, 1 - _EPS)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def hidden_rank(proba, held, hidden, *, products=None) -> np.ndarray:
    """Rank (1 = top) of the hidden product among the customer's non-held products.

    ``products`` names the columns when ``proba`` is an array (default: ``"0"``, ``"1"``...).
    """
    matrix, flags, index, _ = _arrays(proba, held, hidden, products)
    p_hidden = matrix[np.arange(len(matrix)), index]
    return ((matrix >= p_hidden[:, None]) & ~flags).sum(axis=1)


def customer_scores(proba, held, hidden, *, products=None) -> pd.DataFrame:
    """Per-customer scores whose means are the additive metrics.

    ``products`` names the columns when ``proba`` is an array.

    Returns
    -------
    DataFrame
        Columns ``hidden``, ``rank``, ``competition``, ``hit@1``, ``hit@3``, ``hit@5``,
        ``mrr`` (reciprocal rank) and ``log_loss``; index of ``proba`` when a frame.
    """
    matrix, flags, index, products = _arrays(proba, held, hidden, products)
    rank = hidden_rank(matrix, flags, index.astype(str))
    truth = flags.astype(float)
    truth[np.arange(len(matrix)), index] = 1.0
    holding = np.clip(np.where(flags, 1.0, matrix), _EPS, 1 - _EPS)
    cell_loss = -(truth * np.log(holding) + (1 - truth) * np.log(1 - holding))
    p_hidden = np.clip(matrix[np.arange(len(matrix)), index], _EPS, 1.0)
    scores = pd.DataFrame(
        {
            "hidden": np.asarray(products)[index],
            "rank": rank,
            "competition": cell_loss.mean(axis=1),
            "hit@1": (rank <= 1).astype(float),
            "hit@3": (rank <= 3).astype(float),
            "hit@5": (rank <= 5).astype(float),
            "mrr": 1.0 / rank,
            "log_loss": -np.log(p_hidden),
        }
    )
    if isinstance(proba, pd.DataFrame):
        scores.index = proba.index
    return scores


def expected_competition_score(proba) -> np.ndarray:
    """Competition metric each customer would score on average if ``proba`` were exact.

    The hidden product is drawn from the customer's row of ``proba``; the score of each
    draw is the customer's competition metric (see :func:`customer_scores`), and the
    expectation is taken over the draw. Held products (probability 0) cost nothing,
    as in the metric. Averaged over customers, it is the score to expect from a
    calibrated model on customers whose answers are unknown.

    Parameters
    ----------
    proba : DataFrame or array, shape (customers, products)
        Probability that each product is the hidden one; held products 0, each row
        summing to one (a row that does not is rescaled to; an all-zero row scores 0).

    Returns
    -------
    ndarray, shape (customers,)
    """
    chance, loss = _draw_losses(proba)
    return (chance * loss).sum(axis=1)


def competition_score_sd(proba) -> float:
    """How far luck alone moves the competition metric of these customers, as one figure.

    Which held product is hidden is a random draw. If ``proba`` were exact, the
    competition metric averaged over the customers would vary from draw to draw around
    the mean of :func:`expected_competition_score`; this is the standard deviation of
    that average (customers drawn independently). About 95% of draws fall within two
    of it, and it shrinks with the square root of the number of customers.

    Parameters
    ----------
    proba : DataFrame or array, shape (customers, products)
        As in :func:`expected_competition_score`.

    Returns
    -------
    float
    """
    chance, loss = _draw_losses(proba)
    expected = (chance * loss).sum(axis=1, keepdims=True)
    variance = (chance * (loss - expected) ** 2).sum(axis=1)
    return float(np.sqrt(variance.sum()) / max(len(variance), 1))


def _draw_losses(proba) -> tuple[np.ndarray, np.ndarray]:
    """Each row of ``proba`` rescaled to sum to one, and the competition metric per draw.

    ``loss[c, j]`` is customer ``c``'s competition metric when product ``j`` is the
    hidden one.
    """
    matrix = np.asarray(proba, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"proba must be a customers x products table, got shape {matrix.shape}")
    if (matrix < 0).any() or not np.isfinite(matrix).all():
        raise ValueError("proba must hold finite, non-negative probabilities")
    total = matrix.sum(axis=1, keepdims=True)
    chance = np.divide(matrix, total, out=np.zeros_like(matrix), where=total > 0)
    p = np.clip(chance, _EPS, 1 - _EPS)
    miss = np.log1p(-p)  # log(1 - p): a product not hidden, predicted with p
    # if j is hidden: -log p_j for it, -log(1 - p_i) for every other product i
    loss = -np.log(p) + miss - miss.sum(axis=1, keepdims=True)
    return chance, loss / matrix.shape[1]


def dominant_products(portfolio: pd.DataFrame, products, *, n: int = 2) -> tuple[str, ...]:
    """The ``n`` most held products of ``portfolio`` (RVSZ and K6QO in Zimnat)."""
    counts = portfolio.loc[:, list(products)].sum()
    return tuple(counts.sort_values(ascending=False, kind="stable").index[:n])


def _metric_values(
    scores: pd.DataFrame, matrix: np.ndarray, index: np.ndarray, weight: np.ndarray
) -> dict[str, float]:
    """Weighted additive metrics plus both ECEs for one (bootstrap) weighting of customers."""
    values = {m: float(np.average(scores[m], weights=weight)) for m in ADDITIVE_METRICS}
    values["ece"] = expected_calibration_error(matrix, index, sample_weight=weight)
    values["top_ece"] = top_label_calibration_error(matrix, index, sample_weight=weight)
    return values


def evaluate(
    proba,
    held,
    hidden,
    *,
    dominant: tuple[str, ...] | None = None,
    n_boot: int = 200,
    random_state: int = 0,
) -> pd.DataFrame:
    """All metrics, overall and for non-dominant customers, with bootstrap 95% intervals.

    Parameters
    ----------
    proba, held, hidden
        See the module docstring.
    dominant : tuple of str, optional
        Products excluded from the "non-dominant" subset; default: the two products
        most held in these customers' complete portfolios (held plus hidden), as
        :func:`dominant_products` finds them (RVSZ and K6QO in Zimnat).
    n_boot : int, default 200
        Bootstrap resamples of customers (0 for no intervals).
    random_state : int, default 0
        Seed of the bootstrap.

    Returns
    -------
    DataFrame
        Index ``(subset, metric)`` with subsets ``overall`` and ``non_dominant``;
        columns ``value``, ``ci_low``, ``ci_high`` and ``n_customers``.
    """
    matrix, flags, index, products = _arrays(proba, held, hidden)
    if dominant is None:
        complete = flags.copy()
        complete[np.arange(len(index)), index] = True
        dominant = dominant_products(pd.DataFrame(complete, columns=products), products)
    scores = customer_scores(matrix, flags, index.astype(str))
    subsets = {
        "overall": np.ones(len(matrix), dtype=bool),
        "non_dominant": ~np.isin(np.asarray(products)[index], dominant),
    }
    rng = np.random.default_rng(random_state)
    rows = []
    for name, member in subsets.items():
        n = int(member.sum())
        if n == 0:
            continue
        sub_scores = scores.loc[member].reset_index(drop=True)
        sub_matrix, sub_index = matrix[member], index[member]
        point = _metric_values(sub_scores, sub_matrix, sub_index, np.ones(n))
        draws = [
            _metric_values(
                sub_scores, sub_matrix, sub_index, np.bincount(rng.integers(0, n, n), minlength=n)
            )
            for _ in range(n_boot)
        ]
        for metric, value in point.items():
            boot = np.array([d[metric] for d in draws]) if draws else np.array([np.nan])
            rows.append(
                {
                    "subset": name,
                    "metric": metric,
                    "value": value,
                    "ci_low": float(np.quantile(boot, 0.025)),
                    "ci_high": float(np.quantile(boot, 0.975)),
                    "n_customers": n,
                }
            )
    return pd.DataFrame(rows).set_index(["subset", "metric"])


def per_product(proba, held, hidden) -> pd.DataFrame:
    """Metrics per product.

    Returns
    -------
    DataFrame
        Index product; ``n_hidden`` (customers whose hidden product it is), their
        ``hit@1``, ``hit@3``, ``hit@5``, ``mrr`` and ``log_loss``; ``mean_proba`` and
        ``ece`` of the product's column over customers not holding it; and
        ``competition``, the column's mean binary log loss over all customers.
    """
    matrix, flags, index, products = _arrays(proba, held, hidden)
    scores = customer_scores(matrix, flags, index.astype(str))
    truth = flags.astype(float)
    truth[np.arange(len(matrix)), index] = 1.0
    holding = np.clip(np.where(flags, 1.0, matrix), _EPS, 1 - _EPS)
    cell_loss = -(truth * np.log(holding) + (1 - truth) * np.log(1 - holding))
    rows = []
    for j, product in enumerate(products):
        mine = index == j
        open_ = ~flags[:, j]
        row = {"product": product, "n_hidden": int(mine.sum())}
        for metric in ("hit@1", "hit@3", "hit@5", "mrr", "log_loss"):
            row[metric] = float(scores.loc[mine, metric].mean()) if mine.any() else np.nan
        row["mean_proba"] = float(matrix[open_, j].mean()) if open_.any() else np.nan
        row["ece"] = (
            expected_calibration_error(matrix[open_, j], mine[open_].astype(int))
            if open_.any()
            else np.nan
        )
        row["competition"] = float(cell_loss[:, j].mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index("product")


def plot_hit_rates(
    results: dict[str, pd.DataFrame],
    *,
    subset: str = "overall",
    ks: tuple[int, ...] = (1, 3),
    ax: plt.Axes,
) -> plt.Axes:
    """Grouped bars of Hit@k per model, each with its bootstrap 95% interval.

    The interval is drawn from ``ci_low`` to ``ci_high`` as computed: a percentile
    bootstrap interval need not contain the point estimate (with few resamples or few
    customers it sometimes does not), so it is not drawn as an error around the bar.

    Parameters
    ----------
    results : dict of str to DataFrame
        Model label to the output of :func:`evaluate`.
    subset : {"overall", "non_dominant"}
        Which customers' rows of each table are drawn: all of them, or those whose
        hidden product is not a dominant one (see :func:`evaluate`).
    ks : tuple of int
        The k of each Hit@k shown, one group of bars each.
    ax : matplotlib Axes
        Axes to draw on (required).

    Returns
    -------
    matplotlib Axes
    """
    width = 0.8 / max(len(results), 1)
    groups = np.arange(len(ks))
    for i, (label, table) in enumerate(results.items()):
        values = table.loc[[(subset, f"hit@{k}") for k in ks]]
        x = groups + (i - (len(results) - 1) / 2) * width
        ax.bar(x, values["value"], width=width, label=label)
        ax.vlines(x, values["ci_low"], values["ci_high"], color="black", linewidth=1)
        for end in ("ci_low", "ci_high"):
            ax.hlines(values[end], x - width / 6, x + width / 6, color="black", linewidth=1)
    ax.set_xticks(groups, [f"Hit@{k}" for k in ks])
    ax.set_ylim(0, 1)
    return ax
