"""Live-campaign design: random control group, group sizes and the final test.

A live campaign proves itself only against a **random control group**: among
the customers the rule selects, a random share is *not* contacted. The
difference in acceptance rate between contacted and control customers is what
the campaign caused. :func:`group_sizes` gives how many customers each group
needs (power calculation for two proportions with statsmodels),
:func:`minimum_detectable_rate` the smallest effect a given size can show,
:func:`power_table` and :func:`halving_ratios` tabulate sizes over a grid
(:func:`plot_group_sizes` draws them), :func:`assign_control_group` draws the
groups reproducibly, and :func:`uplift_test` reads the result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize, proportions_ztest

from insurereco.errors import DataValidationError
from insurereco.reporting import axes_or_new

__all__ = [
    "assign_control_group",
    "group_sizes",
    "halving_ratios",
    "minimum_detectable_rate",
    "plot_group_sizes",
    "power_table",
    "uplift_test",
]


def _check_rate(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise DataValidationError(f"experiment: {name}={value} must be in (0, 1)")


def group_sizes(
    treatment_rate: float,
    control_rate: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    control_ratio: float = 1.0,
    alternative: str = "larger",
) -> dict[str, float]:
    """Customers needed in the contacted and control groups to detect an uplift.

    Uses Cohen's effect size ``h`` for two proportions
    (:func:`statsmodels.stats.proportion.proportion_effectsize`) and the normal
    approximation (:class:`statsmodels.stats.power.NormalIndPower`).

    Parameters
    ----------
    treatment_rate : float
        Acceptance rate expected among contacted customers.
    control_rate : float
        Acceptance rate expected without contact (organic take-up).
    alpha : float, default 0.05
        False-alarm risk (type I error).
    power : float, default 0.8
        Chance of detecting the uplift if it is real.
    control_ratio : float, default 1.0
        Control group size divided by contacted group size.
    alternative : {"larger", "two-sided"}, default "larger"
        One-sided test (contact increases acceptance) or two-sided.

    Returns
    -------
    dict
        ``effect_size`` (h), ``n_treatment``, ``n_control`` (rounded up) and
        ``n_total``.
    """
    _check_rate("treatment_rate", treatment_rate)
    _check_rate("control_rate", control_rate)
    if treatment_rate == control_rate:
        raise DataValidationError("experiment: treatment_rate equals control_rate; no effect")
    if control_ratio <= 0:
        raise DataValidationError(f"experiment: control_ratio={control_ratio} must be > 0")
    effect = float(proportion_effectsize(treatment_rate, control_rate))
    n_treatment = NormalIndPower().solve_power(
        effect_size=effect, alpha=alpha, power=power, ratio=control_ratio, alternative=alternative
    )
    n_t = math.ceil(float(n_treatment))
    n_c = math.ceil(float(n_treatment) * control_ratio)
    return {"effect_size": effect, "n_treatment": n_t, "n_control": n_c, "n_total": n_t + n_c}


def minimum_detectable_rate(
    control_rate: float,
    n_treatment: int,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    control_ratio: float = 1.0,
    alternative: str = "larger",
) -> float:
    """Smallest acceptance rate among contacted customers that ``n_treatment`` can detect.

    Solves the power equation for Cohen's ``h`` and maps it back to a rate:
    ``rate = sin(asin(sqrt(control_rate)) + h / 2) ** 2``.

    Parameters
    ----------
    control_rate : float
        Acceptance rate expected without contact (organic take-up), in (0, 1).
    n_treatment : int
        Customers in the contacted group (at least 2).
    alpha : float, default 0.05
        False-alarm risk (type I error).
    power : float, default 0.8
        Chance of detecting the uplift if it is real.
    control_ratio : float, default 1.0
        Control group size divided by contacted group size.
    alternative : {"larger", "two-sided"}, default "larger"
        One-sided test (contact increases acceptance) or two-sided.

    Returns
    -------
    float
        The acceptance rate among contacted customers (at most 1).
    """
    _check_rate("control_rate", control_rate)
    if n_treatment < 2:
        raise DataValidationError(f"experiment: n_treatment={n_treatment} must be >= 2")
    effect = NormalIndPower().solve_power(
        nobs1=n_treatment, alpha=alpha, power=power, ratio=control_ratio, alternative=alternative
    )
    angle = math.asin(math.sqrt(control_rate)) + float(effect) / 2
    return math.sin(min(angle, math.pi / 2)) ** 2


def power_table(
    control_rates: Sequence[float],
    uplifts: Sequence[float],
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    control_ratio: float = 1.0,
) -> pd.DataFrame:
    """Group sizes for a grid of control rates and absolute uplifts (percentage points).

    Each cell is :func:`group_sizes` with ``treatment_rate = control_rate + uplift`` and a
    one-sided test.

    Parameters
    ----------
    control_rates : sequence of float
        Acceptance rates expected without contact, each in (0, 1).
    uplifts : sequence of float
        Absolute uplifts to detect, as fractions (0.01 is one percentage point); each
        ``control_rate + uplift`` must stay below 1.
    alpha : float, default 0.05
        False-alarm risk (type I error).
    power : float, default 0.8
        Chance of detecting the uplift if it is real.
    control_ratio : float, default 1.0
        Control group size divided by contacted group size.

    Returns
    -------
    pandas.DataFrame
        One row per (control rate, uplift): ``control_rate``, ``uplift``,
        ``treatment_rate``, ``n_treatment``, ``n_control`` and ``n_total``.
    """
    rows = []
    for control in control_rates:
        for uplift in uplifts:
            sizes = group_sizes(
                control + uplift, control, alpha=alpha, power=power, control_ratio=control_ratio
            )
            rows.append(
                {
                    "control_rate": control,
                    "uplift": uplift,
                    "treatment_rate": control + uplift,
                    "n_treatment": sizes["n_treatment"],
                    "n_control": sizes["n_control"],
                    "n_total": sizes["n_total"],
                }
            )
    return pd.DataFrame(rows)


def halving_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """How much larger the groups get when the uplift to detect is halved.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`power_table`.

    Returns
    -------
    pandas.DataFrame
        One row per control rate and pair of uplifts of the grid where one is
        twice the other: ``control_rate``, ``uplift``, ``half_uplift``,
        ``n_uplift`` and ``n_half`` (contacted customers needed for each) and
        ``ratio`` (``n_half / n_uplift``). Empty when no uplift of the grid is
        twice another.
    """
    uplifts = np.sort(table["uplift"].unique())
    pairs = [(u, h) for u in uplifts for h in uplifts if np.isclose(u, 2 * h)]
    rows = []
    for control, part in table.groupby("control_rate", sort=True):
        n_by_uplift = part.set_index("uplift")["n_treatment"]
        for uplift, half in pairs:
            n_uplift, n_half = int(n_by_uplift[uplift]), int(n_by_uplift[half])
            rows.append(
                {
                    "control_rate": control,
                    "uplift": uplift,
                    "half_uplift": half,
                    "n_uplift": n_uplift,
                    "n_half": n_half,
                    "ratio": n_half / n_uplift,
                }
            )
    columns = ["control_rate", "uplift", "half_uplift", "n_uplift", "n_half", "ratio"]
    return pd.DataFrame(rows, columns=columns)


def plot_group_sizes(table: pd.DataFrame, *, ax=None):
    """Customers needed per group against the uplift to detect, one line per control rate.

    The y axis is logarithmic with ticks at 1, 2 and 5 times a power of ten,
    written in plain numbers (``"2,000"``); x ticks are round percentages.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`power_table`.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

    ax = axes_or_new(ax)
    for control, part in table.groupby("control_rate", sort=True):
        ax.plot(
            part["uplift"], part["n_treatment"], marker="o", label=f"without contact {control:.0%}"
        )
    ax.set_yscale("log")
    low, high = float(table["n_treatment"].min()), float(table["n_treatment"].max())
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    ticks = [m * 10**d for d in decades for m in (1, 2, 5) if low / 2 <= m * 10**d <= high * 2]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    ax.xaxis.set_major_formatter(
        FuncFormatter(
            lambda v, _: f"{v:.0%}" if np.isclose(v * 100, round(v * 100)) else f"{v:.1%}"
        )
    )
    ax.set_xlabel("uplift to detect (percentage points)")
    ax.set_ylabel("customers per group")
    ax.legend()
    return ax


