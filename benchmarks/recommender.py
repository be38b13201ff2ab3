"""Benchmark of the product recommender on real Zimnat data.

Protocol (:mod:`insurereco.protocol`): 20% of Train customers held out, one held
product hidden per held-out customer (seeded), models fitted on the other 80%.
Prints, for the popularity prior, the co-occurrence baseline and XGBoost (fitted on the
training customers alone, and with the 10,000 Test customers as unlabelled customers,
see :meth:`insurereco.models.XGBoostRecommender.fit`): the competition metric,
Hit@1/3/5, MRR, multi-class log loss, ECE (pooled and of the top offer), overall and for
non-dominant products, with bootstrap 95% intervals; XGBoost per-product hit rates and
calibration comparison; the competition metric XGBoost without the Test customers
expects on the held-out and on the Test customers (how hard the latter are), and how far
luck alone moves it; then the command line timings: ``fit`` on all of Train (with Test as
unlabelled customers), ``predict`` on 1,000,000 customers (the Test file repeated) with
peak memory, and ``contacts`` with reasons on 100,000 customers.

Usage::

    .venv/bin/python benchmarks/recommender.py [--data-dir DIR] [--n-boot 200]
        [--repeats 5] [--predict-customers 1000000] [--contacts-customers 100000]
        [--skip-cli] [--no-unlabelled]

The targets are checked on the XGBoost variant the command line ships (with the
Test customers unless ``--no-unlabelled``). ``--repeats N`` also refits XGBoost
(both variants) on the splits of seeds ``random_state + 1 .. random_state + N - 1``
and prints the headline metrics per split, so a reader can see how much of a gap
to a target is the luck of one split.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from insurereco.calibration import chance_calibration_error
from insurereco.contract import PRODUCTS
from insurereco.data import find_data_file, load_zimnat
from insurereco.metrics import (
    competition_score_sd,
    dominant_products,
    evaluate,
    expected_competition_score,
    per_product,
)
from insurereco.models import CooccurrenceRecommender, PopularityRecommender, XGBoostRecommender
from insurereco.protocol import evaluation_split, fit_model, held_matrix, repeated_evaluation

#: The XGBoost variant that also learns from the Test customers (what ``fit --unlabelled`` ships).
SHIPPED = "xgboost+unlabelled"

TARGETS = {
    "competition": 0.0258,
    "hit@3": 0.97,
    "hit@3 non-dominant": 0.90,
    "ece": 0.01,
    "top-offer ece": 0.01,
    "fit seconds": 180,
    "predict seconds": 120,
    "predict peak GB": 4.0,
    "contacts seconds": 180,
}


def _run_cli(args: list[str]) -> tuple[float, float]:
    """Run ``python -m insurereco ARGS``; return (wall seconds, peak RSS of children in GB)."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "insurereco", *args], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"insurereco {args[0]} failed: {result.stderr.strip()}")
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    return seconds, peak_gb


