"""What moves the recommender's competition metric? Variants of XGBoost on the same splits.

Same protocol as ``benchmarks/recommender.py`` (20% of Zimnat Train customers held
out, one held product hidden each). On each of ``--repeats`` evaluation splits (seeds
``random_state``, ``random_state + 1``, ...), every variant is fitted on the other 80%
and scored on the held-out customers. The script prints, per variant and split, the
competition metric, Hit@3 overall and on non-dominant products, the multi-class log
loss, fit time and scoring throughput, then each variant's mean over the splits and
its mean difference from the default on the same splits (negative: better):

* ``default``: :class:`~insurereco.models.XGBoostRecommender` as shipped (refit on
  training + early-stopping customers, 5% of customers for calibration);
* ``no refit, 15% calibration``: the earlier default, whose booster learns from 75%
  of the customers instead of 95%;
* ``slow and deep``: learning rate 0.05, depth 6, up to 1000 rounds;
* ``depth 5, learning rate 0.08``: a milder version of the same;
* ``more calibration``: 15% of customers for calibration instead of 5%;
* ``rare codes kept`` / ``rare codes grouped more``: codes seen fewer than 5 (default
  20) or 50 times grouped as ``OTHER``;
* ``small leaves, more shrinkage``: ``min_child_weight`` 0.5 and ``reg_lambda`` 5;
* ``one-hot codes``: one-hot splits of the categorical codes instead of partitions;
* ``leaf-wise trees``: trees grown leaf by leaf, up to 24 leaves;
* ``blend 10% co-occurrence``: 0.9 x default + 0.1 x the co-occurrence model;
* ``blend 20% neural network``: 0.8 x default + 0.2 x a small neural network (a
  scikit-learn multi-layer perceptron, layers of 128 and 64 units, on the same
  features: codes one-hot, numbers scaled), another kind of model whose errors differ;
* ``average of 4 seeds``: the default's probabilities averaged with those of three
  more defaults fitted with other seeds (other early-stopping and calibration
  customers); its fit time is the four fits'.
* ``pairwise model``: the other common framing of the task, one binary XGBoost over
  (customer, candidate product) pairs instead of one multi-class model. Each pair sees
  the customer's features, the candidate, and how the candidate is co-held with the
  basket (largest, smallest and mean confidence over the held products, largest lift,
  popularity, the co-occurrence model's probability), learnt from other customers
  (five folds, so no customer's own basket describes it); each customer's scores are
  then normalised over the products not held. ``blend 30% pairwise model`` mixes it
  into the default.

The variants after ``leaf-wise trees`` are computed beside the default: choosing one of
them with ``--only`` fits the default too.

Usage::

    .venv/bin/python benchmarks/recommender_ablation.py [--data-dir DIR] [--random-state 0]
        [--repeats 3] [--only default "one-hot codes" ...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from insurereco.contract import ID_COLUMN, PRODUCTS
from insurereco.data import load_zimnat
from insurereco.features import CATEGORICAL_COLUMNS, PortfolioFeatures
from insurereco.models import CooccurrenceRecommender, XGBoostRecommender, mask_held
from insurereco.protocol import (
    HIDDEN_COLUMN,
    WEIGHT_COLUMN,
    evaluation_split,
    expand_portfolio,
    held_matrix,
    held_out_summary,
    split_customers,
)
from insurereco.reporting import threads

DEFAULT = "default"
VARIANTS = {
    DEFAULT: {},
    "no refit, 15% calibration": {"refit": False, "calibration_fraction": 0.15},
    "slow and deep": {"learning_rate": 0.05, "max_depth": 6, "n_estimators": 1000},
    "depth 5, learning rate 0.08": {"learning_rate": 0.08, "max_depth": 5, "n_estimators": 1000},
    "more calibration": {"calibration_fraction": 0.15},
    "rare codes kept": {"min_category_count": 5},
    "rare codes grouped more": {"min_category_count": 50},
    "small leaves, more shrinkage": {"min_child_weight": 0.5, "reg_lambda": 5.0},
    "one-hot codes": {"booster_params": {"max_cat_to_onehot": 300}},
    "leaf-wise trees": {
        "booster_params": {"grow_policy": "lossguide", "max_leaves": 24, "max_depth": 0}
    },
}
BLEND_WEIGHT = 0.1
BLEND = f"blend {BLEND_WEIGHT:.0%} co-occurrence"
NEURAL_WEIGHT = 0.2
NEURAL = f"blend {NEURAL_WEIGHT:.0%} neural network"
BAG_SEEDS = 4
BAG = f"average of {BAG_SEEDS} seeds"
PAIRWISE = "pairwise model"
PAIRWISE_WEIGHT = 0.3
PAIRWISE_BLEND = f"blend {PAIRWISE_WEIGHT:.0%} pairwise model"
PAIRWISE_FOLDS = 5
PAIRWISE_PARAMS = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "tree_method": "hist",
    "eta": 0.08,
    "max_depth": 6,
    "min_child_weight": 1.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "max_cat_to_onehot": 32,
    "verbosity": 0,
}
ROUNDING = {"competition": 5, "hit@3": 4, "hit@3 non-dominant": 4, "log_loss": 4,
            "fit s": 1, "customers/s": 0, "vs default": 5}  # fmt: skip


def _row(proba, split, fit_s: float, score_s: float) -> dict[str, float]:
    return {
        **held_out_summary(proba, split),
        "fit s": fit_s,
        "customers/s": len(split.masked) / score_s if score_s else float("nan"),
    }


def _neural_inputs(features: pd.DataFrame) -> pd.DataFrame:
    """Model features with the codes as strings (missing as ``"missing"``) for one-hot."""
    out = features.astype({column: "float64" for column in features.columns
                           if column not in CATEGORICAL_COLUMNS})  # fmt: skip
    for column in CATEGORICAL_COLUMNS:
        out[column] = features[column].astype("object").fillna("missing").astype("str")
    return out


def neural_proba(split, *, random_state: int) -> np.ndarray:
    """Probabilities of a small neural network fitted on ``split.train``, held masked.

    The network sees the recommender's features (:class:`PortfolioFeatures`), codes
    one-hot (rare ones grouped), numbers imputed and scaled, and learns from the same
    expanded, ``1/n``-weighted examples, stopping early on 10% of them.
    """
    features = PortfolioFeatures().fit(split.train)
    expanded = expand_portfolio(split.train)
    numbers = [c for c in features.feature_names_ if c not in CATEGORICAL_COLUMNS]
    network = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore", min_frequency=20, sparse_output=False),
             list(CATEGORICAL_COLUMNS)),
            (make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                           StandardScaler()), numbers),
        ),
        MLPClassifier(hidden_layer_sizes=(128, 64), alpha=0.01, batch_size=256,
                      early_stopping=True, n_iter_no_change=10, random_state=random_state),
    )  # fmt: skip
    target = pd.Categorical(expanded[HIDDEN_COLUMN], categories=PRODUCTS).codes
    network.fit(
        _neural_inputs(features.transform(expanded)),
        target,
        mlpclassifier__sample_weight=expanded[WEIGHT_COLUMN].to_numpy(),
    )
    proba = np.zeros((len(split.masked), len(PRODUCTS)))
    proba[:, network.classes_] = network.predict_proba(
        _neural_inputs(features.transform(split.masked))
    )
    return mask_held(proba, held_matrix(split.masked))


def _blend(split, proba: np.ndarray, other: np.ndarray, weight: float) -> np.ndarray:
    return mask_held((1 - weight) * proba + weight * other, held_matrix(split.masked))


def _cooccurrence_rows(split, default_proba, default_s, random_state) -> dict:
    cooc = CooccurrenceRecommender().fit(split.train).predict_proba(split.masked).to_numpy()
    return {BLEND: _row(_blend(split, default_proba, cooc, BLEND_WEIGHT), split, default_s, 0.0)}


def _neural_rows(split, default_proba, default_s, random_state) -> dict:
    start = time.perf_counter()
    neural = neural_proba(split, random_state=random_state)
    fit_s = default_s + time.perf_counter() - start
    return {NEURAL: _row(_blend(split, default_proba, neural, NEURAL_WEIGHT), split, fit_s, 0.0)}


def _seed_bag_rows(split, default_proba, default_s, random_state) -> dict:
    """Row of the default averaged with ``BAG_SEEDS - 1`` defaults fitted with other seeds."""
    probas, start = [default_proba], time.perf_counter()
    for k in range(1, BAG_SEEDS):
        model = XGBoostRecommender(random_state=random_state + 100 * k).fit(split.train)
        probas.append(model.predict_proba(split.masked).to_numpy())
    fit_s = default_s + time.perf_counter() - start
    bag = mask_held(np.mean(probas, axis=0), held_matrix(split.masked))
    return {BAG: _row(bag, split, fit_s, 0.0)}


def association_features(train: pd.DataFrame, baskets: pd.DataFrame) -> dict[str, np.ndarray]:
    """How each candidate product is co-held with each basket, learnt from ``train``.

    Returns arrays of shape (baskets, products): the largest, smallest and mean
    confidence ``P(candidate | held product)`` over the basket's held products (lightly
    shrunk to popularity; NaN for an empty basket), the largest lift, the candidate's
    popularity and the :class:`CooccurrenceRecommender`'s probability.
    """
    complete = held_matrix(train).astype(float)
    counts = complete.T @ complete
    holders = np.diag(counts)
    popularity = holders / len(complete)
    confidence = (counts + popularity) / (holders[:, None] + 1.0)
    empty = ~held_matrix(baskets).astype(bool)[:, :, None]
    over_basket = np.ma.masked_array(np.broadcast_to(confidence, (len(empty), *counts.shape)),
                                     np.broadcast_to(empty, (len(empty), *counts.shape)))  # fmt: skip
    cooc = CooccurrenceRecommender().fit(train).predict_proba(baskets).to_numpy()
    return {
        "confidence max": over_basket.max(axis=1).filled(np.nan),
        "confidence min": over_basket.min(axis=1).filled(np.nan),
        "confidence mean": over_basket.mean(axis=1).filled(np.nan),
        "lift max": (over_basket / popularity).max(axis=1).filled(np.nan),
        "popularity": np.broadcast_to(popularity, cooc.shape),
        "co-occurrence": cooc,
    }


def _out_of_fold_association(train: pd.DataFrame, expanded: pd.DataFrame, random_state: int):
    """:func:`association_features` of each expanded example, learnt from the other folds."""
    folds = KFold(PAIRWISE_FOLDS, shuffle=True, random_state=random_state).split(train)
    out = {}
    for learn, own in folds:
        rows = expanded[ID_COLUMN].isin(train[ID_COLUMN].iloc[own]).to_numpy()
        for name, values in association_features(train.iloc[learn], expanded[rows]).items():
            out.setdefault(name, np.zeros((len(expanded), len(PRODUCTS))))[rows] = values
    return out


def _pairs(features: PortfolioFeatures, baskets: pd.DataFrame, association: dict):
    """One row per (basket, product not held): features, candidate, association figures."""
    rows, candidates = np.nonzero(~held_matrix(baskets).astype(bool))
    pairs = features.transform(baskets).iloc[rows].reset_index(drop=True)
    pairs["candidate"] = pd.Categorical.from_codes(candidates, categories=list(PRODUCTS))
    for name, values in association.items():
        pairs[name] = values[rows, candidates]
    return pairs, rows, candidates


def pairwise_proba(split, *, random_state: int) -> np.ndarray:
    """Probabilities of the pairwise model fitted on ``split.train``, held masked.

    Binary XGBoost on (expanded example, candidate) pairs, weighted ``1/n`` like the
    default, stopped early on 10% of the customers, then refitted on all of them with
    the rounds scaled up; the scores are normalised over the products not held.
    """
    train = split.train
    features = PortfolioFeatures().fit(train)
    expanded = expand_portfolio(train)
    pairs, rows, candidates = _pairs(
        features, expanded, _out_of_fold_association(train, expanded, random_state)
    )
    label = candidates == pd.Index(PRODUCTS).get_indexer(expanded[HIDDEN_COLUMN])[rows]
    weight = expanded[WEIGHT_COLUMN].to_numpy()[rows]
    stopping = split_customers(train, test_size=0.1, random_state=random_state)[1]
    stop = expanded[ID_COLUMN].isin(stopping[ID_COLUMN]).to_numpy()[rows]
    params = {**PAIRWISE_PARAMS, "seed": random_state, "nthread": threads()}

    def matrix(keep: np.ndarray) -> xgb.DMatrix:
        return xgb.DMatrix(pairs[keep], label=label[keep], weight=weight[keep],
                           enable_categorical=True)  # fmt: skip

    booster = xgb.train(params, matrix(~stop), num_boost_round=3000,
                        evals=[(matrix(stop), "stop")], early_stopping_rounds=50,
                        verbose_eval=False)  # fmt: skip
    rounds = round((booster.best_iteration + 1) / np.mean(~stop))
    booster = xgb.train(params, matrix(np.ones_like(stop)), num_boost_round=rounds)
    test, rows, candidates = _pairs(
        features, split.masked, association_features(train, split.masked)
    )
    scores = np.zeros((len(split.masked), len(PRODUCTS)))
    scores[rows, candidates] = booster.predict(xgb.DMatrix(test, enable_categorical=True))
    return mask_held(scores, held_matrix(split.masked))


def _pairwise_rows(split, default_proba, default_s, random_state) -> dict:
    start = time.perf_counter()
    proba = pairwise_proba(split, random_state=random_state)
    fit_s = time.perf_counter() - start
    blend = _blend(split, default_proba, proba, PAIRWISE_WEIGHT)
    return {PAIRWISE: _row(proba, split, fit_s, 0.0),
            PAIRWISE_BLEND: _row(blend, split, default_s + fit_s, 0.0)}  # fmt: skip


#: Variants computed beside the default (they reuse its probabilities or fit time).
EXTRAS = {BLEND: _cooccurrence_rows, NEURAL: _neural_rows, BAG: _seed_bag_rows,
          PAIRWISE: _pairwise_rows}  # fmt: skip


def _split_rows(split, names: list[str], random_state: int) -> dict[str, dict[str, float]]:
    """Fit the chosen variants on one split (the default too when an extra needs it)."""
    extras = [name for name in names if name in EXTRAS]
    variants = [name for name in VARIANTS if name in names or (extras and name == DEFAULT)]
    rows, default_proba = {}, None
    for name in variants:
        model = XGBoostRecommender(random_state=random_state, **VARIANTS[name])
        start = time.perf_counter()
        model.fit(split.train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        proba = model.predict_proba(split.masked).to_numpy()
        rows[name] = _row(proba, split, fit_s, time.perf_counter() - start)
        if name == DEFAULT:
            default_proba = proba
    for name in extras:
        rows.update(EXTRAS[name](split, default_proba, rows[DEFAULT]["fit s"], random_state))
    return rows


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Mean of each variant over the splits, and its mean difference from the default.

    Parameters
    ----------
    table : DataFrame
        One row per (``split_seed``, ``variant``) with at least a ``competition`` column.

    Returns
    -------
    DataFrame
        Index ``variant`` (in order of first appearance); the mean of every column, plus
        ``vs default`` (mean over splits of the variant's competition metric minus the
        default's on the same split; NaN without a default row) and ``splits better``
        (on how many splits the variant beats the default).
    """
    order = list(dict.fromkeys(table.index.get_level_values("variant")))
    means = table.groupby(level="variant").mean().loc[order]
    competition = table["competition"].unstack("variant")
    if DEFAULT in competition:
        diff = competition.sub(competition[DEFAULT], axis=0)
        means["vs default"] = diff.mean()
        means["splits better"] = (diff < 0).sum()
    return means


def main(argv: list[str] | None = None) -> None:
    """Fit every variant on every split and print the table and the means."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="evaluation splits (default 3)")
    choices = [*VARIANTS, *EXTRAS]
    parser.add_argument("--only", nargs="+", choices=choices, default=choices)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    customers = load_zimnat("train", data_dir=args.data_dir)
    rows = {}
    for seed in range(args.random_state, args.random_state + args.repeats):
        split = evaluation_split(customers, test_size=0.2, random_state=seed)
        for name, row in _split_rows(split, args.only, seed).items():
            rows[(seed, name)] = row
            print(f"split {seed} {name}: competition {row['competition']:.5f}", flush=True)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = table.index.set_names(["split_seed", "variant"])
    pd.set_option("display.width", 200)
    print(f"\nfit on {len(split.train)} customers, evaluate on {len(split.masked)}, per split")
    print(table.round(ROUNDING).to_string())
    print(f"\nmean over {args.repeats} splits")
    print(summarise(table).round(ROUNDING).to_string())


if __name__ == "__main__":
    main()
