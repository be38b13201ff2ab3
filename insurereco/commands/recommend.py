"""``insurereco fit | predict | contacts``: train the recommender and use it.

* ``fit --train PATH --model PATH [--unlabelled PATH] [--random-state N] [--n-jobs N]``: fit
  the XGBoost recommender on complete portfolios and save it. ``--unlabelled`` adds customers
  missing one unknown product (such as ``Test.csv``, or the customers about to be scored),
  from whom the model also learns which products go together.
* ``predict --model PATH --customers PATH --out PATH``: Zindi submission, one row per
  customer and product (``ID X PCODE``, ``Label``), held products 1.
* ``contacts --model PATH --customers PATH --out PATH [--top-k K] [--cost-per-contact C]
  [--value-per-sale V] [--budget N] [--take-up RATE --pilot-top N] [--exclude PRODUCT ...]
  [--offer-all]``: ranked recommendations with expected value, the contact decision and the
  top reasons in words. ``--take-up`` scales the probabilities (the chance a product is the
  missing one) to the extra take-up a pilot measured (contacted minus control group) on its
  customers, the ``--pilot-top`` first of the ranking, before the action rule. Products
  listed under ``never_offer`` in ``rules/campaign.yml`` (the two almost everyone holds) and
  those named by ``--exclude`` are not offered; ``--offer-all`` offers the ``never_offer``
  products too.

Bad input raises :class:`~insurereco.errors.DataValidationError`; the CLI prints one
line and exits 2, and no output file is written (outputs go through a temporary file
renamed at the end).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from insurereco.campaign import (
    CampaignParameters,
    load_campaign_parameters,
    never_offered_products,
    take_up_scale,
)
from insurereco.contract import ID_COLUMN
from insurereco.data import read_portfolio
from insurereco.errors import DataValidationError
from insurereco.explain import reasons
from insurereco.models import XGBoostRecommender, load_model, save_model
from insurereco.reporting import atomic_path

__all__ = [
    "ACTION_CONTACT",
    "ACTION_SKIP",
    "CONTACT_COLUMNS",
    "contact_list",
    "price_offers",
    "read_customers",
    "register",
    "run_contacts",
    "run_fit",
    "run_predict",
    "submission_table",
]

ACTION_CONTACT = "contact"
ACTION_SKIP = "no contact"

#: Columns of the ``contacts`` output.
CONTACT_COLUMNS = (
    ID_COLUMN,
    "rank",
    "product",
    "probability",
    "acceptance",
    "expected_value",
    "expected_profit",
    "action",
    "reasons",
)

_CHUNK = 100_000


def read_customers(path: str | os.PathLike, schema: dict) -> pd.DataFrame:
    """Read a customer file and check it against the model's schema.

    Raises
    ------
    DataValidationError
        Unknown or missing columns, flags not 0/1, duplicate IDs, empty file, or
        products the model does not know.
    """
    customers = read_portfolio(path)
    unknown = [c for c in customers.columns if c not in schema["columns"]]
    missing = [c for c in schema["columns"] if c not in customers.columns]
    if unknown:
        raise DataValidationError(f"{path}: product(s)/column(s) unknown to the model: {unknown}")
    if missing:
        raise DataValidationError(f"{path}: column(s) the model needs are missing: {missing}")
    return customers


def _output_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path; raises when its folder does not exist (checked before any work)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise DataValidationError(f"{path}: output folder {path.parent} does not exist")
    return path


def _atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(handle)`` on a temporary binary file beside ``path``, then rename it."""
    path = _output_path(path)
    with atomic_path(path) as tmp, tmp.open("wb") as out:
        write(out)
    return path


def submission_table(model, customers: pd.DataFrame) -> pa.Table:
    """Zindi rows for ``customers``: ``ID X PCODE`` and ``Label`` (held products 1).

    Rows are customer-major in file order, products in the model's order, as in
    ``SampleSubmission.csv``.
    """
    proba = model.holding_proba(customers)
    n, k = proba.shape
    ids = pa.array(np.repeat(proba.index.to_numpy(dtype=object), k), type=pa.string())
    codes = pa.array(np.tile(np.asarray(proba.columns, dtype=object), n), type=pa.string())
    keys = pc.binary_join_element_wise(ids, codes, " X ")
    return pa.table({"ID X PCODE": keys, "Label": pa.array(proba.to_numpy().ravel())})


def _write_submission(model, customers: pd.DataFrame, out: BinaryIO) -> None:
    out.write(b"ID X PCODE,Label\n")
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    for start in range(0, len(customers), _CHUNK):
        table = submission_table(model, customers.iloc[start : start + _CHUNK])
        pacsv.write_csv(table, out, write_options=options)


