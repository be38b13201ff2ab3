"""Transaction logs: one schema for every source, and the cleaning pipeline before RFM.

Every source is first normalised to one schema, one row per invoice line:

``customer_id`` (str), ``invoice_id`` (str), ``date`` (datetime64), ``amount`` (float,
line value in the shop's currency), plus, when the source has them, ``quantity``,
``unit_price`` and ``stock_code``.

:func:`clean_transactions` then removes, in order, purchases reversed by a later
cancellation, the cancellations themselves, lines without a customer, non-positive
quantities, non-positive prices (or amounts), non-product stock codes (postage, fees,
manual adjustments; the list is data in ``insurereco/rules/segments.yml``) and exact
duplicates, and returns a log of how many
rows each step removed and why. With ``before=`` it cleans the log as it was known on
that date, so that a backtest's early period is not cleaned with later cancellations.
Steps whose column is absent (CDNOW has no stock code) remove nothing, so the same
pipeline reads UCI Online Retail and CDNOW.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from insurereco.contract import (
    CDNOW_COLUMNS,
    ONLINE_RETAIL_COLUMNS,
    check_columns,
    load_rules_file,
)
from insurereco.data import parse_dates, read_csv_checked
from insurereco.errors import DataNotFoundError, DataValidationError

__all__ = [
    "CLEANING_STEPS",
    "OPTIONAL_COLUMNS",
    "SYNTHETIC_CUSTOMER_TYPES",
    "TRANSACTION_COLUMNS",
    "clean_transactions",
    "from_cdnow",
    "from_online_retail",
    "load_segment_rules",
    "make_cdnow_like",
    "make_online_retail_like",
    "normalise_transactions",
    "read_transactions",
    "sample_customers",
]

#: Columns every normalised transaction log has.
TRANSACTION_COLUMNS: tuple[str, ...] = ("customer_id", "invoice_id", "date", "amount")
#: Columns kept when the source has them.
OPTIONAL_COLUMNS: tuple[str, ...] = ("quantity", "unit_price", "stock_code")


def load_segment_rules() -> dict[str, Any]:
    """Load ``insurereco/rules/segments.yml`` (segments, strategies, cleaning lists).

    Returns
    -------
    dict
        A fresh copy of the parsed YAML, safe to modify.

    Raises
    ------
    DataValidationError
        The file lacks ``segments``, ``budget_levels`` or ``cleaning``.
    """
    return load_rules_file("segments.yml", required=("segments", "budget_levels", "cleaning"))


def _as_id(values: pd.Series) -> pd.Series:
    """Identifiers as str with missing kept missing (``12345.0`` becomes ``"12345"``)."""
    if pd.api.types.is_float_dtype(values) or pd.api.types.is_integer_dtype(values):
        values = values.astype("Int64")
    out = values.astype("str").str.strip()
    return out.where(values.notna() & (out != ""))


def normalise_transactions(df: pd.DataFrame, *, source: str = "transactions") -> pd.DataFrame:
    """Check and type a table already in the normalised schema.

    Parameters
    ----------
    df : DataFrame
        Must hold :data:`TRANSACTION_COLUMNS`; :data:`OPTIONAL_COLUMNS` are kept if present,
        other columns are dropped.
    source : str
        File or table name used in error messages.

    Returns
    -------
    DataFrame
        ``customer_id``/``invoice_id``/``stock_code`` str (missing kept), ``date``
        datetime64[ns], ``amount``/``quantity``/``unit_price`` float.

    Raises
    ------
    DataValidationError
        Missing columns, no rows, unparsable dates or non-numeric amounts.
    """
    check_columns(df, TRANSACTION_COLUMNS, source=source, allow_extra=True)
    if df.empty:
        raise DataValidationError(f"{source}: no transactions (the table has no rows)")
    keep = [*TRANSACTION_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in df.columns)]
    out = df.loc[:, keep].copy()
    for column in ("customer_id", "invoice_id", "stock_code"):
        if column in out:
            out[column] = _as_id(out[column])
    if pd.api.types.is_datetime64_any_dtype(out["date"]):
        out["date"] = out["date"].astype("datetime64[ns]")
    else:
        out["date"] = parse_dates(out["date"], fmt="ISO8601", source=source, column="date")
    if out["date"].isna().any():
        raise DataValidationError(
            f"{source}: column date is missing in {int(out['date'].isna().sum())} row(s)"
        )
    for column in ("amount", "quantity", "unit_price"):
        if column in out:
            numbers = pd.to_numeric(out[column], errors="coerce")
            bad = numbers.isna() & out[column].notna()
            if bad.any():
                example = out.loc[bad, column].iloc[0]
                raise DataValidationError(
                    f"{source}: column {column} has {int(bad.sum())} non-numeric value(s), "
                    f"e.g. {example!r}"
                )
            out[column] = numbers.astype("float64")
    if out["amount"].isna().any():
        raise DataValidationError(
            f"{source}: column amount is missing in {int(out['amount'].isna().sum())} row(s)"
        )
    return out.reset_index(drop=True)


def from_online_retail(raw: pd.DataFrame, *, source: str = "online_retail") -> pd.DataFrame:
    """Normalise raw UCI Online Retail invoice lines (as from ``load_online_retail``).

    ``amount`` is ``Quantity * UnitPrice``; nothing is removed here (see
    :func:`clean_transactions`).
    """
    check_columns(raw, ONLINE_RETAIL_COLUMNS, source=source, allow_extra=True)
    out = pd.DataFrame(
        {
            "customer_id": raw["CustomerID"],
            "invoice_id": raw["InvoiceNo"],
            "date": raw["InvoiceDate"],
            "amount": raw["Quantity"] * raw["UnitPrice"],
            "quantity": raw["Quantity"],
            "unit_price": raw["UnitPrice"],
            "stock_code": raw["StockCode"],
        }
    )
    return normalise_transactions(out, source=source)


def from_cdnow(raw: pd.DataFrame, *, source: str = "cdnow") -> pd.DataFrame:
    """Normalise the CDNOW log (as from ``load_cdnow``): one order per customer and day.

    CDNOW has no invoice number, and a customer's several rows on one day (including
    identical ones) are separate purchases, so they are summed into one order
    ``<customer_id>-<yyyymmdd>``; the duplicate step then has nothing to remove.
    """
    check_columns(raw, CDNOW_COLUMNS, source=source, allow_extra=True)
    day = pd.to_datetime(raw["date"]).dt.normalize()
    orders = (
        pd.DataFrame(
            {
                "customer_id": _as_id(raw["customer_id"]),
                "date": day,
                "amount": pd.to_numeric(raw["dollar_value"]),
                "quantity": pd.to_numeric(raw["number_of_cds"]),
            }
        )
        .groupby(["customer_id", "date"], as_index=False, dropna=False, sort=True)
        .sum()
    )
    orders["invoice_id"] = orders["customer_id"] + "-" + orders["date"].dt.strftime("%Y%m%d")
    return normalise_transactions(orders, source=source)


# --- cleaning -----------------------------------------------------------------------------


def _cancelled(tx: pd.DataFrame) -> pd.Series:
    """Online Retail's cancellations: invoice ``C`` + digits, with a negative amount.

    Both conditions, so that other logs' invoice numbers that merely start with C
    (``CUST-17``, or CDNOW orders of customer ``C01``) are never taken for cancellations.
    """
    numbered = tx["invoice_id"].fillna("").str.fullmatch(r"[Cc]\d+")
    return numbered & (tx["amount"] < 0)


def _reversed_purchase(tx: pd.DataFrame) -> pd.Series:
    """Purchase lines that a later cancellation reverses exactly.

    The k-th purchase of a (customer, stock code, quantity) is paired with the k-th
    cancellation of the same customer, stock code and opposite quantity, and dropped
    when it does not come after that cancellation.
    """
    needed = {"quantity", "stock_code"}
    if not needed <= set(tx.columns):
        return pd.Series(False, index=tx.index)
    key = ["customer_id", "stock_code", "quantity"]
    cancelled = _cancelled(tx)
    buys = tx.loc[~cancelled & tx["customer_id"].notna(), ["date", *key]]
    undo = tx.loc[cancelled & tx["customer_id"].notna(), ["date", *key]]
    undo = undo.assign(quantity=-undo["quantity"])
    buys = buys.assign(nth=buys.groupby(key, dropna=False).cumcount(), row=buys.index)
    undo = undo.assign(nth=undo.groupby(key, dropna=False).cumcount())
    pairs = buys.merge(undo, on=[*key, "nth"], suffixes=("", "_cancel"))
    rows = pairs.loc[pairs["date"] <= pairs["date_cancel"], "row"]
    return pd.Series(tx.index.isin(rows), index=tx.index)


def _no_customer(tx: pd.DataFrame) -> pd.Series:
    return tx["customer_id"].isna()


def _non_positive_quantity(tx: pd.DataFrame) -> pd.Series:
    if "quantity" not in tx:
        return pd.Series(False, index=tx.index)
    return ~(tx["quantity"] > 0)


def _non_positive_price(tx: pd.DataFrame) -> pd.Series:
    price = tx["unit_price"] if "unit_price" in tx else tx["amount"]
    return ~(price > 0) | ~(tx["amount"] > 0)


def _non_product(tx: pd.DataFrame) -> pd.Series:
    if "stock_code" not in tx:
        return pd.Series(False, index=tx.index)
    codes = load_segment_rules()["cleaning"]["non_product_stock_codes"]
    return tx["stock_code"].str.strip().isin([str(c) for c in codes])


def _duplicate(tx: pd.DataFrame) -> pd.Series:
    return tx.duplicated(keep="first")


#: The cleaning steps, in order: (name, reason shown in the log, rows-to-drop mask).
CLEANING_STEPS: tuple[tuple[str, str, Callable[[pd.DataFrame], pd.Series]], ...] = (
    (
        "reversed purchases",
        "purchase line undone by a later cancellation (same customer, product, quantity)",
        _reversed_purchase,
    ),
    (
        "cancellations",
        "invoice number C + digits, negative amount: a cancellation reversing an earlier sale",
        _cancelled,
    ),
    ("missing customer", "no customer identifier: cannot be attributed", _no_customer),
    (
        "non-positive quantity",
        "quantity zero or negative: returns and stock adjustments",
        _non_positive_quantity,
    ),
    (
        "non-positive price",
        "unit price or amount zero or negative: free lines, bad-debt adjustments",
        _non_positive_price,
    ),
    (
        "non-product stock code",
        "postage, carriage, fees, discounts, manual adjustments: not a product purchase",
        _non_product,
    ),
    (
        "duplicates",
        "exact duplicate of an earlier line (same invoice, product, quantity, price, time)",
        _duplicate,
    ),
)


def clean_transactions(
    tx: pd.DataFrame, *, steps: Any = None, before: Any = None, source: str = "transactions"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the cleaning steps on a normalised log and record what each removed.

    Parameters
    ----------
    tx : DataFrame
        Normalised transactions (see :func:`normalise_transactions`).
    steps : iterable of str, optional
        Names of the :data:`CLEANING_STEPS` to run (in their fixed order); default all.
    before : date-like, optional
        Clean the log as it was known on this date: only lines dated strictly before it
        are read, so no cancellation dated on or after it can remove an earlier purchase.
        Use it for an early period that must not see the future (a backtest).
    source : str
        Name used in the error message.

    Returns
    -------
    clean : DataFrame
        The remaining lines, index reset.
    log : DataFrame
        One row per step (plus a first ``raw`` row): ``step``, ``reason``,
        ``rows_removed``, ``rows_left``, ``customers_left``, ``invoices_left``,
        ``amount_left``.

    Raises
    ------
    DataValidationError
        When no transaction survives cleaning.
    """
    check_columns(tx, TRANSACTION_COLUMNS, source=source, allow_extra=True)

    def _row(step: str, reason: str, removed: int, frame: pd.DataFrame) -> dict[str, Any]:
        return {
            "step": step,
            "reason": reason,
            "rows_removed": removed,
            "rows_left": len(frame),
            "customers_left": int(frame["customer_id"].nunique()),
            "invoices_left": int(frame["invoice_id"].nunique()),
            "amount_left": float(frame["amount"].sum()),
        }

    known = [name for name, _, _ in CLEANING_STEPS]
    chosen = known if steps is None else list(steps)
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise ValueError(f"unknown cleaning step(s) {unknown}; known: {known}")
    if before is not None:
        cutoff = pd.Timestamp(before)
        tx = tx.loc[tx["date"] < cutoff]
        if tx.empty:
            raise DataValidationError(f"{source}: no transaction before {cutoff.date()}")
    rows = [_row("raw", "rows read", 0, tx)]
    current = tx
    for name, reason, mask in CLEANING_STEPS:
        if name not in chosen:
            continue
        drop = mask(current).fillna(True).to_numpy(dtype=bool)
        current = current.loc[~drop]
        rows.append(_row(name, reason, int(drop.sum()), current))
    if current.empty:
        raise DataValidationError(f"{source}: no valid transactions left after cleaning")
    return current.reset_index(drop=True), pd.DataFrame(rows)


