"""Prospect propensity: who will accept an offer at all.

A generic tool for any tabular campaign file (one row per contacted prospect, one
binary outcome column):

* :func:`read_table` reads a delimited file, guessing the separator and whether the
  first line is a header;
* :func:`infer_schema` types the columns (numeric or categorical), records the
  categories seen at fit time and refuses known leaking columns (``duration``);
* :func:`fit_estimator` / :func:`fit_propensity` fit one of the model zoo
  (:data:`MODEL_TYPES`), optionally calibrated, and :class:`PropensityModel` scores new
  files, mapping unseen categories to an explicit bucket;
* :func:`classification_metrics`, :func:`metrics_table`, :func:`capture_at_top`,
  :func:`pooled_and_within_auc`, :func:`auc_by_group`, :func:`paired_difference`,
  :func:`tune_time_aware`,
  :func:`learning_curve_table` and :func:`compare_segmented` evaluate models, and
  :func:`group_rate_scores` gives the baseline they should beat (each row scored by its
  group's training rate, e.g. the month's);
* :func:`roi_by_depth`, :func:`roi_at_thresholds`, :func:`break_even_threshold`,
  :func:`value_sensitivity` and :func:`campaign_scenario` turn probabilities into
  contacts, cost and profit, with the economics in ``insurereco/rules/propensity.yml``;
  :func:`forward_widened_range` widens a series of forecast ranges by the level error of
  the earlier forecasts;
* ``plot_*`` helpers draw on a given ``ax``.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    VotingClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from xgboost import XGBClassifier

from insurereco.contract import load_rules_file
from insurereco.errors import DataNotFoundError, DataValidationError
from insurereco.reporting import dump_artifact, load_artifact, threads

__all__ = [
    "MODEL_FORMAT",
    "MODEL_LABELS",
    "MODEL_TYPES",
    "LeakageWarning",
    "PropensityModel",
    "TableSchema",
    "UnseenCategoryWarning",
    "auc_by_group",
    "binary_target",
    "break_even_threshold",
    "campaign_scenario",
    "capture_at_top",
    "check_leakage",
    "classification_metrics",
    "compare_segmented",
    "fit_estimator",
    "fit_propensity",
    "forward_widened_range",
    "group_rate_scores",
    "infer_schema",
    "learning_curve_table",
    "load_rules",
    "make_estimator",
    "metrics_table",
    "paired_difference",
    "plot_capture_curve",
    "plot_learning_curve",
    "plot_reliability",
    "plot_roi_by_depth",
    "pooled_and_within_auc",
    "read_table",
    "repeated_split_scores",
    "roi_at_thresholds",
    "roi_by_depth",
    "tune_time_aware",
    "value_sensitivity",
]

#: Model types of the zoo, in the order of the comparison table.
MODEL_TYPES = ("logistic", "tree", "forest", "gboost", "xgboost", "blend")
#: Readable names of the model types.
MODEL_LABELS = {
    "logistic": "Logistic regression",
    "tree": "Decision tree",
    "forest": "Random forest",
    "gboost": "Gradient boosting",
    "xgboost": "XGBoost",
    "blend": "Blend (logistic + XGBoost)",
}
#: Tag stored in saved model files.
MODEL_FORMAT = "insurereco-propensity/1"

_SEPARATORS = (",", ";", "\t", "|")
_POSITIVE_WORDS = ("yes", "y", "true", "t", "1", "1.0", "oui")
_NEGATIVE_WORDS = ("no", "n", "false", "f", "0", "0.0", "non")


class UnseenCategoryWarning(UserWarning):
    """Scoring data holds categories not seen at fit time (mapped to the unseen bucket)."""


class LeakageWarning(UserWarning):
    """A known leaking column was kept because the caller explicitly allowed it."""


#: Keys :func:`load_rules` promises.
_RULE_KEYS = (
    "cost_per_contact",
    "value_per_subscription",
    "currency",
    "thresholds",
    "leaky_columns",
    "unseen_category",
    "missing_category",
)


@cache
def _rules() -> dict[str, Any]:
    return load_rules_file("propensity.yml", required=_RULE_KEYS)


def load_rules() -> dict[str, Any]:
    """Campaign economics and guards from ``insurereco/rules/propensity.yml``.

    Returns
    -------
    dict
        Keys ``cost_per_contact``, ``value_per_subscription``, ``currency``,
        ``thresholds``, ``leaky_columns`` (name -> reason), ``unseen_category`` and
        ``missing_category``. A fresh copy each call.
    """
    rules = _rules()
    return {
        k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
        for k, v in rules.items()
    }


# --------------------------------------------------------------------------- reading


def _sniff_separator(lines: list[str]) -> str:
    """Pick the separator that splits every sample line into the same number (>1) of fields."""
    best, best_fields = ",", 1
    for sep in _SEPARATORS:
        counts = {len(row) for row in csv.reader(lines, delimiter=sep)}
        if len(counts) == 1 and (n := counts.pop()) > best_fields:
            best, best_fields = sep, n
    return best


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_table(
    path: str | os.PathLike,
    *,
    sep: str | None = None,
    header: str = "auto",
) -> pd.DataFrame:
    """Read a delimited campaign file, guessing the separator and the header.

    Parameters
    ----------
    path : path-like
        CSV-like text file (``,``, ``;``, tab or ``|`` separated; UTF-8 or cp1252).
    sep : str, optional
        Force the separator instead of guessing it from the first lines.
    header : {"auto", "yes", "no"}
        ``"auto"`` treats the first line as data when every field is a number; the
        columns are then named ``col1``, ``col2``, ... (1-based positions).

    Returns
    -------
    DataFrame
        Numeric columns numeric, text columns ``str``.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    DataValidationError
        The file is empty, has no data rows or cannot be parsed.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: file not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataValidationError(f"{path}: file is empty")
    if header not in {"auto", "yes", "no"}:
        raise ValueError(f"header must be 'auto', 'yes' or 'no', got {header!r}")
    sep = sep or _sniff_separator(lines[:50])
    first = next(csv.reader(lines[:1], delimiter=sep))
    has_header = header == "yes" or (
        header == "auto" and not all(_is_number(f.strip()) for f in first)
    )
    names = None if has_header else [f"col{i + 1}" for i in range(len(first))]
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, header=0 if has_header else None, names=names)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataValidationError(f"{path}: cannot parse as a table ({exc})") from exc
    if df.empty:
        raise DataValidationError(f"{path}: file has a header but no data rows")
    df.columns = [str(c).strip() for c in df.columns]
    return df


# --------------------------------------------------------------------------- schema


