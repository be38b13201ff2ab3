"""``insurereco propensity fit|score``: score who will accept an offer, for any campaign file.

Examples
--------
::

    insurereco propensity fit --data bank-additional-full.csv --target y \\
        --drop duration campaign --model bank.joblib
    insurereco propensity score --model bank.joblib --data prospects.csv \\
        --out scores.csv --top 800

The model file (joblib) stores the column schema and the categories seen at fit;
load only model files you made yourself.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from insurereco.propensity import (
    MODEL_TYPES,
    PropensityModel,
    fit_propensity,
    read_table,
)
from insurereco.reporting import atomic_write_csv

__all__ = ["register", "run_fit", "run_score", "scored_frame"]


def _add_reading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sep", default=None, help="field separator (default: guessed)")
    parser.add_argument(
        "--header",
        choices=["auto", "yes", "no"],
        default="auto",
        help="first line is a header (auto: yes unless every field is a number; "
        "headerless columns are named col1, col2, ...)",
    )


def register(subparsers) -> None:
    """Add ``propensity fit`` and ``propensity score`` to the command line."""
    parser = subparsers.add_parser(
        "propensity",
        help="fit and score prospect propensity (who accepts an offer) on a tabular file",
        description="Fit a calibrated acceptance model on a campaign file, then score prospects.",
    )
    actions = parser.add_subparsers(dest="action", required=True)

    fit = actions.add_parser("fit", help="fit a model on a file with a binary outcome column")
    fit.add_argument("--data", required=True, type=Path, help="training file (CSV-like)")
    fit.add_argument("--target", required=True, help="binary outcome column")
    fit.add_argument("--drop", nargs="+", default=[], metavar="COL", help="columns to leave out")
    fit.add_argument("--key", default=None, help="identifier column copied to scored files")
    fit.add_argument(
        "--categorical",
        nargs="+",
        default=[],
        metavar="COL",
        help="numeric-looking columns to treat as categories",
    )
    fit.add_argument("--positive", default=None, help="outcome value meaning 'accepted'")
    fit.add_argument("--model-type", choices=MODEL_TYPES, default="xgboost")
    fit.add_argument("--calibration", choices=["sigmoid", "isotonic", "none"], default="sigmoid")
    fit.add_argument(
        "--allow-leaky",
        action="store_true",
        help="keep columns known to leak the outcome (e.g. duration, campaign)",
    )
    fit.add_argument("--random-state", type=int, default=0)
    fit.add_argument("--model", required=True, type=Path, help="where to write the model")
    _add_reading_options(fit)
    fit.set_defaults(func=run_fit)

    score = actions.add_parser("score", help="score a file with a fitted model")
    score.add_argument("--model", required=True, type=Path, help="model written by 'fit'")
    score.add_argument("--data", required=True, type=Path, help="file to score")
    score.add_argument("--out", required=True, type=Path, help="output CSV")
    score.add_argument(
        "--top",
        type=int,
        default=None,
        metavar="N",
        help="keep only the N most likely rows (still in input order, with their rank)",
    )
    _add_reading_options(score)
    score.set_defaults(func=run_score)


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    for item in caught:
        print(f"warning: {item.message}", file=sys.stderr)


def run_fit(args: argparse.Namespace) -> PropensityModel:
    """Fit, save and summarise a model (the ``propensity fit`` action)."""
    df = read_table(args.data, sep=args.sep, header=args.header)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = fit_propensity(
            df,
            target=args.target,
            drop=args.drop,
            key=args.key,
            categorical=args.categorical,
            positive=args.positive,
            model_type=args.model_type,
            calibration=None if args.calibration == "none" else args.calibration,
            allow_leaky=args.allow_leaky,
            random_state=args.random_state,
            source=str(args.data),
        )
    _show_warnings(caught)
    model.save(args.model)
    schema = model.schema
    print(
        f"fitted {args.model_type} on {model.n_train} rows of {args.data} "
        f"(acceptance rate {model.positive_rate:.1%}, positive label {schema.positive!r}); "
        f"{len(schema.numeric)} numeric and {len(schema.categorical)} categorical features; "
        f"model written to {args.model}"
    )
    return model


def scored_frame(
    model: PropensityModel, df: pd.DataFrame, *, top: int | None = None, source: str = "data"
) -> pd.DataFrame:
    """Key (or 0-based ``row``), ``probability`` and ``rank`` (1 = most likely), input order.

    With ``top`` only the ``top`` most likely rows are kept (ties go to the earlier row),
    still in input order.
    """
    proba = model.predict_proba(df, source=source)
    key = model.schema.key
    key_name = key if key and key in df.columns else "row"
    keys = df[key].to_numpy() if key_name == key else np.arange(len(df))
    order = np.argsort(-proba, kind="stable")
    rank = np.empty(len(proba), dtype=np.int64)
    rank[order] = np.arange(1, len(proba) + 1)
    out = pd.DataFrame({key_name: keys, "probability": proba, "rank": rank})
    if top is not None:
        if top < 1:
            raise ValueError(f"--top must be a positive number, got {top}")
        out = out[out["rank"] <= top]
    return out.reset_index(drop=True)


def run_score(args: argparse.Namespace) -> pd.DataFrame:
    """Score a file and write the scores atomically (the ``propensity score`` action)."""
    model = PropensityModel.load(args.model)
    df = read_table(args.data, sep=args.sep, header=args.header)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = scored_frame(model, df, top=args.top, source=str(args.data))
    _show_warnings(caught)
    atomic_write_csv(out, args.out)
    print(f"scored {len(df)} rows of {args.data}; wrote {len(out)} rows to {args.out}")
    return out
