"""Data contract: column names, dtypes and allowed values of every data set.

The contract is written with pandera and checked on load by :mod:`insurereco.data`.
Every failure becomes a :class:`~insurereco.errors.DataValidationError` whose
message names the file, the column and the problem. The business rules files under
``insurereco/rules/`` are read through :func:`load_rules_file`, which checks their keys.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import pandas as pd
import pandera.pandas as pa
import yaml

from insurereco.errors import DataValidationError

__all__ = [
    "BANK_COLUMNS",
    "CDNOW_COLUMNS",
    "ID_COLUMN",
    "MARITAL_CODES",
    "ONLINE_RETAIL_COLUMNS",
    "PRODUCTS",
    "PROFILE_COLUMNS",
    "STANDARD_MARITAL_CODES",
    "ZIMNAT_COLUMNS",
    "check_columns",
    "check_flags",
    "check_unique",
    "load_rules_file",
    "portfolio_schema",
    "validate_portfolio",
]

ID_COLUMN = "ID"

#: The 21 anonymised Zimnat product codes, in the order of the data files.
PRODUCTS: tuple[str, ...] = (
    "P5DA", "RIBP", "8NN1", "7POT", "66FJ", "GYSR", "SOP4", "RVSZ", "PYUQ", "LJR9", "N2MW",
    "AHXO", "BSTQ", "FM3X", "K6QO", "QBOL", "JWFN", "JZ9D", "J9JW", "GHYX", "ECY3",
)  # fmt: skip

#: Customer profile fields of the Zimnat portfolio, in file order.
PROFILE_COLUMNS: tuple[str, ...] = (
    "join_date",
    "sex",
    "marital_status",
    "birth_year",
    "branch_code",
    "occupation_code",
    "occupation_category_code",
)

ZIMNAT_COLUMNS: tuple[str, ...] = (ID_COLUMN, *PROFILE_COLUMNS, *PRODUCTS)

#: The marital status codes the Zimnat files mostly use.
STANDARD_MARITAL_CODES: tuple[str, ...] = ("M", "S", "U", "W", "D", "R", "P")

#: Marital status codes seen in the Zimnat files, stray 'f' (train) and 'F' (test) included.
MARITAL_CODES: tuple[str, ...] = (*STANDARD_MARITAL_CODES, "f", "F")

BANK_COLUMNS: tuple[str, ...] = (
    "age", "job", "marital", "education", "default", "housing", "loan", "contact", "month",
    "day_of_week", "duration", "campaign", "pdays", "previous", "poutcome", "emp.var.rate",
    "cons.price.idx", "cons.conf.idx", "euribor3m", "nr.employed", "y",
)  # fmt: skip

ONLINE_RETAIL_COLUMNS: tuple[str, ...] = (
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
    "CustomerID", "Country",
)  # fmt: skip

CDNOW_COLUMNS: tuple[str, ...] = ("customer_id", "date", "number_of_cds", "dollar_value")


@cache
def _rules_text(name: str) -> str:
    """The text of ``insurereco/rules/<name>``, read once per process."""
    return resources.files("insurereco").joinpath(f"rules/{name}").read_text("utf-8")


def load_rules_file(name: str, *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Parse ``insurereco/rules/<name>`` and check it holds the ``required`` keys.

    Parameters
    ----------
    name : str
        File name in the rules folder, e.g. ``"campaign.yml"``.
    required : tuple of str
        Top-level keys the caller needs.

    Returns
    -------
    dict
        A fresh copy of the parsed YAML, safe to modify.

    Raises
    ------
    DataValidationError
        The file is not a YAML mapping, or lacks a required key.
    """
    try:
        rules = yaml.safe_load(_rules_text(name))
    except yaml.YAMLError as exc:
        raise DataValidationError(f"rules/{name}: not valid YAML ({exc})") from None
    if not isinstance(rules, dict):
        raise DataValidationError(f"rules/{name}: expected a mapping of keys to values")
    missing = [key for key in required if key not in rules]
    if missing:
        raise DataValidationError(f"rules/{name}: missing key(s) {', '.join(missing)}")
    return rules


