"""Campaign months for the bank telemarketing data, and what drift does to a model.

``bank-additional-full.csv`` (Moro et al. 2014) has no date column, but its rows are in
call order from May 2008 to November 2010 and the ``month`` column holds the calendar
month of each call. :func:`derive_campaign_months` rebuilds the year: a new run of rows
starts whenever ``month`` changes, and the year rolls over whenever a run's calendar
month is not later than the previous run's (``dec`` -> ``mar``, or ``nov`` -> ``may``
after a gap). Months with no calls (e.g. January and February) are simply absent.

On top of that month index:

* :func:`rolling_origin_splits` trains on every month before month *m* and tests on *m*;
* :func:`prior_shift` corrects probabilities for a changed base rate;
* :func:`lag_period_values` replaces monthly figures (economic indicators) by those of the
  month before, as they would be known when a month's calls start;
* :func:`monthly_expected_vs_actual` and :func:`plot_monthly_calibration` compare
  expected and actual subscriptions month by month;
* :func:`make_bank_campaign` builds a small synthetic stand-in with the same columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from insurereco.errors import DataValidationError
from insurereco.propensity import TableSchema, fit_estimator

__all__ = [
    "MONTHS",
    "derive_campaign_months",
    "lag_period_values",
    "make_bank_campaign",
    "monthly_expected_vs_actual",
    "plot_monthly_calibration",
    "prior_shift",
    "recent_rate",
    "rolling_origin_predict",
    "rolling_origin_splits",
]

#: Three-letter month names as written in the bank data.
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def derive_campaign_months(month: Sequence[str], *, start_year: int = 2008) -> pd.DataFrame:
    """Rebuild year and month index from a time-ordered ``month`` column.

    Parameters
    ----------
    month : sequence of str
        Calendar month of each row (``"may"``, ``"jun"``, ...), rows in time order.
    start_year : int
        Year of the first row (2008 for the bank data).

    Returns
    -------
    DataFrame
        Same index as ``month`` when it is a Series: ``year``, ``month_number`` (1-12),
        ``period`` (``"2008-05"``), ``month_index`` (calendar months since the first
        row's month, 0-based; gaps with no calls are skipped in the data but counted
        here) and ``run`` (0-based number of the month block).

    Raises
    ------
    DataValidationError
        Empty input or an unknown month name.
    """
    values = pd.Series(month).astype(str).str.strip().str.lower()
    if values.empty:
        raise DataValidationError("month column is empty")
    unknown = sorted(set(values) - set(MONTHS))
    if unknown:
        raise DataValidationError(f"month column holds unknown month names {unknown}")
    number = values.map({m: i + 1 for i, m in enumerate(MONTHS)}).to_numpy()
    new_run = np.r_[True, number[1:] != number[:-1]]
    run = np.cumsum(new_run) - 1
    run_month = number[new_run]
    rollover = np.r_[0, (run_month[1:] <= run_month[:-1]).astype(int)]
    run_year = start_year + np.cumsum(rollover)
    year = run_year[run]
    month_index = (year - start_year) * 12 + number - number[0]
    out = pd.DataFrame(
        {
            "year": year,
            "month_number": number,
            "period": [f"{y}-{m:02d}" for y, m in zip(year, number, strict=True)],
            "month_index": month_index,
            "run": run,
        }
    )
    if isinstance(month, pd.Series):
        out.index = month.index
    return out


def rolling_origin_splits(
    month_index: Sequence[int], *, n_last: int = 12, min_calls: int = 150
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Forward splits: train on all months before *m*, test on month *m*.

    Parameters
    ----------
    month_index : sequence of int
        Month of each row (from :func:`derive_campaign_months`).
    n_last : int
        Consider the last ``n_last`` months that have calls ...
    min_calls : int
        ... and keep those with at least this many calls.

    Returns
    -------
    list of (month, train_positions, test_positions)
        Positions are 0-based row positions, in time order.
    """
    months = np.asarray(month_index)
    present, counts = np.unique(months, return_counts=True)
    splits = []
    for m, count in zip(present[-n_last:], counts[-n_last:], strict=True):
        if count < min_calls:
            continue
        train = np.flatnonzero(months < m)
        if train.size:
            splits.append((int(m), train, np.flatnonzero(months == m)))
    return splits


