"""Recommenders behind one scikit-learn style interface.

Every model has ``fit(portfolio)`` (complete portfolios, one row per customer) and
``predict_proba(portfolio)``, which returns a customers x products frame (index
``ID``) of the probability that each product is the one missing from the
customer's basket. Products the customer already holds get 0 (they are never
recommended) and the probabilities over the other products sum to one: exactly
one product is hidden. :meth:`Recommender.holding_proba` turns this into the
Zindi output, where held products are 1.

* :class:`PopularityRecommender`: how often each product is the hidden one.
* :class:`CooccurrenceRecommender`: probability of the missing product given the
  remaining basket, from identical baskets, backing off to pairwise co-holding
  and then to popularity.
* :class:`XGBoostRecommender`: gradient boosted multi-class model on the remaining
  basket and the customer profile (:mod:`insurereco.features`), with early
  stopping and a calibration step chosen on separate customers
  (:mod:`insurereco.calibration`).

:func:`save_model` and :func:`load_model` store a fitted model with a format
version and its product list and feature schema.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.base import BaseEstimator

from insurereco.calibration import CALIBRATORS, make_calibrator, select_calibrator
from insurereco.contract import ID_COLUMN, PRODUCTS, PROFILE_COLUMNS
from insurereco.features import PortfolioFeatures
from insurereco.protocol import (
    HIDDEN_COLUMN,
    WEIGHT_COLUMN,
    check_other_customers,
    expand_completions,
    expand_portfolio,
    held_matrix,
    split_customers,
)
from insurereco.reporting import dump_artifact, load_artifact, threads

__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "CooccurrenceRecommender",
    "PopularityRecommender",
    "Recommender",
    "XGBoostRecommender",
    "load_model",
    "mask_held",
    "save_model",
]

MODEL_FORMAT = "insurereco-recommender"
MODEL_FORMAT_VERSION = 1
#: XGBoost parameters that define the recommender's task (not settable by ``booster_params``).
_TASK_PARAMS = frozenset({"objective", "num_class", "eval_metric"})


def mask_held(scores: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Zero the held products and renormalise each row over the others.

    Parameters
    ----------
    scores : array, shape (n, k)
        Non-negative scores.
    held : array, shape (n, k)
        0/1 flags of held products.

    Returns
    -------
    array
        Rows summing to one over non-held products (all-zero rows stay zero).
    """
    scores = np.where(held.astype(bool), 0.0, np.asarray(scores, dtype=float))
    total = scores.sum(axis=1, keepdims=True)
    return np.divide(scores, total, out=np.zeros_like(scores), where=total > 0)


def _targets(expanded: pd.DataFrame, products: tuple[str, ...]) -> np.ndarray:
    """Integer class (index in ``products``) of each expanded example's hidden product."""
    return pd.Index(products).get_indexer(expanded[HIDDEN_COLUMN])


class Recommender(BaseEstimator):
    """Base class: subclasses implement ``fit`` and ``_scores``.

    Parameters
    ----------
    products : tuple of str, default PRODUCTS
        Product columns of the portfolios.
    """

    products: tuple[str, ...] = PRODUCTS

    def _scores(self, portfolio: pd.DataFrame) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict_proba(self, portfolio: pd.DataFrame) -> pd.DataFrame:
        """Probability that each product is the customer's missing one.

        Returns
        -------
        DataFrame
            Index ``ID``, one column per product; held products are 0 and the rest
            sum to one per customer.
        """
        held = held_matrix(portfolio, products=self.products)
        proba = mask_held(self._scores(portfolio), held)
        index = pd.Index(portfolio[ID_COLUMN], name=ID_COLUMN)
        return pd.DataFrame(proba, index=index, columns=list(self.products))

    def holding_proba(self, portfolio: pd.DataFrame) -> pd.DataFrame:
        """Probability that the customer holds each product (Zindi output: held = 1)."""
        proba = self.predict_proba(portfolio)
        held = held_matrix(portfolio, products=self.products).astype(bool)
        return proba.mask(held, 1.0)