def check_columns(
    df: pd.DataFrame,
    expected: tuple[str, ...] | list[str],
    *,
    source: str,
    allow_extra: bool = False,
) -> None:
    """Raise if columns are missing (or, unless allowed, unexpected).

    Parameters
    ----------
    df : DataFrame
        Table to check.
    expected : sequence of str
        Columns that must be present.
    source : str
        File or table name used in the error message.
    allow_extra : bool, default False
        Accept columns beyond ``expected``.
    """
    if df.shape[1] == 1 and len(expected) > 1:
        only = str(df.columns[0])
        sep = next((s for s in (";", ",", "\t", "|") if s in only), None)
        hint = f" (it contains {sep!r}: wrong separator?)" if sep else ""
        raise DataValidationError(
            f"{source}: read a single column {only[:60]!r}{hint}; expected {len(expected)} columns"
        )
    missing = [c for c in expected if c not in df.columns]
    if missing:
        raise DataValidationError(f"{source}: missing column(s) {', '.join(map(str, missing))}")
    extra = [c for c in df.columns if c not in expected]
    if extra and not allow_extra:
        raise DataValidationError(f"{source}: unexpected column(s) {', '.join(map(str, extra))}")


def check_flags(df: pd.DataFrame, columns: tuple[str, ...] | list[str], *, source: str) -> None:
    """Raise unless every value of ``columns`` is 0 or 1 (no missing values)."""
    for column in columns:
        values = df[column]
        bad = ~values.astype("str").str.strip().isin(["0", "1"])
        if bad.any():  # slow path only for odd spellings such as "1.0"
            bad[bad] = ~pd.to_numeric(values[bad], errors="coerce").isin([0, 1])
        if bad.any():
            examples = sorted({str(v) for v in df.loc[bad, column].head(3)})
            raise DataValidationError(
                f"{source}: column {column} must hold 0/1 flags; found {', '.join(examples)} "
                f"in {int(bad.sum())} row(s)"
            )


def check_unique(df: pd.DataFrame, column: str, *, source: str) -> None:
    """Raise if ``column`` has duplicated values."""
    duplicated = df[column].duplicated(keep=False)
    if duplicated.any():
        repeated = df.loc[duplicated, column].unique()
        examples = ", ".join(map(str, repeated[:3]))
        raise DataValidationError(
            f"{source}: column {column} has {len(repeated)} value(s) on more than one row "
            f"({int(duplicated.sum())} rows), e.g. {examples}"
        )


def portfolio_schema() -> pa.DataFrameSchema:
    """Pandera schema of a typed Zimnat portfolio (train, test or synthetic)."""
    flag = pa.Column("int8", pa.Check.isin([0, 1]))
    text = pa.Column("str", nullable=True)
    return pa.DataFrameSchema(
        {
            ID_COLUMN: pa.Column("str", unique=True, nullable=False),
            "join_date": pa.Column("datetime64[ns]", nullable=True),
            "sex": text,
            "marital_status": pa.Column("str", pa.Check.isin(MARITAL_CODES), nullable=True),
            "birth_year": pa.Column("Int64", pa.Check.in_range(1900, 2030), nullable=True),
            "branch_code": text,
            "occupation_code": text,
            "occupation_category_code": text,
            **{product: flag for product in PRODUCTS},
        },
        strict=True,
        ordered=True,
    )


def validate_portfolio(df: pd.DataFrame, *, source: str = "portfolio") -> pd.DataFrame:
    """Validate a typed portfolio against :func:`portfolio_schema`.

    Raises
    ------
    DataValidationError
        Naming ``source``, the column and the failed check.
    """
    try:
        return portfolio_schema().validate(df, lazy=False)
    except (pa.errors.SchemaError, pa.errors.SchemaErrors) as exc:
        column = getattr(exc, "schema", None)
        name = getattr(column, "name", None)
        detail = str(exc).strip().splitlines()[0]
        where = f"column {name}: " if name else ""
        raise DataValidationError(f"{source}: {where}{detail}") from exc
