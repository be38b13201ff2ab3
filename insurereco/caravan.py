"""CoIL Challenge 2000: who buys caravan (mobile home) insurance.

The Insurance Company benchmark (Sentient Machine Research, 2000) has 5,822 training
customers with the target ``CARAVAN`` and 4,000 evaluation customers. Their targets
(``tictgts2000.txt``) are public on UCI, but this project deliberately does not use them:
the evaluation rows are kept for independent scoring. The task: choose the 800
evaluation customers most likely to hold a caravan policy. LICENCE: non-commercial
research and education only; the data is never copied into this repository.

This module holds what is specific to that benchmark: column descriptions in plain
words, a synthetic stand-in (:func:`make_coil_like`), the repeated cross-validation
estimate of how many buyers a top-20% selection catches (:func:`cv_top_capture`,
:func:`choose_by_cv`, :func:`hits_range`, :func:`forecast_gap`), the selection file
(:func:`select_top`), the observed owner rate beside the model's effect
(:func:`owner_rate_by_value`) and the profit of mailing the owners' look-alikes under a
stated assumption (:func:`lookalike_profit`). The "buyers" the challenge counts already
hold the policy: its score measures how well a ranking finds look-alikes, not sales.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import Pipeline

from insurereco.propensity import (
    TableSchema,
    capture_at_top,
    classification_metrics,
    fit_estimator,
)

__all__ = [
    "CANDIDATES",
    "CHALLENGE_EVAL_OWNERS",
    "CHALLENGE_WINNER_HITS",
    "COIL_CATEGORICAL",
    "COIL_COLUMNS",
    "DESCRIPTIONS",
    "choose_by_cv",
    "cv_top_capture",
    "describe",
    "forecast_gap",
    "hits_estimate",
    "hits_range",
    "lookalike_profit",
    "make_coil_like",
    "importance_table",
    "mean_shap_by_value",
    "owner_rate_by_value",
    "select_top",
    "shap_by_feature",
    "shap_direction",
    "trait_list",
    "value_ranges",
]

# Names and descriptions of the 86 columns, as in the benchmark's dictionary.txt.
_DICTIONARY = (
    ("MOSTYPE", "Customer Subtype"),
    ("MAANTHUI", "Number of houses"),
    ("MGEMOMV", "Avg size household"),
    ("MGEMLEEF", "Avg age"),
    ("MOSHOOFD", "Customer main type"),
    ("MGODRK", "Roman catholic"),
    ("MGODPR", "Protestant"),
    ("MGODOV", "Other religion"),
    ("MGODGE", "No religion"),
    ("MRELGE", "Married"),
    ("MRELSA", "Living together"),
    ("MRELOV", "Other relation"),
    ("MFALLEEN", "Singles"),
    ("MFGEKIND", "Household without children"),
    ("MFWEKIND", "Household with children"),
    ("MOPLHOOG", "High level education"),
    ("MOPLMIDD", "Medium level education"),
    ("MOPLLAAG", "Lower level education"),
    ("MBERHOOG", "High status"),
    ("MBERZELF", "Entrepreneur"),
    ("MBERBOER", "Farmer"),
    ("MBERMIDD", "Middle management"),
    ("MBERARBG", "Skilled labourers"),
    ("MBERARBO", "Unskilled labourers"),
    ("MSKA", "Social class A"),
    ("MSKB1", "Social class B1"),
    ("MSKB2", "Social class B2"),
    ("MSKC", "Social class C"),
    ("MSKD", "Social class D"),
    ("MHHUUR", "Rented house"),
    ("MHKOOP", "Home owners"),
    ("MAUT1", "1 car"),
    ("MAUT2", "2 cars"),
    ("MAUT0", "No car"),
    ("MZFONDS", "National Health Service"),
    ("MZPART", "Private health insurance"),
    ("MINKM30", "Income < 30.000"),
    ("MINK3045", "Income 30-45.000"),
    ("MINK4575", "Income 45-75.000"),
    ("MINK7512", "Income 75-122.000"),
    ("MINK123M", "Income >123.000"),
    ("MINKGEM", "Average income"),
    ("MKOOPKLA", "Purchasing power class"),
    ("PWAPART", "Contribution private third party insurance"),
    ("PWABEDR", "Contribution third party insurance (firms)"),
    ("PWALAND", "Contribution third party insurane (agriculture)"),
    ("PPERSAUT", "Contribution car policies"),
    ("PBESAUT", "Contribution delivery van policies"),
    ("PMOTSCO", "Contribution motorcycle/scooter policies"),
    ("PVRAAUT", "Contribution lorry policies"),
    ("PAANHANG", "Contribution trailer policies"),
    ("PTRACTOR", "Contribution tractor policies"),
    ("PWERKT", "Contribution agricultural machines policies"),
    ("PBROM", "Contribution moped policies"),
    ("PLEVEN", "Contribution life insurances"),
    ("PPERSONG", "Contribution private accident insurance policies"),
    ("PGEZONG", "Contribution family accidents insurance policies"),
    ("PWAOREG", "Contribution disability insurance policies"),
    ("PBRAND", "Contribution fire policies"),
    ("PZEILPL", "Contribution surfboard policies"),
    ("PPLEZIER", "Contribution boat policies"),
    ("PFIETS", "Contribution bicycle policies"),
    ("PINBOED", "Contribution property insurance policies"),
    ("PBYSTAND", "Contribution social security insurance policies"),
    ("AWAPART", "Number of private third party insurance"),
    ("AWABEDR", "Number of third party insurance (firms)"),
    ("AWALAND", "Number of third party insurane (agriculture)"),
    ("APERSAUT", "Number of car policies"),
    ("ABESAUT", "Number of delivery van policies"),
    ("AMOTSCO", "Number of motorcycle/scooter policies"),
    ("AVRAAUT", "Number of lorry policies"),
    ("AAANHANG", "Number of trailer policies"),
    ("ATRACTOR", "Number of tractor policies"),
    ("AWERKT", "Number of agricultural machines policies"),
    ("ABROM", "Number of moped policies"),
    ("ALEVEN", "Number of life insurances"),
    ("APERSONG", "Number of private accident insurance policies"),
    ("AGEZONG", "Number of family accidents insurance policies"),
    ("AWAOREG", "Number of disability insurance policies"),
    ("ABRAND", "Number of fire policies"),
    ("AZEILPL", "Number of surfboard policies"),
    ("APLEZIER", "Number of boat policies"),
    ("AFIETS", "Number of bicycle policies"),
    ("AINBOED", "Number of property insurance policies"),
    ("ABYSTAND", "Number of social security insurance policies"),
    ("CARAVAN", "Number of mobile home policies"),
)
#: Column names in file order; the last one, ``CARAVAN``, is the target.
COIL_COLUMNS: tuple[str, ...] = tuple(name for name, _ in _DICTIONARY)
#: Column name -> description from the dictionary.
DESCRIPTIONS: dict[str, str] = dict(_DICTIONARY)
#: Coded customer types, treated as categories rather than numbers.
COIL_CATEGORICAL: tuple[str, ...] = ("MOSTYPE", "MOSHOOFD")

#: Policy owners among the 4,000 evaluation customers, and how many of them the
#: challenge winner's 800 caught. Source: P. van der Putten and M. van Someren (eds.),
#: "CoIL Challenge 2000: The Insurance Company Case", Leiden Institute of Advanced
#: Computer Science, Technical Report 2000-09 (June 2000), and the UCI dataset page.
CHALLENGE_EVAL_OWNERS: int = 238
CHALLENGE_WINNER_HITS: int = 121

#: Candidate models compared by repeated cross-validation (name -> model type, params).
CANDIDATES: dict[str, tuple[str, dict[str, Any]]] = {
    "logistic": ("logistic", {"C": 0.01}),
    "xgboost": (
        "xgboost",
        {"max_depth": 2, "n_estimators": 200, "learning_rate": 0.05, "colsample_bytree": 0.5},
    ),
    "blend": (
        "blend",
        {
            "logistic__C": 0.01,
            "xgboost__max_depth": 2,
            "xgboost__n_estimators": 200,
            "xgboost__learning_rate": 0.05,
            "xgboost__colsample_bytree": 0.5,
        },
    ),
}


def describe(column: str) -> str:
    """Plain-words meaning of a CoIL column (a zip-code share, a contribution band, a count)."""
    text = DESCRIPTIONS.get(column, column)
    if column.startswith("P") and column in DESCRIPTIONS:
        return f"{text} (band 0-9, customer's own)"
    if column.startswith("A") and column in DESCRIPTIONS:
        return f"{text} (customer's own)"
    if column.startswith("M") and column in DESCRIPTIONS and column not in COIL_CATEGORICAL:
        return f"{text} (zip-code level)"
    return text


def make_coil_like(
    n_rows: int = 1500, *, split: str = "train", random_state: int = 0
) -> pd.DataFrame:
    """Synthetic stand-in with the CoIL columns, integer codes and a ~6% caravan rate.

    Caravan ownership rises with the car-policy contribution (``PPERSAUT``), purchasing
    power (``MKOOPKLA``), fire and boat policies, and falls with the zip code's share of
    lower education (``MOPLLAAG``), loosely like the real data.

    Parameters
    ----------
    n_rows : int
        Number of customers (rows) generated.
    split : {"train", "eval"}
        ``"eval"`` leaves out ``CARAVAN``.
    random_state : int
        Seed of the generator that draws every column and the ``CARAVAN`` outcome.
    """
    if split not in {"train", "eval"}:
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    rng = np.random.default_rng(random_state)
    data = {}
    for name in COIL_COLUMNS[:-1]:
        if name == "MOSTYPE":
            data[name] = rng.integers(1, 42, n_rows)
        elif name == "MOSHOOFD":
            data[name] = rng.integers(1, 11, n_rows)
        elif name in {"MAANTHUI", "MGEMOMV", "MGEMLEEF"}:
            data[name] = rng.integers(1, 6, n_rows)
        elif name.startswith("M"):
            data[name] = rng.integers(0, 10, n_rows)
        elif name.startswith("P"):
            data[name] = np.where(rng.random(n_rows) < 0.25, rng.integers(1, 8, n_rows), 0)
        else:
            data[name] = np.zeros(n_rows, dtype=int)
    for p, a in (("PPERSAUT", "APERSAUT"), ("PBRAND", "ABRAND"), ("PPLEZIER", "APLEZIER")):
        data[a] = (data[p] > 0).astype(int) + (data[p] > 5).astype(int)
    data["PPERSAUT"] = np.where(rng.random(n_rows) < 0.5, rng.choice([5, 6], n_rows), 0)
    data["APERSAUT"] = (data["PPERSAUT"] > 0).astype(int)
    logit = (
        -4.6
        + 1.6 * (data["PPERSAUT"] == 6)
        + 0.2 * data["MKOOPKLA"]
        + 0.8 * (data["PBRAND"] > 0)
        + 1.5 * (data["APLEZIER"] > 0)
        - 0.15 * data["MOPLLAAG"]
    )
    df = pd.DataFrame(data).astype("int64")
    if split == "train":
        df["CARAVAN"] = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype("int64")
    return df


def cv_top_capture(
    model_type: str,
    schema: TableSchema,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    params: Mapping[str, Any] | None = None,
    fraction: float = 0.2,
    n_splits: int = 5,
    n_repeats: int = 4,
    random_state: int = 0,
) -> pd.DataFrame:
    """Repeated stratified cross-validation of a top-``fraction`` selection.

    Parameters
    ----------
    model_type : str
        A key of :data:`insurereco.propensity.MODEL_TYPES`.
    schema, X, y
        As for :func:`insurereco.propensity.fit_estimator`; ``y`` is taken by position.
    params : mapping, optional
        Model hyper-parameters (see :func:`insurereco.propensity.make_estimator`).
    fraction : float, default 0.2
        Share of each test fold selected, most likely first.
    n_splits : int, default 5
        Folds per repetition.
    n_repeats : int, default 4
        Repetitions of the cross-validation, each with new folds.
    random_state : int, default 0
        Seed of the fold assignment and of every model
        (see :func:`insurereco.propensity.make_estimator`).

    Returns
    -------
    DataFrame
        One row per fold: ``fold``, ``selected``, ``hits``, ``precision``, ``recall``,
        ``roc_auc`` and ``predicted_hits`` (the sum of the model's probabilities over the
        selected customers: the model's own forecast of ``hits``).
    """
    y = np.asarray(y)
    folds = RepeatedStratifiedKFold(
        n_splits=n_splits, n_repeats=n_repeats, random_state=random_state
    )
    rows = []
    for i, (train, test) in enumerate(folds.split(X, y)):
        model = fit_estimator(
            model_type, schema, X.iloc[train], y[train], params=params, random_state=random_state
        )
        p = model.predict_proba(X.iloc[test])[:, 1]
        top = capture_at_top(y[test], p, fraction=fraction)
        rows.append(
            {
                "fold": i,
                **{k: top[k] for k in ("selected", "hits", "precision", "recall")},
                "roc_auc": classification_metrics(y[test], p)["roc_auc"],
                "predicted_hits": float(np.sort(p)[::-1][: top["selected"]].sum()),
            }
        )
    return pd.DataFrame(rows)


def hits_estimate(
    table: pd.DataFrame, *, n_select: int = 800, n_customers: int = 4000, base_rate: float
) -> dict[str, float]:
    """Buyers expected among ``n_select`` of ``n_customers``, from :func:`cv_top_capture`.

    The point estimate is the mean fold precision times ``n_select`` (the folds select
    the same top share, 20%, as 800 of 4,000). The range is mean +/- 1.645 standard
    deviations: the fold-to-fold variance of the precision, less the binomial noise of
    a fold's smaller selection, plus the binomial noise of an ``n_select``-row draw. When
    the folds spread less than chance alone would (stratified folds often do), the first
    term is 0 and the range is the draw of ``n_select`` alone, as if the precision were
    known; :func:`hits_range` also counts the doubt about the precision itself.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`cv_top_capture`.
    n_select : int, default 800
        Number of customers selected.
    n_customers : int, default 4000
        Size of the list they are selected from; only passed through to the result as
        ``n_customers`` (the estimate itself uses ``n_select``).
    base_rate : float
        Buyer share in the training data, for the random-selection baseline.

    Returns
    -------
    dict
        ``expected_hits``, ``low``, ``high`` (90% range), ``random_hits``,
        ``mean_recall``, ``mean_roc_auc``.
    """
    precision = table["precision"].to_numpy()
    mean = float(precision.mean())
    fold_chance = mean * (1 - mean) / table["selected"].mean()
    between = max(precision.var(ddof=1) - fold_chance, 0.0)
    sd = n_select * np.sqrt(between + mean * (1 - mean) / n_select)
    expected = mean * n_select
    return {
        "expected_hits": expected,
        "low": expected - 1.645 * sd,
        "high": expected + 1.645 * sd,
        "random_hits": base_rate * n_select,
        "mean_recall": float(table["recall"].mean()),
        "mean_roc_auc": float(table["roc_auc"].mean()),
        "n_customers": n_customers,
    }


def _per_repetition(table: pd.DataFrame, columns: list[str], *, n_repeats: int) -> pd.Series:
    """Fold totals of ``columns`` per repetition of the cross-validation behind ``table``."""
    if n_repeats < 1 or len(table) % n_repeats:
        raise ValueError(f"n_repeats={n_repeats} does not divide the {len(table)} folds")
    return table[columns].sum() / n_repeats


def hits_range(
    table: pd.DataFrame,
    *,
    n_repeats: int,
    n_select: int = 800,
    level: float = 0.9,
    n_draws: int = 20_000,
    random_state: int = 0,
) -> dict[str, float]:
    """Range of the buyers in ``n_select`` that includes the doubt about the CV precision.

    :func:`hits_estimate` treats the cross-validated precision as known and only adds the
    chance of an ``n_select``-row draw. This range also counts that the precision was
    measured on a limited number of customers: one repetition of the cross-validation
    selects each customer at most once, so the precision rests on ``n_pooled`` = (all
    selected rows) / ``n_repeats`` distinct customers; the repetitions reuse the same
    customers and add no new ones. A seeded parametric bootstrap draws both layers:
    ``p* = Binomial(n_pooled, p) / n_pooled``, then ``hits = Binomial(n_select, p*)``.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`cv_top_capture` (``selected`` and ``precision`` per fold).
    n_repeats : int
        Repetitions of the cross-validation behind ``table``.
    n_select : int, default 800
        Number of customers selected.
    level : float, default 0.9
        Coverage of the range (central quantiles of the draws).
    n_draws : int, default 20000
        Bootstrap draws.
    random_state : int, default 0
        Seed of the draws.

    Returns
    -------
    dict
        ``expected_hits`` (mean fold precision x ``n_select``), ``low``, ``high``,
        ``sd`` (of the draws) and ``n_pooled``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    precision = float(table["precision"].mean())
    n_pooled = int(round(_per_repetition(table, ["selected"], n_repeats=n_repeats)["selected"]))
    rng = np.random.default_rng(random_state)
    p_star = rng.binomial(n_pooled, precision, size=n_draws) / n_pooled
    hits = rng.binomial(n_select, p_star)
    tail = (1 - level) / 2
    low, high = np.quantile(hits, [tail, 1 - tail])
    return {
        "expected_hits": precision * n_select,
        "low": float(low),
        "high": float(high),
        "sd": float(hits.std(ddof=1)),
        "n_pooled": n_pooled,
    }


def forecast_gap(table: pd.DataFrame, *, n_repeats: int, n_select: int = 800) -> dict[str, float]:
    """Owners found against the model's own forecast in cross-validation: is the gap noise?

    Over one repetition the selected customers are distinct, so the found count is a sum
    of independent 0/1 outcomes; if the probabilities were right, its variance would be
    ``sum p (1 - p)``, bounded here by ``F (1 - F / n)`` (``F`` the forecast, ``n`` the
    selected rows), which makes the z-score a conservative (large) one.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`cv_top_capture` (``selected``, ``hits``, ``predicted_hits``).
    n_repeats : int
        Repetitions of the cross-validation behind ``table``.
    n_select : int, default 800
        Selection size the counts are scaled to.

    Returns
    -------
    dict
        ``found`` and ``forecast`` (per ``n_select``), ``understatement``
        (1 - forecast / found) and ``z`` (found - forecast, per repetition, in standard
        deviations; ``|z| < 2`` is within chance).
    """
    per = _per_repetition(table, ["selected", "hits", "predicted_hits"], n_repeats=n_repeats)
    selected, found, forecast = per["selected"], per["hits"], per["predicted_hits"]
    sd = np.sqrt(forecast * (1 - forecast / selected))
    return {
        "found": float(found / selected * n_select),
        "forecast": float(forecast / selected * n_select),
        "understatement": float(1 - forecast / found),
        "z": float((found - forecast) / sd),
    }


def choose_by_cv(
    schema: TableSchema,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    candidates: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
    fraction: float = 0.2,
    n_splits: int = 5,
    n_repeats: int = 4,
    random_state: int = 0,
) -> tuple[str, pd.DataFrame, dict[str, pd.DataFrame]]:
    """Cross-validate every candidate on the same folds; the winner catches most buyers.

    Parameters
    ----------
    schema, X, y
        As for :func:`insurereco.propensity.fit_estimator`; ``y`` is taken by position.
    candidates : mapping, optional
        Name -> ``(model_type, params)``; default: :data:`CANDIDATES`.
    fraction, n_splits, n_repeats
        As for :func:`cv_top_capture`.
    random_state : int, default 0
        Seed of the folds (the same for every candidate) and of every model.

    Returns
    -------
    best : str
        Name of the candidate with the highest mean top-share precision (ties: mean AUC).
    summary : DataFrame
        One row per candidate: mean ``hits``, ``precision``, ``recall``, ``roc_auc``.
    folds : dict
        Candidate -> its :func:`cv_top_capture` table.
    """
    candidates = CANDIDATES if candidates is None else candidates
    folds = {
        name: cv_top_capture(
            model_type,
            schema,
            X,
            y,
            params=params,
            fraction=fraction,
            n_splits=n_splits,
            n_repeats=n_repeats,
            random_state=random_state,
        )
        for name, (model_type, params) in candidates.items()
    }
    summary = pd.DataFrame(
        {name: t[["hits", "precision", "recall", "roc_auc"]].mean() for name, t in folds.items()}
    ).T.rename_axis("model")
    best = summary.sort_values(["precision", "roc_auc"], ascending=False, kind="stable").index[0]
    return str(best), summary, folds


def select_top(proba: Sequence[float], *, n: int = 800) -> pd.DataFrame:
    """The ``n`` most likely customers: ``row`` (0-based) and ``probability``, in row order."""
    p = np.asarray(proba, dtype=float)
    if not 0 < n <= len(p):
        raise ValueError(f"n must be between 1 and {len(p)}, got {n}")
    chosen = np.sort(np.argsort(-p, kind="stable")[:n])
    return pd.DataFrame({"row": chosen, "probability": p[chosen]})


def shap_by_feature(pipeline: Pipeline, X: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """SHAP values (log-odds) of a fitted XGBoost pipeline, one column per source feature.

    The one-hot columns of a categorical feature are summed back into that feature.

    Parameters
    ----------
    pipeline : Pipeline
        From :func:`insurereco.propensity.fit_estimator` with ``model_type="xgboost"``.
    X : DataFrame
        Encoded features (:meth:`TableSchema.encode`).
    schema : TableSchema
        The schema the pipeline was fitted with; names the source features and which of
        them are categorical (their one-hot columns are summed).

    Returns
    -------
    DataFrame
        Same index as ``X``; columns are ``schema.features``.
    """
    import shap

    prep, model = pipeline.named_steps["prep"], pipeline.named_steps["model"]
    values = shap.TreeExplainer(model).shap_values(prep.transform(X))
    names = list(prep.get_feature_names_out())
    frame = pd.DataFrame(values, columns=names, index=X.index)
    out = {}
    for feature in schema.features:
        if feature in schema.categorical:
            parts = [n for n in names if n.startswith(f"{feature}_")]
            out[feature] = frame[parts].sum(axis=1)
        else:
            out[feature] = frame[feature]
    return pd.DataFrame(out, index=X.index)


def value_ranges(values: Sequence[Any], kept: Sequence[Any]) -> str:
    """Write ``values`` as runs of neighbours in ``kept``: ``[0, 1, 2, 5]`` -> ``"0-2, 5"``.

    Parameters
    ----------
    values : sequence
        Values to write, a subset of ``kept`` in its order.
    kept : sequence
        All values in order; two values are neighbours when adjacent here.

    Returns
    -------
    str
    """
    position = {v: i for i, v in enumerate(kept)}
    runs: list[list[Any]] = []
    for v in values:
        if runs and position[v] == position[runs[-1][-1]] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    return ", ".join(f"{r[0]:g}" if len(r) == 1 else f"{r[0]:g}-{r[-1]:g}" for r in runs)


def mean_shap_by_value(
    values: Sequence[float], shap_values: Sequence[float], *, min_count: int = 30
) -> pd.DataFrame:
    """Mean SHAP value (log-odds) per distinct value of a feature.

    Parameters
    ----------
    values, shap_values : sequence of float
        A feature's values and its SHAP values, one per customer.
    min_count : int
        Values held by fewer customers are left out (their means are noise).

    Returns
    -------
    DataFrame
        Indexed by value (ascending): ``mean`` and ``size`` (customers).
    """
    frame = pd.DataFrame({"x": np.asarray(values, dtype=float), "s": np.asarray(shap_values)})
    stats = frame.groupby("x")["s"].agg(["mean", "size"])
    return stats.loc[stats["size"] >= min_count]


def shap_direction(
    values: Sequence[float],
    shap_values: Sequence[float],
    *,
    min_count: int = 30,
    tolerance: float = 0.25,
    min_effect: float = 0.02,
) -> str:
    """Which way a numeric feature pushes the score, read from its mean SHAP value by value.

    The mean SHAP value is computed for each distinct value of the feature held by at least
    ``min_count`` customers. If it ends higher than it starts and never falls as the value
    rises (steps against the trend smaller than ``tolerance`` times the range of the means
    are ignored), the direction is "higher -> more likely"; in the mirror case, "higher ->
    less likely"; otherwise the effect is non-monotone and the label names the values that
    push up (mean SHAP above 0) and those that push down.

    Parameters
    ----------
    values : sequence of float
        The feature's values, one per customer.
    shap_values : sequence of float
        The feature's SHAP values (log-odds), same customers.
    min_count : int
        Fewest customers a value needs to count (rare values give noisy means).
    tolerance : float
        Share of the range of the means below which a step against the trend is ignored.
    min_effect : float
        Range of the means (log-odds) below which the feature has "no clear effect".

    Returns
    -------
    str
        "higher -> more likely", "higher -> less likely", "no clear effect" or
        "non-monotone: up at <values>; down at <values>".
    """
    means = mean_shap_by_value(values, shap_values, min_count=min_count)["mean"]
    spread = means.max() - means.min()
    if len(means) < 2 or spread <= min_effect:
        return "no clear effect"
    steps = np.diff(means.to_numpy())
    net = means.iloc[-1] - means.iloc[0]
    if net > 0 and (steps >= -tolerance * spread).all():
        return "higher -> more likely"
    if net < 0 and (steps <= tolerance * spread).all():
        return "higher -> less likely"
    kept = list(means.index)
    up = [v for v in kept if means[v] > 0]
    down = [v for v in kept if means[v] <= 0]
    return f"non-monotone: up at {value_ranges(up, kept)}; down at {value_ranges(down, kept)}"


def importance_table(
    shap_values: pd.DataFrame,
    X: pd.DataFrame,
    *,
    top: int = 12,
    min_count: int = 30,
    tolerance: float = 0.25,
    min_effect: float = 0.02,
) -> pd.DataFrame:
    """The ``top`` features by mean absolute SHAP value, in plain words.

    Parameters
    ----------
    shap_values : DataFrame
        Output of :func:`shap_by_feature`.
    X : DataFrame
        The encoded features the SHAP values belong to.
    top : int
        Number of features kept.
    min_count, tolerance, min_effect
        As in :func:`shap_direction`.

    Returns
    -------
    DataFrame
        ``feature``, ``meaning`` (:func:`describe`), ``mean_abs_shap`` and ``direction``
        (:func:`shap_direction` for numeric features, "by category" for codes).
    """
    strength = shap_values.abs().mean().sort_values(ascending=False, kind="stable").head(top)
    rows = []
    for feature, value in strength.items():
        if feature in COIL_CATEGORICAL or not pd.api.types.is_numeric_dtype(X[feature]):
            direction = "by category"
        else:
            direction = shap_direction(
                X[feature],
                shap_values[feature],
                min_count=min_count,
                tolerance=tolerance,
                min_effect=min_effect,
            )
        rows.append(
            {
                "feature": feature,
                "meaning": describe(feature),
                "mean_abs_shap": float(value),
                "direction": direction,
            }
        )
    return pd.DataFrame(rows)


def owner_rate_by_value(
    values: Sequence[float],
    target: Sequence[int],
    *,
    shap_values: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Observed owner rate per value of a feature, beside the model's mean effect.

    A SHAP value only says what the model does at a value; for values held by few
    customers it is borrowed from neighbours the trees lumped them with. This table puts
    the customers, owners and owner rate actually observed next to it.

    Parameters
    ----------
    values : sequence of float
        The feature's values, one per customer.
    target : sequence of 0/1
        Whether each customer owns the policy.
    shap_values : sequence of float, optional
        The feature's SHAP values (log-odds), same customers; adds ``mean_shap``.

    Returns
    -------
    DataFrame
        Indexed by value (ascending): ``customers``, ``owners``, ``owner_rate`` and,
        with ``shap_values``, ``mean_shap``.
    """
    frame = pd.DataFrame({"x": np.asarray(values), "y": np.asarray(target, dtype=int)})
    if shap_values is not None:
        frame["s"] = np.asarray(shap_values, dtype=float)
    grouped = frame.groupby("x")
    out = pd.DataFrame(
        {
            "customers": grouped.size(),
            "owners": grouped["y"].sum(),
            "owner_rate": grouped["y"].mean(),
        }
    )
    if shap_values is not None:
        out["mean_shap"] = grouped["s"].mean()
    return out.rename_axis("value")


def trait_list(
    drivers: pd.DataFrame,
    *,
    direction: str,
    level: str = "zip-code level",
    top: int | None = None,
) -> str:
    """The traits of one level that push one way, in words: ``"a, b and c"``.

    Parameters
    ----------
    drivers : DataFrame
        Output of :func:`importance_table` (``meaning`` and ``direction``), in rank order.
    direction : str
        Direction kept, e.g. ``"higher -> more likely"``.
    level : str, default "zip-code level"
        The bracketed level in ``meaning`` the traits must have (see :func:`describe`).
    top : int, optional
        Keep only the first ``top`` matching traits (``drivers`` is in rank order).

    Returns
    -------
    str
        The meanings without their bracket, first letter lower-cased, joined; ``""`` when
        none.
    """
    tag = f" ({level})"
    names = [
        m.removesuffix(tag)[:1].lower() + m.removesuffix(tag)[1:]
        for m, d in zip(drivers["meaning"], drivers["direction"], strict=True)
        if m.endswith(tag) and d == direction
    ][:top]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def lookalike_profit(
    proba: Sequence[float],
    *,
    sizes: Sequence[int],
    buy_share: float,
    cost_per_contact: float,
    value_per_sale: float,
) -> pd.DataFrame:
    """Expected profit of mailing the look-alikes among the top ``n`` of a ranking.

    The model scores how much a customer looks like a current policy owner (``proba``),
    not the chance of a sale. A real mailing leaves out the customers who already hold
    the policy (the insurer knows them), so of customer ``i`` it mails the non-holder,
    expected ``1 - p_i``; the ASSUMPTION is that a mailed non-holder buys with
    probability ``buy_share x p_i`` (a customer who looks more like the owners is more
    likely to buy, but only a share of that resemblance turns into a sale).

    Parameters
    ----------
    proba : sequence of float
        Ownership probabilities of the customers; the top ``n`` are selected.
    sizes : sequence of int
        Selection sizes, one row each (each between 1 and ``len(proba)``).
    buy_share : float
        The stated assumption: chance of a sale per unit of ownership probability, in
        [0, 1].
    cost_per_contact, value_per_sale : float
        Cost of one mailing and value of one sale.

    Returns
    -------
    DataFrame
        One row per size: ``selected``, ``holders_left_out`` (expected current owners),
        ``mailed`` (expected look-alikes mailed), ``lowest_probability`` (of the
        selected), ``buyers`` (expected), ``cost``, ``revenue``, ``profit`` and
        ``break_even_share`` (the ``buy_share`` at which this mailing breaks even).
    """
    if not 0 <= buy_share <= 1:
        raise ValueError(f"buy_share must be between 0 and 1, got {buy_share}")
    p = np.sort(np.asarray(proba, dtype=float))[::-1]
    rows = []
    for n in sizes:
        if not 0 < n <= len(p):
            raise ValueError(f"each size must be between 1 and {len(p)}, got {n}")
        top = p[:n]
        mailed = float((1 - top).sum())
        resemblance = float((top * (1 - top)).sum())
        cost = cost_per_contact * mailed
        revenue = value_per_sale * buy_share * resemblance
        rows.append(
            {
                "selected": int(n),
                "holders_left_out": float(top.sum()),
                "mailed": mailed,
                "lowest_probability": float(top[-1]),
                "buyers": buy_share * resemblance,
                "cost": cost,
                "revenue": revenue,
                "profit": revenue - cost,
                "break_even_share": cost / (value_per_sale * resemblance)
                if resemblance > 0
                else float("inf"),
            }
        )
    return pd.DataFrame(rows)
