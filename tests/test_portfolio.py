"""Descriptive portfolio statistics on a hand-made portfolio."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from insurereco import portfolio as pf
from insurereco.contract import PRODUCTS


@pytest.fixture()
def tiny(portfolio):
    """Four customers: {RVSZ,K6QO} x2, {RVSZ,QBOL}, {RVSZ,K6QO,QBOL}."""
    out = portfolio.head(4).copy()
    out[list(PRODUCTS)] = 0
    for row, held in enumerate([("RVSZ", "K6QO"), ("RVSZ", "K6QO"), ("RVSZ", "QBOL"),
                                ("RVSZ", "K6QO", "QBOL")]):  # fmt: skip
        out.loc[out.index[row], list(held)] = 1
    return out


def test_holding_rates(tiny):
    rates = pf.holding_rates(tiny)
    assert list(rates.index[:3]) == ["RVSZ", "K6QO", "QBOL"]
    assert rates.loc["K6QO", "holders"] == 3
    assert rates.loc["QBOL", "rate"] == pytest.approx(0.5)


def test_basket_sizes_and_top_baskets(tiny):
    assert pf.basket_sizes(tiny).to_dict() == {2: 3, 3: 1}
    baskets = pf.top_baskets(tiny, n=2)
    assert baskets.index[0] == "K6QO + RVSZ"
    assert baskets["customers"].iloc[0] == 2
    assert baskets["share"].iloc[0] == pytest.approx(0.5)


def test_coholding_confidence(tiny):
    counts = pf.coholding_matrix(tiny, normalize="count")
    assert counts.loc["K6QO", "QBOL"] == 1
    assert counts.loc["RVSZ", "RVSZ"] == 4
    confidence = pf.coholding_matrix(tiny)
    assert confidence.loc["K6QO", "RVSZ"] == pytest.approx(1.0)
    assert confidence.loc["RVSZ", "K6QO"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="normalize"):
        pf.coholding_matrix(tiny, normalize="col")


def test_strongest_pairs(tiny):
    pairs = pf.strongest_pairs(tiny, min_holders=2, n=3)
    first = pairs.iloc[0]
    assert first["confidence"] == pytest.approx(1.0)
    assert first["also hold"] == "RVSZ"
    assert (pairs["holders of"] != pairs["also hold"]).all()


def test_profile_by_product_age(tiny):
    long = pf.profile_by_product(tiny, "age", products=["QBOL"])
    reference = tiny["join_date"].max().year
    expected = sorted((reference - tiny.loc[tiny["QBOL"] == 1, "birth_year"]).astype(float))
    assert sorted(long["age"].astype(float)) == expected


def test_data_quality_counts(tiny):
    odd = tiny.copy()
    odd["marital_status"] = pd.Series(["M", "f", "F", "S"], index=odd.index, dtype="str")
    odd.loc[odd.index[0], "join_date"] = pd.NaT
    quality = pf.data_quality(odd).set_index("check")["rows"]
    assert quality["missing join_date"] == 1
    assert quality["marital status not in M/S/U/W/D/R/P"] == 2


@pytest.mark.parametrize(
    "plot",
    [
        pf.plot_holding_rates,
        pf.plot_basket_sizes,
        lambda p, ax: pf.plot_coholding(p, min_holders=10, ax=ax),
        lambda p, ax: pf.plot_profile_by_product(p, "age", products=["RVSZ", "K6QO"], ax=ax),
    ],
)
def test_plots_draw_on_given_axes(portfolio, plot):
    fig, ax = plt.subplots()
    assert plot(portfolio, ax=ax) is ax
    assert ax.has_data() or ax.collections
    plt.close(fig)