def assign_control_group(
    customer_ids: Sequence[str] | pd.Index, *, control_share: float, random_state: int = 0
) -> pd.Series:
    """Draw a random control group of exactly ``round(control_share * n)`` customers.

    Parameters
    ----------
    customer_ids : sequence of str or Index
        The customers selected for the campaign, without duplicates.
    control_share : float
        Share of them held back as the control group, in (0, 1).
    random_state : int, default 0
        Seed of the random permutation that picks the control customers (the same seed
        and IDs give the same groups).

    Returns
    -------
    pandas.Series
        Indexed by customer ID, values ``"control"`` or ``"contact"``.
    """
    if not 0 < control_share < 1:
        raise DataValidationError(f"experiment: control_share={control_share} not in (0, 1)")
    ids = pd.Index(customer_ids, name="ID")
    if ids.has_duplicates:
        raise DataValidationError("experiment: customer_ids hold duplicates")
    n_control = int(round(control_share * len(ids)))
    rng = np.random.default_rng(random_state)
    group = np.full(len(ids), "contact", dtype=object)
    group[rng.permutation(len(ids))[:n_control]] = "control"
    return pd.Series(group, index=ids, name="group", dtype="str")


def uplift_test(
    accepted_contact: int,
    n_contact: int,
    accepted_control: int,
    n_control: int,
    *,
    alternative: str = "larger",
) -> dict[str, float]:
    """Compare acceptance rates of contacted and control customers (two-proportion z-test).

    Parameters
    ----------
    accepted_contact : int
        Acceptances among contacted customers.
    n_contact : int
        Contacted customers (more than 0).
    accepted_control : int
        Acceptances among control customers.
    n_control : int
        Control customers (more than 0).
    alternative : {"larger", "two-sided"}, default "larger"
        One-sided test (contact increases acceptance) or two-sided, passed to
        :func:`statsmodels.stats.proportion.proportions_ztest`.

    Returns
    -------
    dict
        ``rate_contact``, ``rate_control``, ``uplift`` (difference in rates),
        ``z`` and ``p_value``.
    """
    for name, hits, n in (
        ("contact", accepted_contact, n_contact),
        ("control", accepted_control, n_control),
    ):
        if n <= 0 or not 0 <= hits <= n:
            raise DataValidationError(f"experiment: {name} group has {hits} acceptances of {n}")
    z, p_value = proportions_ztest(
        [accepted_contact, accepted_control], [n_contact, n_control], alternative=alternative
    )
    rate_contact = accepted_contact / n_contact
    rate_control = accepted_control / n_control
    return {
        "rate_contact": rate_contact,
        "rate_control": rate_control,
        "uplift": rate_contact - rate_control,
        "z": float(z),
        "p_value": float(p_value),
    }