def binary_target(
    values: pd.Series, *, positive: Any = None, source: str = "data"
) -> tuple[np.ndarray, Any]:
    """Turn a two-valued outcome column into 0/1.

    Parameters
    ----------
    values : Series
        The outcome column.
    positive : optional
        The label meaning "accepted". When omitted it is guessed: 1, True, "yes",
        "y", "true", "oui" (case-insensitive).
    source : str
        File name for error messages.

    Returns
    -------
    y : ndarray of int8
    positive : the label mapped to 1

    Raises
    ------
    DataValidationError
        Missing values, not exactly two distinct values, or no recognisable positive label.
    """
    name = values.name
    if values.isna().any():
        raise DataValidationError(
            f"{source}: target column {name!r} has {int(values.isna().sum())} missing values"
        )
    distinct = list(pd.unique(values))
    if len(distinct) != 2:
        shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in distinct[:5])
        raise DataValidationError(
            f"{source}: target column {name!r} must be binary (two distinct values), "
            f"found {len(distinct)}: {shown}{' ...' if len(distinct) > 5 else ''}"
        )
    if positive is None:
        hits = [v for v in distinct if str(v).strip().lower() in _POSITIVE_WORDS]
        if len(hits) != 1:
            raise DataValidationError(
                f"{source}: cannot tell which value of target {name!r} means 'accepted' "
                f"({distinct[0]!r} or {distinct[1]!r}); pass the positive label explicitly"
            )
        positive = hits[0]
    if isinstance(positive, np.generic):
        positive = positive.item()
    as_text = values.astype(str).str.strip()
    if str(positive).strip() not in set(as_text):
        raise DataValidationError(
            f"{source}: positive label {positive!r} not found in target column {name!r}"
        )
    y = (as_text == str(positive).strip()).to_numpy().astype("int8")
    return y, positive


def check_leakage(
    columns: Sequence[str], *, allow_leaky: bool = False, source: str = "data"
) -> list[str]:
    """Refuse (or, when allowed, warn about) known leaking columns.

    Parameters
    ----------
    columns : sequence of str
        Feature columns about to be used.
    allow_leaky : bool
        Keep them anyway, with a :class:`LeakageWarning`.
    source : str
        File name for the message.

    Returns
    -------
    list of str
        The leaking columns found (empty when none).

    Raises
    ------
    DataValidationError
        A leaking column is present and ``allow_leaky`` is false.
    """
    leaky = load_rules()["leaky_columns"]
    found = [c for c in columns if str(c).strip().lower() in leaky]
    messages = [
        f"column {column!r} leaks the outcome: {leaky[str(column).strip().lower()]}"
        for column in found
    ]
    if found and not allow_leaky:
        them = "it" if len(found) == 1 else "them"
        raise DataValidationError(
            f"{source}: {'; '.join(messages)}. Drop {them} (--drop {' '.join(found)}) or "
            f"allow {them} explicitly (--allow-leaky)"
        )
    for message in messages:
        warnings.warn(f"{source}: {message}", LeakageWarning, stacklevel=2)
    return found


@dataclass(frozen=True)
class TableSchema:
    """Column types and categories recorded at fit time.

    Attributes
    ----------
    target : str
        Outcome column.
    positive : object
        Label of the outcome meaning "accepted".
    numeric : tuple of str
        Numeric feature columns.
    categorical : dict
        Categorical feature column -> sorted categories seen at fit (as text).
    medians : dict
        Numeric column -> fit-time median, used for missing values.
    key : str or None
        Identifier column copied to the scored output.
    """

    target: str
    positive: Any
    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]]
    medians: dict[str, float] = field(default_factory=dict)
    key: str | None = None

    @property
    def features(self) -> list[str]:
        """All feature columns, numeric first."""
        return [*self.numeric, *self.categorical]

    def encode(self, df: pd.DataFrame, *, source: str = "data") -> tuple[pd.DataFrame, dict]:
        """Type ``df``'s feature columns as at fit time.

        Missing numbers become the fit median; missing categories the missing label;
        categories never seen at fit become the unseen bucket.

        Returns
        -------
        X : DataFrame
            Feature columns only.
        unseen : dict
            Column -> number of rows mapped to the unseen bucket (only non-zero).

        Raises
        ------
        DataValidationError
            A feature column is missing or a numeric column holds text.
        """
        missing = [c for c in self.features if c not in df.columns]
        if missing:
            raise DataValidationError(f"{source}: missing feature column(s) {missing}")
        rules = load_rules()
        out = {}
        for column in self.numeric:
            values = pd.to_numeric(df[column], errors="coerce")
            bad = values.isna() & df[column].notna()
            if bad.any():
                example = df.loc[bad, column].iloc[0]
                raise DataValidationError(
                    f"{source}: numeric column {column!r} holds non-numbers, e.g. {example!r}"
                )
            out[column] = values.fillna(self.medians.get(column, 0.0)).astype("float64")
        unseen = {}
        for column, seen in self.categorical.items():
            text = _category_text(df[column], rules["missing_category"])
            new = ~text.isin(seen)
            if new.any():
                unseen[column] = int(new.sum())
                text = text.where(~new, rules["unseen_category"])
            out[column] = text
        return pd.DataFrame(out, index=df.index), unseen

    def features_frame(
        self, df: pd.DataFrame, *, source: str = "data", warn: bool = True
    ) -> pd.DataFrame:
        """:meth:`encode` and warn (:class:`UnseenCategoryWarning`) about unseen categories."""
        X, unseen = self.encode(df, source=source)
        if unseen and warn:
            detail = ", ".join(f"{c}: {n}" for c, n in unseen.items())
            warnings.warn(
                f"{source}: {sum(unseen.values())} value(s) of categories not seen at fit "
                f"were scored as {load_rules()['unseen_category']!r} ({detail})",
                UnseenCategoryWarning,
                stacklevel=2,
            )
        return X

    def labels(self, df: pd.DataFrame, *, source: str = "data") -> np.ndarray:
        """The 0/1 outcome of ``df``."""
        if self.target not in df.columns:
            raise DataValidationError(f"{source}: target column {self.target!r} not found")
        y, _ = binary_target(df[self.target], positive=self.positive, source=source)
        return y


def _category_text(values: pd.Series, missing_label: str) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.fillna(missing_label).astype(str)


