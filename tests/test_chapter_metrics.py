"""Headline figures recorded by the full (book) run of each chapter, within tolerances.

These read ``reports/metrics/<chapter>.json`` written by ``make report``; they skip when
the book has not been built, and fail under CI where it must have been.
"""

from __future__ import annotations

import pytest


def test_eda_figures(recorded_metrics):
    m = recorded_metrics("01_eda")
    if m["is_demo"]:
        pytest.skip("EDA ran on demo data")
    assert m["n_customers"] == 25132
    assert m["top_products"] == ["RVSZ", "K6QO"]
    assert m["top1_rate"] == pytest.approx(21874 / 25132, abs=1e-4)
    assert m["top_basket"] == "K6QO + RVSZ"
    assert m["top_basket_share"] == pytest.approx(0.566, abs=0.005)
    assert m["share_two_products"] == pytest.approx(19601 / 25132, abs=1e-4)
    assert m["missing_join_date"] == 2
    assert sum(m["holders"].values()) > 2 * 25132
