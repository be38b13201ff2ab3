"""Evaluation protocol of the recommender: hide one held product, split by customer.

The Zimnat test set was made by switching ONE held product per customer from 1
to 0, chosen uniformly at random among the products the customer holds. We
evaluate the same way: take complete portfolios, split them by customer (never
by row), hide one product per held-out customer with a seeded draw
(:func:`mask_one_product`) and ask the model which product is missing.

For training, each customer is expanded into one example per held product
removed (:func:`expand_portfolio`): a customer holding ``n`` products yields
``n`` examples, each weighted ``1/n`` so that every customer counts once, as in
the test set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone

from insurereco.contract import ID_COLUMN, PRODUCTS
from insurereco.metrics import (
    competition_score_sd,
    customer_scores,
    dominant_products,
    expected_competition_score,
)
from insurereco.synthetic import mask_one_product

__all__ = [
    "HIDDEN_COLUMN",
    "WEIGHT_COLUMN",
    "EvaluationSplit",
    "check_other_customers",
    "evaluation_split",
    "expand_completions",
    "expand_portfolio",
    "expected_score_check",
    "fit_model",
    "held_matrix",
    "held_out_summary",
    "learning_curve",
    "mask_one_product",
    "repeated_evaluation",
    "split_customers",
]

#: Column of :func:`expand_portfolio` output holding the removed product.
HIDDEN_COLUMN = "hidden"
#: Column of :func:`expand_portfolio` output holding the example weight ``1/n``.
WEIGHT_COLUMN = "weight"
_COMPLETION_COLUMN = "_completion_proba"


def held_matrix(portfolio: pd.DataFrame, *, products: tuple[str, ...] = PRODUCTS) -> np.ndarray:
    """Return the 0/1 holdings of ``portfolio`` as an ``int8`` array (customers x products)."""
    return portfolio.loc[:, list(products)].to_numpy(dtype="int8")


def split_customers(
    portfolio: pd.DataFrame, *, test_size: float = 0.2, random_state: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a portfolio by customer into two disjoint sets of customers.

    Parameters
    ----------
    portfolio : DataFrame
        One row per customer with a unique ``ID`` column.
    test_size : float, default 0.2
        Share of customers put in the second part (rounded, at least one when possible).
    random_state : int, default 0
        Seed of the permutation of customers.

    Returns
    -------
    first, second : DataFrame
        The two parts, each keeping the original row order and index.

    Raises
    ------
    ValueError
        If IDs are duplicated (a row split would then leak a customer) or ``test_size``
        is not in (0, 1).
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    if portfolio[ID_COLUMN].duplicated().any():
        raise ValueError(
            "portfolio has duplicated customer IDs; split by customer needs unique IDs"
        )
    n = len(portfolio)
    n_second = min(max(int(round(n * test_size)), 1), n - 1) if n > 1 else 0
    rng = np.random.default_rng(random_state)
    in_second = np.zeros(n, dtype=bool)
    in_second[rng.permutation(n)[:n_second]] = True
    return portfolio.loc[~in_second], portfolio.loc[in_second]


def expand_portfolio(
    portfolio: pd.DataFrame, *, products: tuple[str, ...] = PRODUCTS
) -> pd.DataFrame:
    """Expand complete portfolios into one training example per held product removed.

    Parameters
    ----------
    portfolio : DataFrame
        Complete portfolios (one row per customer, product flags 0/1).
    products : tuple of str, default PRODUCTS
        Product columns.

    Returns
    -------
    DataFrame
        For a customer holding ``n`` products, ``n`` rows: the customer's row with one
        held product switched to 0, plus ``hidden`` (the removed product code) and
        ``weight`` (``1/n``). Rows of the same customer are contiguous; the index is
        reset. Customers holding nothing yield no row.
    """
    flags = held_matrix(portfolio, products=products)
    rows, cols = np.nonzero(flags)
    expanded = portfolio.iloc[rows].reset_index(drop=True)
    remaining = flags[rows].copy()
    remaining[np.arange(len(rows)), cols] = 0
    expanded[list(products)] = remaining
    n_held = flags.sum(axis=1)
    expanded[HIDDEN_COLUMN] = pd.Series(np.asarray(products)[cols], dtype="str")
    expanded[WEIGHT_COLUMN] = 1.0 / n_held[rows]
    return expanded


def expand_completions(
    portfolio: pd.DataFrame,
    proba,
    *,
    min_proba: float = 0.01,
    products: tuple[str, ...] = PRODUCTS,
) -> pd.DataFrame:
    """Expand portfolios that miss one unknown product into weighted training examples.

    Customers whose answer is unknown (the Zimnat Test file, or the customers about to
    be scored) still tell which products go together. Each customer is completed with
    every product it may miss, weighted by the probability ``proba`` gives that product
    (kept when at least ``min_proba``, then renormalised to sum to one), and each
    completed portfolio is expanded as in :func:`expand_portfolio`. A customer thus
    counts once, spread over its likely completions.

    Parameters
    ----------
    portfolio : DataFrame
        Customers with one product switched off (product flags 0/1).
    proba : DataFrame or array, shape (customers, products)
        Probability that each product is the missing one, rows in the order of
        ``portfolio`` (for instance a fitted recommender's ``predict_proba``). Held
        products are never completions.
    min_proba : float, default 0.01
        Completions less likely than this are dropped (in [0, 1)).
    products : tuple of str, default PRODUCTS
        Product columns.

    Returns
    -------
    DataFrame
        The columns of :func:`expand_portfolio`; ``weight`` is ``1/n`` times the
        completion's probability. Customers with no completion yield no row.
    """
    if not 0 <= min_proba < 1:
        raise ValueError(f"min_proba must be in [0, 1), got {min_proba}")
    proba = np.asarray(proba, dtype=float)
    held = held_matrix(portfolio, products=products)
    if proba.shape != held.shape:
        raise ValueError(f"proba has shape {proba.shape}; expected {held.shape}")
    keep = (proba >= min_proba) & (proba > 0) & (held == 0)
    chance = np.where(keep, proba, 0.0)
    total = chance.sum(axis=1, keepdims=True)
    chance = np.divide(chance, total, out=np.zeros_like(chance), where=total > 0)
    rows, cols = np.nonzero(keep)
    completed = portfolio.iloc[rows].reset_index(drop=True)
    flags = held[rows]
    flags[np.arange(len(rows)), cols] = 1
    completed[list(products)] = flags
    completed[_COMPLETION_COLUMN] = chance[rows, cols]
    expanded = expand_portfolio(completed, products=products)
    expanded[WEIGHT_COLUMN] *= expanded.pop(_COMPLETION_COLUMN).to_numpy()
    return expanded


@dataclass(frozen=True)
class EvaluationSplit:
    """Complete training portfolios and masked held-out customers with their answers.

    Attributes
    ----------
    train : DataFrame
        Complete portfolios of the training customers.
    masked : DataFrame
        Held-out customers with one held product switched to 0.
    hidden : Series
        The hidden product of each held-out customer (same index as ``masked``).
    complete : DataFrame
        Held-out customers before masking (for the competition metric).
    """

    train: pd.DataFrame
    masked: pd.DataFrame
    hidden: pd.Series
    complete: pd.DataFrame


def evaluation_split(
    portfolio: pd.DataFrame, *, test_size: float = 0.2, random_state: int = 0
) -> EvaluationSplit:
    """Apply the protocol: split by customer, then hide one held product per test customer.

    Parameters
    ----------
    portfolio : DataFrame
        Complete portfolios; every customer must hold at least one product.
    test_size : float, default 0.2
        Share of customers held out.
    random_state : int, default 0
        Seed of both the split and the masking draw.

    Returns
    -------
    EvaluationSplit
    """
    train, test = split_customers(portfolio, test_size=test_size, random_state=random_state)
    masked, hidden = mask_one_product(test, random_state=random_state)
    return EvaluationSplit(train=train, masked=masked, hidden=hidden, complete=test)


def held_out_summary(
    proba, split: EvaluationSplit, *, products: tuple[str, ...] = PRODUCTS
) -> dict[str, float]:
    """Mean held-out scores of one set of predictions on ``split.masked``.

    Parameters
    ----------
    proba : DataFrame or array, shape (customers, products)
        Probability that each product is the hidden one, rows in the order of
        ``split.masked``.
    split : EvaluationSplit
        Supplies the masked customers' held products, their hidden answers and, from
        ``split.train``, the dominant products.
    products : tuple of str, default PRODUCTS
        Product columns of ``proba``.

    Returns
    -------
    dict
        ``competition``, ``hit@3``, ``hit@3 non-dominant`` (customers whose hidden
        product is not one of the two most held in ``split.train``) and ``log_loss``.
    """
    held = held_matrix(split.masked, products=products)
    scores = customer_scores(proba, held, split.hidden, products=list(products))
    non_dominant = ~split.hidden.isin(dominant_products(split.train, products)).to_numpy()
    return {
        "competition": float(scores["competition"].mean()),
        "hit@3": float(scores["hit@3"].mean()),
        "hit@3 non-dominant": float(scores["hit@3"][non_dominant].mean()),
        "log_loss": float(scores["log_loss"].mean()),
    }


def check_other_customers(
    unlabelled: pd.DataFrame | None,
    *portfolios: pd.DataFrame,
    role: str = "evaluated or training",
) -> None:
    """Refuse unlabelled customers that are also customers of ``portfolios``.

    A training or evaluated customer given as unlabelled would be counted twice, or leak
    its own answer (or, masked, be learnt from before being scored).

    Parameters
    ----------
    unlabelled : DataFrame or None
        Customers missing one unknown product (nothing is checked when ``None``).
    *portfolios : DataFrame
        Customers the unlabelled ones must not be.
    role : str, default "evaluated or training"
        What ``portfolios`` are, for the error message.

    Raises
    ------
    ValueError
        Naming how many unlabelled customers are shared, and the first of them.
    """
    if unlabelled is None:
        return
    for portfolio in portfolios:
        shared = unlabelled[ID_COLUMN].isin(portfolio[ID_COLUMN])
        if shared.any():
            raise ValueError(
                f"{int(shared.sum())} unlabelled customers are also {role} customers "
                f"(first: {unlabelled.loc[shared, ID_COLUMN].iloc[0]})"
            )


def fit_model(model, portfolio: pd.DataFrame, *, unlabelled: pd.DataFrame | None = None):
    """Fit ``model`` on ``portfolio`` and return it, passing ``unlabelled`` only when given.

    The default ``fit`` of :func:`learning_curve` and :func:`repeated_evaluation`;
    :func:`insurereco.heldout.fit_cached` has the same signature and reuses fits
    cached on disk.
    """
    if unlabelled is None:
        return model.fit(portfolio)
    return model.fit(portfolio, unlabelled=unlabelled)


def learning_curve(
    model,
    split: EvaluationSplit,
    *,
    fractions=(0.25, 0.5, 1.0),
    unlabelled: pd.DataFrame | None = None,
    fit: Callable = fit_model,
    random_state: int = 0,
) -> pd.DataFrame:
    """Held-out scores of ``model`` refitted on growing shares of the training customers.

    Parameters
    ----------
    model : Recommender
        An (unfitted or fitted) recommender; a fresh clone is fitted for each share.
    split : EvaluationSplit
        From :func:`evaluation_split`; every share is scored on the same masked customers.
    fractions : sequence of float, default (0.25, 0.5, 1.0)
        Shares of ``split.train`` customers, each in (0, 1]; a share is a random subset
        of customers (seeded), never of rows.
    unlabelled : DataFrame, optional
        Customers missing one unknown product, passed to every fit; none of them may be
        a customer of ``split`` (see :meth:`insurereco.models.XGBoostRecommender.fit`).
    fit : callable, default :func:`fit_model`
        Called as ``fit(model, portfolio, unlabelled=...)``; returns the fitted model.
    random_state : int, default 0
        Seed of the random choice of each share's customers; the model keeps its own seed.

    Returns
    -------
    DataFrame
        ``fraction``, ``n_customers``, ``competition``, ``hit@3``, ``log_loss``.

    Raises
    ------
    ValueError
        If a share is not in (0, 1], or unlabelled customers are customers of ``split``.
    """
    check_other_customers(unlabelled, split.train, split.complete)
    rows = []
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise ValueError(f"fractions must be in (0, 1], got {fraction}")
        train = split.train
        if fraction < 1:
            train, _ = split_customers(train, test_size=1 - fraction, random_state=random_state)
        fitted = fit(clone(model), train, unlabelled=unlabelled)
        summary = held_out_summary(
            fitted.predict_proba(split.masked), split, products=model.products
        )
        rows.append(
            {
                "fraction": float(fraction),
                "n_customers": len(train),
                **{k: summary[k] for k in ("competition", "hit@3", "log_loss")},
            }
        )
    return pd.DataFrame(rows)


def repeated_evaluation(
    model,
    portfolio: pd.DataFrame,
    *,
    n_repeats: int = 5,
    test_size: float = 0.2,
    unlabelled: pd.DataFrame | None = None,
    fit: Callable = fit_model,
    n_jobs: int = 1,
    random_state: int = 0,
) -> pd.DataFrame:
    """Headline scores of ``model`` on several evaluation splits, to show split-to-split spread.

    Split ``i`` is :func:`evaluation_split` with seed ``random_state + i``; a fresh clone
    of ``model`` (with the same seed, when it takes a ``random_state``) is fitted on its
    training customers and scored on its masked customers. Split 0 is the usual single
    split, so its row matches a one-split evaluation with the same seed.

    Parameters
    ----------
    model : Recommender
        An (unfitted or fitted) recommender.
    portfolio : DataFrame
        Complete portfolios.
    n_repeats : int, default 5
        Number of splits (at least 1).
    test_size : float, default 0.2
        Share of customers held out in each split.
    unlabelled : DataFrame, optional
        Customers missing one unknown product, passed to every fit; they must not be
        customers of ``portfolio`` (see :meth:`insurereco.models.XGBoostRecommender.fit`).
    fit : callable, default :func:`fit_model`
        Called as ``fit(model, portfolio, unlabelled=...)``; returns the fitted model.
    n_jobs : int, default 1
        Splits fitted at once, each in its own process (joblib); the results do not
        depend on it. Each fit still uses the threads its model is given.
    random_state : int, default 0
        Seed of split 0 (split ``i`` uses ``random_state + i``, for the split and for the
        model when it takes a ``random_state``).

    Returns
    -------
    DataFrame
        Index ``split_seed``; columns ``competition``, ``hit@3``, ``hit@3 non-dominant``
        (customers whose hidden product is not one of the two most held in training) and
        ``log_loss``.
    """
    check_other_customers(unlabelled, portfolio)
    splits = _split_fits(model, portfolio, n_repeats=n_repeats, test_size=test_size,
                         unlabelled=unlabelled, fit=fit, n_jobs=n_jobs,
                         random_state=random_state)  # fmt: skip
    rows = {
        seed: held_out_summary(fitted.predict_proba(split.masked), split, products=model.products)
        for seed, split, fitted in splits
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("split_seed")


def _split_fits(model, portfolio, *, n_repeats, test_size, unlabelled, fit, n_jobs, random_state):
    """``(seed, split, fitted)`` for each evaluation split of :func:`repeated_evaluation`.

    Split ``i`` is :func:`evaluation_split` with seed ``random_state + i``; a fresh clone of
    ``model`` (with the same seed, when it takes a ``random_state``) is fitted on its
    training customers, ``n_jobs`` splits at once in separate processes.
    """
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be at least 1, got {n_repeats}")
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be at least 1, got {n_jobs}")
    seeds = range(random_state, random_state + n_repeats)
    splits = [evaluation_split(portfolio, test_size=test_size, random_state=s) for s in seeds]
    models = []
    for seed in seeds:
        fresh = clone(model)
        if "random_state" in fresh.get_params():
            fresh.set_params(random_state=seed)
        models.append(fresh)
    fitted = Parallel(n_jobs=min(n_jobs, n_repeats))(
        delayed(fit)(m, split.train, unlabelled=unlabelled)
        for m, split in zip(models, splits, strict=True)
    )
    return list(zip(seeds, splits, fitted, strict=True))


def expected_score_check(
    model,
    portfolio: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    n_repeats: int = 5,
    test_size: float = 0.2,
    fit: Callable = fit_model,
    n_jobs: int = 1,
    random_state: int = 0,
) -> pd.DataFrame:
    """How hard are customers without answers, compared with held-out customers?

    The answers of some customers are unknown (the Zimnat Test file: the competition
    scored it, but its answers are not public). On each evaluation split of
    :func:`repeated_evaluation`, a clone of ``model`` is fitted on the training
    customers (never on ``customers``) and gives its expected competition metric
    (:func:`insurereco.metrics.expected_competition_score`, averaged over customers)
    on the held-out customers and on ``customers``. On the held-out customers the
    realised metric is also computed: when it matches the expected one, the model's
    probabilities can be trusted to say how hard ``customers`` are, and the paired
    difference (same model) says whether they are harder or easier than held-out
    customers. The chance spreads say how far from its expectation a realised metric
    can land by the luck of which products were hidden.

    Parameters
    ----------
    model : Recommender
        An (unfitted or fitted) recommender.
    portfolio : DataFrame
        Complete portfolios.
    customers : DataFrame
        Customers missing one unknown product, none of them in ``portfolio``.
    n_repeats, test_size, fit, n_jobs, random_state
        As in :func:`repeated_evaluation` (``fit`` is called without unlabelled
        customers).

    Returns
    -------
    DataFrame
        Index ``split_seed``; columns ``realised`` and ``expected`` (held-out customers),
        ``expected_customers`` (``customers``), ``chance_sd`` and ``chance_sd_customers``
        (how far luck alone moves the realised metric of the held-out customers and of
        ``customers``, :func:`insurereco.metrics.competition_score_sd`) and ``difference``
        (``expected_customers - expected``).

    Raises
    ------
    ValueError
        If ``customers`` is empty, or shares customers with ``portfolio``.
    """
    if len(customers) == 0:
        raise ValueError("customers holds no customer")
    check_other_customers(customers, portfolio, role="labelled")
    splits = _split_fits(model, portfolio, n_repeats=n_repeats, test_size=test_size,
                         unlabelled=None, fit=fit, n_jobs=n_jobs,
                         random_state=random_state)  # fmt: skip
    rows = {}
    for seed, split, fitted in splits:
        proba = fitted.predict_proba(split.masked)
        proba_customers = fitted.predict_proba(customers)
        expected = float(expected_competition_score(proba).mean())
        rows[seed] = {
            "realised": held_out_summary(proba, split, products=model.products)["competition"],
            "expected": expected,
            "expected_customers": float(expected_competition_score(proba_customers).mean()),
            "chance_sd": competition_score_sd(proba),
            "chance_sd_customers": competition_score_sd(proba_customers),
        }
        rows[seed]["difference"] = rows[seed]["expected_customers"] - expected
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("split_seed")
