"""Probability calibration: calibrators, ECE, Brier score and reliability plots.

Everything here works on plain arrays so that any model can use it:

* binary problems pass a 1-D array of probabilities of the positive class and 0/1
  outcomes;
* multi-class problems pass an ``(n, k)`` array of class probabilities (rows sum to
  one; a probability of exactly 0 marks a class that is impossible for that row,
  such as a product the customer already holds) and integer labels.

Calibrators (:class:`NoCalibration`, :class:`TemperatureScaling`,
:class:`IsotonicCalibration`) share ``fit(proba, y, *, sample_weight=None)`` and
``transform(proba)``; impossible classes stay at 0 and rows are renormalised.
:func:`select_calibrator` compares them by cross-fitting on a calibration set and
keeps the one with the lowest log loss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from sklearn.isotonic import IsotonicRegression

__all__ = [
    "CALIBRATORS",
    "LOG_BIN_FLOOR",
    "IsotonicCalibration",
    "NoCalibration",
    "TemperatureScaling",
    "brier_score",
    "chance_calibration_error",
    "expected_calibration_error",
    "log_loss",
    "make_calibrator",
    "one_vs_rest",
    "plot_reliability",
    "reliability_table",
    "select_calibrator",
    "top_label_calibration_error",
]

_EPS = 1e-15


def _as_matrix(proba: np.ndarray) -> tuple[np.ndarray, bool]:
    """Return ``(n, k)`` probabilities and whether the input was binary 1-D."""
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 1:
        return np.column_stack([1.0 - proba, proba]), True
    if proba.ndim != 2:
        raise ValueError(f"probabilities must be 1-D or 2-D, got {proba.ndim} dimensions")
    return proba, False


def _renormalise(proba: np.ndarray) -> np.ndarray:
    """Divide each row by its sum (rows summing to 0 stay 0)."""
    total = proba.sum(axis=1, keepdims=True)
    return np.divide(proba, total, out=np.zeros_like(proba), where=total > 0)


def _weights(sample_weight: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)


def log_loss(proba: np.ndarray, y: np.ndarray, *, sample_weight: np.ndarray | None = None) -> float:
    """Weighted mean negative log probability of the true class.

    Parameters
    ----------
    proba : array, shape (n,) or (n, k)
        Probabilities (1-D: of the positive class).
    y : array of int, shape (n,)
        True class (0/1 for 1-D input).
    sample_weight : array, optional
        Row weights.
    """
    matrix, _ = _as_matrix(proba)
    y = np.asarray(y, dtype=int)
    p_true = np.clip(matrix[np.arange(len(y)), y], _EPS, 1.0)
    return float(np.average(-np.log(p_true), weights=_weights(sample_weight, len(y))))


def one_vs_rest(
    proba: np.ndarray, y: np.ndarray, *, sample_weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten multi-class predictions into binary (probability, outcome, weight) triples.

    Cells with probability exactly 0 (impossible classes) are dropped. 1-D binary input
    is returned unchanged.
    """
    proba = np.asarray(proba, dtype=float)
    y = np.asarray(y, dtype=int)
    weight = _weights(sample_weight, len(y))
    if proba.ndim == 1:
        return proba, y.astype(float), weight
    outcome = np.zeros_like(proba)
    outcome[np.arange(len(y)), y] = 1.0
    keep = proba > 0
    return proba[keep], outcome[keep], np.broadcast_to(weight[:, None], proba.shape)[keep]


def brier_score(
    proba: np.ndarray, y: np.ndarray, *, sample_weight: np.ndarray | None = None
) -> float:
    """Mean squared error between probability and outcome over (row, class) cells.

    For multi-class input this is the one-vs-rest Brier score over possible classes.
    """
    p, outcome, weight = one_vs_rest(proba, y, sample_weight=sample_weight)
    return float(np.average((p - outcome) ** 2, weights=weight))


#: Lower edge of the first geometric bin of ``strategy="log"``; smaller probabilities share
#: one bin from 0.
LOG_BIN_FLOOR = 1e-4


def _bin_index(p: np.ndarray, n_bins: int) -> np.ndarray:
    return np.minimum((p * n_bins).astype(int), n_bins - 1)