def infer_schema(
    df: pd.DataFrame,
    *,
    target: str,
    drop: Sequence[str] = (),
    key: str | None = None,
    categorical: Sequence[str] = (),
    positive: Any = None,
    allow_leaky: bool = False,
    source: str = "data",
) -> TableSchema:
    """Type the columns of a campaign table and record what fitting needs.

    Parameters
    ----------
    df : DataFrame
        Training rows, including the outcome.
    target : str
        Binary outcome column.
    drop : sequence of str
        Columns to leave out (each must exist).
    key : str, optional
        Identifier column, kept out of the features and copied to scored files.
    categorical : sequence of str
        Numeric-looking columns to treat as categories (e.g. coded customer types).
    positive : optional
        Outcome label meaning "accepted" (guessed when omitted, see :func:`binary_target`).
    allow_leaky : bool
        Keep known leaking columns (see :func:`check_leakage`).
    source : str
        File name for messages.

    Returns
    -------
    TableSchema

    Raises
    ------
    DataValidationError
        Empty table, missing target/key/drop columns, non-binary target, leaking column,
        or no feature left.
    """
    if df.empty:
        raise DataValidationError(f"{source}: no rows")
    if target not in df.columns:
        raise DataValidationError(
            f"{source}: target column {target!r} not found; columns are {list(df.columns)}"
        )
    named = [*drop, *categorical, *([key] if key else [])]
    absent = [c for c in named if c not in df.columns]
    if absent:
        raise DataValidationError(f"{source}: column(s) {absent} not found")
    _, positive = binary_target(df[target], positive=positive, source=source)
    columns = [c for c in df.columns if c not in {target, key, *drop}]
    check_leakage(columns, allow_leaky=allow_leaky, source=source)
    rules = load_rules()
    numeric, cats, medians = [], {}, {}
    for column in columns:
        values = df[column]
        is_number = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if is_number and column not in categorical:
            median = float(values.median()) if values.notna().any() else 0.0
            numeric.append(column)
            medians[column] = median
            continue
        text = _category_text(values, rules["missing_category"])
        if not is_number and len(df) >= 20 and text.nunique() == len(df):
            warnings.warn(
                f"{source}: column {column!r} has a different value on every row and is "
                "left out as an identifier (name it with key= / --key to keep it in the output)",
                UserWarning,
                stacklevel=2,
            )
            continue
        cats[column] = tuple(sorted(set(text)))
    if not numeric and not cats:
        raise DataValidationError(f"{source}: no feature column left after dropping")
    return TableSchema(
        target=target,
        positive=positive,
        numeric=tuple(numeric),
        categorical=cats,
        medians=medians,
        key=key,
    )


# --------------------------------------------------------------------------- models


def make_estimator(model_type: str, *, random_state: int = 0, n_jobs: int | None = None, **params):
    """A fresh classifier of the zoo with moderate defaults.

    Parameters
    ----------
    model_type : {"logistic", "tree", "forest", "gboost", "xgboost", "blend"}
        ``"blend"`` is a soft vote (equal-weight average of probabilities) of the
        logistic regression and XGBoost; set their parameters as ``logistic__C`` or
        ``xgboost__max_depth``.
    random_state : int
        Seed of the model's own randomness (tree, forest, gradient boosting and XGBoost,
        and both members of ``"blend"``); the logistic regression does not use it.
    n_jobs : int, optional
        Threads for the forest and XGBoost (default: :func:`insurereco.reporting.threads`).
    **params
        Overrides of the defaults.
    """
    n_jobs = threads(n_jobs)
    if model_type == "blend":
        members = [
            (name, make_estimator(name, random_state=random_state, n_jobs=n_jobs))
            for name in ("logistic", "xgboost")
        ]
        return VotingClassifier(members, voting="soft").set_params(**params)
    defaults: dict[str, tuple[type, dict]] = {
        "logistic": (LogisticRegression, {"C": 1.0, "max_iter": 2000}),
        "tree": (
            DecisionTreeClassifier,
            {"max_depth": 6, "min_samples_leaf": 50, "random_state": random_state},
        ),
        "forest": (
            RandomForestClassifier,
            {
                "n_estimators": 200,
                "min_samples_leaf": 10,
                "max_features": "sqrt",
                "n_jobs": n_jobs,
                "random_state": random_state,
            },
        ),
        "gboost": (
            HistGradientBoostingClassifier,
            {
                "max_iter": 200,
                "learning_rate": 0.05,
                "max_leaf_nodes": 15,
                "early_stopping": False,
                "random_state": random_state,
            },
        ),
        "xgboost": (
            XGBClassifier,
            {
                "n_estimators": 200,
                "max_depth": 4,
                "learning_rate": 0.05,
                "subsample": 0.8,
                "colsample_bytree": 0.8,
                "min_child_weight": 5,
                "tree_method": "hist",
                "eval_metric": "logloss",
                "n_jobs": n_jobs,
                "random_state": random_state,
            },
        ),
    }
    if model_type not in defaults:
        raise ValueError(f"model_type must be one of {list(defaults)}, got {model_type!r}")
    cls, kwargs = defaults[model_type]
    return cls(**{**kwargs, **params})


def _preprocessor(schema: TableSchema) -> ColumnTransformer:
    unseen = load_rules()["unseen_category"]
    parts = []
    if schema.numeric:
        parts.append(("num", StandardScaler(), list(schema.numeric)))
    if schema.categorical:
        cats = [[*seen, unseen] for seen in schema.categorical.values()]
        parts.append(
            (
                "cat",
                OneHotEncoder(categories=cats, sparse_output=False, handle_unknown="error"),
                list(schema.categorical),
            )
        )
    return ColumnTransformer(parts, verbose_feature_names_out=False)


def fit_estimator(
    model_type: str,
    schema: TableSchema,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    params: Mapping[str, Any] | None = None,
    sample_weight: np.ndarray | None = None,
    random_state: int = 0,
) -> Pipeline:
    """Fit ``preprocessing + model`` on already encoded features (:meth:`TableSchema.encode`).

    Parameters
    ----------
    model_type : str
        One of :data:`MODEL_TYPES` (see :func:`make_estimator`).
    schema : TableSchema
        Feature columns and categories; sets up scaling of the numeric columns and
        one-hot encoding of the categorical ones.
    X : DataFrame
        Encoded feature columns (from :meth:`TableSchema.encode`).
    y : array of 0/1
        Outcome of each row of ``X`` (1: accepted).
    params : mapping, optional
        Model hyper-parameters, overriding the defaults of :func:`make_estimator`.
    sample_weight : array, optional
        Row weights, passed to the model's ``fit``.
    random_state : int, default 0
        Seed of the model, passed to :func:`make_estimator`.

    Returns
    -------
    Pipeline
        Fitted; ``predict_proba(X)[:, 1]`` is the acceptance probability.
    """
    pipe = Pipeline(
        [
            ("prep", _preprocessor(schema)),
            ("model", make_estimator(model_type, random_state=random_state, **(params or {}))),
        ]
    )
    fit_kwargs = {} if sample_weight is None else {"model__sample_weight": sample_weight}
    return pipe.fit(X, np.asarray(y), **fit_kwargs)


