"""Held-out scores shared by the Explain and Act chapters, fitted once and cached.

The association, calibration, explanation and campaign chapters all need the
same thing: the evaluation protocol of :mod:`insurereco.protocol` (split by
customer, one held product hidden per held-out customer), the recommenders of
:mod:`insurereco.models` (and :class:`insurereco.association.BestRuleRecommender`)
fitted on the training customers, and their probabilities on the held-out
customers. :func:`held_out_scores` does exactly that; given the Test customers
(``unlabelled``) and no other settings, it fits the model the command line ships
(``fit --unlabelled``), the modelling chapter's model of its first split.
:func:`zimnat_customers` loads the customers all these chapters start from. Fitting the XGBoost model
takes the longest, so :func:`fit_cached` keeps each fitted model on disk under a
key made of the training data, the model's parameters and the source code of
the modules that define it; a rerun with the same inputs loads it instead of
refitting (the result is identical, fitting is seeded).
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import pandas as pd
import xgboost as xgb

from insurereco import association, calibration, features, models, protocol
from insurereco.association import BestRuleRecommender
from insurereco.calibration import NoCalibration
from insurereco.data import PROJECT_ROOT, load_zimnat
from insurereco.models import PopularityRecommender, XGBoostRecommender
from insurereco.protocol import EvaluationSplit, evaluation_split, fit_model
from insurereco.reporting import dump_artifact, resolve_dataset
from insurereco.synthetic import make_portfolio, mask_one_product

__all__ = [
    "DEFAULT_CACHE_DIR",
    "ZIMNAT_MISSING",
    "Customers",
    "HeldOut",
    "fit_cached",
    "held_out_scores",
    "uncalibrated",
    "zimnat_customers",
]

#: Where fitted models are cached (``models/`` is not committed).
DEFAULT_CACHE_DIR = PROJECT_ROOT / "models" / "cache"

_CODE_MODULES = (association, calibration, features, models, protocol)

#: What the demo banner says when the Zimnat files are absent.
ZIMNAT_MISSING = (
    "The Zimnat files zimnat/Train.csv and Test.csv were not found (see data/README.md)."
)

#: Size of the synthetic stand-ins: complete portfolios, and customers missing one product.
_DEMO_CUSTOMERS, _DEMO_UNLABELLED = 20_000, 5_000


@dataclass(frozen=True)
class Customers:
    """The customers the recommender chapters start from.

    Attributes
    ----------
    portfolios : DataFrame
        Complete portfolios (Zimnat Train).
    unlabelled : DataFrame
        Customers missing one unknown product (Zimnat Test), which the shipped model also
        learns from (``insurereco fit --unlabelled``).
    is_demo : bool
        True when both are synthetic stand-ins (show a demo banner).
    """

    portfolios: pd.DataFrame
    unlabelled: pd.DataFrame
    is_demo: bool


def zimnat_customers(
    *,
    data_dir: str | os.PathLike | None = None,
    sample_size: int | None = None,
    allow_synthetic: bool = True,
    random_state: int = 0,
) -> Customers:
    """Load Zimnat Train and Test, or synthetic stand-ins when the files are absent.

    Every recommender chapter loads its customers here, so that on the same settings
    they fit the same model (and share one fit through :func:`fit_cached`).

    Parameters
    ----------
    data_dir : path-like, optional
        Folder holding ``zimnat/``; default: the search path of :mod:`insurereco.data`.
    sample_size : int, optional
        Keep a random sample of this many complete portfolios, and half as many
        unlabelled customers.
    allow_synthetic : bool, default True
        Fall back to synthetic stand-ins when a file is missing (never under CI, see
        :func:`insurereco.reporting.resolve_dataset`).
    random_state : int, default 0
        Seed of the stand-ins and of the samples.

    Returns
    -------
    Customers
    """

    def real():
        return load_zimnat("train", data_dir=data_dir), load_zimnat("test", data_dir=data_dir)

    def demo():
        others = make_portfolio(_DEMO_UNLABELLED, random_state=random_state + 1)
        masked, _ = mask_one_product(
            others.assign(ID="U" + others["ID"]), random_state=random_state
        )
        return make_portfolio(_DEMO_CUSTOMERS, random_state=random_state), masked

    (portfolios, unlabelled), is_demo = resolve_dataset(
        real, allow_synthetic=allow_synthetic, synthetic=demo
    )
    if sample_size:
        portfolios = portfolios.sample(
            n=min(sample_size, len(portfolios)), random_state=random_state
        )
        unlabelled = unlabelled.sample(
            n=min(sample_size // 2, len(unlabelled)), random_state=random_state
        )
    return Customers(portfolios=portfolios, unlabelled=unlabelled, is_demo=is_demo)


def _cache_key(model, portfolio: pd.DataFrame, unlabelled: pd.DataFrame | None = None) -> str:
    digest = hashlib.sha256()
    for frame in (portfolio, unlabelled):
        if frame is None:
            continue
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
        digest.update(list(frame.columns).__repr__().encode())
    digest.update(type(model).__qualname__.encode())
    digest.update(repr(sorted(model.get_params().items())).encode())
    digest.update(xgb.__version__.encode())
    for module in _CODE_MODULES:
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:24]


def _load(path: Path):
    """Load a cached model; ``None`` (and the entry removed) when missing or damaged."""
    if not path.is_file():
        return None
    try:
        return joblib.load(path)
    except Exception:  # a damaged cache entry is simply refitted
        path.unlink(missing_ok=True)
        return None


def _acquire(lock: Path, path: Path, timeout: float):
    """Take ``lock``; while another process holds it, wait for its result at ``path``.

    Returns ``(fitted or None, owns_lock)``.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return None, True
        except FileExistsError:
            fitted = _load(path)
            if fitted is not None:
                return fitted, False
            if time.monotonic() > deadline:  # stale lock: fit without it
                return None, False
            time.sleep(0.5)