def _repeat_file(source: Path, target: Path, n_customers: int) -> None:
    """Write ``n_customers`` rows by repeating ``source`` with unique IDs."""
    base = pd.read_csv(source, dtype=str, keep_default_na=False)
    copies = -(-n_customers // len(base))
    with target.open("w", encoding="utf-8") as out:
        out.write(",".join(base.columns) + "\n")
        written = 0
        for copy in range(copies):
            chunk = base.head(n_customers - written).copy()
            chunk["ID"] = chunk["ID"] + f"_{copy}"
            chunk.to_csv(out, header=False, index=False, lineterminator="\n")
            written += len(chunk)


def _metrics_table(results: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = {}
    for name, table in results.items():
        for (subset, metric), row in table.iterrows():
            rows[(name, subset, metric)] = (
                f"{row['value']:.5f} [{row['ci_low']:.5f}, {row['ci_high']:.5f}]"
            )
    frame = pd.Series(rows).unstack(0)
    return frame.loc[:, list(results)]


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="evaluation splits for XGBoost")
    parser.add_argument("--predict-customers", type=int, default=1_000_000)
    parser.add_argument("--contacts-customers", type=int, default=100_000)
    parser.add_argument("--skip-cli", action="store_true", help="skip the command line timings")
    parser.add_argument(
        "--no-unlabelled", action="store_true", help="do not learn from the Test customers"
    )
    args = parser.parse_args(argv)

    train = load_zimnat("train", data_dir=args.data_dir)
    unlabelled = None if args.no_unlabelled else load_zimnat("test", data_dir=args.data_dir)
    split = evaluation_split(train, test_size=0.2, random_state=args.random_state)
    held = held_matrix(split.masked)
    dominant = dominant_products(split.train, PRODUCTS)
    print(f"Zimnat Train: {len(train)} customers; fit on {len(split.train)}, "
          f"evaluate on {len(split.masked)} (one held product hidden each)")  # fmt: skip
    print(f"dominant products (excluded from 'non_dominant'): {', '.join(dominant)}")

    models = {
        "popularity": PopularityRecommender(),
        "cooccurrence": CooccurrenceRecommender(),
        "xgboost": XGBoostRecommender(random_state=args.random_state),
    }
    if unlabelled is not None:
        models[SHIPPED] = XGBoostRecommender(random_state=args.random_state)
    results, timings, probas = {}, {}, {}
    for name, model in models.items():
        start = time.perf_counter()
        fit_model(model, split.train, unlabelled=unlabelled if name == SHIPPED else None)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        proba = probas[name] = model.predict_proba(split.masked)
        score_s = time.perf_counter() - start
        timings[name] = (fit_s, len(split.masked) / score_s)
        results[name] = evaluate(
            proba, held, split.hidden, dominant=dominant, n_boot=args.n_boot,
            random_state=args.random_state,
        )  # fmt: skip

    pd.set_option("display.width", 200)
    print("\n== Metrics on held-out customers: value [bootstrap 95% interval] ==")
    print(_metrics_table(results).to_string())
    print("\n== Fit time (80% of Train; + Test as unlabelled) and in-memory scoring throughput ==")
    for name, (fit_s, rate) in timings.items():
        print(f"{name:>13}: fit {fit_s:7.1f} s, scoring {rate:12,.0f} customers/s")

    shipped = SHIPPED if SHIPPED in models else "xgboost"
    xgb_model = models[shipped]
    print(f"\n{shipped}: {xgb_model.best_iteration_ + 1} rounds, calibration "
          f"'{xgb_model.calibration_method_}' chosen on separate customers:")  # fmt: skip
    print(xgb_model.calibration_report_.round(6).to_string())
    xgb_proba = xgb_model.predict_proba(split.masked)
    table = per_product(xgb_proba, held, split.hidden)
    print(f"\n== {shipped} per product (customers whose hidden product it is) ==")
    print(table.sort_values("n_hidden", ascending=False).round(4).to_string())

    if unlabelled is not None:
        _print_expected(models["xgboost"], probas["xgboost"], results["xgboost"], unlabelled)
    if args.repeats > 1:
        _print_repeats(train, unlabelled, args)

    xgb_res = results[shipped]["value"]
    checks = {
        "competition": (xgb_res[("overall", "competition")], "<="),
        "hit@3": (xgb_res[("overall", "hit@3")], ">="),
        "hit@3 non-dominant": (xgb_res[("non_dominant", "hit@3")], ">="),
        "ece": (xgb_res[("overall", "ece")], "<="),
        "top-offer ece": (xgb_res[("overall", "top_ece")], "<="),
    }
    chance = chance_calibration_error(
        xgb_proba.to_numpy().max(axis=1),
        random_state=args.random_state,
    )
    print(f"\ntop-offer ECE that exact probabilities would show on {len(split.masked)} customers "
          f"by chance: mean {chance.mean():.4f}, 95% up to {np.quantile(chance, 0.95):.4f}")  # fmt: skip
    if not args.skip_cli:
        checks.update(_cli_timings(args))
    print("\n== Targets ==")
    for key, (value, op) in checks.items():
        target = TARGETS[key]
        ok = value <= target if op == "<=" else value >= target
        print(f"{key:>20}: {value:10.5f}  target {op} {target:<8}  {'PASS' if ok else 'MISS'}")


def _print_expected(model, proba, result, customers) -> None:
    """Expected competition metric of the model without Test customers: held-out vs Test."""
    proba_test = model.predict_proba(customers)
    held_out = expected_competition_score(proba).mean()
    on_test = expected_competition_score(proba_test).mean()
    print("\n== How hard are the Test customers? (xgboost without them, split 0) ==")
    print(f"expected competition metric: held-out {held_out:.5f} (scored "
          f"{result['value'][('overall', 'competition')]:.5f}), Test customers {on_test:.5f}, "
          f"difference {on_test - held_out:+.5f}")  # fmt: skip
    print(f"luck of the hidden-product draw, 95%: held-out +/-{2 * competition_score_sd(proba):.5f}"
          f", Test customers +/-{2 * competition_score_sd(proba_test):.5f}")  # fmt: skip


def _print_repeats(train: pd.DataFrame, unlabelled: pd.DataFrame | None, args) -> None:
    """XGBoost headline metrics on ``args.repeats`` evaluation splits (seeds in a row)."""
    variants = {"xgboost": None} if unlabelled is None else {"xgboost": None, SHIPPED: unlabelled}
    tables = {
        name: repeated_evaluation(
            XGBoostRecommender(),
            train,
            n_repeats=args.repeats,
            unlabelled=extra,
            random_state=args.random_state,
        )
        for name, extra in variants.items()
    }
    for name, table in tables.items():
        print(f"\n== {name} on {args.repeats} evaluation splits (seed = split and model) ==")
        print(table.round(5).to_string())
        print(table.agg(["mean", "min", "max"]).round(5).to_string())
    if unlabelled is not None:
        change = tables[SHIPPED]["competition"] - tables["xgboost"]["competition"]
        print(f"competition metric with unlabelled minus without: mean {change.mean():+.5f}, "
              f"lower on {(change < 0).sum()} of {len(change)} splits")  # fmt: skip


def _cli_timings(args) -> dict[str, tuple[float, str]]:
    """Time ``fit`` on all of Train, ``predict`` on 1M and ``contacts`` on 100k customers."""
    train_csv = find_data_file("zimnat/Train.csv", data_dir=args.data_dir)
    test_csv = find_data_file("zimnat/Test.csv", data_dir=args.data_dir)
    out: dict[str, tuple[float, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "model.joblib"
        print("\n== Command line ==")
        fit = ["fit", "--train", str(train_csv), "--model", str(model)]
        if not args.no_unlabelled:
            fit += ["--unlabelled", str(test_csv)]
        seconds, _ = _run_cli(fit)
        print(f"fit on all of Train ({' '.join(fit[1:])}): {seconds:.1f} s")
        out["fit seconds"] = (seconds, "<=")

        big = tmp / "customers_big.csv"
        _repeat_file(test_csv, big, args.predict_customers)
        seconds, peak = _run_cli(
            ["predict", "--model", str(model), "--customers", str(big), "--out", str(tmp / "s.csv")]
        )
        print(f"predict on {args.predict_customers:,} customers: {seconds:.1f} s "
              f"({args.predict_customers / seconds:,.0f} customers/s), peak memory {peak:.2f} GB")  # fmt: skip
        out["predict seconds"] = (seconds, "<=")
        out["predict peak GB"] = (peak, "<=")
        lines = sum(1 for _ in (tmp / "s.csv").open()) - 1
        print(f"submission rows: {lines:,} (= customers x {len(PRODUCTS)})")

        mid = tmp / "customers_mid.csv"
        _repeat_file(test_csv, mid, args.contacts_customers)
        seconds, _ = _run_cli(
            [
                "contacts",
                "--model",
                str(model),
                "--customers",
                str(mid),
                "--out",
                str(tmp / "c.csv"),
            ]
        )
        contacts = pd.read_csv(tmp / "c.csv", keep_default_na=False)
        print(f"contacts with reasons on {args.contacts_customers:,} customers: {seconds:.1f} s; "
              f"{(contacts['action'] == 'contact').sum():,} contacts proposed")  # fmt: skip
        print(contacts.head(6).to_string(index=False))
        out["contacts seconds"] = (seconds, "<=")
    return out


if __name__ == "__main__":
    main()
