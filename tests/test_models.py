"""Recommenders: shared interface, never recommending held products, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from insurereco.contract import PRODUCTS
from insurereco.errors import DataNotFoundError, DataValidationError
from insurereco.metrics import customer_scores
from insurereco.models import (
    CooccurrenceRecommender,
    PopularityRecommender,
    XGBoostRecommender,
    load_model,
    mask_held,
    save_model,
)
from insurereco.protocol import evaluation_split, held_matrix

SMALL_XGB = {"n_estimators": 40, "learning_rate": 0.3, "max_depth": 3, "n_jobs": 1}


@pytest.fixture(scope="module")
def split(portfolio):
    return evaluation_split(portfolio, test_size=0.25, random_state=0)


@pytest.fixture(scope="module")
def fitted(split):
    return {
        "popularity": PopularityRecommender().fit(split.train),
        "cooccurrence": CooccurrenceRecommender().fit(split.train),
        "xgboost": XGBoostRecommender(**SMALL_XGB).fit(split.train),
    }


def test_mask_held_by_hand():
    out = mask_held(np.array([[0.5, 0.3, 0.2]]), np.array([[1, 0, 0]]))
    assert out[0] == pytest.approx([0.0, 0.6, 0.4])


@pytest.mark.parametrize("name", ["popularity", "cooccurrence", "xgboost"])
def test_never_recommends_held_products(fitted, split, name):
    proba = fitted[name].predict_proba(split.masked)
    held = held_matrix(split.masked).astype(bool)
    assert list(proba.columns) == list(PRODUCTS)
    assert proba.index.tolist() == split.masked["ID"].tolist()
    assert (proba.to_numpy()[held] == 0).all()
    assert proba.sum(axis=1).to_numpy() == pytest.approx(np.ones(len(proba)))
    top = proba.to_numpy().argmax(axis=1)
    assert not held[np.arange(len(held)), top].any()
    holding = fitted[name].holding_proba(split.masked)
    assert (holding.to_numpy()[held] == 1).all()


def test_popularity_prior_is_weighted_share(split):
    prior = PopularityRecommender(alpha=0).fit(split.train).prior_
    flags = held_matrix(split.train)
    expected = (flags / flags.sum(axis=1, keepdims=True)).mean(axis=0)
    assert prior == pytest.approx(expected)


def test_models_beat_popularity_on_synthetic(fitted, split):
    held = held_matrix(split.masked)
    mrr = {
        name: customer_scores(model.predict_proba(split.masked), held, split.hidden)["mrr"].mean()
        for name, model in fitted.items()
    }
    assert mrr["cooccurrence"] > mrr["popularity"] + 0.02
    assert mrr["xgboost"] > mrr["popularity"] + 0.02


def test_cooccurrence_backs_off_for_unseen_baskets(fitted, split):
    odd = split.masked.head(1).copy()
    odd[list(PRODUCTS)] = 0
    odd[["P5DA", "GYSR", "FM3X"]] = 1  # a basket never seen in training
    proba = fitted["cooccurrence"].predict_proba(odd)
    assert np.isfinite(proba.to_numpy()).all()
    assert proba.sum(axis=1).iloc[0] == pytest.approx(1.0)


def test_xgboost_is_reproducible_and_reports_calibration(split, fitted):
    model = fitted["xgboost"]
    assert set(model.calibration_report_.index) == {"none", "temperature", "isotonic"}
    assert model.calibration_method_ == model.calibration_report_["log_loss"].idxmin()
    again = XGBoostRecommender(**SMALL_XGB).fit(split.train)
    a = model.predict_proba(split.masked.head(50)).to_numpy()
    assert again.predict_proba(split.masked.head(50)).to_numpy() == pytest.approx(a)


def _max_leaves(model) -> int:
    trees = model.booster_.trees_to_dataframe()
    return int(trees.loc[trees["Feature"] == "Leaf"].groupby("Tree").size().max())


def test_booster_params_reach_the_trees_and_cannot_change_the_task(split, fitted):
    leafwise = {"grow_policy": "lossguide", "max_leaves": 3, "max_depth": 0}
    model = XGBoostRecommender(**SMALL_XGB, booster_params=leafwise).fit(split.train)
    assert _max_leaves(model) <= 3 < _max_leaves(fitted["xgboost"])
    proba = model.predict_proba(split.masked).to_numpy()
    assert (proba[held_matrix(split.masked).astype(bool)] == 0).all()
    for task in ({"objective": "binary:logistic"}, {"num_class": 2}, {"eval_metric": "auc"}):
        with pytest.raises(ValueError, match="define the task"):
            XGBoostRecommender(**SMALL_XGB, booster_params=task).fit(split.train)


def test_unlabelled_customers_make_up_for_missing_labels():
    from insurereco.protocol import held_out_summary
    from insurereco.synthetic import make_portfolio, mask_one_product

    customers = make_portfolio(4000, random_state=0)
    split = evaluation_split(customers, test_size=0.25, random_state=0)
    labelled = split.train.head(400)
    unlabelled, _ = mask_one_product(split.train.iloc[400:], random_state=1)
    alone = XGBoostRecommender(**SMALL_XGB).fit(labelled)
    helped = XGBoostRecommender(**SMALL_XGB).fit(labelled, unlabelled=unlabelled)
    assert (alone.n_unlabelled_, helped.n_unlabelled_) == (0, len(unlabelled))
    scores = {
        name: held_out_summary(model.predict_proba(split.masked), split)["competition"]
        for name, model in (("alone", alone), ("helped", helped))
    }
    # measured: 0.0632 alone, 0.0564 with the 2,600 unlabelled customers
    assert scores["helped"] < scores["alone"] - 0.003
    proba = helped.predict_proba(split.masked).to_numpy()
    assert (proba[held_matrix(split.masked).astype(bool)] == 0).all()
    assert proba.sum(axis=1) == pytest.approx(1.0)
    again = XGBoostRecommender(**SMALL_XGB).fit(labelled, unlabelled=unlabelled)
    assert again.predict_proba(split.masked).to_numpy() == pytest.approx(proba)


def test_unlabelled_customers_must_be_other_customers(split):
    model = XGBoostRecommender(**SMALL_XGB)
    with pytest.raises(ValueError, match="also training customers"):
        model.fit(split.train, unlabelled=split.train.head(10))
    with pytest.raises(ValueError, match="no customer"):
        model.fit(split.train, unlabelled=split.masked.head(0))
    twice = pd.concat([split.masked.head(3), split.masked.head(1)])
    with pytest.raises(ValueError, match="duplicated"):
        model.fit(split.train, unlabelled=twice)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"calibration": "platt"}, "unknown calibration 'platt'"),
        ({"validation_fraction": 0.0}, "validation_fraction must be between 0 and 1"),
        ({"calibration_fraction": 1.5}, "calibration_fraction must be between 0 and 1"),
        ({"validation_fraction": 0.6, "calibration_fraction": 0.4}, "must be below 1"),
    ],
)
def test_bad_options_are_refused_before_any_boosting(split, monkeypatch, option, message):
    def no_boosting(*args, **kwargs):
        raise AssertionError("boosting started")

    monkeypatch.setattr("insurereco.models.xgb.train", no_boosting)
    with pytest.raises(ValueError, match=message):
        XGBoostRecommender(**{**SMALL_XGB, **option}).fit(split.train)


def test_completions_train_the_trees_but_never_stop_or_calibrate_them(split):
    seen = {"valid": [], "extra": [], "calib": []}

    class Recording(XGBoostRecommender):
        def _fit_booster(self, parts, *, extra=None):
            seen["valid"].append(set(parts["valid"]["ID"]))
            seen["extra"].append(None if extra is None else set(extra["ID"]))
            super()._fit_booster(parts, extra=extra)

        def _fit_calibrator(self, calib):
            seen["calib"].append(set(calib["ID"]))
            super()._fit_calibrator(calib)

    Recording(**SMALL_XGB).fit(split.train, unlabelled=split.masked)
    labelled, unlabelled = set(split.train["ID"]), set(split.masked["ID"])
    # two passes: the first without completions, the second with them
    assert seen["extra"][0] is None and seen["extra"][1] and seen["extra"][1] <= unlabelled
    for ids in (*seen["valid"], *seen["calib"]):
        assert ids and ids <= labelled
    assert seen["valid"][0] == seen["valid"][1] and seen["calib"][0] == seen["calib"][1]


def test_chunked_scoring_matches(split, fitted):
    model = fitted["xgboost"]
    whole = model.predict_proba(split.masked).to_numpy()
    model.set_params(chunk_size=37)
    try:
        assert model.predict_proba(split.masked).to_numpy() == pytest.approx(whole)
    finally:
        model.set_params(chunk_size=200_000)


def test_save_and_load_round_trip(tmp_path, fitted, split):
    path = save_model(fitted["xgboost"], tmp_path / "model.joblib")
    model, schema = load_model(path)
    assert schema["products"] == PRODUCTS
    assert "join_date" in schema["columns"]
    a = fitted["xgboost"].predict_proba(split.masked.head(20)).to_numpy()
    assert model.predict_proba(split.masked.head(20)).to_numpy() == pytest.approx(a)


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(DataNotFoundError):
        load_model(tmp_path / "absent.joblib")
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"not a model at all")
    with pytest.raises(DataValidationError, match="unreadable model file"):
        load_model(garbage)
    import joblib

    joblib.dump({"format": "something-else"}, tmp_path / "other.joblib")
    with pytest.raises(DataValidationError, match="not an insurereco"):
        load_model(tmp_path / "other.joblib")
    joblib.dump({"format": "insurereco-recommender", "version": 99}, tmp_path / "v99.joblib")
    with pytest.raises(DataValidationError, match="version 99"):
        load_model(tmp_path / "v99.joblib")