def contact_list(
    model,
    customers: pd.DataFrame,
    *,
    top_k: int = 3,
    parameters: CampaignParameters | None = None,
    budget: int | None = None,
    exclude: Sequence[str] = (),
    take_up: float | None = None,
    pilot_top: int | None = None,
    with_reasons: bool = True,
    approximate: bool = True,
) -> pd.DataFrame:
    """Ranked recommendations per customer with the contact decision.

    Each customer gets up to ``top_k`` rows (products not held), ranked by expected
    value: calibrated probability x value of a sale of the product (``value_per_sale``,
    or its entry in ``product_values``; by probability alone when every product is
    worth the same). The action rule: only the rank-1 product, the most actionable
    offer, can be offered, and only when ``probability x value > cost_per_contact``.
    With ``budget``, at most that many customers are contacted, those with the highest
    expected profit. Products in ``exclude`` are never listed, like products already held.

    Parameters
    ----------
    model : XGBoostRecommender
        A fitted recommender (as saved by ``insurereco fit``).
    customers : DataFrame
        Customers in the Zimnat layout, validated (see :func:`read_customers`).
    top_k : int
        Offers listed per customer (fewer when the customer holds almost everything).
    parameters : CampaignParameters, optional
        Cost per contact and value per sale; default: ``insurereco/rules/campaign.yml``.
    budget : int, optional
        Most customers to contact (a number of contacts, not money).
    exclude : sequence of str
        Products never offered; each must be one the model knows.
    take_up : float, optional
        The extra take-up of a first offer that contacts cause, as a pilot measured it
        (acceptance among contacted customers minus that of a random control group). The
        probabilities say how likely each product is the missing one, which overstates
        acceptance; with ``take_up``, ``acceptance`` is the probability scaled so that the
        first offers of the pilot's customers average it
        (:func:`insurereco.campaign.take_up_scale`, capped at 1), and the action rule and
        values use it. Default: no scaling.
    pilot_top : int, optional
        The pilot's customers were the ``pilot_top`` first of the ranking by first offer;
        default: all customers.
    with_reasons : bool
        Explain each offer in words (:func:`insurereco.explain.reasons`); ``False``
        leaves ``reasons`` empty.
    approximate : bool
        ``True`` (default): xgboost's fast path attribution, so a whole file is
        explained in minutes; ``False``: exact TreeSHAP.

    Returns
    -------
    DataFrame
        Columns :data:`CONTACT_COLUMNS`; ``acceptance`` is the assumed chance of a sale
        (``probability`` without ``take_up``), ``expected_value`` is ``acceptance x
        value``, ``expected_profit`` is ``acceptance x value - cost``.
    """
    _check_options(top_k, budget)
    _check_excluded(exclude, model.products)
    economics = parameters if parameters is not None else load_campaign_parameters()
    proba = model.predict_proba(customers)
    never = np.isin(model.products, list(exclude))  # treated as held: never offered
    held = customers[list(model.products)].to_numpy(dtype=bool) | never
    matrix = np.where(held, -1.0, proba.to_numpy())
    worth = np.where(held, -1.0, matrix * economics.value_of(model.products))
    k = min(top_k, matrix.shape[1])
    order = np.argsort(-worth, axis=1, kind="stable")[:, :k]
    p_top = np.take_along_axis(matrix, order, axis=1)
    products = np.asarray(model.products, dtype=object)[order]
    table = pd.DataFrame(
        {
            ID_COLUMN: np.repeat(proba.index.to_numpy(dtype=object), k),
            "rank": np.tile(np.arange(1, k + 1), len(proba)),
            "product": products.ravel(),
            "probability": p_top.ravel(),
        }
    )
    price_offers(table, economics, take_up=take_up, pilot_top=pilot_top)
    if budget is not None:
        _apply_budget(table, budget)
    if with_reasons:
        words = reasons(model, customers, products=products, approximate=approximate)
        table["reasons"] = words.to_numpy().ravel()
    else:
        table["reasons"] = ""
    table = table.loc[table["probability"] >= 0].reset_index(drop=True)  # drop held fillers
    return table.loc[:, list(CONTACT_COLUMNS)]


