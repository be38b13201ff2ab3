"""Tests of insurereco.propensity: reading, schema, leakage guard, models, metrics, economics."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from insurereco import propensity
from insurereco.campaign_timeline import make_bank_campaign
from insurereco.errors import DataNotFoundError, DataValidationError
from insurereco.propensity import (
    LeakageWarning,
    PropensityModel,
    UnseenCategoryWarning,
    auc_by_group,
    binary_target,
    break_even_threshold,
    campaign_scenario,
    capture_at_top,
    check_leakage,
    classification_metrics,
    compare_segmented,
    fit_estimator,
    fit_propensity,
    forward_widened_range,
    group_rate_scores,
    infer_schema,
    learning_curve_table,
    load_rules,
    make_estimator,
    metrics_table,
    paired_difference,
    pooled_and_within_auc,
    read_table,
    repeated_split_scores,
    roi_at_thresholds,
    roi_by_depth,
    tune_time_aware,
    value_sensitivity,
)


@pytest.fixture(scope="module")
def bank() -> pd.DataFrame:
    return make_bank_campaign(1500, random_state=0)


# ------------------------------------------------------------------ reading


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_read_table_guesses_separator(tmp_path, sep):
    path = tmp_path / "t.csv"
    path.write_text(
        sep.join(["a", "b", "y"])
        + "\n"
        + sep.join(["1", "x;y" if sep != ";" else "xy", "yes"])
        + "\n"
    )
    df = read_table(path)
    assert list(df.columns) == ["a", "b", "y"]
    assert df["a"].dtype.kind == "i"


def test_read_table_headerless_numbers(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("1\t2\t0\n3\t4\t1\n")
    df = read_table(path)
    assert list(df.columns) == ["col1", "col2", "col3"]
    assert len(df) == 2


def test_read_table_bad_inputs(tmp_path):
    with pytest.raises(DataNotFoundError):
        read_table(tmp_path / "absent.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("\n  \n")
    with pytest.raises(DataValidationError, match="empty"):
        read_table(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,y\n")
    with pytest.raises(DataValidationError, match="no data rows"):
        read_table(header_only)


# ------------------------------------------------------------------ schema and guards


def test_binary_target_guesses_positive():
    y, positive = binary_target(pd.Series(["no", "yes", "no"], name="y"))
    assert positive == "yes"
    assert y.tolist() == [0, 1, 0]
    y, positive = binary_target(pd.Series([0, 1, 1], name="y"))
    assert positive == 1 and y.tolist() == [0, 1, 1]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["a", "b", "c"], "must be binary"),
        ([56, 57, 58], r"found 3: 56, 57, 58$"),  # numbers as written, not numpy reprs
        (["yes", "yes"], "must be binary"),
        (["red", "blue"], "cannot tell"),
        (["yes", None], "missing"),
    ],
)
def test_binary_target_rejects(values, message):
    with pytest.raises(DataValidationError, match=message):
        binary_target(pd.Series(values, name="y"))


def test_leakage_guard_refuses_duration(bank):
    with pytest.raises(DataValidationError, match="duration.*leaks"):
        infer_schema(bank, target="y")
    with pytest.warns(LeakageWarning) as caught:
        schema = infer_schema(bank, target="y", allow_leaky=True)
    assert any("'duration' leaks" in str(w.message) for w in caught)
    assert "duration" in schema.numeric
    assert "duration" not in infer_schema(bank, target="y", drop=["duration", "campaign"]).numeric
    assert check_leakage(["age", "job"]) == []
    assert "duration" in load_rules()["leaky_columns"]


def test_leakage_guard_names_every_leaking_column(bank):
    # the number of calls in the campaign is known only once it is over, like the duration
    with pytest.raises(DataValidationError, match=r"'campaign' leaks") as both:
        infer_schema(bank, target="y")
    assert "--drop duration campaign" in str(both.value)
    with pytest.raises(DataValidationError, match=r"--drop campaign\)"):
        infer_schema(bank, target="y", drop=["duration"])
    with pytest.warns(LeakageWarning) as caught:
        assert check_leakage(["duration", "age", "campaign"], allow_leaky=True) == [
            "duration",
            "campaign",
        ]
    assert len(caught) == 2


def test_infer_schema_types_and_errors(bank):
    schema = infer_schema(bank, target="y", drop=["duration", "campaign"], categorical=["previous"])
    assert "age" in schema.numeric and "job" in schema.categorical
    assert "previous" in schema.categorical
    assert schema.positive == "yes"
    with pytest.raises(DataValidationError, match="target column 'nope' not found"):
        infer_schema(bank, target="nope")
    with pytest.raises(DataValidationError, match="not found"):
        infer_schema(bank, target="y", drop=["duration", "ghost"])
    with pytest.raises(DataValidationError, match="no rows"):
        infer_schema(bank.iloc[:0], target="y")


def test_unseen_categories_go_to_bucket_and_warn(bank):
    schema = infer_schema(bank, target="y", drop=["duration", "campaign"])
    new = bank.head(5).copy()
    new.loc[new.index[:2], "job"] = "astronaut"
    X, unseen = schema.encode(new)
    assert unseen == {"job": 2}
    assert (X["job"].iloc[:2] == load_rules()["unseen_category"]).all()
    with pytest.warns(UnseenCategoryWarning, match="2 value"):
        schema.features_frame(new)


# ------------------------------------------------------------------ models


def test_fit_propensity_scores_in_range_and_round_trips(bank, tmp_path):
    model = fit_propensity(bank, target="y", drop=["duration", "campaign"], model_type="logistic")
    p = model.predict_proba(bank)
    assert p.shape == (len(bank),) and ((p > 0) & (p < 1)).all()
    assert abs(p.mean() - model.positive_rate) < 0.03  # calibrated on average
    path = model.save(tmp_path / "m.joblib")
    again = PropensityModel.load(path)
    np.testing.assert_allclose(again.predict_proba(bank), p)


def test_fit_propensity_refuses_tiny_minority(bank):
    small = bank.head(200).copy()
    small["y"] = "no"
    small.loc[small.index[:3], "y"] = "yes"
    with pytest.raises(DataValidationError, match="only 3"):
        fit_propensity(small, target="y", drop=["duration", "campaign"])


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.joblib"
    bad.write_bytes(b"not a model")
    with pytest.raises(DataValidationError):
        PropensityModel.load(bad)


def test_blend_is_average_of_members(bank):
    schema = infer_schema(bank, target="y", drop=["duration", "campaign"])
    X, _ = schema.encode(bank)
    y = schema.labels(bank)
    params = {"n_estimators": 20}
    blend = fit_estimator("blend", schema, X, y, params={"xgboost__n_estimators": 20})
    lr = fit_estimator("logistic", schema, X, y)
    xgb = fit_estimator("xgboost", schema, X, y, params=params)
    expected = (lr.predict_proba(X)[:, 1] + xgb.predict_proba(X)[:, 1]) / 2
    np.testing.assert_allclose(blend.predict_proba(X)[:, 1], expected, atol=1e-6)
    with pytest.raises(ValueError, match="model_type"):
        make_estimator("svm")


def test_tuning_learning_curve_and_segments(bank):
    schema = infer_schema(bank, target="y", drop=["duration", "campaign"])
    X, _ = schema.encode(bank)
    y = schema.labels(bank)
    best, table = tune_time_aware("tree", schema, X, y, grid={"max_depth": [2, 4]})
    assert best["max_depth"] in {2, 4} and len(table) == 2
    assert table["roc_auc"].is_monotonic_decreasing
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        tune_time_aware("tree", schema, X, y, grid={"max_depth": [2]}, metric="auc")
    late_no = np.concatenate([y[:-50], np.zeros(50, dtype=y.dtype)])
    with pytest.raises(ValueError, match="holds one class only"):
        tune_time_aware("tree", schema, X, late_no, grid={"max_depth": [2]}, val_fraction=0.01)
    curve = learning_curve_table(
        "logistic", schema, X.iloc[:1000], y[:1000], X.iloc[1000:], y[1000:], fractions=(0.5, 1.0)
    )
    assert curve["n_train"].tolist() == [500, 1000]
    age = bank["age"].to_numpy() < 30
    seg, preds = compare_segmented(
        "logistic", schema, X.iloc[:1000], y[:1000], X.iloc[1000:], y[1000:], age[:1000], age[1000:]
    )
    assert set(seg["approach"]) == {"one model", "separate models"}
    assert seg.loc[seg["segment"] == "all", "n"].tolist() == [len(y) - 1000] * 2
    assert not np.isnan(preds["separate models"]).any()


def test_repeated_split_scores_first_split_is_the_usual_one(bank):
    schema = infer_schema(bank, target="y", drop=["duration", "campaign"])
    X, _ = schema.encode(bank)
    y = schema.labels(bank)
    params = {"logistic": {"C": 1.0}, "tree": {"max_depth": 3}}
    table = repeated_split_scores(schema, X, y, params=params, n_repeats=3, random_state=7)
    assert table.shape == (3, 2) and list(table.columns) == ["Logistic regression", "Decision tree"]
    assert table.notna().all().all() and table.nunique().min() > 1  # the splits differ
    train, test = train_test_split(np.arange(len(y)), test_size=0.25, stratify=y, random_state=7)
    single = fit_estimator(
        "logistic", schema, X.iloc[train], y[train], params={"C": 1.0}, random_state=7
    )
    auc = classification_metrics(y[test], single.predict_proba(X.iloc[test])[:, 1])["roc_auc"]
    assert table.loc[0, "Logistic regression"] == pytest.approx(auc)
    again = repeated_split_scores(schema, X, y, params=params, n_repeats=3, random_state=7)
    pd.testing.assert_frame_equal(table, again)
    with pytest.raises(ValueError, match="n_repeats"):
        repeated_split_scores(schema, X, y, params=params, n_repeats=0)


# ------------------------------------------------------------------ metrics (hand-checked)


def test_classification_metrics_hand_checked():
    y = [1, 0, 1, 0]
    p = [0.9, 0.6, 0.4, 0.1]
    m = classification_metrics(y, p, threshold=0.5)
    assert tuple(m) == propensity._METRIC_NAMES  # the names tune_time_aware accepts
    # predictions 1,1,0,0: TP=1, FP=1, FN=1, TN=1
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(0.5)
    # positive/negative pairs ranked right: (0.9>0.6, 0.9>0.1, 0.4<0.6, 0.4>0.1) = 3/4
    assert m["roc_auc"] == pytest.approx(0.75)
    # precision at each positive: 1/1 and 2/3 -> mean 5/6
    assert m["pr_auc"] == pytest.approx(5 / 6)
    assert m["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    expected_ll = -np.mean(np.log([0.9, 0.4, 0.4, 0.9]))
    assert m["log_loss"] == pytest.approx(expected_ll)
    table = metrics_table(y, {"a": p, "b": [0.5] * 4})
    assert table.loc["b", "roc_auc"] == pytest.approx(0.5)


def test_pooled_and_within_auc_differ_when_groups_differ_in_rate():
    # inside each group the score is useless (AUC 0.5), but group "b" has both the higher
    # rate and the higher scores, so the pooled AUC rewards ranking b above a
    y = [0, 1, 0, 0, 1, 1, 0, 1]
    p = [0.1, 0.1, 0.1, 0.1, 0.6, 0.6, 0.6, 0.6]
    groups = ["a", "a", "a", "a", "b", "b", "b", "b"]
    out = pooled_and_within_auc(y, p, groups)
    assert out["within_mean"] == pytest.approx(0.5)
    assert out["n_groups"] == 2
    # 4 positives x 4 negatives = 16 pairs: the 3 positives of b beat the 3 negatives of a
    # (9), the positive of a loses to the negative of b (0), and the 3 + 3 tied pairs
    # inside a group count half (3): 12 / 16
    assert out["pooled"] == pytest.approx(12 / 16)
    # a group with one class only is left out of the mean
    one_class = pooled_and_within_auc([*y, 1, 1], [*p, 0.2, 0.3], [*groups, "c", "c"])
    assert one_class["n_groups"] == 2
    assert one_class["within_mean"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        pooled_and_within_auc(y, p, groups[:-1])


def test_auc_by_group_hand_checked():
    # group a: positives 0.8 and 0.3 against negatives 0.5 and 0.1: 3 of 4 pairs won (0.75);
    # group b: one positive above one negative (1.0); group c: one class only (NaN)
    y = [1, 0, 1, 0, 1, 0, 1, 1]
    p = [0.8, 0.5, 0.3, 0.1, 0.2, 0.1, 0.4, 0.9]
    groups = ["a", "a", "a", "a", "b", "b", "c", "c"]
    table = auc_by_group(y, p, groups)
    assert table["group"].tolist() == ["a", "b", "c"]
    assert table["n"].tolist() == [4, 2, 2]
    assert table["positives"].tolist() == [2, 1, 2]
    assert table["rate"].tolist() == pytest.approx([0.5, 0.5, 1.0])
    assert table["roc_auc"].iloc[:2].tolist() == pytest.approx([0.75, 1.0])
    assert np.isnan(table["roc_auc"].iloc[2])
    # the mean over groups with both classes is pooled_and_within_auc's within_mean
    assert pooled_and_within_auc(y, p, groups)["within_mean"] == pytest.approx(0.875)
    with pytest.raises(ValueError):
        auc_by_group(y, p, groups[:-1])


def test_group_rate_scores_use_training_rows_only():
    # training rates: month 1 -> 1/4, month 2 -> 2/2; month 3 is absent -> overall 3/6
    g_train = [1, 1, 1, 1, 2, 2]
    y_train = [0, 1, 0, 0, 1, 1]
    scores = group_rate_scores(g_train, y_train, [2, 1, 3, 1])
    assert scores.tolist() == pytest.approx([1.0, 0.25, 0.5, 0.25])
    # scored rows' outcomes play no part: the same groups give the same scores
    assert group_rate_scores(g_train, y_train, [1, 1]).tolist() == pytest.approx([0.25, 0.25])
    # inside a group every row has the same score, so the within-group AUC is 0.5
    y_test = [0, 1, 1, 0]
    within = pooled_and_within_auc(
        y_test, group_rate_scores(g_train, y_train, [1, 1, 2, 2]), [1, 1, 2, 2]
    )
    assert within["within_mean"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        group_rate_scores(g_train, y_train[:-1], [1])


def test_paired_difference_hand_checked():
    # differences 0.02, 0.04, 0.00, 0.02: mean 0.02, sd sqrt(0.0008 / 3), se = sd / 2
    a = [0.72, 0.74, 0.70, 0.71]
    b = [0.70, 0.70, 0.70, 0.69]
    out = paired_difference(a, b)
    se = np.sqrt(0.0008 / 3) / 2
    assert out["mean"] == pytest.approx(0.02)
    assert out["se"] == pytest.approx(se)
    assert (out["n"], out["wins"]) == (4, 3)
    assert out["detectable"]  # 0.02 > 2 x 0.0082
    assert not paired_difference(a, b, z=3.0)["detectable"]  # 0.02 < 3 x 0.0082
    # a difference that flips sign from group to group is not detectable
    noisy = paired_difference([0.75, 0.65, 0.76, 0.66], [0.70, 0.70, 0.70, 0.70])
    assert noisy["wins"] == 2 and not noisy["detectable"]
    with pytest.raises(ValueError):
        paired_difference([0.7], [0.6])


def test_capture_at_top_hand_checked():
    y = [0, 1, 0, 1, 0, 0, 0, 0, 0, 1]
    p = [0.1, 0.9, 0.2, 0.8, 0.3, 0.05, 0.5, 0.0, 0.0, 0.05]
    top = capture_at_top(y, p, fraction=0.2)
    assert top["selected"] == 2 and top["hits"] == 2
    assert top["recall"] == pytest.approx(2 / 3)
    assert top["lift"] == pytest.approx(1.0 / 0.3)
    with pytest.raises(ValueError):
        capture_at_top(y, p, n=0)


# ------------------------------------------------------------------ economics


def test_roi_by_depth_and_thresholds_hand_checked():
    y = [1, 0, 1, 0]
    p = [0.9, 0.6, 0.4, 0.1]
    table = roi_by_depth(
        y, p, depths=[0.25, 0.5, 1.0], cost_per_contact=10, value_per_subscription=100
    )
    assert table["contacts"].tolist() == [1, 2, 4]
    assert table["subscriptions"].tolist() == [1, 1, 2]
    assert table["profit"].tolist() == [90, 80, 160]
    assert table["expected_profit"].tolist() == pytest.approx([80, 130, 160])
    thr = roi_at_thresholds(y, p, thresholds=[0.5], cost_per_contact=10, value_per_subscription=100)
    assert thr["threshold"].tolist() == pytest.approx([0.1, 0.5])
    assert thr["contacts"].tolist() == [4, 2]
    assert thr["label"].iloc[0].startswith("break-even")
    assert break_even_threshold(cost_per_contact=10, value_per_subscription=100) == 0.1
    assert break_even_threshold() == pytest.approx(
        load_rules()["cost_per_contact"] / load_rules()["value_per_subscription"]
    )
    with pytest.raises(ValueError):
        break_even_threshold(cost_per_contact=1, value_per_subscription=0)


def test_value_sensitivity_hand_checked():
    y = [1, 0, 1, 0]
    p = [0.9, 0.6, 0.15, 0.05]
    table = value_sensitivity(y, p, values=[50, 100, 200], cost_per_contact=10)
    # break-even 0.2, 0.1, 0.05: the rule calls 2, 3 and 4 prospects
    assert table["break_even"].tolist() == pytest.approx([0.2, 0.1, 0.05])
    assert table["contacts"].tolist() == [2, 3, 4]
    assert table["share"].tolist() == pytest.approx([0.5, 0.75, 1.0])
    # at 50 EUR: 1 subscription x 50 - 2 calls x 10 = 30; everyone: 2 x 50 - 40 = 60
    assert table["profit_rule"].tolist() == pytest.approx([30, 170, 360])
    assert table["profit_everyone"].tolist() == pytest.approx([60, 160, 360])
    assert table["rule_gain"].tolist() == pytest.approx([-30, 10, 0])
    default_cost = value_sensitivity(y, p, values=[100])
    assert default_cost["break_even"].iloc[0] == pytest.approx(
        load_rules()["cost_per_contact"] / 100
    )
    with pytest.raises(ValueError):
        value_sensitivity(y, p, values=[0], cost_per_contact=10)


def test_roi_plot_labels_profit_in_the_rules_currency():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = roi_by_depth([1, 0, 1, 0], [0.9, 0.6, 0.4, 0.1], depths=[0.5, 1.0])
    fig, ax = plt.subplots()
    assert propensity.plot_roi_by_depth(table, ax=ax) is ax
    assert ax.get_ylabel() == f"profit ({load_rules()['currency']})"
    propensity.plot_roi_by_depth(table, ax=ax, currency="USD")
    assert ax.get_ylabel() == "profit (USD)"
    plt.close(fig)


def test_campaign_scenario_range_covers_mean():
    p = np.linspace(0.01, 0.6, 500)
    s = campaign_scenario(p, fraction=0.2, cost_per_contact=10, value_per_subscription=100)
    chosen = np.sort(p)[-100:]
    assert s["contacts"] == 100 and s["cost"] == 1000
    assert s["expected_subscriptions"] == pytest.approx(chosen.sum())
    sd = np.sqrt((chosen * (1 - chosen)).sum())
    assert s["subscriptions_low"] == pytest.approx(chosen.sum() - 1.645 * sd, abs=2)
    assert s["subscriptions_high"] == pytest.approx(chosen.sum() + 1.645 * sd, abs=2)
    assert s["profit_low"] == s["subscriptions_low"] * 100 - 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert campaign_scenario(p, random_state=1) == campaign_scenario(p, random_state=1)


def test_forward_widened_range_uses_only_earlier_errors():
    expected = [10.0, 20.0, 10.0, 40.0]
    low, high = [8.0, 17.0, 8.0, 35.0], [12.0, 23.0, 12.0, 45.0]
    actual = [15.0, 10.0, 12.0, 41.0]
    out = forward_widened_range(expected, low, high, actual)
    # relative errors 0.5, 0.5, 0.2, 0.025; margins are means of the earlier ones
    assert out["rel_error"].tolist() == pytest.approx([0.5, 0.5, 0.2, 0.025])
    assert np.isnan(out["margin"].iloc[0]) and np.isnan(out["inside_wide"].iloc[0])
    assert np.isnan(out["low_wide"].iloc[0]) and np.isnan(out["high_wide"].iloc[0])
    assert out["margin"].iloc[1:].tolist() == pytest.approx([0.5, 0.5, 0.4])
    assert out["low_wide"].iloc[1:].tolist() == pytest.approx([7.0, 3.0, 19.0])
    assert out["high_wide"].iloc[1:].tolist() == pytest.approx([33.0, 17.0, 61.0])
    assert out["inside"].tolist() == [False, False, True, True]
    assert out["inside_wide"].iloc[1:].tolist() == [True, True, True]
    # the last month's own outcome does not move its margin
    changed = forward_widened_range(expected, low, high, [15.0, 10.0, 12.0, 400.0])
    assert changed["margin"].iloc[-1] == pytest.approx(out["margin"].iloc[-1])
    assert not changed["inside_wide"].iloc[-1]
    # the low end never goes below zero
    floored = forward_widened_range([1.0, 1.0], [0.0, 0.0], [2.0, 2.0], [5.0, 1.0])
    assert floored["low_wide"].iloc[1] == 0.0
    with pytest.raises(ValueError):
        forward_widened_range(expected, low, high, actual[:-1])
    with pytest.raises(ValueError):
        forward_widened_range(expected, low, high, actual, min_history=0)
