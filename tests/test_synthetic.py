"""The synthetic portfolio keeps the Zimnat schema and structure; masking hides one held product."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insurereco.contract import PRODUCTS, validate_portfolio
from insurereco.synthetic import make_portfolio, mask_one_product


def test_schema_and_determinism():
    a = make_portfolio(300, random_state=7)
    validate_portfolio(a)
    pd.testing.assert_frame_equal(a, make_portfolio(300, random_state=7))
    assert not a.equals(make_portfolio(300, random_state=8))


def test_realistic_structure(portfolio):
    flags = portfolio[list(PRODUCTS)]
    assert flags.sum(axis=1).min() >= 2
    top_two = flags.sum().sort_values(ascending=False).index[:2]
    assert set(top_two) == {"RVSZ", "K6QO"}
    # a correlated pair: J9JW holders mostly hold JZ9D
    assert flags.loc[flags["J9JW"] == 1, "JZ9D"].mean() > 0.7


def test_profile_effect(portfolio):
    in_56si = portfolio["occupation_category_code"] == "56SI"
    assert portfolio.loc[in_56si, "JZ9D"].mean() > 3 * portfolio.loc[~in_56si, "JZ9D"].mean()


def test_mask_hides_exactly_one_held_product(portfolio):
    masked, hidden = mask_one_product(portfolio, random_state=3)
    before = portfolio[list(PRODUCTS)].to_numpy()
    after = masked[list(PRODUCTS)].to_numpy()
    assert ((before - after).sum(axis=1) == 1).all()
    assert (after <= before).all()
    columns = np.array(PRODUCTS)[(before - after).argmax(axis=1)]
    assert (columns == hidden.to_numpy()).all()


def test_mask_is_uniform_over_held_products():
    two = make_portfolio(1, random_state=0).iloc[[0] * 4000].reset_index(drop=True)
    _, hidden = mask_one_product(two, random_state=0)
    held = [p for p in PRODUCTS if two.loc[0, p] == 1]
    shares = hidden.value_counts(normalize=True)
    assert set(shares.index) == set(held)
    assert np.allclose(shares.to_numpy(), 1 / len(held), atol=0.03)


def test_mask_needs_a_held_product(portfolio):
    empty = portfolio.head(3).copy()
    empty[list(PRODUCTS)] = 0
    with pytest.raises(ValueError, match="at least one product"):
        mask_one_product(empty)