def rolling_origin_predict(
    model_type: str,
    schema: TableSchema,
    X: pd.DataFrame,
    y: np.ndarray,
    splits: Sequence[tuple[int, np.ndarray, np.ndarray]],
    *,
    params: Mapping | None = None,
    random_state: int = 0,
) -> np.ndarray:
    """Retrain every month: predictions for each split's test month from its own model.

    Parameters
    ----------
    model_type : str
        A key of :data:`insurereco.propensity.MODEL_LABELS` (except ``"blend"``).
    schema, X, y
        As for :func:`insurereco.propensity.fit_estimator`; ``y`` is taken by
        position (a Series' index is ignored), like the rows of ``X``.
    splits : sequence of (month, train rows, test rows)
        From :func:`rolling_origin_splits`.
    params : mapping, optional
        Model parameters.
    random_state : int
        Seed of every monthly model (see :func:`insurereco.propensity.make_estimator`).

    Returns
    -------
    ndarray
        One probability per row of ``X``; NaN for rows in no test month.
    """
    y = np.asarray(y)
    out = np.full(len(X), np.nan)
    for _, train, test in splits:
        model = fit_estimator(
            model_type, schema, X.iloc[train], y[train], params=params, random_state=random_state
        )
        out[test] = model.predict_proba(X.iloc[test])[:, 1]
    return out


