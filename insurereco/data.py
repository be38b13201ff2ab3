"""Find, read and validate the project's data sets.

One setting decides where data comes from. For a file such as ``zimnat/Train.csv``
the search order is:

1. the ``data_dir`` argument, when given;
2. the environment variable ``INSURERECO_DATA``, when set;
3. ``data/raw`` inside the project (vendored CC BY 4.0 sets);
4. ``../shared/data`` beside the project.

When ``data_dir`` or ``INSURERECO_DATA`` is set, only that folder is searched. A
missing file raises :class:`~insurereco.errors.DataNotFoundError` naming the file,
the folders searched and where to get it. Every loader returns typed, named
columns and validates them against :mod:`insurereco.contract`.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd

from insurereco.contract import (
    BANK_COLUMNS,
    CDNOW_COLUMNS,
    ID_COLUMN,
    ONLINE_RETAIL_COLUMNS,
    PRODUCTS,
    ZIMNAT_COLUMNS,
    check_columns,
    check_flags,
    check_unique,
    validate_portfolio,
)
from insurereco.errors import DataNotFoundError, DataValidationError

__all__ = [
    "DATA_ENV",
    "PROJECT_ROOT",
    "SOURCES",
    "coil2000_columns",
    "find_data_file",
    "load_bank_marketing",
    "load_cdnow",
    "load_coil2000",
    "load_online_retail",
    "load_zimnat",
    "parse_dates",
    "read_csv_checked",
    "read_portfolio",
    "search_dirs",
]

DATA_ENV = "INSURERECO_DATA"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Where to get each data set (quoted in "file not found" messages).
SOURCES: dict[str, str] = {
    "zimnat": "Zindi 'Zimnat Insurance Recommendation Challenge' (2020): download Train.csv, "
    "Test.csv and SampleSubmission.csv from zindi.africa (research and education use only)",
    "bank_marketing": "UCI Machine Learning Repository, dataset 222 'Bank Marketing' "
    "(bank-additional.zip), CC BY 4.0",
    "online_retail": "UCI Machine Learning Repository, dataset 352 'Online Retail', CC BY 4.0 "
    "(see data/README.md for the csv.gz rebuild)",
    "cdnow": "Fader & Hardie CDNOW data set (also in the Lifetimes package, "
    "lifetimes/datasets/CDNOW_master.txt)",
    "coil2000": "UCI 'Insurance Company Benchmark (COIL 2000)', non-commercial research and "
    "education only",
}


def search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for data files, in order (see module docstring)."""
    if data_dir is not None:
        return [Path(data_dir)]
    if os.environ.get(DATA_ENV):
        return [Path(os.environ[DATA_ENV])]
    return [PROJECT_ROOT / "data" / "raw", PROJECT_ROOT.parent / "shared" / "data"]


def find_data_file(relpath: str, *, data_dir: str | os.PathLike | None = None) -> Path:
    """Return the first existing ``<dir>/<relpath>`` over :func:`search_dirs`.

    Raises
    ------
    DataNotFoundError
        Naming the file, the folders searched and where to get the data.
    """
    dirs = search_dirs(data_dir)
    for folder in dirs:
        candidate = folder / relpath
        if candidate.is_file():
            return candidate
    dataset = relpath.split("/", 1)[0]
    where = ", ".join(str(d) for d in dirs)
    source = SOURCES.get(dataset, "see data/README.md")
    raise DataNotFoundError(
        f"data file {relpath} not found (searched: {where}); get it from {source} and put it "
        f"under one of those folders or set {DATA_ENV}"
    )