@dataclass
class PropensityModel:
    """A fitted propensity model with the schema it needs to score new files.

    Attributes
    ----------
    schema : TableSchema
    estimator : fitted sklearn classifier on encoded features
    model_type : str
    calibration : str or None
        ``"sigmoid"``, ``"isotonic"`` or None (raw model probabilities).
    n_train : int
    positive_rate : float
        Share of accepted offers in the training rows.
    """

    schema: TableSchema
    estimator: Any
    model_type: str
    calibration: str | None
    n_train: int
    positive_rate: float

    def predict_proba(self, df: pd.DataFrame, *, source: str = "data") -> np.ndarray:
        """Acceptance probability of every row of ``df`` (input order)."""
        if df.empty:
            raise DataValidationError(f"{source}: no rows to score")
        X = self.schema.features_frame(df, source=source)
        return self.estimator.predict_proba(X)[:, 1]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model with joblib, atomically. Load only files you trust."""
        path = Path(path)
        if not path.parent.is_dir():
            raise DataNotFoundError(f"output folder {path.parent} does not exist")
        return dump_artifact({"format": MODEL_FORMAT, "model": self}, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> PropensityModel:
        """Read a model written by :meth:`save`."""
        payload = load_artifact(path, fmt=MODEL_FORMAT)
        return payload["model"]


def fit_propensity(
    df: pd.DataFrame,
    *,
    target: str,
    drop: Sequence[str] = (),
    key: str | None = None,
    categorical: Sequence[str] = (),
    positive: Any = None,
    model_type: str = "xgboost",
    params: Mapping[str, Any] | None = None,
    calibration: str | None = "sigmoid",
    allow_leaky: bool = False,
    random_state: int = 0,
    source: str = "data",
) -> PropensityModel:
    """Type the table, fit a model and calibrate its probabilities.

    Calibration uses :class:`~sklearn.calibration.CalibratedClassifierCV` with three
    stratified folds (``"sigmoid"``: Platt scaling; ``"isotonic"``: needs more data).

    Parameters
    ----------
    df : DataFrame
        Training rows with the outcome column.
    target, drop, key, categorical, positive, allow_leaky, source
        See :func:`infer_schema`.
    model_type : str
        One of :data:`MODEL_TYPES`.
    params : mapping, optional
        Model hyper-parameters (see :func:`make_estimator`).
    calibration : {"sigmoid", "isotonic", None}
        Calibration method; None keeps the model's raw probabilities.
    random_state : int
        Seed of the model (see :func:`make_estimator`) and of the shuffling of the three
        calibration folds.

    Returns
    -------
    PropensityModel

    Raises
    ------
    DataValidationError
        See :func:`infer_schema`; also fewer than 6 rows of either outcome.
    """
    if calibration not in {"sigmoid", "isotonic", None}:
        raise ValueError(f"calibration must be 'sigmoid', 'isotonic' or None, got {calibration!r}")
    schema = infer_schema(
        df,
        target=target,
        drop=drop,
        key=key,
        categorical=categorical,
        positive=positive,
        allow_leaky=allow_leaky,
        source=source,
    )
    X, _ = schema.encode(df, source=source)
    y = schema.labels(df, source=source)
    smallest = int(min(y.sum(), len(y) - y.sum()))
    if smallest < 6:
        raise DataValidationError(
            f"{source}: target {target!r} has only {smallest} row(s) of one outcome; "
            "need at least 6 of each to fit and calibrate"
        )
    if calibration is None:
        estimator = fit_estimator(
            model_type, schema, X, y, params=params, random_state=random_state
        )
    else:
        base = Pipeline(
            [
                ("prep", _preprocessor(schema)),
                ("model", make_estimator(model_type, random_state=random_state, **(params or {}))),
            ]
        )
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=random_state)
        estimator = CalibratedClassifierCV(base, method=calibration, cv=folds).fit(X, y)
    return PropensityModel(
        schema=schema,
        estimator=estimator,
        model_type=model_type,
        calibration=calibration,
        n_train=len(y),
        positive_rate=float(y.mean()),
    )


# --------------------------------------------------------------------------- metrics


#: Keys of :func:`classification_metrics`.
_METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "brier", "log_loss")


def classification_metrics(
    y_true: Sequence[int], proba: Sequence[float], *, threshold: float = 0.5
) -> dict[str, float]:
    """The standard table of a probabilistic classifier.

    Parameters
    ----------
    y_true : array of 0/1
        Actual outcomes.
    proba : array of probabilities of 1
        Predicted probabilities, one per row of ``y_true`` (clipped to [0, 1]).
    threshold : float
        Rows with ``proba >= threshold`` count as predicted "accept" for accuracy,
        precision, recall and F1.

    Returns
    -------
    dict
        ``accuracy``, ``precision``, ``recall``, ``f1`` (at the threshold), ``roc_auc``,
        ``pr_auc`` (average precision), ``brier``, ``log_loss``. AUCs are NaN when only
        one class is present.
    """
    y = np.asarray(y_true, dtype=int)
    p = np.clip(np.asarray(proba, dtype=float), 0.0, 1.0)
    if y.shape != p.shape or y.size == 0:
        raise ValueError("y_true and proba must be non-empty and of the same length")
    pred = (p >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
    }


def metrics_table(
    y_true: Sequence[int], predictions: Mapping[str, Sequence[float]], *, threshold: float = 0.5
) -> pd.DataFrame:
    """:func:`classification_metrics` for several models, one row per model."""
    rows = {
        name: classification_metrics(y_true, p, threshold=threshold)
        for name, p in predictions.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def pooled_and_within_auc(
    y_true: Sequence[int], proba: Sequence[float], groups: Sequence
) -> dict[str, float]:
    """ROC AUC over all rows pooled, and the mean of the ROC AUCs within each group.

    The two answer different questions: the pooled AUC also rewards ranking the rows of
    high-rate groups (e.g. months) above those of low-rate groups, the within-group mean
    only the ranking inside each group. Compare like with like.

    Parameters
    ----------
    y_true : array of 0/1
        Actual outcomes.
    proba : array of probabilities of 1
        Predicted probabilities, one per row of ``y_true``.
    groups : array
        Group label of each row (e.g. the calendar month).

    Returns
    -------
    dict
        ``pooled`` (AUC over all rows), ``within_mean`` (unweighted mean over the groups
        holding both classes), ``n_groups`` (number of such groups). AUCs are NaN when no
        group (or the whole) holds both classes.
    """
    within = auc_by_group(y_true, proba, groups)["roc_auc"].dropna()  # checks the inputs
    y = np.asarray(y_true, dtype=int)
    pooled = float(roc_auc_score(y, proba)) if len(np.unique(y)) == 2 else float("nan")
    return {
        "pooled": pooled,
        "within_mean": float(within.mean()) if len(within) else float("nan"),
        "n_groups": len(within),
    }


def auc_by_group(y_true: Sequence[int], proba: Sequence[float], groups: Sequence) -> pd.DataFrame:
    """ROC AUC inside each group (e.g. each calendar month), one row per group.

    The per-group view behind the ``within_mean`` of :func:`pooled_and_within_auc`: it
    shows which groups a model ranks well once the group's own rate is taken out.

    Parameters
    ----------
    y_true : array of 0/1
        Actual outcomes.
    proba : array of probabilities of 1
        Predicted probabilities, one per row of ``y_true``.
    groups : array
        Group label of each row.

    Returns
    -------
    DataFrame
        One row per group, sorted by label: ``group``, ``n`` (rows), ``positives``,
        ``rate`` (positives / n) and ``roc_auc`` (NaN when the group holds one class only).
    """
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(proba, dtype=float)
    g = np.asarray(groups)
    if not (y.shape == p.shape == g.shape) or y.size == 0:
        raise ValueError("y_true, proba and groups must be non-empty and of the same length")
    rows = []
    for label in sorted(pd.unique(g), key=str):
        mask = g == label
        both = len(np.unique(y[mask])) == 2
        rows.append(
            {
                "group": label,
                "n": int(mask.sum()),
                "positives": int(y[mask].sum()),
                "rate": float(y[mask].mean()),
                "roc_auc": float(roc_auc_score(y[mask], p[mask])) if both else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def paired_difference(
    a: Sequence[float], b: Sequence[float], *, z: float = 2.0
) -> dict[str, float]:
    """Mean of the paired differences ``a - b`` (e.g. two models' AUC month by month).

    Says whether a difference between two models scored on the same groups stands out
    from the group-to-group noise: it is called detectable when the mean differs from 0
    by more than ``z`` standard errors.

    Parameters
    ----------
    a, b : array
        Scores of the two contenders on the same groups, in the same order (at least two).
    z : float, default 2.0
        Standard errors the mean must exceed (about a 95% two-sided test).

    Returns
    -------
    dict
        ``mean``, ``se`` (standard deviation of the differences / sqrt(n)), ``n``,
        ``wins`` (groups where ``a > b``) and ``detectable`` (bool).
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.ndim != 1 or len(d) < 2:
        raise ValueError("a and b must be 1-D, of the same length and hold at least two values")
    mean = float(d.mean())
    se = float(d.std(ddof=1) / np.sqrt(len(d)))
    return {
        "mean": mean,
        "se": se,
        "n": len(d),
        "wins": int((d > 0).sum()),
        "detectable": bool(abs(mean) > z * se),
    }


def group_rate_scores(
    groups_train: Sequence, y_train: Sequence[int], groups_score: Sequence
) -> np.ndarray:
    """Baseline score: each row gets the acceptance rate of its group in the training rows.

    With the calendar month as the group this is "the month's rate only": it knows nothing
    about the prospect, only when the call was made. A model that barely beats it on a
    random split is mostly telling months apart. Only the training rows are used, so the
    score is fair on test rows.

    Parameters
    ----------
    groups_train : array
        Group label of each training row.
    y_train : array of 0/1
        Outcome of each training row.
    groups_score : array
        Group label of each row to score.

    Returns
    -------
    ndarray of float
        One score per row of ``groups_score``: the training rate of its group, or the
        overall training rate for a group absent from the training rows.
    """
    g = np.asarray(groups_train)
    y = np.asarray(y_train, dtype=float)
    if g.shape != y.shape or y.size == 0:
        raise ValueError("groups_train and y_train must be non-empty and of the same length")
    rates = pd.Series(y).groupby(g).mean()
    scores = pd.Series(np.asarray(groups_score)).map(rates)
    return scores.fillna(float(y.mean())).to_numpy(dtype=float)


def _order(proba: np.ndarray) -> np.ndarray:
    """Row positions from most to least likely; ties keep input order."""
    return np.argsort(-np.asarray(proba, dtype=float), kind="stable")


def capture_at_top(
    y_true: Sequence[int],
    proba: Sequence[float],
    *,
    n: int | None = None,
    fraction: float | None = None,
) -> dict[str, float]:
    """How many accepters the ``n`` (or top ``fraction``) most likely rows catch.

    Parameters
    ----------
    y_true : array of 0/1
        Actual outcomes.
    proba : array of float
        Predicted probabilities, one per row of ``y_true``; rows are taken from the
        highest down (ties in input order).
    n : int, optional
        Number of rows selected, between 1 and the number of rows.
    fraction : float, optional
        Share of rows selected (rounded to a count); give exactly one of ``n`` and
        ``fraction``.

    Returns
    -------
    dict
        ``selected``, ``hits``, ``precision`` (hits / selected), ``recall`` (hits / all
        accepters) and ``lift`` (precision / base rate).
    """
    y = np.asarray(y_true, dtype=int)
    if (n is None) == (fraction is None):
        raise ValueError("give exactly one of n and fraction")
    if n is None:
        n = int(round(fraction * len(y)))
    if not 0 < n <= len(y):
        raise ValueError(f"n must be between 1 and {len(y)}, got {n}")
    hits = int(y[_order(proba)[:n]].sum())
    base = y.mean()
    return {
        "selected": int(n),
        "hits": hits,
        "precision": hits / n,
        "recall": hits / y.sum() if y.sum() else float("nan"),
        "lift": (hits / n) / base if base else float("nan"),
    }


def tune_time_aware(
    model_type: str,
    schema: TableSchema,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    grid: Mapping[str, Sequence[Any]],
    val_fraction: float = 0.25,
    metric: str = "roc_auc",
    random_state: int = 0,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Pick hyper-parameters on a forward split: fit on the earliest rows, score the latest.

    ``X`` must be in time order; the last ``val_fraction`` of rows is the validation
    block, so a parameter set is judged on the future, as it will be used.

    Parameters
    ----------
    model_type : str
        A key of :data:`MODEL_LABELS` (except ``"blend"``).
    schema, X, y
        As for :func:`fit_estimator`; ``X`` in time order.
    grid : mapping
        Parameter name -> candidate values; every combination is tried.
    val_fraction : float, default 0.25
        Share of the latest rows that judges the candidates.
    metric : str, default "roc_auc"
        A key of :func:`classification_metrics` (lower is better for ``brier`` and
        ``log_loss``, higher for the others).
    random_state : int
        Seed of every candidate model (see :func:`make_estimator`).

    Returns
    -------
    best : dict
        The winning parameters.
    table : DataFrame
        One row per parameter set with the validation metric, best first.

    Raises
    ------
    ValueError
        An unknown metric, an empty block, or a validation block holding one class only
        (its AUC would be undefined and the choice arbitrary).
    """
    if metric not in _METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(_METRIC_NAMES)}")
    y = np.asarray(y)
    cut = int(round(len(y) * (1 - val_fraction)))
    if cut < 1 or cut >= len(y):
        raise ValueError("val_fraction leaves an empty fit or validation block")
    if len(np.unique(y[cut:])) < 2:
        raise ValueError(
            f"the validation block (last {len(y) - cut} rows) holds one class only; "
            "raise val_fraction"
        )
    keys = list(grid)
    candidates = [dict(zip(keys, v, strict=True)) for v in itertools.product(*grid.values())]
    scores = []
    for params in candidates:
        pipe = fit_estimator(
            model_type, schema, X.iloc[:cut], y[:cut], params=params, random_state=random_state
        )
        p = pipe.predict_proba(X.iloc[cut:])[:, 1]
        scores.append(classification_metrics(y[cut:], p)[metric])
    sign = 1 if metric in {"brier", "log_loss"} else -1
    order = sorted(range(len(candidates)), key=lambda i: sign * scores[i])
    table = pd.DataFrame([{**candidates[i], metric: scores[i]} for i in order])
    return dict(candidates[order[0]]), table


def repeated_split_scores(
    schema: TableSchema,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    params: Mapping[str, Mapping[str, Any]],
    n_repeats: int = 5,
    test_size: float = 0.25,
    metric: str = "roc_auc",
    random_state: int = 0,
) -> pd.DataFrame:
    """One metric of several models over repeated stratified random splits.

    A single random split of a few thousand rows moves the ROC AUC by about 0.01
    from one seed to the next; repeating the split says how much of a difference
    between models, or between a model and a published figure, is noise.

    Parameters
    ----------
    schema, X, y
        As for :func:`fit_estimator`.
    params : mapping
        Model type (a key of :data:`MODEL_LABELS` except ``"blend"``) -> its parameters.
    n_repeats : int, default 5
        Splits; split ``i`` is ``train_test_split(..., stratify=y,
        random_state=random_state + i)``, so split 0 is the usual single split.
    test_size : float, default 0.25
        Share of the rows held out as the test rows of each split.
    metric : str, default "roc_auc"
        A key of :func:`classification_metrics`.
    random_state : int, default 0
        Seed of the first split (split ``i`` uses ``random_state + i``) and of every
        model (see :func:`make_estimator`).

    Returns
    -------
    DataFrame
        Index: split number; one column per model (readable name); values: the
        metric on that split's test rows.
    """
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be at least 1, got {n_repeats}")
    y = np.asarray(y)
    rows = []
    for i in range(n_repeats):
        train, test = train_test_split(
            np.arange(len(y)), test_size=test_size, stratify=y, random_state=random_state + i
        )
        row = {}
        for model_type, model_params in params.items():
            fitted = fit_estimator(
                model_type,
                schema,
                X.iloc[train],
                y[train],
                params=model_params,
                random_state=random_state,
            )
            proba = fitted.predict_proba(X.iloc[test])[:, 1]
            row[MODEL_LABELS[model_type]] = classification_metrics(y[test], proba)[metric]
        rows.append(row)
    return pd.DataFrame(rows).rename_axis("split")


def learning_curve_table(
    model_type: str,
    schema: TableSchema,
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_test: pd.DataFrame,
    y_test: np.ndarray,
    *,
    fractions: Sequence[float] = (0.1, 0.25, 0.5, 1.0),
    params: Mapping[str, Any] | None = None,
    random_state: int = 0,
) -> pd.DataFrame:
    """ROC AUC on the training subsample and on the test rows as the training set grows.

    Parameters
    ----------
    model_type : str
        One of :data:`MODEL_TYPES` (see :func:`make_estimator`).
    schema : TableSchema
        As for :func:`fit_estimator`.
    X_train, y_train
        Encoded features and 0/1 outcomes of the training rows the subsamples come from.
    X_test, y_test
        Encoded features and 0/1 outcomes of the test rows every model is scored on.
    fractions : sequence of float, default (0.1, 0.25, 0.5, 1.0)
        Shares of the training rows to fit on (at least 2 rows each); the subsamples are
        nested, each the first rows of one random permutation.
    params : mapping, optional
        Model hyper-parameters (see :func:`make_estimator`).
    random_state : int, default 0
        Seed of the permutation that draws the training subsamples, and of every model.

    Returns
    -------
    DataFrame
        ``fraction``, ``n_train``, ``train_auc``, ``test_auc``.
    """
    rng = np.random.default_rng(random_state)
    y_train = np.asarray(y_train)
    order = rng.permutation(len(y_train))
    rows = []
    for fraction in fractions:
        take = np.sort(order[: max(2, int(round(fraction * len(y_train))))])
        pipe = fit_estimator(
            model_type,
            schema,
            X_train.iloc[take],
            y_train[take],
            params=params,
            random_state=random_state,
        )
        rows.append(
            {
                "fraction": float(fraction),
                "n_train": len(take),
                "train_auc": roc_auc_score(
                    y_train[take], pipe.predict_proba(X_train.iloc[take])[:, 1]
                ),
                "test_auc": roc_auc_score(y_test, pipe.predict_proba(X_test)[:, 1]),
            }
        )
    return pd.DataFrame(rows)


def compare_segmented(
    model_type: str,
    schema: TableSchema,
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_test: pd.DataFrame,
    y_test: np.ndarray,
    segment_train: Sequence[Any],
    segment_test: Sequence[Any],
    *,
    params: Mapping[str, Any] | None = None,
    random_state: int = 0,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """One model for everyone against one model per segment (e.g. under-30s and 30+).

    Parameters
    ----------
    model_type : str
        One of :data:`MODEL_TYPES` (see :func:`make_estimator`).
    schema : TableSchema
        As for :func:`fit_estimator`.
    X_train, y_train
        Encoded features and 0/1 outcomes the models are fitted on.
    X_test, y_test
        Encoded features and 0/1 outcomes the models are scored on.
    segment_train, segment_test : array
        Segment label of each training and each test row; every test segment needs
        training rows of both outcomes.
    params : mapping, optional
        Model hyper-parameters, the same for every model (see :func:`make_estimator`).
    random_state : int, default 0
        Seed of every model (see :func:`make_estimator`).

    Returns
    -------
    table : DataFrame
        ``approach``, ``segment`` ("all" or a segment label), ``n``, ``roc_auc``,
        ``pr_auc``, ``brier``, ``log_loss`` on the test rows.
    predictions : dict
        ``"one model"`` and ``"separate models"`` -> test probabilities.
    """
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    seg_tr, seg_te = np.asarray(segment_train), np.asarray(segment_test)
    one = fit_estimator(
        model_type, schema, X_train, y_train, params=params, random_state=random_state
    )
    p_one = one.predict_proba(X_test)[:, 1]
    p_sep = np.full(len(y_test), np.nan)
    for label in pd.unique(seg_te):
        rows = seg_tr == label
        if len(np.unique(y_train[rows])) < 2:
            raise DataValidationError(f"segment {label!r} has a single outcome in training")
        model = fit_estimator(
            model_type,
            schema,
            X_train[rows],
            y_train[rows],
            params=params,
            random_state=random_state,
        )
        p_sep[seg_te == label] = model.predict_proba(X_test[seg_te == label])[:, 1]
    predictions = {"one model": p_one, "separate models": p_sep}
    rows = []
    labels = ["all", *sorted(pd.unique(seg_te), key=str)]
    for approach, p in predictions.items():
        for label in labels:
            mask = np.ones(len(y_test), bool) if label == "all" else seg_te == label
            m = classification_metrics(y_test[mask], p[mask])
            rows.append(
                {
                    "approach": approach,
                    "segment": str(label),
                    "n": int(mask.sum()),
                    **{k: m[k] for k in ("roc_auc", "pr_auc", "brier", "log_loss")},
                }
            )
    return pd.DataFrame(rows), predictions


# --------------------------------------------------------------------------- economics


def _economics(cost_per_contact: float | None, value_per_subscription: float | None):
    rules = load_rules()
    cost = rules["cost_per_contact"] if cost_per_contact is None else cost_per_contact
    value = (
        rules["value_per_subscription"]
        if value_per_subscription is None
        else value_per_subscription
    )
    if cost < 0 or value <= 0:
        raise ValueError("cost_per_contact must be >= 0 and value_per_subscription > 0")
    return float(cost), float(value)


def break_even_threshold(
    *, cost_per_contact: float | None = None, value_per_subscription: float | None = None
) -> float:
    """Probability above which a contact pays for itself: ``cost / value``.

    Defaults come from ``insurereco/rules/propensity.yml``.
    """
    cost, value = _economics(cost_per_contact, value_per_subscription)
    return cost / value


def _campaign_row(y_sel, p_sel, n_total, positives, cost, value) -> dict[str, float]:
    contacts = len(p_sel)
    row = {
        "contacts": contacts,
        "share": contacts / n_total,
        "expected_subscriptions": float(np.sum(p_sel)),
        "cost": contacts * cost,
    }
    if y_sel is not None:
        subs = int(np.sum(y_sel))
        row.update(
            {
                "subscriptions": subs,
                "conversion": subs / contacts if contacts else float("nan"),
                "recall": subs / positives if positives else float("nan"),
                "revenue": subs * value,
                "profit": subs * value - contacts * cost,
            }
        )
        row["roi"] = row["profit"] / row["cost"] if row["cost"] else float("nan")
    row["expected_profit"] = row["expected_subscriptions"] * value - row["cost"]
    return row


def roi_by_depth(
    y_true: Sequence[int] | None,
    proba: Sequence[float],
    *,
    depths: Sequence[float] = tuple(np.round(np.arange(0.05, 1.0001, 0.05), 2)),
    cost_per_contact: float | None = None,
    value_per_subscription: float | None = None,
) -> pd.DataFrame:
    """Cost, subscriptions and profit when contacting the top ``depth`` share of prospects.

    Parameters
    ----------
    y_true : array of 0/1 or None
        Actual outcomes; when None only expected figures (sum of probabilities) are given.
    proba : array
        Predicted acceptance probability of each prospect; prospects are contacted from
        the highest down.
    depths : sequence of float in (0, 1], default 0.05, 0.10, ..., 1.0
        Shares of prospects contacted, one row each (at least one contact per depth).
    cost_per_contact, value_per_subscription : float, optional
        Defaults from ``insurereco/rules/propensity.yml``.

    Returns
    -------
    DataFrame
        One row per depth: ``depth``, ``contacts``, ``share``,
        ``expected_subscriptions``, ``cost``, ``expected_profit`` and, with outcomes,
        ``subscriptions``, ``conversion``, ``recall``, ``revenue``, ``profit``, ``roi``
        (profit / cost).
    """
    cost, value = _economics(cost_per_contact, value_per_subscription)
    p = np.asarray(proba, dtype=float)
    y = None if y_true is None else np.asarray(y_true, dtype=int)
    order = _order(p)
    positives = None if y is None else int(y.sum())
    rows = []
    for depth in depths:
        n = max(1, int(round(depth * len(p))))
        take = order[:n]
        row = _campaign_row(None if y is None else y[take], p[take], len(p), positives, cost, value)
        rows.append({"depth": float(depth), **row})
    return pd.DataFrame(rows)


def roi_at_thresholds(
    y_true: Sequence[int] | None,
    proba: Sequence[float],
    *,
    thresholds: Sequence[float] | None = None,
    cost_per_contact: float | None = None,
    value_per_subscription: float | None = None,
) -> pd.DataFrame:
    """Contact everyone with ``proba >= threshold``; one row per threshold.

    The default thresholds are those of the rules file (0.5 and 0.8) plus the break-even
    threshold ``cost / value``.

    Parameters
    ----------
    y_true : array of 0/1 or None
        Actual outcomes; when None only expected figures (sum of probabilities) are given.
    proba : array
        Predicted acceptance probability of each prospect.
    thresholds : sequence of float, optional
        Probability cut-offs; default: ``thresholds`` of ``insurereco/rules/propensity.yml``.
        The break-even threshold is always added.
    cost_per_contact, value_per_subscription : float, optional
        Defaults from ``insurereco/rules/propensity.yml``.

    Returns
    -------
    DataFrame
        ``threshold``, ``label`` and the columns of :func:`roi_by_depth`.
    """
    cost, value = _economics(cost_per_contact, value_per_subscription)
    p = np.asarray(proba, dtype=float)
    y = None if y_true is None else np.asarray(y_true, dtype=int)
    if thresholds is None:
        thresholds = [*load_rules()["thresholds"]]
    labelled = [(float(t), f"{t:g}") for t in thresholds]
    labelled.append((cost / value, f"break-even ({cost / value:.3g})"))
    positives = None if y is None else int(y.sum())
    rows = []
    for t, label in sorted(labelled):
        take = p >= t
        row = _campaign_row(None if y is None else y[take], p[take], len(p), positives, cost, value)
        rows.append({"threshold": t, "label": label, **row})
    return pd.DataFrame(rows)


def value_sensitivity(
    y_true: Sequence[int],
    proba: Sequence[float],
    *,
    values: Sequence[float] = (50.0, 100.0, 200.0),
    cost_per_contact: float | None = None,
) -> pd.DataFrame:
    """Profit of the break-even rule against calling everyone, for several values per sale.

    For each value per subscription the rule contacts every prospect with
    ``proba >= cost / value`` (the break-even threshold at that value).

    Parameters
    ----------
    y_true : array of 0/1
        Actual outcomes.
    proba : array
        Predicted acceptance probability of each prospect.
    values : sequence of float, default (50, 100, 200)
        Values of one subscription to try, one row each.
    cost_per_contact : float, optional
        Default from ``insurereco/rules/propensity.yml``.

    Returns
    -------
    DataFrame
        ``value``, ``break_even``, ``contacts`` and ``share`` called by the rule,
        ``profit_rule``, ``profit_everyone`` and ``rule_gain`` (rule minus everyone).
    """
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(proba, dtype=float)
    if y.shape != p.shape or y.size == 0:
        raise ValueError("y_true and proba must be non-empty and of the same length")
    positives = int(y.sum())
    rows = []
    for value in values:
        cost, value = _economics(cost_per_contact, value)
        take = p >= cost / value
        rule = _campaign_row(y[take], p[take], len(p), positives, cost, value)
        everyone = _campaign_row(y, p, len(p), positives, cost, value)
        rows.append(
            {
                "value": value,
                "break_even": cost / value,
                "contacts": rule["contacts"],
                "share": float(rule["share"]),
                "profit_rule": float(rule["profit"]),
                "profit_everyone": float(everyone["profit"]),
                "rule_gain": float(rule["profit"] - everyone["profit"]),
            }
        )
    return pd.DataFrame(rows)


def campaign_scenario(
    proba: Sequence[float],
    *,
    fraction: float = 0.2,
    cost_per_contact: float | None = None,
    value_per_subscription: float | None = None,
    interval: float = 0.9,
    n_draws: int = 20000,
    random_state: int = 0,
) -> dict[str, float]:
    """Pre-launch forecast for contacting the top ``fraction`` of a prospect list.

    The subscriptions of the chosen prospects are a sum of independent Bernoulli draws
    with the model's probabilities; their range is simulated. The range only covers
    chance; it assumes the probabilities are calibrated for the campaign month.

    Parameters
    ----------
    proba : array
        Predicted acceptance probability of each prospect on the list.
    fraction : float in (0, 1], default 0.2
        Share of the list contacted, most likely first (at least one contact).
    cost_per_contact, value_per_subscription : float, optional
        Defaults from ``insurereco/rules/propensity.yml``.
    interval : float, default 0.9
        Coverage of the simulated ``_low``/``_high`` range (central quantiles).
    n_draws : int, default 20000
        Number of simulated campaigns.
    random_state : int, default 0
        Seed of the generator that simulates the subscriptions of the chosen prospects.

    Returns
    -------
    dict
        ``contacts``, ``cost``, ``expected_subscriptions``, ``subscriptions_low``/``_high``,
        ``expected_profit``, ``profit_low``/``_high``, ``interval``.
    """
    cost, value = _economics(cost_per_contact, value_per_subscription)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    p = np.asarray(proba, dtype=float)
    n = max(1, int(round(fraction * len(p))))
    chosen = p[_order(p)[:n]]
    rng = np.random.default_rng(random_state)
    draws = np.zeros(n_draws)
    for start in range(0, n, 2000):
        block = chosen[start : start + 2000]
        draws += (rng.random((n_draws, len(block))) < block).sum(axis=1)
    tail = (1 - interval) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    spend = n * cost
    return {
        "contacts": n,
        "cost": spend,
        "expected_subscriptions": float(chosen.sum()),
        "subscriptions_low": float(low),
        "subscriptions_high": float(high),
        "expected_profit": float(chosen.sum() * value - spend),
        "profit_low": float(low * value - spend),
        "profit_high": float(high * value - spend),
        "interval": interval,
    }


def forward_widened_range(
    expected: Sequence[float],
    low: Sequence[float],
    high: Sequence[float],
    actual: Sequence[float],
    *,
    min_history: int = 1,
) -> pd.DataFrame:
    """Widen each forecast range by the relative level error of the forecasts before it.

    For forecast ``i`` (in time order) the margin is the mean of
    ``|actual - expected| / expected`` over forecasts ``0 .. i-1``, known at launch time;
    the widened range is ``[low - margin * expected, high + margin * expected]`` (the low
    end floored at 0). Forecast ``i``'s own outcome is never used for its margin.

    Parameters
    ----------
    expected, low, high, actual : array, one value per forecast in time order
        Expected count, chance-only range (e.g. from :func:`campaign_scenario`) and the
        count that happened.
    min_history : int, default 1
        Forecasts with fewer earlier forecasts get a NaN margin and range.

    Returns
    -------
    DataFrame
        ``rel_error`` (the forecast's own ``|actual - expected| / expected``, NaN when
        nothing was expected), ``margin``, ``low_wide``, ``high_wide``, ``inside`` (actual
        within the chance-only range) and ``inside_wide`` (within the widened range; NaN
        without a margin).
    """
    e, lo, hi, a = (np.asarray(v, dtype=float) for v in (expected, low, high, actual))
    if not (e.shape == lo.shape == hi.shape == a.shape) or e.ndim != 1:
        raise ValueError("expected, low, high and actual must be 1-D and of the same length")
    if min_history < 1:
        raise ValueError(f"min_history must be at least 1, got {min_history}")
    rel_error = np.abs(a - e) / np.where(e > 0, e, np.nan)
    margin = np.full(len(e), np.nan)
    for i in range(min_history, len(e)):
        margin[i] = np.nanmean(rel_error[:i])
    low_wide = np.maximum(lo - margin * e, 0.0)  # NaN where the margin is NaN
    high_wide = hi + margin * e
    inside_wide = np.where(np.isnan(margin), np.nan, (low_wide <= a) & (a <= high_wide))
    return pd.DataFrame(
        {
            "rel_error": rel_error,
            "margin": margin,
            "low_wide": low_wide,
            "high_wide": high_wide,
            "inside": (lo <= a) & (a <= hi),
            "inside_wide": inside_wide,
        }
    )


# --------------------------------------------------------------------------- plots


def plot_reliability(
    y_true: Sequence[int],
    predictions: Mapping[str, Sequence[float]],
    *,
    ax,
    n_bins: int = 10,
):
    """Reliability diagram (mean predicted vs observed rate, quantile bins) per model."""
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for name, p in predictions.items():
        observed, predicted = calibration_curve(y_true, p, n_bins=n_bins, strategy="quantile")
        ax.plot(predicted, observed, marker="o", label=name)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed acceptance rate")
    ax.legend(loc="upper left", fontsize="small")
    return ax


def plot_capture_curve(y_true: Sequence[int], predictions: Mapping[str, Sequence[float]], *, ax):
    """Cumulative gains: share of accepters caught against share of prospects contacted."""
    y = np.asarray(y_true, dtype=int)
    share = np.arange(1, len(y) + 1) / len(y)
    for name, p in predictions.items():
        caught = np.cumsum(y[_order(p)]) / y.sum()
        ax.plot(share, caught, label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="random")
    ax.set_xlabel("share of prospects contacted (best first)")
    ax.set_ylabel("share of accepters caught")
    ax.legend(loc="lower right", fontsize="small")
    return ax


def plot_learning_curve(table: pd.DataFrame, *, ax, label: str = ""):
    """Train and test ROC AUC against training size (from :func:`learning_curve_table`)."""
    prefix = f"{label} " if label else ""
    ax.plot(
        table["n_train"], table["train_auc"], marker="o", linestyle="--", label=f"{prefix}train"
    )
    ax.plot(table["n_train"], table["test_auc"], marker="o", label=f"{prefix}test")
    ax.set_xlabel("training rows")
    ax.set_ylabel("ROC AUC")
    ax.legend(fontsize="small")
    return ax


def plot_roi_by_depth(table: pd.DataFrame, *, ax, currency: str | None = None):
    """Actual (and expected) profit against contact depth (from :func:`roi_by_depth`).

    ``currency`` labels the profit axis; default: the one in ``rules/propensity.yml``.
    """
    currency = load_rules()["currency"] if currency is None else currency
    if "profit" in table:
        ax.plot(table["depth"], table["profit"], marker="o", label="actual profit")
    ax.plot(table["depth"], table["expected_profit"], linestyle="--", label="expected profit")
    ax.axhline(0, color="grey", linewidth=1)
    ax.set_xlabel("share of prospects contacted (best first)")
    ax.set_ylabel(f"profit ({currency})")
    ax.legend(fontsize="small")
    return ax