def lag_period_values(
    frame: pd.DataFrame, *, columns: Sequence[str], period: Sequence, lags: int = 1
) -> pd.DataFrame:
    """Replace ``columns`` by their value ``lags`` periods earlier, as known at a period's start.

    Economic indicators such as the bank data's employment or price index are published
    after the month they describe. Each period's value is the mean over its rows (the
    indicators are constant within a month); every row then gets the value of the period
    ``lags`` steps earlier among the periods present, in sorted order (months without calls
    are skipped, as nothing was observed then). The first ``lags`` periods have no earlier
    value and keep the earliest period's own: they can only ever be training rows.

    Parameters
    ----------
    frame : DataFrame
        Rows to change (not modified; a copy is returned).
    columns : sequence of str
        Numeric columns to lag.
    period : sequence
        Period label of each row (e.g. ``"2009-10"``), sortable in time order.
    lags : int, default 1
        Number of periods to look back.

    Returns
    -------
    DataFrame
        A copy of ``frame`` with ``columns`` lagged.
    """
    period = np.asarray(period)
    if len(period) != len(frame):
        raise DataValidationError(
            f"lag_period_values: {len(period)} period labels for {len(frame)} rows"
        )
    if lags < 1:
        raise DataValidationError(f"lag_period_values: lags must be >= 1, got {lags}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(f"lag_period_values: column(s) not found: {missing}")
    means = frame[list(columns)].groupby(period).mean().sort_index()
    earlier = means.shift(lags).fillna(means.iloc[0])  # the first periods keep their own
    out = frame.copy()
    out[list(columns)] = earlier.loc[period].to_numpy()
    return out


def recent_rate(
    month_index: Sequence[int], y_true: Sequence[int], month: int, *, window: int = 500
) -> float:
    """Acceptance rate of the last ``window`` calls before ``month``, known at its launch.

    Raises
    ------
    ValueError
        No call before ``month``.
    """
    months, y = np.asarray(month_index), np.asarray(y_true, dtype=float)
    before = np.flatnonzero(months < month)
    if before.size == 0:
        raise ValueError(f"no call before month {month}")
    return float(y[before[-window:]].mean())


def prior_shift(proba: Sequence[float], *, train_rate: float, new_rate: float) -> np.ndarray:
    """Correct probabilities for a new base rate (Saerens et al. 2002; Elkan 2001).

    The odds are multiplied by ``odds(new_rate) / odds(train_rate)``; the ranking is
    unchanged, only the level moves.

    Parameters
    ----------
    proba : array
        Probabilities from a model trained where the acceptance rate was ``train_rate``.
    train_rate, new_rate : float in (0, 1)
        Acceptance rate where the model was trained and the rate expected now.
    """
    for name, rate in (("train_rate", train_rate), ("new_rate", new_rate)):
        if not 0 < rate < 1:
            raise ValueError(f"{name} must be strictly between 0 and 1, got {rate}")
    p = np.clip(np.asarray(proba, dtype=float), 1e-12, 1 - 1e-12)
    ratio = (new_rate / (1 - new_rate)) / (train_rate / (1 - train_rate))
    odds = p / (1 - p) * ratio
    return odds / (1 + odds)


def monthly_expected_vs_actual(
    period: Sequence[str], y_true: Sequence[int], predictions: Mapping[str, Sequence[float]]
) -> pd.DataFrame:
    """Expected (sum of probabilities) against actual subscriptions, month by month.

    Returns
    -------
    DataFrame
        ``period``, ``calls``, ``actual`` and ``expected_<name>`` per model, plus a
        final ``total`` row.
    """
    frame = pd.DataFrame({"period": list(period), "actual": np.asarray(y_true, dtype=int)})
    for name, p in predictions.items():
        frame[f"expected_{name}"] = np.asarray(p, dtype=float)
    table = frame.groupby("period", sort=True).agg(
        calls=("actual", "size"), **{c: (c, "sum") for c in frame.columns if c != "period"}
    )
    table.loc["total"] = table.sum()
    return table.reset_index()


def plot_monthly_calibration(table: pd.DataFrame, *, ax, names: Sequence[str] | None = None):
    """Actual and expected subscription rate per month (from :func:`monthly_expected_vs_actual`)."""
    rows = table[table["period"] != "total"]
    names = names or [c.removeprefix("expected_") for c in rows if c.startswith("expected_")]
    x = np.arange(len(rows))
    ax.plot(
        x, rows["actual"] / rows["calls"], color="black", marker="s", linewidth=2, label="actual"
    )
    for name in names:
        ax.plot(x, rows[f"expected_{name}"] / rows["calls"], marker="o", label=name)
    ax.set_xticks(x, rows["period"], rotation=45, ha="right")
    ax.set_ylabel("subscription rate")
    ax.legend(fontsize="small")
    return ax


# Calendar of the real campaign: (year, month, share of calls, subscription rate),
# rounded from bank-additional-full.csv, used to shape the synthetic stand-in.
_CALENDAR = (
    (2008, 5, 0.188, 0.03), (2008, 6, 0.106, 0.04), (2008, 7, 0.162, 0.06),
    (2008, 8, 0.126, 0.05), (2008, 10, 0.004, 0.6), (2008, 11, 0.088, 0.05),
    (2008, 12, 0.002, 0.1), (2009, 3, 0.007, 0.45), (2009, 4, 0.06, 0.18),
    (2009, 5, 0.141, 0.09), (2009, 6, 0.017, 0.37), (2009, 7, 0.005, 0.37),
    (2009, 8, 0.019, 0.34), (2009, 9, 0.007, 0.4), (2009, 10, 0.011, 0.4),
    (2009, 11, 0.009, 0.47), (2009, 12, 0.005, 0.51), (2010, 3, 0.007, 0.57),
    (2010, 4, 0.005, 0.56), (2010, 5, 0.006, 0.58), (2010, 6, 0.006, 0.47),
    (2010, 7, 0.008, 0.57), (2010, 8, 0.006, 0.52), (2010, 9, 0.008, 0.5),
    (2010, 10, 0.005, 0.46), (2010, 11, 0.004, 0.45),
)  # fmt: skip

_JOBS = ("admin.", "blue-collar", "technician", "services", "management", "retired",
         "entrepreneur", "self-employed", "housemaid", "unemployed", "student", "unknown")  # fmt: skip
_DAYS = ("mon", "tue", "wed", "thu", "fri")


def make_bank_campaign(
    n_rows: int = 6000, *, min_month_calls: int = 160, random_state: int = 0
) -> pd.DataFrame:
    """Synthetic stand-in for ``bank-additional-full.csv`` with the same columns and types.

    Rows are in time order over the real campaign calendar (May 2008 - November 2010,
    no calls in January/February), with the real month sizes and acceptance rates;
    students, retired people, mobile phones and a previous success raise acceptance.
    ``duration`` is generated to leak the outcome, like the real one.

    Parameters
    ----------
    n_rows : int
        Rows shared out by the real month sizes ...
    min_month_calls : int
        ... with at least this many calls in every month (so that the rolling-origin
        evaluation has test months).
    random_state : int
        Seed of the generator that draws every column and the outcome.

    Returns
    -------
    DataFrame
    """
    rng = np.random.default_rng(random_state)
    frames = []
    for year, month, share, rate in _CALENDAR:
        n = max(min_month_calls, int(round(share * n_rows)))
        age = np.clip(rng.normal(40, 11, n).round(), 18, 95).astype("int64")
        job = rng.choice(_JOBS, n, p=[0.26, 0.22, 0.16, 0.1, 0.07, 0.04, 0.035, 0.035,
                                      0.025, 0.025, 0.02, 0.01])  # fmt: skip
        job = np.where(age >= 62, "retired", np.where(age <= 23, "student", job))
        contact = rng.choice(["cellular", "telephone"], n, p=[0.64, 0.36])
        success = rng.random(n) < (0.03 if year == 2008 else 0.12)
        poutcome = np.where(
            success, "success", np.where(rng.random(n) < 0.1, "failure", "nonexistent")
        )
        euribor = {2008: 4.8, 2009: 1.3, 2010: 0.9}[year] + rng.normal(0, 0.05, n)
        base = np.log(rate / (1 - rate))
        logit = (
            base
            - 0.6
            + 0.8 * np.isin(job, ["student", "retired"])
            + 0.5 * (contact == "cellular")
            + 1.5 * success
            + 0.3 * ((age < 30) | (age > 60))
        )
        y = rng.random(n) < 1 / (1 + np.exp(-logit))
        frames.append(
            pd.DataFrame(
                {
                    "age": age,
                    "job": job,
                    "marital": rng.choice(
                        ["married", "single", "divorced", "unknown"], n, p=[0.6, 0.28, 0.11, 0.01]
                    ),  # fmt: skip
                    "education": rng.choice(
                        [
                            "university.degree",
                            "high.school",
                            "basic.9y",
                            "professional.course",
                            "basic.4y",
                            "basic.6y",
                            "unknown",
                        ],
                        n,
                        p=[0.3, 0.23, 0.15, 0.13, 0.1, 0.05, 0.04],
                    ),  # fmt: skip
                    "default": rng.choice(["no", "unknown"], n, p=[0.8, 0.2]),
                    "housing": rng.choice(["yes", "no", "unknown"], n, p=[0.52, 0.45, 0.03]),
                    "loan": rng.choice(["no", "yes", "unknown"], n, p=[0.82, 0.15, 0.03]),
                    "contact": contact,
                    "month": MONTHS[month - 1],
                    "day_of_week": rng.choice(_DAYS, n),
                    "duration": np.round(rng.gamma(2.0, 90 + 250 * y)).astype("int64"),
                    "campaign": 1 + rng.poisson(1.5, n).astype("int64"),
                    "pdays": np.where(success, rng.integers(1, 20, n), 999).astype("int64"),
                    "previous": np.where(poutcome == "nonexistent", 0, 1).astype("int64"),
                    "poutcome": poutcome,
                    "emp.var.rate": np.round(euribor - 3.5, 1),
                    "cons.price.idx": np.round(93.5 + rng.normal(0, 0.5, n), 3),
                    "cons.conf.idx": np.round(-40 + rng.normal(0, 4, n), 1),
                    "euribor3m": np.round(euribor, 3),
                    "nr.employed": np.round(5000 + 40 * euribor, 1),
                    "y": np.where(y, "yes", "no"),
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    return df.astype(dict.fromkeys(text, "str"))