def read_csv_checked(path: Path, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` that reports empty and unreadable files clearly."""
    if path.stat().st_size == 0:
        raise DataValidationError(f"{path}: file is empty")
    try:
        df = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError as exc:
        raise DataValidationError(f"{path}: file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"{path}: cannot be parsed ({exc})") from exc
    if df.empty:
        raise DataValidationError(f"{path}: file has a header but no rows")
    return df


def parse_dates(values: pd.Series, *, fmt: str, source: str, column: str) -> pd.Series:
    """Parse ``values`` with ``fmt``; missing stays NaT, anything unparsable raises."""
    parsed = pd.to_datetime(values, format=fmt, errors="coerce")
    bad = parsed.isna() & values.notna()
    if bad.any():
        examples = ", ".join(map(str, values[bad].unique()[:3]))
        raise DataValidationError(
            f"{source}: column {column} has {int(bad.sum())} unparsable date(s) "
            f"(expected {fmt}), e.g. {examples}"
        )
    return parsed.astype("datetime64[ns]")


def read_portfolio(path: str | os.PathLike, *, source: str | None = None) -> pd.DataFrame:
    """Read and validate a portfolio CSV in the Zimnat layout.

    Parameters
    ----------
    path : path-like
        Comma-separated file with ``ID``, the profile fields and the 21 product flags.
    source : str, optional
        Name used in error messages (defaults to the path).

    Returns
    -------
    DataFrame
        Typed portfolio: ``join_date`` datetime (d/m/yyyy in the file), ``birth_year``
        Int64, codes as str, product flags int8.

    Raises
    ------
    DataNotFoundError, DataValidationError
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file")
    source = source or str(path)
    raw = read_csv_checked(path, dtype=str, keep_default_na=True)
    raw.columns = [c.strip() for c in raw.columns]
    check_columns(raw, ZIMNAT_COLUMNS, source=source)
    check_unique(raw, ID_COLUMN, source=source)
    check_flags(raw, PRODUCTS, source=source)
    df = raw.loc[:, list(ZIMNAT_COLUMNS)].copy()
    df["join_date"] = parse_dates(
        raw["join_date"], fmt="%d/%m/%Y", source=source, column="join_date"
    )
    years = pd.to_numeric(raw["birth_year"], errors="coerce")
    if (years.isna() & raw["birth_year"].notna()).any():
        raise DataValidationError(f"{source}: column birth_year must hold whole years")
    df["birth_year"] = years.astype("Int64")
    for product in PRODUCTS:  # flags are checked above; "1" is fast, "1.0" takes the slow path
        text = raw[product].str.strip()
        flags = text.eq("1").astype("int8")
        odd = ~text.isin(["0", "1"])
        if odd.any():
            flags[odd] = pd.to_numeric(text[odd]).astype("int8")
        df[product] = flags
    return validate_portfolio(df, source=source)


def load_zimnat(split: str = "train", *, data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Load the Zimnat portfolio: ``split="train"`` (complete) or ``"test"`` (one product hidden)."""
    files = {"train": "zimnat/Train.csv", "test": "zimnat/Test.csv"}
    if split not in files:
        raise ValueError(f"split must be one of {sorted(files)}, got {split!r}")
    return read_portfolio(find_data_file(files[split], data_dir=data_dir))


def load_bank_marketing(*, data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Load ``bank-additional-full.csv`` (``;``-separated), rows in time order, ``y`` as yes/no."""
    path = find_data_file("bank_marketing/bank-additional-full.csv", data_dir=data_dir)
    df = read_csv_checked(path, sep=";")
    check_columns(df, BANK_COLUMNS, source=str(path))
    if not df["y"].isin(["yes", "no"]).all():
        raise DataValidationError(f"{path}: column y must be 'yes' or 'no'")
    return df


def load_online_retail(*, data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Load the raw, uncleaned UCI Online Retail invoice lines."""
    path = find_data_file("online_retail/online_retail.csv.gz", data_dir=data_dir)
    df = read_csv_checked(
        path,
        dtype={"InvoiceNo": str, "StockCode": str, "Description": str, "Country": str},
    )
    check_columns(df, ONLINE_RETAIL_COLUMNS, source=str(path))
    df["InvoiceDate"] = parse_dates(
        df["InvoiceDate"], fmt="%Y-%m-%d %H:%M:%S", source=str(path), column="InvoiceDate"
    )
    df["CustomerID"] = pd.to_numeric(df["CustomerID"]).astype("Int64")
    return df


def load_cdnow(*, data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Load the CDNOW master transaction log (whitespace-separated, one row per purchase)."""
    path = find_data_file("cdnow/CDNOW_master.txt", data_dir=data_dir)
    df = read_csv_checked(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    check_columns(df, CDNOW_COLUMNS, source=str(path))
    df["date"] = parse_dates(df["date"], fmt="%Y%m%d", source=str(path), column="date")
    return df


def coil2000_columns(*, data_dir: str | os.PathLike | None = None) -> list[str]:
    """The 86 CoIL 2000 column names (``MOSTYPE`` ... ``CARAVAN``) from ``dictionary.txt``."""
    path = find_data_file("coil2000/dictionary.txt", data_dir=data_dir)
    names: list[str] = []
    with path.open(encoding="cp1252") as handle:
        for row in csv.reader(handle, delimiter=" "):
            if len(row) >= 2 and row[0].isdigit() and int(row[0]) == len(names) + 1:
                names.append(row[1])
            if len(names) == 86:
                break
    if len(names) != 86:
        raise DataValidationError(f"{path}: found {len(names)} of the 86 column names")
    return names


def load_coil2000(
    split: str = "train", *, data_dir: str | os.PathLike | None = None
) -> pd.DataFrame:
    """Load CoIL 2000: ``"train"`` (ticdata2000, with ``CARAVAN``) or ``"eval"`` (ticeval2000)."""
    files = {"train": "coil2000/ticdata2000.txt", "eval": "coil2000/ticeval2000.txt"}
    if split not in files:
        raise ValueError(f"split must be one of {sorted(files)}, got {split!r}")
    names = coil2000_columns(data_dir=data_dir)
    if split == "eval":
        names = names[:-1]
    path = find_data_file(files[split], data_dir=data_dir)
    df = read_csv_checked(path, sep="\t", header=None)
    if df.shape[1] != len(names):
        raise DataValidationError(
            f"{path}: expected {len(names)} tab-separated columns, found {df.shape[1]}"
        )
    df.columns = names
    if split == "train":
        check_flags(df, ["CARAVAN"], source=str(path))
    return df.astype("int64")
