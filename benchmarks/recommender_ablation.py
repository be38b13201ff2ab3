"""What moves the recommender's competition metric? Variants of XGBoost on one split.

Same protocol as ``benchmarks/recommender.py`` (20% of Zimnat Train customers held
out, one held product hidden each, seed 0). Each variant is fitted on the other 80%
and scored on the held-out customers; the script prints the competition metric,
Hit@3 overall and on non-dominant products, the multi-class log loss, fit time and
scoring throughput:

* ``default``: :class:`~insurereco.models.XGBoostRecommender` as shipped (refit on
  training + early-stopping customers, 5% of customers for calibration);
* ``no refit, 15% calibration``: the earlier default, whose booster learns from 75%
  of the customers instead of 95%;
* ``slow and deep``: learning rate 0.05, depth 6, up to 1000 rounds;
* ``more calibration``: 15% of customers for calibration instead of 5%;
* ``blend 10% co-occurrence``: 0.9 x XGBoost + 0.1 x the co-occurrence model.

Usage::

    .venv/bin/python benchmarks/recommender_ablation.py [--data-dir DIR] [--random-state 0]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from insurereco.data import load_zimnat
from insurereco.models import CooccurrenceRecommender, XGBoostRecommender, mask_held
from insurereco.protocol import evaluation_split, held_matrix, held_out_summary

VARIANTS = {
    "default": {},
    "no refit, 15% calibration": {"refit": False, "calibration_fraction": 0.15},
    "slow and deep": {"learning_rate": 0.05, "max_depth": 6, "n_estimators": 1000},
    "more calibration": {"calibration_fraction": 0.15},
}
BLEND_WEIGHT = 0.1


def _row(proba, split, fit_s: float, score_s: float) -> dict[str, float]:
    return {
        **held_out_summary(proba, split),
        "fit s": fit_s,
        "customers/s": len(split.masked) / score_s if score_s else float("nan"),
    }


def main(argv: list[str] | None = None) -> None:
    """Fit every variant and print one row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)

    split = evaluation_split(
        load_zimnat("train", data_dir=args.data_dir), test_size=0.2, random_state=args.random_state
    )
    rows, default_proba = {}, None
    for name, params in VARIANTS.items():
        model = XGBoostRecommender(random_state=args.random_state, **params)
        start = time.perf_counter()
        model.fit(split.train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        proba = model.predict_proba(split.masked).to_numpy()
        rows[name] = _row(proba, split, fit_s, time.perf_counter() - start)
        if name == "default":
            default_proba = proba
    cooc = CooccurrenceRecommender().fit(split.train).predict_proba(split.masked).to_numpy()
    blend = mask_held(
        (1 - BLEND_WEIGHT) * default_proba + BLEND_WEIGHT * cooc, held_matrix(split.masked)
    )
    rows[f"blend {BLEND_WEIGHT:.0%} co-occurrence"] = _row(
        blend, split, rows["default"]["fit s"], 0.0
    )
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("variant")
    pd.set_option("display.width", 200)
    print(f"fit on {len(split.train)} customers, evaluate on {len(split.masked)}")
    print(table.round({"competition": 5, "hit@3": 4, "hit@3 non-dominant": 4, "log_loss": 4,
                       "fit s": 1, "customers/s": 0}).to_string())  # fmt: skip


if __name__ == "__main__":
    main()
