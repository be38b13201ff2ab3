"""Tests of insurereco.heldout (held-out scoring and the fitted-model cache)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insurereco.heldout import fit_cached, held_out_scores, uncalibrated, zimnat_customers
from insurereco.models import XGBoostRecommender
from insurereco.synthetic import make_portfolio

TINY = {"n_estimators": 5, "max_depth": 2, "learning_rate": 0.3, "n_jobs": 1}


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return make_portfolio(600, random_state=1)


def test_fit_cached_reuses_the_same_fit(small, tmp_path):
    first = fit_cached(XGBoostRecommender(**TINY), small, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.joblib"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    again = fit_cached(XGBoostRecommender(**TINY), small, cache_dir=tmp_path)
    assert list(tmp_path.glob("*.joblib")) == files
    assert files[0].stat().st_mtime_ns == stamp  # loaded, not refitted and rewritten
    pd.testing.assert_frame_equal(first.predict_proba(small), again.predict_proba(small))
    # Other parameters or other data give another entry.
    fit_cached(XGBoostRecommender(**{**TINY, "max_depth": 3}), small, cache_dir=tmp_path)
    fit_cached(XGBoostRecommender(**TINY), small.iloc[:500], cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.joblib"))) == 3


def test_fit_cached_keys_and_passes_unlabelled_customers(small, tmp_path, monkeypatch):
    from insurereco import heldout
    from insurereco.synthetic import mask_one_product

    fits = []
    real_fit = heldout.fit_model

    def counting_fit(model, portfolio, *, unlabelled=None):
        fits.append(unlabelled is not None)
        return real_fit(model, portfolio, unlabelled=unlabelled)

    monkeypatch.setattr(heldout, "fit_model", counting_fit)
    labelled, others = small.iloc[:400], small.iloc[400:]
    unlabelled, _ = mask_one_product(others, random_state=0)
    helped = fit_cached(
        XGBoostRecommender(**TINY), labelled, unlabelled=unlabelled, cache_dir=tmp_path
    )
    assert helped.n_unlabelled_ == len(unlabelled)
    plain = fit_cached(XGBoostRecommender(**TINY), labelled, cache_dir=tmp_path)
    assert plain.n_unlabelled_ == 0
    assert fits == [True, False]  # with and without unlabelled: two entries, two fits
    assert len(list(tmp_path.glob("*.joblib"))) == 2
    again = fit_cached(
        XGBoostRecommender(**TINY), labelled, unlabelled=unlabelled, cache_dir=tmp_path
    )
    assert fits == [True, False]  # loaded, not refitted
    pd.testing.assert_frame_equal(helped.predict_proba(others), again.predict_proba(others))
    direct = fit_cached(
        XGBoostRecommender(**TINY), labelled, unlabelled=unlabelled, cache_dir=False
    )
    assert fits == [True, False, True]
    pd.testing.assert_frame_equal(helped.predict_proba(others), direct.predict_proba(others))


def test_damaged_cache_entry_is_refitted(small, tmp_path):
    fit_cached(XGBoostRecommender(**TINY), small, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("*.joblib")
    entry.write_bytes(b"not a model")
    model = fit_cached(XGBoostRecommender(**TINY), small, cache_dir=tmp_path)
    assert hasattr(model, "booster_")


def test_stale_lock_times_out_and_fits(small, tmp_path):
    fit_cached(XGBoostRecommender(**TINY), small, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("*.joblib")
    entry.unlink()
    lock = entry.with_suffix(".lock")
    lock.touch()  # another process "fitting" that never finishes
    model = fit_cached(XGBoostRecommender(**TINY), small, cache_dir=tmp_path, lock_timeout=0.1)
    assert hasattr(model, "booster_") and entry.is_file()
    assert lock.exists()  # not ours to remove
    lock.unlink()
    fit_cached(XGBoostRecommender(**TINY), small, cache_dir=tmp_path)
    assert not lock.exists()  # our own lock is released


def test_held_out_scores_follow_the_protocol(small, tmp_path):
    held_out = held_out_scores(small, test_size=0.25, model_params=TINY, cache_dir=tmp_path)
    split = held_out.split
    assert len(split.masked) == 150
    assert set(split.masked["ID"]).isdisjoint(split.train["ID"])
    assert set(held_out.proba) == {"model", "model_uncalibrated", "popularity", "best_rule"}
    for proba in held_out.proba.values():
        assert list(proba.index) == list(split.masked["ID"])
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert (proba.to_numpy()[held_out.held.to_numpy() == 1] == 0).all()


def test_uncalibrated_leaves_the_model_untouched(small, tmp_path):
    model = fit_cached(XGBoostRecommender(**TINY), small, cache_dir=tmp_path)
    raw = uncalibrated(model)
    assert raw.calibrator_.name == "none"
    assert model.calibrator_ is not raw.calibrator_
    np.testing.assert_allclose(raw.predict_proba(small).sum(axis=1), 1.0)


def test_calibration_chapter_figures(recorded_metrics):
    m = recorded_metrics("04_calibration")
    if m["is_demo"]:
        pytest.skip("calibration chapter ran on demo data")
    assert m["n_test"] == 5026
    assert m["ece_after"] <= m["ece_target"] == 0.01
    assert m["ece_target_met"] is True
    assert m["ece_after"] < m["ece_best_rule"] and m["ece_after"] < m["ece_popularity"]
    assert m["log_loss_after"] <= m["log_loss_before"] + 1e-3
    # Expected and realised right top offers agree within 3%.
    assert m["top_offer_observed"] == pytest.approx(m["top_offer_expected"], rel=0.03)
    assert abs(m["band08_observed"] - m["band08_predicted"]) < 0.05


def test_explanations_chapter_figures(recorded_metrics):
    m = recorded_metrics("05_explanations")
    if m["is_demo"]:
        pytest.skip("explanations chapter ran on demo data")
    assert m["n_explained"] == 1000
    assert m["share_with_reason"] > 0.95
    assert 0.5 < m["agreement_share"] <= 1
    assert 0 < m["basket_share"] < 1
    assert len(m["main_offers"]) == 4 and "QBOL" in m["main_offers"]


def test_held_out_scores_share_the_fit_of_the_same_settings(small, tmp_path):
    from insurereco.protocol import evaluation_split
    from insurereco.synthetic import mask_one_product

    labelled, others = small.iloc[:400], small.iloc[400:]
    unlabelled, _ = mask_one_product(others, random_state=0)
    held_out = held_out_scores(
        labelled, test_size=0.25, model_params=TINY, unlabelled=unlabelled, cache_dir=tmp_path
    )
    assert held_out.models["model"].n_unlabelled_ == len(unlabelled)
    (entry,) = tmp_path.glob("*.joblib")
    # the modelling chapter fits split 0 itself: same split, settings and extra customers
    split = evaluation_split(labelled, test_size=0.25, random_state=0)
    stamp = entry.stat().st_mtime_ns
    same = fit_cached(
        XGBoostRecommender(random_state=0, **TINY), split.train, unlabelled=unlabelled,
        cache_dir=tmp_path,
    )  # fmt: skip
    assert list(tmp_path.glob("*.joblib")) == [entry] and entry.stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(same.predict_proba(split.masked), held_out.proba["model"])
    # without the extra customers: another model
    plain = held_out_scores(labelled, test_size=0.25, model_params=TINY, cache_dir=tmp_path)
    assert plain.models["model"].n_unlabelled_ == 0
    assert len(list(tmp_path.glob("*.joblib"))) == 2


def test_zimnat_customers_fall_back_to_stand_ins_outside_ci(monkeypatch):
    from insurereco import heldout
    from insurereco.errors import DataNotFoundError

    def missing(split, *, data_dir=None):
        raise DataNotFoundError(f"data file zimnat/{split}.csv not found")

    monkeypatch.setattr(heldout, "load_zimnat", missing)
    monkeypatch.delenv("CI", raising=False)
    data = zimnat_customers(sample_size=3000, random_state=3)
    assert data.is_demo
    assert (len(data.portfolios), len(data.unlabelled)) == (3000, 1500)
    assert set(data.portfolios["ID"]).isdisjoint(data.unlabelled["ID"])
    again = zimnat_customers(sample_size=3000, random_state=3)
    pd.testing.assert_frame_equal(data.portfolios, again.portfolios)
    pd.testing.assert_frame_equal(data.unlabelled, again.unlabelled)
    full = zimnat_customers(random_state=3)
    assert (len(full.portfolios), len(full.unlabelled)) == (20_000, 5_000)
    with pytest.raises(DataNotFoundError, match="zimnat/train"):
        zimnat_customers(allow_synthetic=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(DataNotFoundError):
        zimnat_customers()


def test_zimnat_customers_load_train_and_test(zimnat_paths):
    data = zimnat_customers(data_dir=zimnat_paths["train"].parent.parent, allow_synthetic=False)
    assert not data.is_demo
    assert (len(data.portfolios), len(data.unlabelled)) == (25_132, 10_000)
    assert set(data.portfolios["ID"]).isdisjoint(data.unlabelled["ID"])