def price_offers(
    table: pd.DataFrame,
    economics: CampaignParameters,
    *,
    take_up: float | None = None,
    pilot_top: int | None = None,
) -> float:
    """Fill ``acceptance``, the expected values and the action of ranked offers (in place).

    Parameters
    ----------
    table : DataFrame
        ``rank`` and ``probability`` per offer (a negative probability marks a held
        product, never offered).
    economics : CampaignParameters
        Cost per contact and value of a sale (per product, see
        :meth:`~insurereco.campaign.CampaignParameters.value_of`).
    take_up : float, optional
        Scale the probabilities so that the first offers average this take-up.
    pilot_top : int, optional
        The take-up was measured on the ``pilot_top`` highest first offers (default: on
        all of them).

    Returns
    -------
    float
        The factor applied to the probabilities (1 without ``take_up``).
    """
    first = (table["rank"] == 1) & (table["probability"] >= 0)
    scale = 1.0
    if take_up is not None:
        scale = take_up_scale(table.loc[first, "probability"], take_up=take_up, top=pilot_top)
    table["acceptance"] = np.minimum(table["probability"] * scale, 1.0)
    table["expected_value"] = table["acceptance"] * economics.value_of(table["product"])
    table["expected_profit"] = table["expected_value"] - economics.cost_per_contact
    eligible = first & economics.pays(table["expected_value"])
    table["action"] = np.where(eligible, ACTION_CONTACT, ACTION_SKIP)
    return scale


def _load(args) -> tuple[object, dict, pd.DataFrame]:
    model, schema = load_model(args.model)
    customers = read_customers(args.customers, schema)
    return model, schema, customers


def run_fit(args) -> None:
    """``insurereco fit``: fit on ``--train`` and save to ``--model``."""
    _output_path(args.model)
    train = read_portfolio(args.train)
    if len(train) < 50:
        raise DataValidationError(f"{args.train}: {len(train)} customers; need at least 50 to fit")
    if (train[list(XGBoostRecommender().products)].sum(axis=1) < 1).any():
        raise DataValidationError(f"{args.train}: every training customer must hold a product")
    unlabelled = None
    if args.unlabelled:
        unlabelled = read_customers(args.unlabelled, {"columns": tuple(train.columns)})
        shared = unlabelled[ID_COLUMN].isin(train[ID_COLUMN])
        if shared.any():
            raise DataValidationError(
                f"{args.unlabelled}: {int(shared.sum())} customer(s) also in {args.train} "
                f"(first: {unlabelled.loc[shared, ID_COLUMN].iloc[0]}); "
                "--unlabelled takes other customers"
            )
    extra = f" (+{len(unlabelled):,} unlabelled)" if unlabelled is not None else ""
    print(f"fitting on {len(train):,} customers{extra}; this can take a few minutes", flush=True)
    start = time.perf_counter()
    model = XGBoostRecommender(random_state=args.random_state, n_jobs=args.n_jobs)
    model.fit(train, unlabelled=unlabelled)
    save_model(model, args.model)
    print(f"fitted in {time.perf_counter() - start:.0f} s; wrote {args.model}")


def run_predict(args) -> None:
    """``insurereco predict``: write the Zindi submission for ``--customers``."""
    _output_path(args.out)
    model, _, customers = _load(args)
    _atomic_write(args.out, lambda out: _write_submission(model, customers, out))
    n_products = len(model.products)
    print(f"wrote {len(customers) * n_products:,} rows ({len(customers):,} customers x "
          f"{n_products} products) to {args.out}")  # fmt: skip


def run_contacts(args) -> None:
    """``insurereco contacts``: write the ranked contact list for ``--customers``."""
    _check_options(args.top_k, args.budget)
    _output_path(args.out)
    if args.take_up is not None and not 0 < args.take_up <= 1:
        raise DataValidationError(f"--take-up must be in (0, 1], got {args.take_up}")
    if (args.take_up is None) != (args.pilot_top is None):
        raise DataValidationError(
            "--take-up and --pilot-top go together: the uplift a pilot measured and how many "
            "top-ranked customers it was measured on"
        )
    model, _, customers = _load(args)
    if args.pilot_top is not None and not 1 <= args.pilot_top <= len(customers):
        raise DataValidationError(
            f"--pilot-top must be between 1 and the {len(customers):,} customers of "
            f"{args.customers}, got {args.pilot_top}"
        )
    params = load_campaign_parameters(
        cost_per_contact=args.cost_per_contact, value_per_sale=args.value_per_sale
    )
    # the rules file's list (as far as this model knows the products), unless --offer-all,
    # and --exclude's products (checked by contact_list, before anything is written)
    never = () if args.offer_all else never_offered_products()
    known_never = [p for p in never if p in model.products]
    excluded = tuple(dict.fromkeys([*known_never, *(args.exclude or ())]))
    tables = [
        contact_list(
            model,
            customers.iloc[start : start + _CHUNK],
            top_k=args.top_k,
            parameters=params,
            exclude=excluded,
            approximate=not args.exact_reasons,
        )
        for start in range(0, len(customers), _CHUNK)
    ]
    table = pd.concat(tables, ignore_index=True)
    scaled = ""
    if args.take_up is not None:  # over the whole file, not chunk by chunk
        scale = price_offers(table, params, take_up=args.take_up, pilot_top=args.pilot_top)
        scaled = (
            f"; probabilities x {scale:.3g} so that the top {args.pilot_top:,} first offers "
            f"average {args.take_up:g}"
        )
    if args.budget is not None:
        _apply_budget(table, args.budget)
    text = table.to_csv(index=False, float_format="%.6g", lineterminator="\n")
    _atomic_write(args.out, lambda out: out.write(text.encode("utf-8")))
    n_contacts = int((table["action"] == ACTION_CONTACT).sum())
    left_out = ", ".join(excluded) or "none"
    print(f"wrote {len(table):,} offers for {len(customers):,} customers to {args.out}; "
          f"{n_contacts:,} contacts proposed{scaled}; never offered: {left_out}")  # fmt: skip


