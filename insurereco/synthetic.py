"""A synthetic insurance portfolio with the Zimnat schema.

It makes unit tests fast and lets the report build as a clearly labelled demo when
the licensed Zimnat files are absent. The co-holding structure imitates the real
data: two dominant products (RVSZ, K6QO), a handful of typical bundles
(RVSZ+K6QO+QBOL, JZ9D+J9JW, PYUQ+QBOL), a long tail of rare products, and profile
effects (age, occupation category, branch) on which bundle a customer holds.
None of its numbers describe a real insurer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from insurereco.contract import ID_COLUMN, PRODUCTS, validate_portfolio

__all__ = ["BUNDLES", "make_portfolio", "mask_one_product"]

#: Typical bundles (products held together) and their base shares of customers.
BUNDLES: dict[tuple[str, ...], float] = {
    ("RVSZ", "K6QO"): 0.62,
    ("RVSZ", "K6QO", "QBOL"): 0.10,
    ("RVSZ", "QBOL"): 0.06,
    ("JZ9D", "J9JW"): 0.04,
    ("PYUQ", "QBOL"): 0.04,
    ("RVSZ", "RIBP"): 0.04,
    ("K6QO", "ECY3"): 0.03,
    ("RVSZ", "K6QO", "GHYX"): 0.03,
    ("RVSZ", "N2MW"): 0.02,
    ("RVSZ", "K6QO", "AHXO"): 0.02,
}

#: Relative popularity of add-on products drawn on top of a bundle (long tail).
_TAIL = {
    "QBOL": 40, "PYUQ": 14, "RIBP": 12, "JZ9D": 8, "J9JW": 8, "ECY3": 7, "GHYX": 6,
    "N2MW": 5, "AHXO": 4, "SOP4": 3, "LJR9": 2.5, "66FJ": 2.5, "BSTQ": 2, "7POT": 2,
    "JWFN": 2, "8NN1": 1, "FM3X": 0.8, "P5DA": 0.3, "GYSR": 0.05,
}  # fmt: skip

_OCCUPATION_CATEGORIES = ("T4MS", "90QI", "56SI", "L44T", "JD7X", "AHH5")
_BRANCHES = tuple(f"BR{i:02d}" for i in range(1, 16))
_MARITAL = ("M", "S", "U", "W", "D", "R", "P")
_MARITAL_P = (0.78, 0.11, 0.085, 0.01, 0.005, 0.006, 0.004)


def _profiles(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw customer profiles (join date, sex, marital status, age, branch, occupation)."""
    months = pd.date_range("2010-05-01", "2020-08-01", freq="MS")
    recency = np.linspace(0.2, 1.0, len(months)) ** 2  # more recent joiners
    join = rng.choice(months.values, size=n, p=recency / recency.sum())
    category = rng.choice(_OCCUPATION_CATEGORIES, size=n, p=(0.3, 0.4, 0.15, 0.08, 0.05, 0.02))
    occupation = np.char.add(category.astype(str), rng.integers(0, 8, size=n).astype(str))
    birth_year = np.clip(np.round(rng.normal(1980, 10, size=n)), 1935, 2005).astype(int)
    return pd.DataFrame(
        {
            ID_COLUMN: [f"S{i:06d}" for i in range(n)],
            "join_date": pd.to_datetime(join).astype("datetime64[ns]"),
            "sex": pd.Series(rng.choice(["M", "F"], size=n, p=(0.7, 0.3)), dtype="str"),
            "marital_status": pd.Series(rng.choice(_MARITAL, size=n, p=_MARITAL_P), dtype="str"),
            "birth_year": pd.array(birth_year, dtype="Int64"),
            "branch_code": pd.Series(rng.choice(_BRANCHES, size=n), dtype="str"),
            "occupation_code": pd.Series(occupation, dtype="str"),
            "occupation_category_code": pd.Series(category, dtype="str"),
        }
    )