def sample_customers(
    tx: pd.DataFrame, n_customers: int | None, *, random_state: int = 0
) -> pd.DataFrame:
    """Keep every transaction of ``n_customers`` customers drawn at random (None: all).

    Parameters
    ----------
    tx : DataFrame
        Normalised transactions.
    n_customers : int or None
        Number of customers kept; None, or at least the number present, keeps all.
    random_state : int
        Seed of the random draw of the customers kept.

    Returns
    -------
    DataFrame
        The sampled customers' rows, in the original order, index reset.
    """
    customers = pd.Series(tx["customer_id"].dropna().unique())
    if n_customers is None or n_customers >= len(customers):
        return tx
    chosen = customers.sample(n=n_customers, random_state=random_state)
    return tx.loc[tx["customer_id"].isin(chosen)].reset_index(drop=True)


# --- reading files ------------------------------------------------------------------------


def _sniff_separator(path: Path) -> str | None:
    """``None`` (comma) unless the header line has no comma but whitespace (CDNOW style)."""
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        first = handle.readline()
    return r"\s+" if "," not in first and len(first.split()) > 1 else None


def read_transactions(path: str | os.PathLike) -> pd.DataFrame:
    """Read a transaction file and normalise it, detecting the format by its columns.

    Accepted layouts: the normalised schema (``customer_id, invoice_id, date, amount``,
    optional ``quantity, unit_price, stock_code``; dates ISO 8601), the raw UCI Online
    Retail columns (``InvoiceNo, StockCode, ..., CustomerID, Country``), or the CDNOW
    columns (``customer_id date number_of_cds dollar_value``, whitespace- or
    comma-separated, dates ``yyyymmdd``). ``.gz`` files are decompressed.

    Parameters
    ----------
    path : path-like
        The transaction file (``.gz`` allowed).

    Returns
    -------
    DataFrame
        Normalised, not yet cleaned.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    DataValidationError
        Empty file, unknown layout (names the missing columns), unparsable dates or amounts.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such transactions file")
    source = str(path)
    sep = _sniff_separator(path) if path.stat().st_size else None
    raw = read_csv_checked(path, sep=sep or ",", dtype=str)
    raw.columns = [str(c).strip() for c in raw.columns]
    columns = set(raw.columns)
    if set(ONLINE_RETAIL_COLUMNS) <= columns:
        raw["InvoiceDate"] = parse_dates(
            raw["InvoiceDate"], fmt="ISO8601", source=source, column="InvoiceDate"
        )
        for column in ("Quantity", "UnitPrice", "CustomerID"):
            raw[column] = _numeric(raw[column], source=source, column=column)
        return from_online_retail(raw, source=source)
    if set(CDNOW_COLUMNS) <= columns and "invoice_id" not in columns:
        raw["date"] = parse_dates(raw["date"], fmt="%Y%m%d", source=source, column="date")
        for column in ("number_of_cds", "dollar_value"):
            raw[column] = _numeric(raw[column], source=source, column=column)
        return from_cdnow(raw, source=source)
    missing = [c for c in TRANSACTION_COLUMNS if c not in columns]
    if missing:
        raise DataValidationError(
            f"{source}: missing column(s) {', '.join(missing)}; expected the columns "
            f"{', '.join(TRANSACTION_COLUMNS)} (or the raw Online Retail or CDNOW layout)"
        )
    return normalise_transactions(raw, source=source)


def _numeric(values: pd.Series, *, source: str, column: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        raise DataValidationError(
            f"{source}: column {column} has {int(bad.sum())} non-numeric value(s), "
            f"e.g. {values[bad].iloc[0]!r}"
        )
    return numbers


# --- synthetic stand-in -------------------------------------------------------------------

#: Latent customer types of the synthetic logs: share of customers, mean purchases per day,
#: mean active lifetime (days) and median spend per item. Distinct types give the stand-in
#: real clusters, so its segments are stable across random starts, as on the real logs.
SYNTHETIC_CUSTOMER_TYPES: dict[str, tuple[float, float, float, float]] = {
    "regular": (0.20, 1 / 12, 1000.0, 40.0),
    "occasional": (0.35, 1 / 60, 300.0, 20.0),
    "one-off": (0.45, 1 / 500, 60.0, 12.0),
}


def make_cdnow_like(
    n_customers: int = 3000,
    *,
    start: str = "1997-01-01",
    end: str = "1998-06-30",
    random_state: int = 0,
) -> pd.DataFrame:
    """A synthetic log in the raw CDNOW layout (``load_cdnow`` schema), for demos and tests.

    Each customer belongs to one of :data:`SYNTHETIC_CUSTOMER_TYPES`, first buys in the
    first quarter, then buys at a personal Poisson rate (gamma around the type's mean) until
    a personal, exponentially distributed drop-out time (a simple Pareto/NBD-like process),
    so recency and frequency carry real signal about the future, as in the real log.

    Parameters
    ----------
    n_customers : int
        Number of customers generated (each buys at least once).
    start, end : str
        First and last possible purchase day.
    random_state : int
        Seed of the generator that draws each customer's type, rates, drop-out time,
        spend and purchases.

    Returns
    -------
    DataFrame
        ``customer_id`` (5-digit str), ``date`` (datetime64[ns]), ``number_of_cds`` (int64),
        ``dollar_value`` (float64).
    """
    rng = np.random.default_rng(random_state)
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    horizon = (t1 - t0).days
    share, mean_rate, mean_life, median_spend = map(
        np.array, zip(*SYNTHETIC_CUSTOMER_TYPES.values(), strict=True)
    )
    kind = rng.choice(len(share), size=n_customers, p=share / share.sum())
    first = rng.integers(0, 90, n_customers)
    rate = rng.gamma(shape=2.0, scale=mean_rate[kind] / 2.0)  # purchases per day
    alive = rng.exponential(scale=mean_life[kind])
    spend = median_spend[kind] * rng.lognormal(mean=0.0, sigma=0.3, size=n_customers)
    rows = []
    for i in range(n_customers):
        days = [first[i]]
        t = float(first[i])
        stop = min(first[i] + alive[i], horizon)
        while True:
            t += rng.exponential(1 / rate[i])
            if t > stop:
                break
            days.append(int(t))
        for day in days:
            cds = int(rng.integers(1, 5))
            rows.append((f"{i + 1:05d}", day, cds, round(spend[i] * cds / 2, 2)))
    df = pd.DataFrame(rows, columns=["customer_id", "day", "number_of_cds", "dollar_value"])
    df.insert(1, "date", (t0 + pd.to_timedelta(df.pop("day"), unit="D")).astype("datetime64[ns]"))
    return df.astype({"number_of_cds": "int64", "dollar_value": "float64"})


def make_online_retail_like(n_customers: int = 3000, *, random_state: int = 0) -> pd.DataFrame:
    """A synthetic log in the raw UCI Online Retail layout (``load_online_retail`` schema).

    Purchases follow :func:`make_cdnow_like` over 2010-12-01 to 2011-12-09 (one line per
    order), with the defects cleaning must remove mixed in: about 2% cancellations, 20%
    lines without a customer, 1% postage lines and 1% exact duplicates.

    Parameters
    ----------
    n_customers : int
        Number of customers generated, passed to :func:`make_cdnow_like`.
    random_state : int
        Seed of the purchases (:func:`make_cdnow_like`) and of the Online Retail columns
        and defects added to them.

    Returns
    -------
    DataFrame
        ``InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice,
        CustomerID, Country``.
    """
    rng = np.random.default_rng(random_state)
    orders = make_cdnow_like(
        n_customers, start="2010-12-01", end="2011-12-09", random_state=random_state
    )
    n = len(orders)
    hours = pd.to_timedelta(rng.integers(8 * 60, 18 * 60, n), unit="min")
    raw = pd.DataFrame(
        {
            "InvoiceNo": [str(536000 + i) for i in range(n)],
            "StockCode": rng.choice(["85123A", "71053", "84406B", "22423"], n),
            "Description": "SYNTHETIC PRODUCT",
            "Quantity": orders["number_of_cds"].to_numpy(dtype="int64") * 6,
            "InvoiceDate": (orders["date"] + hours).to_numpy(),
            "UnitPrice": np.round(
                orders["dollar_value"].to_numpy() / 6 / orders["number_of_cds"], 2
            ),
            "CustomerID": pd.array(12000 + orders["customer_id"].astype(int), dtype="Int64"),
            "Country": "United Kingdom",
        }
    )
    cancel = rng.random(n) < 0.02
    raw.loc[cancel, "InvoiceNo"] = "C" + raw.loc[cancel, "InvoiceNo"]
    raw.loc[cancel, "Quantity"] = -raw.loc[cancel, "Quantity"]
    raw.loc[rng.random(n) < 0.2, "CustomerID"] = pd.NA
    postage = rng.random(n) < 0.01
    raw.loc[postage, ["StockCode", "Description", "Quantity", "UnitPrice"]] = [
        "POST",
        "POSTAGE",
        1,
        18.0,
    ]
    dupes = raw.loc[rng.random(n) < 0.01]
    raw = pd.concat([raw, dupes]).sort_values(["InvoiceDate", "InvoiceNo"], kind="stable")
    return raw.reset_index(drop=True).astype({"InvoiceDate": "datetime64[ns]"})