def _bin_edges(n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if strategy == "log":
        return np.concatenate([[0.0], np.geomspace(LOG_BIN_FLOOR, 1.0, n_bins)])
    raise ValueError(f"strategy must be 'uniform' or 'log', got {strategy!r}")


def reliability_table(
    proba: np.ndarray,
    y: np.ndarray,
    *,
    n_bins: int = 15,
    strategy: str = "uniform",
    sample_weight: np.ndarray | None = None,
) -> pd.DataFrame:
    """Bin predictions and compare mean prediction with outcome rate in each bin.

    Parameters
    ----------
    proba, y, sample_weight
        As in :func:`one_vs_rest`.
    n_bins : int, default 15
        Number of bins (with ``"log"``, including the one from 0 to :data:`LOG_BIN_FLOOR`).
    strategy : {"uniform", "log"}, default "uniform"
        ``"uniform"``: equal-width bins (those of :func:`expected_calibration_error`).
        ``"log"``: one bin from 0 to :data:`LOG_BIN_FLOOR`, then ``n_bins - 1`` bins of
        equal width on a log scale up to 1, which resolves the many small probabilities
        of a multi-class model (for a reliability diagram on log axes).

    Returns
    -------
    DataFrame
        One row per bin with positive weight: ``bin_low``, ``bin_high``, ``mean_predicted``,
        ``observed_rate``, ``weight`` (sum of weights) and ``count``.
    """
    p, outcome, weight = one_vs_rest(proba, y, sample_weight=sample_weight)
    edges = _bin_edges(n_bins, strategy)
    if strategy == "uniform":  # the ECE's own binning, exact at the edges
        index = _bin_index(p, n_bins)
    else:
        index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    w = np.bincount(index, weights=weight, minlength=n_bins)
    wp = np.bincount(index, weights=weight * p, minlength=n_bins)
    wy = np.bincount(index, weights=weight * outcome, minlength=n_bins)
    count = np.bincount(index, minlength=n_bins)
    keep = w > 0
    return pd.DataFrame(
        {
            "bin_low": edges[:-1][keep],
            "bin_high": edges[1:][keep],
            "mean_predicted": wp[keep] / w[keep],
            "observed_rate": wy[keep] / w[keep],
            "weight": w[keep],
            "count": count[keep],
        }
    )


def expected_calibration_error(
    proba: np.ndarray,
    y: np.ndarray,
    *,
    n_bins: int = 15,
    sample_weight: np.ndarray | None = None,
) -> float:
    """Expected calibration error with equal-width bins.

    The weighted mean, over bins, of ``|mean predicted - observed rate|``. Multi-class
    input is flattened one-vs-rest over possible classes (see :func:`one_vs_rest`), so
    it measures whether "p = 0.3" means "30% of the time" for every class.

    Parameters
    ----------
    proba : array, shape (n,) or (n, k)
        Probabilities (1-D: of the positive class; 2-D: of each class, 0 for impossible ones).
    y : array of int, shape (n,)
        True class (0/1 for 1-D input).
    n_bins : int, default 15
        Number of equal-width bins of the probability.
    sample_weight : array, optional
        Row weights.

    Returns
    -------
    float
    """
    table = reliability_table(proba, y, n_bins=n_bins, sample_weight=sample_weight)
    gap = (table["mean_predicted"] - table["observed_rate"]).abs()
    return float(np.average(gap, weights=table["weight"]))


def top_label_calibration_error(
    proba: np.ndarray,
    y: np.ndarray,
    *,
    n_bins: int = 15,
    sample_weight: np.ndarray | None = None,
) -> float:
    """Expected calibration error of the top class of each row only (top-label ECE).

    :func:`expected_calibration_error` pools every (row, possible class) cell, most of
    them near 0, which dilutes the gaps of the few large probabilities. This one keeps
    one cell per row, the most probable class (for a recommender: the offer a campaign
    would make), and compares its probability with how often it is the true class, in
    equal-width bins (the usual "confidence" ECE of Guo et al., 2017).

    Parameters
    ----------
    proba : array, shape (n, k)
        Class probabilities.
    y : array of int, shape (n,)
        True class.
    n_bins : int, default 15
        Number of equal-width bins of the top probability.
    sample_weight : array, optional
        Row weights.

    Returns
    -------
    float
    """
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2:
        raise ValueError(f"top-label ECE needs (n, k) probabilities, got {proba.ndim} dimensions")
    top = proba.argmax(axis=1)
    correct = (top == np.asarray(y, dtype=int)).astype(int)
    return expected_calibration_error(
        proba.max(axis=1), correct, n_bins=n_bins, sample_weight=sample_weight
    )


def chance_calibration_error(
    proba: np.ndarray,
    *,
    n_bins: int = 15,
    n_draws: int = 200,
    random_state: int = 0,
) -> np.ndarray:
    """ECE that exact probabilities would show by chance alone, on the same predictions.

    On a finite sample the ECE of perfectly calibrated probabilities is not 0: each bin's
    observed rate wanders around its mean probability. This draws ``n_draws`` sets of
    outcomes from ``proba`` itself (each outcome 1 with its own probability) and returns
    the ECE of each set, so an observed ECE can be read against what chance gives on
    that many predictions: well inside this spread, the gap is noise.

    Parameters
    ----------
    proba : array, shape (n,)
        Probabilities of a binary outcome (for top-label ECE, the top probability of each row).
    n_bins : int, default 15
        Number of equal-width bins of each ECE, as in :func:`expected_calibration_error`.
    n_draws : int, default 200
        Number of simulated outcome sets (one ECE each).
    random_state : int, default 0
        Seed of the generator that draws the simulated outcomes from ``proba``.

    Returns
    -------
    array of float, shape (n_draws,)
    """
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 1:
        raise ValueError(f"chance ECE needs 1-D probabilities, got {proba.ndim} dimensions")
    if n_draws < 1:
        raise ValueError(f"n_draws must be at least 1, got {n_draws}")
    rng = np.random.default_rng(random_state)
    return np.array(
        [
            expected_calibration_error(proba, (rng.random(len(proba)) < proba).astype(int),
                                       n_bins=n_bins)
            for _ in range(n_draws)
        ]
    )  # fmt: skip


class NoCalibration:
    """Identity calibrator (keeps the model's probabilities)."""

    name = "none"

    def fit(self, proba, y, *, sample_weight=None):
        """Nothing to learn; return ``self``."""
        return self

    def transform(self, proba: np.ndarray) -> np.ndarray:
        """Return ``proba`` unchanged (as float)."""
        return np.asarray(proba, dtype=float)


class TemperatureScaling:
    """Divide log-probabilities by one temperature ``T`` and renormalise.

    ``T > 1`` softens over-confident predictions, ``T < 1`` sharpens them. Classes
    with probability 0 stay impossible.
    """

    name = "temperature"

    def __init__(self) -> None:
        self.temperature_ = 1.0

    @staticmethod
    def _scale(proba: np.ndarray, temperature: float) -> np.ndarray:
        matrix, binary = _as_matrix(proba)
        possible = matrix > 0
        logp = np.log(np.where(possible, matrix, 1.0)) / temperature
        logp = np.where(possible, logp, -np.inf)
        logp -= logp.max(axis=1, keepdims=True)
        scaled = _renormalise(np.where(possible, np.exp(logp), 0.0))
        return scaled[:, 1] if binary else scaled

    def fit(self, proba, y, *, sample_weight=None):
        """Find the temperature minimising the weighted log loss on ``(proba, y)``."""
        result = minimize_scalar(
            lambda log_t: log_loss(
                self._scale(proba, float(np.exp(log_t))), y, sample_weight=sample_weight
            ),
            bounds=(np.log(0.05), np.log(20.0)),
            method="bounded",
        )
        self.temperature_ = float(np.exp(result.x))
        return self

    def transform(self, proba: np.ndarray) -> np.ndarray:
        """Apply the fitted temperature."""
        return self._scale(proba, self.temperature_)


class IsotonicCalibration:
    """Monotone map from predicted to observed probability, pooled over classes.

    Fitted one-vs-rest on every possible (row, class) cell; after mapping, rows are
    renormalised so they still sum to one.
    """

    name = "isotonic"

    def __init__(self) -> None:
        self.isotonic_: IsotonicRegression | None = None

    def fit(self, proba, y, *, sample_weight=None):
        """Fit the isotonic map on flattened one-vs-rest cells."""
        p, outcome, weight = one_vs_rest(proba, y, sample_weight=sample_weight)
        self.isotonic_ = IsotonicRegression(y_min=1e-6, y_max=1.0, out_of_bounds="clip")
        self.isotonic_.fit(p, outcome, sample_weight=weight)
        return self

    def transform(self, proba: np.ndarray) -> np.ndarray:
        """Map every possible cell, then renormalise rows."""
        matrix, binary = _as_matrix(proba)
        if binary:
            return self.isotonic_.predict(matrix[:, 1])
        mapped = self.isotonic_.predict(matrix.ravel()).reshape(matrix.shape)
        return _renormalise(np.where(matrix > 0, mapped, 0.0))


#: Calibrator classes by name.
CALIBRATORS = {
    "none": NoCalibration,
    "temperature": TemperatureScaling,
    "isotonic": IsotonicCalibration,
}


def make_calibrator(name: str):
    """Return a new, unfitted calibrator called ``name`` (none, temperature, isotonic)."""
    if name not in CALIBRATORS:
        raise ValueError(f"unknown calibration {name!r}; choose one of {sorted(CALIBRATORS)}")
    return CALIBRATORS[name]()


def _fold_of(groups: np.ndarray, n_splits: int, random_state: int) -> np.ndarray:
    """Assign each distinct group to a fold at random; return the fold of each row."""
    unique, inverse = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng(random_state)
    return rng.permutation(len(unique))[inverse] % n_splits


def select_calibrator(
    proba: np.ndarray,
    y: np.ndarray,
    *,
    methods: tuple[str, ...] = ("none", "temperature", "isotonic"),
    sample_weight: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    n_splits: int = 2,
    n_bins: int = 15,
    random_state: int = 0,
):
    """Compare calibrators by cross-fitting and refit the best (lowest log loss) on all rows.

    Each method is fitted on all folds but one and scored on the left-out fold, so no
    method is judged on the rows it learnt from.

    Parameters
    ----------
    proba : array, shape (n,) or (n, k)
        Uncalibrated probabilities on a calibration set the model did not train on.
    y : array of int
        True classes.
    methods : tuple of str
        Calibrators to compare.
    sample_weight : array, optional
        Row weights.
    groups : array, optional
        Rows of one group (e.g. one customer) stay in the same fold.
    n_splits : int, default 2
        Number of folds.
    n_bins : int, default 15
        Bins of the ECE.
    random_state : int, default 0
        Seed of the fold assignment.

    Returns
    -------
    best : calibrator
        The chosen calibrator, refitted on every row.
    report : DataFrame
        One row per method: out-of-fold ``log_loss``, ``ece`` and ``brier``.
    """
    y = np.asarray(y, dtype=int)
    weight = _weights(sample_weight, len(y))
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    fold = _fold_of(groups, n_splits, random_state)
    matrix, binary = _as_matrix(proba)
    rows = []
    for method in methods:
        calibrated = np.zeros_like(matrix)
        for k in range(n_splits):
            train, test = fold != k, fold == k
            source = matrix[:, 1] if binary else matrix
            model = make_calibrator(method).fit(
                source[train], y[train], sample_weight=weight[train]
            )
            out = model.transform(source[test])
            calibrated[test] = np.column_stack([1 - out, out]) if binary else out
        view = calibrated[:, 1] if binary else calibrated
        rows.append(
            {
                "method": method,
                "log_loss": log_loss(view, y, sample_weight=weight),
                "ece": expected_calibration_error(view, y, n_bins=n_bins, sample_weight=weight),
                "brier": brier_score(view, y, sample_weight=weight),
            }
        )
    report = pd.DataFrame(rows).set_index("method")
    best = str(report["log_loss"].idxmin())
    source = matrix[:, 1] if binary else matrix
    return make_calibrator(best).fit(source, y, sample_weight=weight), report


def plot_reliability(
    proba: np.ndarray,
    y: np.ndarray,
    *,
    ax,
    n_bins: int = 15,
    strategy: str = "uniform",
    sample_weight: np.ndarray | None = None,
    label: str | None = None,
    **plot_kwargs,
):
    """Draw a reliability diagram (mean predicted vs observed rate per bin) on ``ax``.

    The diagonal marks perfect calibration; ``strategy`` is that of
    :func:`reliability_table` (``"log"`` for log axes). Returns ``ax``.

    Parameters
    ----------
    proba : array, shape (n,) or (n, k)
        Probabilities (1-D: of the positive class; 2-D: of each class, 0 for impossible ones).
    y : array of int, shape (n,)
        True class (0/1 for 1-D input).
    ax : matplotlib Axes
        Axes to draw on (required).
    n_bins : int, default 15
        Number of bins, passed to :func:`reliability_table`.
    strategy : {"uniform", "log"}, default "uniform"
        Binning of :func:`reliability_table`.
    sample_weight : array, optional
        Row weights.
    label : str, optional
        Legend label of the curve; when given, a legend is drawn.
    **plot_kwargs
        Passed to ``ax.plot`` for the curve (e.g. ``color``).
    """
    table = reliability_table(
        proba, y, n_bins=n_bins, strategy=strategy, sample_weight=sample_weight
    )
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
    ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", label=label, **plot_kwargs)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed rate")
    if label is not None:
        ax.legend()
    return ax