def _check_options(top_k: int, budget: int | None) -> None:
    if top_k < 1:
        raise DataValidationError(f"--top-k must be at least 1, got {top_k}")
    if budget is not None and budget < 0:
        raise DataValidationError(f"--budget must be >= 0, got {budget}")


def _check_excluded(exclude: Sequence[str], products: Sequence[str]) -> None:
    unknown = sorted(set(exclude) - set(products))
    if unknown:
        raise DataValidationError(
            f"--exclude: unknown product(s) {', '.join(unknown)}; the model knows "
            f"{', '.join(products)}"
        )


def _apply_budget(table: pd.DataFrame, budget: int) -> None:
    """Keep only the ``budget`` contacts with the highest expected profit (in place)."""
    contact = table.index[table["action"] == ACTION_CONTACT]
    ranked = table.loc[contact, "expected_profit"].sort_values(ascending=False, kind="stable")
    table.loc[ranked.index[budget:], "action"] = ACTION_SKIP


def _add(subparsers, name: str, helptext: str, func: Callable) -> object:
    parser = subparsers.add_parser(name, help=helptext, description=helptext)
    parser.set_defaults(func=func)
    return parser


def register(subparsers) -> None:
    """Add the ``fit``, ``predict`` and ``contacts`` sub-commands."""
    fit = _add(subparsers, "fit", "Fit the product recommender on complete portfolios.", run_fit)
    fit.add_argument("--train", required=True, help="portfolio CSV (Zimnat Train.csv layout)")
    fit.add_argument("--model", required=True, help="where to save the fitted model")
    fit.add_argument(
        "--unlabelled",
        help="customers missing one unknown product (Test.csv layout), also learnt from",
    )
    fit.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    fit.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="threads (default: the INSURERECO_N_JOBS environment variable, else 2)",
    )

    predict = _add(
        subparsers, "predict", "Write a Zindi submission (ID X PCODE, Label).", run_predict
    )
    contacts = _add(
        subparsers, "contacts", "Write ranked offers, contact decision and reasons.", run_contacts
    )
    for parser in (predict, contacts):
        parser.add_argument("--model", required=True, help="model file written by fit")
        parser.add_argument("--customers", required=True, help="customer CSV (Test.csv layout)")
        parser.add_argument("--out", required=True, help="output CSV")
    contacts.add_argument(
        "--top-k", type=int, default=3, help="offers listed per customer (default 3)"
    )
    contacts.add_argument(
        "--cost-per-contact",
        type=float,
        default=None,
        help="default: cost_per_contact in rules/campaign.yml",
    )
    contacts.add_argument(
        "--value-per-sale",
        type=float,
        default=None,
        help="value of a sale of a product without its own entry under product_values "
        "(default: value_per_sale in rules/campaign.yml)",
    )
    contacts.add_argument(
        "--budget", type=int, default=None, help="contact at most N customers (by profit)"
    )
    contacts.add_argument(
        "--take-up",
        type=float,
        default=None,
        metavar="RATE",
        help="extra take-up of a first offer that a pilot measured (acceptance of its "
        "contacted customers minus that of its control group, e.g. 0.02): probabilities are "
        "scaled so that the pilot's first offers average it before the action rule, which "
        "then counts only the sales contacts cause (default: none; a probability is the "
        "chance the product is the missing one, which overstates acceptance)",
    )
    contacts.add_argument(
        "--pilot-top",
        type=int,
        default=None,
        metavar="N",
        help="with --take-up (required with it): the pilot's customers were the N first of "
        "this file's ranking by first offer",
    )
    contacts.add_argument(
        "--exclude",
        nargs="+",
        default=None,
        metavar="PRODUCT",
        help="products never offered, besides never_offer in rules/campaign.yml (the two "
        "almost everyone holds)",
    )
    contacts.add_argument(
        "--offer-all",
        action="store_true",
        help="offer the never_offer products of rules/campaign.yml too",
    )
    contacts.add_argument(
        "--exact-reasons",
        action="store_true",
        help="reasons from exact TreeSHAP (slower) instead of the fast path attribution",
    )
