"""Tests of insurereco.experiment (power calculation and control group)."""

from __future__ import annotations

import math

import pytest
from scipy.stats import norm

from insurereco.errors import DataValidationError
from insurereco.experiment import (
    assign_control_group,
    group_sizes,
    halving_ratios,
    minimum_detectable_rate,
    plot_group_sizes,
    power_table,
    uplift_test,
)


def cohen_h(p1: float, p2: float) -> float:
    return 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))


def test_group_sizes_match_the_textbook_formula():
    # Equal groups, two-sided 5%, power 80%: n = 2 ((z_.975 + z_.8) / h)^2, because
    # 2 asin(sqrt(p_hat)) has variance 1/n in each group.
    h = cohen_h(0.10, 0.05)
    expected = 2 * ((norm.ppf(0.975) + norm.ppf(0.8)) / h) ** 2
    sizes = group_sizes(0.10, 0.05, alternative="two-sided")
    assert sizes["effect_size"] == pytest.approx(h)
    assert sizes["n_treatment"] == math.ceil(expected)
    assert sizes["n_control"] == sizes["n_treatment"]
    assert 400 < sizes["n_treatment"] < 440
    # One-sided needs fewer customers.
    assert group_sizes(0.10, 0.05)["n_treatment"] < sizes["n_treatment"]


def test_smaller_control_group_needs_more_contacts():
    equal = group_sizes(0.06, 0.04)
    small_control = group_sizes(0.06, 0.04, control_ratio=0.25)
    assert small_control["n_control"] < equal["n_control"]
    assert small_control["n_treatment"] > equal["n_treatment"]
    # n1 = n_equal * (1 + 1/ratio) / 2 for the normal approximation.
    assert small_control["n_treatment"] == pytest.approx(
        equal["n_treatment"] * (1 + 4) / 2, rel=0.002
    )


def test_minimum_detectable_rate_inverts_group_sizes():
    sizes = group_sizes(0.08, 0.05)
    rate = minimum_detectable_rate(0.05, sizes["n_treatment"])
    assert 0.079 < rate <= 0.08


def test_power_table_shapes_and_monotone():
    table = power_table([0.02, 0.05], [0.01, 0.02, 0.05])
    assert len(table) == 6
    for _, part in table.groupby("control_rate"):
        assert part["n_total"].is_monotonic_decreasing  # bigger uplift, fewer customers


def test_halving_ratios_pair_each_uplift_with_its_half():
    table = power_table([0.02, 0.05], [0.01, 0.02, 0.03, 0.04])
    ratios = halving_ratios(table)
    # Pairs (0.02, 0.01) and (0.04, 0.02) for each of the two control rates.
    assert len(ratios) == 4
    assert sorted(set(zip(ratios["uplift"], ratios["half_uplift"], strict=True))) == [
        (0.02, 0.01),
        (0.04, 0.02),
    ]
    row = ratios.query("control_rate == 0.02 and uplift == 0.02").iloc[0]
    assert row["n_uplift"] == group_sizes(0.04, 0.02)["n_treatment"]
    assert row["n_half"] == group_sizes(0.03, 0.02)["n_treatment"]
    assert row["ratio"] == pytest.approx(row["n_half"] / row["n_uplift"])
    # Halving a small uplift multiplies the groups by less than four: the rate with
    # contact is lower too, and a lower rate is less noisy.
    assert (ratios["ratio"] > 2.5).all() and (ratios["ratio"] < 4).all()
    assert halving_ratios(power_table([0.02], [0.01, 0.03])).empty


def test_plot_group_sizes_has_plain_ticks():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = power_table([0.01, 0.02, 0.05], [0.01, 0.02, 0.03, 0.05])
    fig, ax = plt.subplots()
    assert plot_group_sizes(table, ax=ax) is ax
    fig.canvas.draw()

    def visible(labels, ticks, limits):
        low, high = limits
        return [t.get_text() for t, v in zip(labels, ticks, strict=True) if low <= v <= high]

    x_labels = visible(ax.get_xticklabels(), ax.get_xticks(), ax.get_xlim())
    assert x_labels == ["1%", "2%", "3%", "4%", "5%"]
    y_labels = visible(ax.get_yticklabels(), ax.get_yticks(), ax.get_ylim())
    assert y_labels == ["200", "500", "1,000", "2,000", "5,000"]
    assert not any(t.get_text() for t in ax.get_yticklabels(minor=True))
    assert len(ax.get_lines()) == 3
    plt.close(fig)


def test_assign_control_group_exact_and_reproducible():
    ids = [f"C{i}" for i in range(1000)]
    group = assign_control_group(ids, control_share=0.2, random_state=1)
    assert (group == "control").sum() == 200
    assert group.equals(assign_control_group(ids, control_share=0.2, random_state=1))
    assert not group.equals(assign_control_group(ids, control_share=0.2, random_state=2))
    with pytest.raises(DataValidationError):
        assign_control_group(["a", "a"], control_share=0.5)


def test_uplift_test_detects_a_clear_difference():
    result = uplift_test(120, 1000, 50, 1000)
    assert result["uplift"] == pytest.approx(0.07)
    assert result["p_value"] < 0.001
    null = uplift_test(50, 1000, 50, 1000)
    assert null["p_value"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"treatment_rate": 0.05, "control_rate": 0.05},
        {"treatment_rate": 1.5, "control_rate": 0.05},
        {"treatment_rate": 0.1, "control_rate": 0.05, "control_ratio": 0},
    ],
)
def test_group_sizes_rejects_bad_input(kwargs):
    with pytest.raises(DataValidationError):
        group_sizes(**kwargs)


def test_judging_success_page_figures(recorded_metrics):
    m = recorded_metrics("00_judging_success")
    h = cohen_h(m["contact_rate"], m["control_rate"])
    expected = 2 * ((norm.ppf(1 - m["alpha"]) + norm.ppf(m["power"])) / h) ** 2
    assert m["n_contact"] == math.ceil(expected)
    assert m["n_control"] == math.ceil(expected * m["control_ratio"])
    assert m["control_rate"] < m["detectable_rate_20pct_control"] < 0.2
    # Halving the uplift multiplies the groups by less than four (measured 2.60 to 3.70;
    # 2.60 halves the break-even uplift of 10 points at 1% organic take-up).
    assert m["halving_ratio_min"] == pytest.approx(2.60, abs=0.01)
    assert m["halving_ratio_max"] == pytest.approx(3.70, abs=0.01)
    # the page weighs the assumed uplift against the rules file's prices (cost 10, value 100)
    assert m["break_even_uplift"] == pytest.approx(0.10)
    uplift = m["contact_rate"] - m["control_rate"]
    assert m["planned_profit_per_contact"] == pytest.approx(uplift * 100 - 10)
