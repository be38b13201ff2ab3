"""Calibrators, ECE, Brier and reliability helpers on arrays."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from insurereco.calibration import (
    IsotonicCalibration,
    TemperatureScaling,
    brier_score,
    chance_calibration_error,
    expected_calibration_error,
    log_loss,
    make_calibrator,
    plot_reliability,
    reliability_table,
    select_calibrator,
    top_label_calibration_error,
)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _overconfident(n=4000, k=5, temperature=2.0, seed=0):
    """True probabilities softmax(z); the 'model' reports softmax(T z) (over-confident)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.0, (n, k))
    truth = _softmax(z)
    y = (truth.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return _softmax(temperature * z), y


def test_ece_and_brier_by_hand():
    p = np.array([0.2, 0.2, 0.8, 0.8])
    y = np.array([0, 1, 1, 1])
    # bins of width .2: gap |.2 - .5| (weight 2) and |.8 - 1| (weight 2)
    assert expected_calibration_error(p, y, n_bins=5) == pytest.approx(0.25)
    assert brier_score(p, y) == pytest.approx((0.04 + 0.64 + 0.04 + 0.04) / 4)
    assert log_loss(p, y) == pytest.approx(-(np.log(0.8) + np.log(0.2) + 2 * np.log(0.8)) / 4)
    table = reliability_table(p, y, n_bins=5)
    assert table["count"].tolist() == [2, 2]


def test_log_bins_resolve_small_probabilities():
    p = np.array([0.00005, 0.0005, 0.0006, 0.005, 0.05, 0.5, 0.9])
    y = np.array([0, 0, 1, 0, 0, 1, 1])
    # edges 0, 1e-4, 1e-3, 1e-2, 1e-1, 1: every decade is a bin of its own
    table = reliability_table(p, y, n_bins=5, strategy="log")
    assert table["bin_low"].tolist() == pytest.approx([0, 1e-4, 1e-3, 1e-2, 1e-1])
    assert table["count"].tolist() == [1, 2, 1, 1, 2]
    assert table["observed_rate"].tolist() == pytest.approx([0, 0.5, 0, 0, 1])
    assert table["mean_predicted"].iloc[1] == pytest.approx(0.00055)
    # equal-width bins lump the first five into one
    assert reliability_table(p, y, n_bins=5)["count"].tolist() == [5, 1, 1]
    with pytest.raises(ValueError, match="strategy must be"):
        reliability_table(p, y, strategy="quantile")


def test_top_label_ece_by_hand():
    # top offers 0.7 (right), 0.7 (wrong), 0.9 (right), 0.9 (right); bins of width .2
    # gaps |.7 - .5| (two rows) and |.9 - 1| (two rows)
    proba = np.array([[0.7, 0.3, 0.0], [0.2, 0.7, 0.1], [0.05, 0.05, 0.9], [0.9, 0.1, 0.0]])
    y = np.array([0, 0, 2, 0])
    assert top_label_calibration_error(proba, y, n_bins=5) == pytest.approx(0.15)
    weighted = top_label_calibration_error(proba, y, n_bins=5, sample_weight=[1, 1, 3, 0])
    assert weighted == pytest.approx((2 * 0.2 + 3 * 0.1) / 5)
    # pooled over every possible cell, the same predictions look better calibrated
    assert expected_calibration_error(proba, y, n_bins=5) < 0.15
    with pytest.raises(ValueError, match="top-label"):
        top_label_calibration_error(np.array([0.2, 0.8]), np.array([0, 1]))


def test_chance_calibration_error_is_the_noise_of_exact_probabilities():
    rng = np.random.default_rng(3)
    proba = rng.uniform(0.05, 0.95, 2000)
    draws = chance_calibration_error(proba, n_bins=10, n_draws=50, random_state=1)
    assert draws.shape == (50,)
    assert (draws > 0).all()
    np.testing.assert_array_equal(
        draws, chance_calibration_error(proba, n_bins=10, n_draws=50, random_state=1)
    )
    # outcomes truly drawn from proba: their ECE falls inside the chance spread
    exact = expected_calibration_error(proba, (rng.random(2000) < proba).astype(int), n_bins=10)
    assert exact <= np.quantile(draws, 0.99)
    # over-confident scores (truth is 0.5 everywhere) are far outside it
    biased = expected_calibration_error(proba, (rng.random(2000) < 0.5).astype(int), n_bins=10)
    assert biased > 5 * draws.max()
    # more predictions, less noise
    more = chance_calibration_error(np.tile(proba, 8), n_bins=10, n_draws=50, random_state=1)
    assert more.mean() < 0.5 * draws.mean()
    with pytest.raises(ValueError, match="1-D"):
        chance_calibration_error(np.ones((2, 2)))
    with pytest.raises(ValueError, match="n_draws"):
        chance_calibration_error(proba, n_draws=0)


def test_temperature_recovers_overconfidence():
    proba, y = _overconfident(temperature=2.0)
    scaler = TemperatureScaling().fit(proba, y)
    assert scaler.temperature_ == pytest.approx(2.0, rel=0.15)
    assert log_loss(scaler.transform(proba), y) < log_loss(proba, y)


def test_impossible_classes_stay_at_zero():
    proba, y = _overconfident(n=500)
    proba[:, 0] = 0.0
    proba /= proba.sum(axis=1, keepdims=True)
    y = np.where(y == 0, 1, y)
    for name in ("none", "temperature", "isotonic"):
        out = make_calibrator(name).fit(proba, y).transform(proba)
        assert (out[:, 0] == 0).all()
        assert out.sum(axis=1) == pytest.approx(np.ones(len(out)))


def test_isotonic_fixes_a_binary_distortion():
    rng = np.random.default_rng(1)
    true = rng.uniform(0.05, 0.95, 5000)
    y = (rng.random(5000) < true).astype(int)
    reported = true**2
    iso = IsotonicCalibration().fit(reported, y)
    assert expected_calibration_error(iso.transform(reported), y) < 0.5 * (
        expected_calibration_error(reported, y)
    )


def test_select_calibrator_prefers_temperature_on_overconfident_scores():
    proba, y = _overconfident(temperature=2.5, seed=2)
    best, report = select_calibrator(proba, y, random_state=0)
    assert set(report.index) == {"none", "temperature", "isotonic"}
    assert report.loc["none", "log_loss"] > report.loc["temperature", "log_loss"]
    assert best.name in {"temperature", "isotonic"}
    assert best.name == report["log_loss"].idxmin()


def test_unknown_calibrator_is_an_error():
    with pytest.raises(ValueError, match="unknown calibration"):
        make_calibrator("platt-ish")


def test_plot_reliability_returns_ax():
    fig, ax = plt.subplots()
    proba, y = _overconfident(n=300)
    assert plot_reliability(proba, y, ax=ax, label="model") is ax
    plt.close(fig)
