"""CoIL Challenge 2000 selection: the 800 evaluation customers most likely to buy.

Trains on ``ticdata2000.txt`` only (the evaluation targets are held back and never
read), picks the model by repeated stratified cross-validation on the training file,
refits it on all 5,822 training customers and writes the 800 chosen
``ticeval2000.txt`` customers as ``row`` (0-based line index) and ``probability``.

Usage::

    python benchmarks/coil2000.py --out coil2000_selection.csv [--data-dir DIR]

Data licence: (c) Sentient Machine Research 2000, non-commercial research and
education only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from insurereco.caravan import (
    CANDIDATES,
    COIL_CATEGORICAL,
    choose_by_cv,
    hits_estimate,
    hits_range,
    select_top,
)
from insurereco.data import load_coil2000
from insurereco.propensity import fit_estimator, infer_schema
from insurereco.reporting import atomic_write_csv

N_SELECT = 800


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the CV estimate as JSON on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="selection CSV to write")
    parser.add_argument("--data-dir", default=None, help="folder holding coil2000/")
    parser.add_argument("--n-repeats", type=int, default=4, help="CV repeats (5 folds each)")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)

    train = load_coil2000("train", data_dir=args.data_dir)
    evaluation = load_coil2000("eval", data_dir=args.data_dir)
    schema = infer_schema(
        train, target="CARAVAN", categorical=COIL_CATEGORICAL, source="ticdata2000"
    )
    X, _ = schema.encode(train)
    y = schema.labels(train)
    best, summary, folds = choose_by_cv(
        schema, X, y, n_repeats=args.n_repeats, random_state=args.random_state
    )
    model_type, params = CANDIDATES[best]
    model = fit_estimator(model_type, schema, X, y, params=params, random_state=args.random_state)
    proba = model.predict_proba(schema.features_frame(evaluation, source="ticeval2000"))[:, 1]
    selection = select_top(proba, n=N_SELECT)
    atomic_write_csv(selection, args.out, float_format="%.6f")
    estimate = hits_estimate(
        folds[best], n_select=N_SELECT, n_customers=len(evaluation), base_rate=float(y.mean())
    )
    # the range also counts the doubt about the cross-validated precision itself
    spread = hits_range(
        folds[best], n_repeats=args.n_repeats, n_select=N_SELECT, random_state=args.random_state
    )
    report = {
        "model": best,
        "cv_expected_hits_in_800": round(estimate["expected_hits"], 1),
        "cv_range_90": [round(spread["low"], 1), round(spread["high"], 1)],
        "random_hits_in_800": round(estimate["random_hits"], 1),
        "cv_mean_roc_auc": round(estimate["mean_roc_auc"], 4),
        "candidates_mean_hits_per_fold": summary["hits"].round(2).to_dict(),
        "selected_rows": len(selection),
        "out": str(args.out),
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