def fit_cached(
    model,
    portfolio: pd.DataFrame,
    *,
    unlabelled: pd.DataFrame | None = None,
    cache_dir: str | os.PathLike | None = None,
    lock_timeout: float = 300.0,
):
    """Fit ``model`` on ``portfolio``, or load the same fit from the cache.

    Chapters executed in parallel share one fit: the first takes a lock file
    while fitting, the others wait for its result (at most ``lock_timeout``
    seconds, then fit themselves).

    Parameters
    ----------
    model : estimator
        Unfitted model with ``get_params`` and ``fit(portfolio)`` (and
        ``fit(portfolio, unlabelled=...)`` when ``unlabelled`` is given).
    portfolio : pandas.DataFrame
        Training portfolios.
    unlabelled : pandas.DataFrame, optional
        Customers missing one unknown product, passed to ``model.fit`` (and part of the
        cache key) when given.
    cache_dir : path-like, optional
        Cache folder (default :data:`DEFAULT_CACHE_DIR`). ``False`` disables the cache.
    lock_timeout : float, default 300
        Longest wait for another process fitting the same model.

    Returns
    -------
    estimator
        The fitted model (a loaded copy on a cache hit).
    """
    if cache_dir is False:
        return fit_model(model, portfolio, unlabelled=unlabelled)
    folder = Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{type(model).__name__}-{_cache_key(model, portfolio, unlabelled)}.joblib"
    fitted = _load(path)
    if fitted is not None:
        return fitted
    lock = path.with_suffix(".lock")
    fitted, owns_lock = _acquire(lock, path, lock_timeout)
    if fitted is not None:
        return fitted
    try:
        fitted = fit_model(model, portfolio, unlabelled=unlabelled)
        dump_artifact(fitted, path)
    finally:
        if owns_lock:
            lock.unlink(missing_ok=True)
    return fitted


def uncalibrated(model: XGBoostRecommender) -> XGBoostRecommender:
    """A copy of a fitted XGBoost recommender with its calibration step switched off."""
    raw = copy.copy(model)
    raw.calibrator_ = NoCalibration()
    return raw


@dataclass(frozen=True)
class HeldOut:
    """Fitted recommenders and their probabilities on the held-out customers.

    Attributes
    ----------
    split : EvaluationSplit
        Training portfolios, masked held-out portfolios and hidden products.
    models : dict
        ``"model"`` (XGBoost, calibrated), ``"popularity"`` and ``"best_rule"``.
    proba : dict of DataFrame
        Held-out ``predict_proba`` of each model, plus ``"model_uncalibrated"``.
    """

    split: EvaluationSplit
    models: dict = field(default_factory=dict)
    proba: dict = field(default_factory=dict)

    @property
    def held(self) -> pd.DataFrame:
        """0/1 products the held-out customers are known to hold (masked portfolio)."""
        columns = list(self.proba["model"].columns)
        return self.split.masked.set_index("ID")[columns]


def held_out_scores(
    portfolio: pd.DataFrame,
    *,
    test_size: float = 0.2,
    random_state: int = 0,
    model_params: dict | None = None,
    min_support: float = 0.001,
    unlabelled: pd.DataFrame | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> HeldOut:
    """Split, fit the recommenders on training customers, score held-out customers.

    Parameters
    ----------
    portfolio : pandas.DataFrame
        Complete portfolios (e.g. ``load_zimnat("train")``).
    test_size : float, default 0.2
        Share of customers held out (:func:`insurereco.protocol.evaluation_split`).
    random_state : int, default 0
        Seed of the split, the masking and the model.
    model_params : dict, optional
        Keyword arguments of :class:`~insurereco.models.XGBoostRecommender` that differ
        from its defaults, the shipped settings.
    min_support : float, default 0.001
        Minimum support of the best-rule baseline.
    unlabelled : pandas.DataFrame, optional
        Customers missing one unknown product that the XGBoost model also learns from
        (e.g. ``zimnat_customers().unlabelled``), as the shipped model does. The
        baselines learn from complete portfolios only.
    cache_dir : path-like or False, optional
        See :func:`fit_cached`.

    Returns
    -------
    HeldOut
    """
    split = evaluation_split(portfolio, test_size=test_size, random_state=random_state)
    params = {"random_state": random_state, **(model_params or {})}
    fitted = {
        "model": fit_cached(
            XGBoostRecommender(**params), split.train, unlabelled=unlabelled, cache_dir=cache_dir
        ),
        "popularity": PopularityRecommender().fit(split.train),
        "best_rule": BestRuleRecommender(min_support=min_support).fit(split.train),
    }
    proba = {name: model.predict_proba(split.masked) for name, model in fitted.items()}
    proba["model_uncalibrated"] = uncalibrated(fitted["model"]).predict_proba(split.masked)
    return HeldOut(split=split, models=fitted, proba=proba)
