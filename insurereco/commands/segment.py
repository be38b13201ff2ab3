"""``insurereco segment``: RFM + K-Means segments, one row per customer.

``segment --transactions PATH --out PATH [--snapshot DATE] [--k K] [--model PATH]``

* ``--transactions``: CSV (``.gz`` allowed) in the normalised schema
  (``customer_id, invoice_id, date, amount``), the raw UCI Online Retail layout or
  the CDNOW layout; detected by its columns, then cleaned (cancellations and the
  purchases they reverse, missing customers, non-positive quantities and prices,
  non-product codes, duplicates).
* ``--snapshot``: observation date (only earlier purchases count; default: the day
  after the last purchase).
* ``--k``: number of segments (default: chosen by elbow/silhouette/stability rule).
* ``--model``: if the file exists, the saved pipeline is loaded and applied (no refit);
  otherwise the fitted pipeline is saved there. A warning is printed when the customers
  are far from those the model was fitted on (e.g. another shop or currency).

Writes ``customer_id, recency, frequency, monetary, segment, strategy`` atomically:
on any error nothing is written, a one-line message is printed and the exit code is 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from insurereco.errors import DataValidationError
from insurereco.reporting import atomic_write_csv
from insurereco.segments import (
    RFM_COLUMNS,
    assign_segments,
    evaluate_k,
    fit_segments,
    fit_shift,
    load_model,
    rfm_table,
    save_model,
    select_k,
)
from insurereco.transactions import clean_transactions, read_transactions

__all__ = [
    "MIN_CUSTOMERS_AUTO_K",
    "OUTPUT_COLUMNS",
    "register",
    "run_segment",
    "segment_customers",
]

#: Columns of the output file.
OUTPUT_COLUMNS = ("customer_id", *RFM_COLUMNS, "segment", "strategy")


def _k_value(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"k must be an integer >= 2, got {text}")
    return value


#: Fewest customers for which the number of segments is chosen automatically (the
#: candidates are 3 to 8 segments); with fewer, ``--k`` must be given.
MIN_CUSTOMERS_AUTO_K = 10

#: Plain words for the RFM columns in messages.
_IN_WORDS = {
    "recency": "days since the last purchase",
    "frequency": "number of purchases",
    "monetary": "spend",
}


def _warn_if_shifted(model, rfm: pd.DataFrame, model_file: Path) -> None:
    """Print a warning when ``rfm`` is far from the customers ``model`` was fitted on."""
    shift = fit_shift(model, rfm)
    flagged = shift[shift["flagged"]]
    if flagged.empty:
        return
    parts = []
    for column, row in flagged.iterrows():
        times = row["ratio"] if row["ratio"] >= 1 else 1 / row["ratio"]
        direction = "higher" if row["ratio"] >= 1 else "lower"
        parts.append(
            f"typical {_IN_WORDS[column]} {times:.1f} times {direction} "
            f"({abs(row['shift_sd']):.1f} standard deviations)"
        )
    print(
        f"warning: these customers are unlike those {model_file} was fitted on: "
        f"{'; '.join(parts)}. The segment names may not fit them; leave out --model "
        "(or give a new file) to fit on this log.",
        file=sys.stderr,
    )


def segment_customers(
    transactions: pd.DataFrame,
    *,
    snapshot: str | None = None,
    k: int | None = None,
    model_path: str | Path | None = None,
    random_state: int = 0,
) -> pd.DataFrame:
    """Clean, compute RFM, fit (or load) the segmentation and label every customer.

    Parameters
    ----------
    transactions : DataFrame
        Normalised, uncleaned transactions.
    snapshot : str, optional
        Observation date.
    k : int, optional
        Number of segments when fitting; must match a loaded model's k if both given.
    model_path : path-like, optional
        Load from it if it exists, else save the fitted model to it. A loaded model
        applied to customers far from its fitting ones prints a warning on stderr
        (see :func:`insurereco.segments.fit_shift`).
    random_state : int
        Seed of the K-Means fits that choose ``k`` (when not given) and of the final fit
        (see :func:`insurereco.segments.evaluate_k` and
        :func:`insurereco.segments.fit_segments`); unused when a saved model is loaded.

    Returns
    -------
    DataFrame
        :data:`OUTPUT_COLUMNS`, one row per customer.
    """
    clean, _ = clean_transactions(transactions)
    rfm = rfm_table(clean, snapshot=snapshot)
    model_file = Path(model_path) if model_path is not None else None
    if model_file is not None and model_file.exists():
        model = load_model(model_file)
        if k is not None and k != model.n_clusters:
            raise DataValidationError(
                f"{model_file}: saved model has k={model.n_clusters}, but --k {k} was given"
            )
        _warn_if_shifted(model, rfm, model_file)
    else:
        if k is None:
            if len(rfm) < MIN_CUSTOMERS_AUTO_K:
                raise DataValidationError(
                    f"{len(rfm)} customer(s) are too few to choose the number of segments "
                    f"(at least {MIN_CUSTOMERS_AUTO_K}); give --k"
                )
            k = select_k(evaluate_k(rfm, ks=range(2, min(9, len(rfm))), random_state=random_state))
        if k > len(rfm):
            raise DataValidationError(f"--k {k} is more than the {len(rfm)} customers")
        model = fit_segments(rfm, k=k, random_state=random_state, snapshot=snapshot)
        if model_file is not None:
            save_model(model, model_file)
    segmented = assign_segments(model, rfm).reset_index()
    segmented["segment"] = segmented["segment"].astype(str)
    return segmented.loc[:, list(OUTPUT_COLUMNS)]


def run_segment(args: argparse.Namespace) -> None:
    """Entry point of ``insurereco segment``."""
    out = Path(args.out)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"output folder {out.parent} does not exist")
    transactions = read_transactions(args.transactions)
    result = segment_customers(
        transactions, snapshot=args.snapshot, k=args.k, model_path=args.model
    )
    atomic_write_csv(result, out, index=False)
    counts = result["segment"].value_counts()
    summary = ", ".join(f"{name}: {n}" for name, n in counts.items())
    print(f"wrote {len(result)} customers to {out} ({summary})")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``segment`` sub-command."""
    parser = subparsers.add_parser(
        "segment",
        help="RFM + K-Means customer segments with a strategy per segment",
        description=__doc__.split("\n\n", 1)[1].replace("``", "") if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--transactions", required=True, help="transactions CSV (or .csv.gz)")
    parser.add_argument("--out", required=True, help="output CSV, one row per customer")
    parser.add_argument(
        "--snapshot", default=None, help="observation date as YYYY-MM-DD, e.g. 2011-12-10"
    )
    parser.add_argument("--k", type=_k_value, default=None, help="number of segments")
    parser.add_argument(
        "--model", default=None, help="load the fitted pipeline from here if it exists, else save"
    )
    parser.set_defaults(func=run_segment)