def _bundle_weights(profiles: pd.DataFrame) -> np.ndarray:
    """Per-customer bundle probabilities, shifted by profile (n x bundles)."""
    base = np.array(list(BUNDLES.values()))
    weights = np.tile(base, (len(profiles), 1))
    bundles = list(BUNDLES)
    young = (profiles["birth_year"].to_numpy(dtype=float) > 1988)[:, None]
    category = profiles["occupation_category_code"].to_numpy()
    weights[:, bundles.index(("JZ9D", "J9JW"))] *= np.where(category == "56SI", 6.0, 1.0)
    weights[:, bundles.index(("PYUQ", "QBOL"))] *= np.where(young[:, 0], 2.5, 0.8)
    weights[:, bundles.index(("RVSZ", "RIBP"))] *= np.where(category == "L44T", 5.0, 1.0)
    weights[:, bundles.index(("K6QO", "ECY3"))] *= np.where(
        profiles["branch_code"].isin(["BR03", "BR07"]).to_numpy(), 6.0, 1.0
    )
    return weights / weights.sum(axis=1, keepdims=True)


def make_portfolio(n_customers: int = 2000, *, random_state: int = 0) -> pd.DataFrame:
    """Make a synthetic portfolio with the schema of ``load_zimnat("train")``.

    Parameters
    ----------
    n_customers : int, default 2000
        Number of customers (rows).
    random_state : int, default 0
        Seed; the same seed gives the same portfolio.

    Returns
    -------
    DataFrame
        One row per customer: ``ID``, the profile fields and 21 product flags (int8);
        every customer holds at least two products.
    """
    if n_customers < 1:
        raise ValueError("n_customers must be at least 1")
    rng = np.random.default_rng(random_state)
    profiles = _profiles(n_customers, rng)
    weights = _bundle_weights(profiles)
    bundles = list(BUNDLES)
    choice = (weights.cumsum(axis=1) > rng.random((n_customers, 1))).argmax(axis=1)
    flags = np.zeros((n_customers, len(PRODUCTS)), dtype="int8")
    index = {p: i for i, p in enumerate(PRODUCTS)}
    for b, bundle in enumerate(bundles):
        rows = choice == b
        for product in bundle:
            flags[rows, index[product]] = 1
    tail = np.array([_TAIL.get(p, 0.0) for p in PRODUCTS])
    extra = rng.random(n_customers) < 0.22
    for row in np.flatnonzero(extra):
        p = tail * (1 - flags[row])
        flags[row, rng.choice(len(PRODUCTS), p=p / p.sum())] = 1
    portfolio = pd.concat([profiles, pd.DataFrame(flags, columns=list(PRODUCTS))], axis=1)
    return validate_portfolio(portfolio, source="synthetic portfolio")


def mask_one_product(
    portfolio: pd.DataFrame, *, random_state: int = 0
) -> tuple[pd.DataFrame, pd.Series]:
    """Hide one held product per customer, chosen uniformly at random.

    This is how the Zimnat test set was made. Customers must hold at least one product.

    Parameters
    ----------
    portfolio : DataFrame
        Complete portfolio with the 21 product flag columns.
    random_state : int, default 0
        Seed of the draw.

    Returns
    -------
    masked : DataFrame
        Copy of ``portfolio`` with the hidden product set to 0.
    hidden : Series
        The hidden product code per row (same index as ``portfolio``), named ``hidden``.
    """
    flags = portfolio[list(PRODUCTS)].to_numpy()
    held = flags.sum(axis=1)
    if (held < 1).any():
        raise ValueError("every customer must hold at least one product to hide one")
    rng = np.random.default_rng(random_state)
    pick = np.floor(rng.random(len(flags)) * held).astype(int)  # 0-based among held
    rank = flags.cumsum(axis=1) - 1
    column = ((rank == pick[:, None]) & (flags == 1)).argmax(axis=1)
    masked = portfolio.copy()
    masked_flags = flags.copy()
    masked_flags[np.arange(len(flags)), column] = 0
    masked[list(PRODUCTS)] = masked_flags.astype("int8")
    hidden = pd.Series(np.array(PRODUCTS)[column], index=portfolio.index, name="hidden")
    return masked, hidden