class PopularityRecommender(Recommender):
    """Recommend by how often each product is the hidden one in training.

    Parameters
    ----------
    alpha : float, default 1.0
        Pseudo-count spread evenly over products, so none has probability 0.
    products : tuple of str, default PRODUCTS
    """

    def __init__(self, *, alpha: float = 1.0, products: tuple[str, ...] = PRODUCTS) -> None:
        self.alpha = alpha
        self.products = products

    def fit(self, portfolio: pd.DataFrame, y=None):
        """Learn the weighted share of each product among hidden products."""
        expanded = expand_portfolio(portfolio, products=self.products)
        counts = np.bincount(
            _targets(expanded, self.products),
            weights=expanded[WEIGHT_COLUMN],
            minlength=len(self.products),
        )
        self.prior_ = (counts + self.alpha / len(self.products)) / (counts.sum() + self.alpha)
        return self

    def _scores(self, portfolio: pd.DataFrame) -> np.ndarray:
        return np.tile(self.prior_, (len(portfolio), 1))


class CooccurrenceRecommender(Recommender):
    """Probability of the missing product given the remaining basket, with back-off.

    ``p(j | B) = (c(B, j) + alpha * q(j | B)) / (c(B) + alpha)`` where ``c`` counts
    (weighted) training examples whose remaining basket is exactly ``B``, and
    ``q(j | B)`` is the mean over products ``i`` in ``B`` of
    ``(c(i, j) + beta * prior(j)) / (c(i) + beta)``, the pairwise co-holding rate
    shrunk to popularity. An empty basket falls back to popularity.

    Parameters
    ----------
    alpha : float, default 5.0
        Strength of the back-off from exact baskets to pairs.
    beta : float, default 5.0
        Strength of the back-off from pairs to popularity.
    products : tuple of str, default PRODUCTS
    """

    def __init__(
        self, *, alpha: float = 5.0, beta: float = 5.0, products: tuple[str, ...] = PRODUCTS
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        self.products = products

    def _keys(self, basket: np.ndarray) -> np.ndarray:
        return basket.astype(np.int64) @ (np.int64(1) << np.arange(basket.shape[1], dtype=np.int64))

    def fit(self, portfolio: pd.DataFrame, y=None):
        """Count exact-basket and pairwise co-holding among expanded examples."""
        expanded = expand_portfolio(portfolio, products=self.products)
        k = len(self.products)
        target = np.eye(k)[_targets(expanded, self.products)]
        weight = expanded[WEIGHT_COLUMN].to_numpy()[:, None]
        basket = held_matrix(expanded, products=self.products).astype(float)
        self.prior_ = PopularityRecommender(products=self.products).fit(portfolio).prior_
        self.pair_counts_ = basket.T @ (target * weight)
        self.item_counts_ = (basket * weight).sum(axis=0)
        table = pd.DataFrame(target * weight).groupby(self._keys(basket)).sum()
        self.basket_keys_ = table.index.to_numpy()
        self.basket_counts_ = table.to_numpy()
        return self

    def _pairwise(self, basket: np.ndarray) -> np.ndarray:
        conditional = (self.pair_counts_ + self.beta * self.prior_) / (
            self.item_counts_[:, None] + self.beta
        )
        size = basket.sum(axis=1, keepdims=True)
        mean = np.divide(basket @ conditional, size, out=np.zeros((len(basket), len(self.prior_))),
                         where=size > 0)  # fmt: skip
        return np.where(size > 0, mean, self.prior_)

    def _scores(self, portfolio: pd.DataFrame) -> np.ndarray:
        basket = held_matrix(portfolio, products=self.products).astype(float)
        backoff = self._pairwise(basket)
        row = pd.Index(self.basket_keys_).get_indexer(self._keys(basket))
        exact = np.where(row[:, None] >= 0, self.basket_counts_[np.maximum(row, 0)], 0.0)
        return (exact + self.alpha * backoff) / (exact.sum(axis=1, keepdims=True) + self.alpha)


class XGBoostRecommender(Recommender):
    """Multi-class gradient boosting on remaining basket + profile, then calibration.

    ``fit`` splits the customers three ways (never rows): a training part, an
    early-stopping part and a calibration part. Each part is expanded with
    :func:`insurereco.protocol.expand_portfolio` (weights ``1/n``). By default the
    booster is then refitted on the training and early-stopping parts together, so
    it learns from 95% of the customers. The calibrator (``"none"``,
    ``"temperature"`` or ``"isotonic"``; ``"auto"`` keeps the best by out-of-fold
    log loss) is fitted on the calibration customers only, which the booster never
    sees. ``fit(portfolio, unlabelled=customers)`` also learns from customers whose
    missing product is unknown (see :meth:`fit`).

    Parameters
    ----------
    n_estimators : int, default 600
        Maximum boosting rounds (early stopping usually stops sooner).
    learning_rate, max_depth, min_child_weight, subsample, colsample_bytree, reg_lambda
        XGBoost tree settings. Over three evaluation splits of Zimnat Train
        (``benchmarks/recommender_ablation.py``), learning rate 0.05 with depth 6, or 0.08
        with depth 5, lowers the held-out competition metric by about 0.0002 on every split
        (mean 0.02839 to 0.02820 and 0.02819) but scores three or one and a half times
        slower, so the faster defaults stay.
    early_stopping_rounds : int, default 30
    validation_fraction : float, default 0.1
        Share of customers used for early stopping.
    calibration : {"auto", "none", "temperature", "isotonic"}, default "auto"
    calibration_fraction : float, default 0.05
        Share of customers used to fit and choose the calibrator.
    min_category_count : int, default 20
        See :class:`~insurereco.features.PortfolioFeatures`.
    completion_min_proba : float, default 0.01
        When ``fit`` is given unlabelled customers, completions of their portfolios less
        likely than this are dropped (see :func:`insurereco.protocol.expand_completions`).
    booster_params : dict, optional
        Further XGBoost training parameters, passed as they are (for instance
        ``{"max_cat_to_onehot": 300}`` for one-hot splits of the codes, or
        ``{"grow_policy": "lossguide", "max_leaves": 24}``); they override the settings
        above. ``objective``, ``num_class`` and ``eval_metric`` define the task and cannot
        be set here. ``benchmarks/recommender_ablation.py`` compares such variants.
    refit : bool, default True
        After early stopping, refit on the training and early-stopping customers
        together with the number of rounds found, scaled up by their size ratio
        (calibration customers stay unseen). With ``refit=True`` and 5% of the
        customers for calibration, the booster learns from 95% of them instead of
        75% (``refit=False``, 15%): over five evaluation splits of Zimnat Train the
        held-out competition metric falls from 0.02859 to 0.02829 on average (lower
        on every split) and non-dominant Hit@3 rises from 0.899 to 0.902. Fitting
        takes about twice as long; scoring speed is unchanged.
    chunk_size : int, default 200_000
        Customers scored at once (bounds memory when predicting).
    n_jobs : int, optional
        Threads (default: ``INSURERECO_N_JOBS`` or 2, see :func:`insurereco.reporting.threads`).
    random_state : int, default 0
    products : tuple of str, default PRODUCTS
    """

    def __init__(
        self,
        *,
        n_estimators: int = 600,
        learning_rate: float = 0.15,
        max_depth: int = 4,
        min_child_weight: float = 2.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 30,
        validation_fraction: float = 0.1,
        calibration: str = "auto",
        calibration_fraction: float = 0.05,
        min_category_count: int = 20,
        completion_min_proba: float = 0.01,
        booster_params: dict | None = None,
        refit: bool = True,
        chunk_size: int = 200_000,
        n_jobs: int | None = None,
        random_state: int = 0,
        products: tuple[str, ...] = PRODUCTS,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.calibration = calibration
        self.calibration_fraction = calibration_fraction
        self.min_category_count = min_category_count
        self.completion_min_proba = completion_min_proba
        self.booster_params = booster_params
        self.refit = refit
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.products = products

    def _params(self) -> dict:
        extra = dict(self.booster_params or {})
        fixed = sorted(set(extra) & _TASK_PARAMS)
        if fixed:
            raise ValueError(f"booster_params cannot set {', '.join(fixed)}: they define the task")
        return {
            "objective": "multi:softprob",
            "num_class": len(self.products),
            "eval_metric": "mlogloss",
            "tree_method": "hist",
            "eta": self.learning_rate,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "lambda": self.reg_lambda,
            "nthread": threads(self.n_jobs),
            "seed": self.random_state,
            "verbosity": 0,
            **extra,
        }

    def _dmatrix(self, portfolio: pd.DataFrame, *, expanded: bool = False) -> xgb.DMatrix:
        features = self.features_.transform(portfolio)
        if not expanded:
            return xgb.DMatrix(features, enable_categorical=True, nthread=threads(self.n_jobs))
        return xgb.DMatrix(
            features,
            label=_targets(portfolio, self.products),
            weight=portfolio[WEIGHT_COLUMN].to_numpy(),
            enable_categorical=True,
            nthread=threads(self.n_jobs),
        )

    def fit(self, portfolio: pd.DataFrame, y=None, *, unlabelled: pd.DataFrame | None = None):
        """Fit features, booster (with early stopping) and calibrator.

        Parameters
        ----------
        portfolio : DataFrame
            Complete portfolios, one row per customer (unique ``ID``).
        y : None
            Ignored (the answers are the portfolios themselves).
        unlabelled : DataFrame, optional
            Customers missing one unknown product (such as the Zimnat Test file, or the
            customers about to be scored), none of them in ``portfolio``. The model is
            first fitted on ``portfolio`` alone; each unlabelled customer is then
            completed with the products it may miss, weighted by that first model's
            probabilities (:func:`insurereco.protocol.expand_completions`), and the
            booster and calibrator are fitted again with these completions added to
            the training customers (one round of expectation-maximisation). The
            early-stopping and calibration parts hold labelled customers only, but
            the completions come from the first model, which learnt from the
            early-stopping customers and chose its calibrator on the calibration
            customers: in the second pass these two checks are no longer strictly
            independent of the training data (held-out evaluations, which never use
            these customers, are not affected). With the 10,000 Zimnat Test customers
            as ``unlabelled``, ``benchmarks/recommender.py`` and the modelling chapter
            measure the held-out competition metric with and without them on five
            evaluation splits.
        """
        self._check_options()
        if unlabelled is not None:
            self._check_unlabelled(portfolio, unlabelled)
        parts = self._parts(portfolio)
        self.features_ = PortfolioFeatures(
            min_category_count=self.min_category_count, products=self.products
        ).fit(parts["train_customers"])
        self.feature_names_ = list(self.features_.feature_names_)
        self._fit_booster(parts)
        self._fit_calibrator(parts["calib"])
        self.n_unlabelled_ = 0
        if unlabelled is not None:
            completions = expand_completions(
                unlabelled,
                self.predict_proba(unlabelled),
                min_proba=self.completion_min_proba,
                products=self.products,
            )
            self._fit_booster(parts, extra=completions)
            self._fit_calibrator(parts["calib"])
            self.n_unlabelled_ = len(unlabelled)
        return self

    def _parts(self, portfolio: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Split customers into training, early-stopping and calibration parts, expanded."""
        held_out = self.validation_fraction + self.calibration_fraction
        train, rest = split_customers(portfolio, test_size=held_out, random_state=self.random_state)
        valid, calib = split_customers(
            rest, test_size=self.calibration_fraction / held_out, random_state=self.random_state
        )
        parts = {name: expand_portfolio(part, products=self.products)
                 for name, part in (("train", train), ("valid", valid), ("calib", calib))}  # fmt: skip
        parts["train_customers"] = train
        return parts

    def _check_options(self) -> None:
        """Refuse a bad calibration name or fractions before any boosting is done."""
        if self.calibration != "auto" and self.calibration not in CALIBRATORS:
            raise ValueError(
                f"unknown calibration {self.calibration!r}; choose 'auto' or one of "
                f"{sorted(CALIBRATORS)}"
            )
        fractions = {
            "validation_fraction": self.validation_fraction,
            "calibration_fraction": self.calibration_fraction,
        }
        for name, value in fractions.items():
            if not 0 < value < 1:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if sum(fractions.values()) >= 1:
            raise ValueError(
                f"validation_fraction + calibration_fraction must be below 1 (the rest trains "
                f"the booster), got {sum(fractions.values()):g}"
            )

    @staticmethod
    def _check_unlabelled(portfolio: pd.DataFrame, unlabelled: pd.DataFrame) -> None:
        if len(unlabelled) == 0:
            raise ValueError("unlabelled holds no customer")
        duplicated = unlabelled[ID_COLUMN].duplicated()
        if duplicated.any():
            raise ValueError(
                f"{int(duplicated.sum())} duplicated unlabelled customer IDs "
                f"(first: {unlabelled.loc[duplicated, ID_COLUMN].iloc[0]})"
            )
        check_other_customers(unlabelled, portfolio, role="training")

    def _fit_booster(self, parts: dict[str, pd.DataFrame], *, extra=None) -> None:
        """Boost with early stopping, then (``refit``) again on training + early-stopping parts."""
        train = (
            parts["train"]
            if extra is None
            else pd.concat([parts["train"], extra], ignore_index=True)
        )
        self.booster_ = xgb.train(
            self._params(),
            self._dmatrix(train, expanded=True),
            num_boost_round=self.n_estimators,
            evals=[(self._dmatrix(parts["valid"], expanded=True), "valid")],
            early_stopping_rounds=self.early_stopping_rounds,
            verbose_eval=False,
        )
        self.best_iteration_ = int(self.booster_.best_iteration)
        if self.refit:
            # Rounds scale with the number of rows. Completions of unlabelled customers
            # are many light rows, so they add slightly fewer rounds than their weight
            # would; the figures quoted for ``unlabelled`` are measured with this rule.
            both = pd.concat([train, parts["valid"]], ignore_index=True)
            rounds = int(round((self.best_iteration_ + 1) * len(both) / len(train)))
            self.booster_ = xgb.train(
                self._params(), self._dmatrix(both, expanded=True), num_boost_round=rounds
            )
            self.best_iteration_ = rounds - 1

    def _fit_calibrator(self, calib: pd.DataFrame) -> None:
        """Choose (``"auto"``) or fit the calibrator on the calibration customers."""
        calib_proba = self._raw_proba(calib)
        calib_y = _targets(calib, self.products)
        weight = calib[WEIGHT_COLUMN].to_numpy()
        best, self.calibration_report_ = select_calibrator(
            calib_proba,
            calib_y,
            sample_weight=weight,
            groups=calib[ID_COLUMN].to_numpy(),
            random_state=self.random_state,
        )
        if self.calibration == "auto":
            self.calibrator_ = best
        else:
            self.calibrator_ = make_calibrator(self.calibration).fit(
                calib_proba, calib_y, sample_weight=weight
            )

    def _raw_proba(self, portfolio: pd.DataFrame) -> np.ndarray:
        """Uncalibrated booster probabilities, held products masked."""
        dmatrix = self._dmatrix(portfolio)
        scores = self.booster_.predict(dmatrix, iteration_range=(0, self.best_iteration_ + 1))
        return mask_held(scores, held_matrix(portfolio, products=self.products))

    def _scores(self, portfolio: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(portfolio), len(self.products)))
        for start in range(0, len(portfolio), self.chunk_size):
            chunk = portfolio.iloc[start : start + self.chunk_size]
            out[start : start + len(chunk)] = self.calibrator_.transform(self._raw_proba(chunk))
        return out

    @property
    def calibration_method_(self) -> str:
        """Name of the calibrator in use."""
        return self.calibrator_.name


def save_model(model: Recommender, path: str | os.PathLike) -> Path:
    """Save a fitted model with its format version, products and input columns (atomic write).

    Returns
    -------
    Path
        Where the model was written.
    """
    path = Path(path)
    payload = {
        "format": MODEL_FORMAT,
        "version": MODEL_FORMAT_VERSION,
        "products": list(model.products),
        "columns": [ID_COLUMN, *PROFILE_COLUMNS, *model.products],
        "model": model,
    }
    return dump_artifact(payload, path)


def load_model(path: str | os.PathLike) -> tuple[Recommender, dict]:
    """Load a model written by :func:`save_model`.

    Returns
    -------
    model : Recommender
    schema : dict
        ``products`` and ``columns`` the model expects.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    DataValidationError
        The file is not a readable insurereco model of a supported version.
    """
    payload = load_artifact(path, fmt=MODEL_FORMAT, version=MODEL_FORMAT_VERSION)
    schema = {"products": tuple(payload["products"]), "columns": tuple(payload["columns"])}
    return payload["model"], schema
