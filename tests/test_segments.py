"""RFM features, choice of k, segment naming, next-period check and plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint
from test_transactions import hand_made_raw

from insurereco import segments as seg
from insurereco.errors import DataNotFoundError, DataValidationError
from insurereco.transactions import (
    clean_transactions,
    from_cdnow,
    from_online_retail,
    load_segment_rules,
    make_cdnow_like,
    make_online_retail_like,
)


@pytest.fixture(scope="module")
def clean_log() -> pd.DataFrame:
    return clean_transactions(from_online_retail(hand_made_raw()))[0]


@pytest.fixture(scope="module")
def cdnow_like() -> pd.DataFrame:
    return clean_transactions(from_cdnow(make_cdnow_like(1500, random_state=0)))[0]


def three_groups(n: int = 150, *, random_state: int = 0) -> pd.DataFrame:
    """RFM table with three well-separated groups (recent big spenders, middle, lapsed)."""
    rng = np.random.default_rng(random_state)
    groups = [(5, 20, 5000), (60, 4, 800), (300, 1, 50)]
    frames = []
    for r, f, m in groups:
        frames.append(
            pd.DataFrame(
                {
                    "recency": np.maximum(1, np.round(r * rng.lognormal(0, 0.15, n))).astype(int),
                    "frequency": np.maximum(1, np.round(f * rng.lognormal(0, 0.1, n))).astype(int),
                    "monetary": m * rng.lognormal(0, 0.15, n),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out.index = pd.Index([f"c{i:04d}" for i in range(len(out))], name="customer_id")
    return out


def test_rfm_of_the_hand_made_log(clean_log):
    rfm = seg.rfm_table(clean_log)
    expected = pd.DataFrame(
        {"recency": [10, 37, 1], "frequency": [2, 1, 1], "monetary": [18.0, 10.0, 17.0]},
        index=pd.Index(["100", "200", "300"], name="customer_id"),
    )
    pd.testing.assert_frame_equal(rfm, expected, check_dtype=False)


def test_snapshot_keeps_only_earlier_purchases(clean_log):
    rfm = seg.rfm_table(clean_log, snapshot="2011-02-01")
    assert list(rfm.index) == ["100", "200"]
    assert rfm.loc["100"].tolist() == [22, 1, 8.0]
    assert rfm.loc["200", "recency"] == 27


@pytest.mark.parametrize(
    ("snapshot", "message"),
    [("soon", "cannot parse"), ("2000-01-01", "no"), ("10/12/2011", "YYYY-MM-DD")],
)
def test_bad_snapshots_are_refused(clean_log, snapshot, message):
    with pytest.raises(DataValidationError, match=message):
        seg.rfm_table(clean_log, snapshot=snapshot)


def test_rfm_needs_the_schema():
    with pytest.raises(DataValidationError, match="amount"):
        seg.rfm_table(pd.DataFrame({"customer_id": [], "invoice_id": [], "date": []}))


def test_quintile_scores_reverse_recency_and_share_ties():
    rfm = pd.DataFrame(
        {
            "recency": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            "frequency": [1, 1, 1, 1, 1, 1, 2, 3, 4, 5],
            "monetary": np.arange(10, 110, 10, dtype=float),
        }
    )
    q = seg.quintile_scores(rfm)
    assert q["r_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert q["m_score"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert q["f_score"].iloc[:6].nunique() == 1  # tied frequencies share a score
    assert q.loc[0, "rfm_cell"] == f"5{q.loc[0, 'f_score']}1"
    assert (q["rfm_score"] == q[["r_score", "f_score", "m_score"]].sum(axis=1)).all()


def test_evaluate_and_select_k_find_three_clear_groups():
    scores = seg.evaluate_k(three_groups(), ks=range(2, 7), n_seeds=3)
    assert list(scores["k"]) == [2, 3, 4, 5, 6]
    assert scores.loc[scores["k"] == 3, "stability_ari"].item() == pytest.approx(1.0)
    assert seg.select_k(scores) == 3
    assert seg.elbow_k(scores) in (2, 3)


def test_stability_is_measured_by_resampling_customers():
    # no cluster structure: refits on bootstrap resamples cut the cloud elsewhere
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(
        {
            "recency": rng.integers(1, 400, 450),
            "frequency": rng.integers(1, 30, 450),
            "monetary": rng.uniform(10, 5000, 450),
        }
    )
    scores = seg.evaluate_k(noise, ks=[3], n_seeds=5, random_state=0)
    assert scores["stability_ari"].item() < 0.9
    assert scores["stability_min_ari"].item() <= scores["stability_ari"].item()
    # same seed, same numbers (the resamples are seeded)
    again = seg.evaluate_k(noise, ks=[3], n_seeds=5, random_state=0)
    pd.testing.assert_frame_equal(scores, again)
    # three clear groups survive any resample
    clear = seg.evaluate_k(three_groups(), ks=[3], n_seeds=5, n_init=3)
    assert clear["stability_ari"].item() == pytest.approx(1.0)


def test_select_k_refuses_when_nothing_is_stable():
    scores = pd.DataFrame(
        {"k": [2, 3], "inertia": [2.0, 1.0], "silhouette": [0.5, 0.4], "stability_ari": [0.5, 0.5]}
    )
    with pytest.raises(ValueError, match="stability"):
        seg.select_k(scores)
    with pytest.raises(ValueError, match="no k was scored"):
        seg.select_k(seg.evaluate_k(three_groups(1), ks=range(2, 2)))


def test_names_follow_the_profile_not_the_cluster_number():
    rules = load_segment_rules()
    protos = {s["key"]: [s["prototype"][c] for c in seg.RFM_COLUMNS] for s in rules["segments"]}
    centers = np.array([protos["lost"], protos["champions"], protos["promising"]])
    assert seg.name_clusters(centers) == ["lost", "champions", "promising"]
    assert seg.name_clusters(centers[::-1]) == ["promising", "champions", "lost"]
    with pytest.raises(ValueError, match="segments"):
        seg.name_clusters(np.zeros((len(protos) + 1, 3)))


def test_names_can_be_restricted_to_another_fits_segments():
    rules = load_segment_rules()
    protos = {s["key"]: [s["prototype"][c] for c in seg.RFM_COLUMNS] for s in rules["segments"]}
    # a bottom centre sitting exactly on the Hibernating prototype ...
    centers = np.array([protos["champions"], protos["loyal"], protos["hibernating"]])
    assert seg.name_clusters(centers)[-1] == "hibernating"
    # ... takes the name of the delivered bottom segment when only those names are allowed
    allowed = ("champions", "loyal", "lost")
    assert seg.name_clusters(centers, segment_keys=allowed) == ["champions", "loyal", "lost"]
    with pytest.raises(ValueError, match="unknown"):
        seg.name_clusters(centers, segment_keys=("champions", "nobody"))
    with pytest.raises(ValueError, match="allowed"):
        seg.name_clusters(centers, segment_keys=("champions", "lost"))


def test_next_period_check_uses_the_delivered_names(cdnow_like):
    rfm = seg.rfm_table(cdnow_like)
    delivered = seg.fit_segments(rfm, k=3).cluster_keys
    check = seg.next_period_check(
        cdnow_like,
        split="1997-07-01",
        end="1998-07-01",
        k=len(delivered),
        segment_keys=delivered,
    )
    assert check.scores.empty  # k taken from the delivered fit, not re-chosen
    assert set(check.model.cluster_keys) == set(delivered)
    names = {s["key"]: s["name"] for s in load_segment_rules()["segments"]}
    assert list(check.table.index) == [n for k, n in names.items() if k in set(delivered)]


def test_bottom_segments_are_not_dropped():
    # the next-period check found that most bottom-segment customers come back
    by_key = {s["key"]: s for s in load_segment_rules()["segments"]}
    for key in ("hibernating", "lost"):
        assert "drop after" not in by_key[key]["strategy"]
        assert by_key[key]["budget"] == "low"


def test_fitted_segments_are_named_by_rule_and_stable_across_seeds():
    rfm = three_groups()
    a = seg.assign_segments(seg.fit_segments(rfm, k=3, random_state=0), rfm)
    b = seg.assign_segments(seg.fit_segments(rfm, k=3, random_state=7), rfm)
    pd.testing.assert_series_equal(a["segment"], b["segment"])
    assert a["segment"].iloc[0] == "Champions"
    assert a["segment"].iloc[-1] in ("Lost", "Hibernating")
    assert list(a["segment"].cat.categories)[0] == "Champions"
    assert a["strategy"].str.len().min() > 10


def test_profiles_sizes_and_revenue_shares_add_up():
    rfm = three_groups()
    segmented = seg.assign_segments(seg.fit_segments(rfm, k=3), rfm)
    prof = seg.segment_profiles(segmented)
    assert prof["customers"].sum() == len(rfm)
    assert prof["share_customers"].sum() == pytest.approx(1.0)
    assert prof["share_revenue"].sum() == pytest.approx(1.0)
    assert prof["monetary"].iloc[0] > prof["monetary"].iloc[-1]
    assert prof["rfm_score"].iloc[0] > prof["rfm_score"].iloc[-1]
    snake = seg.snake_data(segmented)
    assert snake.loc["Champions", "recency"] < 0 < snake.loc["Champions", "monetary"]
    comparison = seg.quintile_comparison(segmented)
    assert comparison.sum(axis=1).to_numpy() == pytest.approx(np.ones(3))


def test_strategy_table_is_complete():
    table = seg.strategy_table()
    levels = load_segment_rules()["budget_levels"]
    assert table["segment"].is_unique
    assert table["budget"].isin(levels).all()
    assert (table["strategy"].str.len() > 10).all()


def test_next_period_outcomes_of_the_hand_made_log(clean_log):
    rfm = seg.rfm_table(clean_log, snapshot="2011-02-01")
    out = seg.next_period_outcomes(clean_log, rfm.index, start="2011-02-01")
    assert out.loc["100"].tolist() == [True, 1, 10.0]
    assert out.loc["200"].tolist() == [False, 0, 0.0]


def test_score_groups_cut_the_ranking_into_the_given_sizes():
    score = pd.Series([3, 9, 5, 9, 1, 5], index=["a", "b", "c", "d", "e", "f"])
    spend = pd.Series([1.0, 2.0, 7.0, 5.0, 0.0, 3.0], index=score.index)
    groups = seg.score_groups(score, [2, 3, 1], labels=["top", "mid", "bottom"], tiebreak=spend)
    # ranking: d (9, spend 5), b (9, 2), c (5, 7), f (5, 3), a (3), e (1)
    assert groups.to_dict() == {
        "a": "mid",
        "b": "top",
        "c": "mid",
        "d": "top",
        "e": "bottom",
        "f": "mid",
    }
    assert list(groups.cat.categories) == ["top", "mid", "bottom"]
    # without a tie-break, ties go by index: b before d, c before f
    plain = seg.score_groups(score, [1, 2, 3])
    assert plain[["b", "d", "c"]].tolist() == ["1", "2", "2"]
    assert plain[["f", "a", "e"]].tolist() == ["3", "3", "3"]
    with pytest.raises(ValueError, match="add up"):
        seg.score_groups(score, [2, 2])
    with pytest.raises(ValueError, match="labels"):
        seg.score_groups(score, [3, 3], labels=["x"])


def test_budget_order_holds_only_across_levels():
    # Champions and Loyal share the high budget, Lost has the low one
    table = pd.DataFrame({"spend_next": [100.0, 150.0, 10.0]}, index=["Champions", "Loyal", "Lost"])
    assert seg.budget_order_holds(table)  # the tie inside "high" is not compared
    assert not seg.budget_order_holds(table.assign(spend_next=[100.0, 5.0, 10.0]))
    # a later segment out-spending the planned higher level breaks the order
    assert not seg.budget_order_holds(table.assign(spend_next=[100.0, 150.0, 120.0]))


def test_next_period_table_shares_of_followed_and_of_all_revenue():
    segment = pd.Series(
        pd.Categorical(["A", "A", "B", "B"], categories=["A", "B"], ordered=True),
        index=list("wxyz"),
    )
    outcomes = pd.DataFrame(
        {
            "came_back": [True, True, True, False],
            "orders_next": [2, 1, 1, 0],
            "spend_next": [40.0, 20.0, 20.0, 0.0],
        },
        index=list("wxyz"),
    )
    table = seg.next_period_table(segment, outcomes, total_revenue=100.0)
    assert table["came_back"].tolist() == [1.0, 0.5]
    assert table["spend_next"].tolist() == [30.0, 10.0]
    assert table["share_next_revenue"].tolist() == pytest.approx([0.75, 0.25])
    # new customers brought the other 20 of the later period's 100
    assert table["share_all_next_revenue"].tolist() == pytest.approx([0.6, 0.2])
    assert "share_all_next_revenue" not in seg.next_period_table(segment, outcomes)


def test_next_period_check_can_read_the_early_period_as_known_at_the_split():
    tx = from_online_retail(hand_made_raw())
    full = clean_transactions(tx)[0]
    early = clean_transactions(tx, before="2011-01-20")[0]
    # cleaned with the whole log, the mug of 2011-01-18 is gone (cancelled on the 21st)
    leaky = seg.next_period_check(full, split="2011-01-20", k=2)
    fair = seg.next_period_check(full, split="2011-01-20", early=early, k=2)
    assert leaky.customers.loc["100", "monetary"] == pytest.approx(8.0)
    assert fair.customers.loc["100", "monetary"] == pytest.approx(11.0)
    assert fair.customers.loc["100", "frequency"] == 2
    # behaviour after the split comes from the full log: 100 bought for 10 on 1 February,
    # 200 did not come back, and new customer 300 brought 17 of the 27 later revenue
    assert fair.customers["spend_next"].to_dict() == {"100": 10.0, "200": 0.0}
    assert fair.summary["followed_revenue_share"] == pytest.approx(10 / 27)
    assert fair.summary["came_back_overall"] == pytest.approx(0.5)


def test_wilson_interval_matches_statsmodels():
    low, high = seg.wilson_interval([0, 7, 50], [10, 20, 50])
    ref = [proportion_confint(s, n, method="wilson") for s, n in [(0, 10), (7, 20), (50, 50)]]
    assert low == pytest.approx([r[0] for r in ref], abs=1e-3)
    assert high == pytest.approx([r[1] for r in ref], abs=1e-3)


def test_next_period_check_separates_best_and_worst(cdnow_like):
    check = seg.next_period_check(
        cdnow_like, split="1997-07-01", end="1998-07-01", ks=range(2, 6), n_seeds=3
    )
    table, summary = check.table, check.summary
    assert summary["k"] == len(table) >= 3
    assert table["customers"].sum() == check.customers.shape[0]
    assert summary["best_came_back"] > summary["worst_came_back"]
    assert summary["came_back_diff_low"] > 0
    assert table["spend_next"].iloc[0] > table["spend_next"].iloc[-1]
    assert 0.5 < summary["auc_segment"] <= 1 and 0.5 < summary["auc_rfm_score"] <= 1
    assert (table["came_back_low"] <= table["came_back"]).all()
    assert table["share_next_revenue"].sum() == pytest.approx(1.0)
    # a closed cohort: every later purchase is by a customer known at the split
    assert summary["followed_revenue_share"] == pytest.approx(1.0)
    assert table["share_all_next_revenue"].sum() == pytest.approx(1.0)
    # the baseline: RFM score groups of the same sizes
    scored = check.score_table
    assert scored["customers"].tolist() == table["customers"].tolist()
    assert summary["score_best_came_back"] == scored["came_back"].iloc[0]
    assert summary["score_best_came_back"] > summary["score_worst_came_back"]
    for key in ("auc_recency", "auc_frequency", "auc_monetary"):
        assert 0.5 < summary[key] <= 1
    assert isinstance(summary["budget_order_holds"], bool)


@pytest.mark.parametrize("random_state", [0, 1, 3, 4])
def test_the_online_retail_stand_in_segments_stably_across_seeds(random_state):
    # the chapter's smoke steps on the demo stand-in: the delivered fit must find a
    # stable k, and the early-period fit with its k and names must order the segments
    fit = dict(n_seeds=5, n_init=3, silhouette_sample=1500)
    tx = from_online_retail(make_online_retail_like(1500, random_state=random_state))
    log = clean_transactions(tx)[0]
    early = clean_transactions(tx, before="2011-06-01")[0]
    rfm = seg.rfm_table(log)
    scores = seg.evaluate_k(rfm, ks=range(2, 7), random_state=random_state, **fit)
    k = seg.select_k(scores, min_k=3)
    delivered = seg.fit_segments(rfm, k=k, n_init=3, random_state=random_state).cluster_keys
    check = seg.next_period_check(
        log,
        split="2011-06-01",
        early=early,
        k=k,
        segment_keys=delivered,
        n_init=3,
        random_state=random_state,
    )
    assert check.table["came_back"].is_monotonic_decreasing
    assert check.summary["came_back_diff_low"] > 0


def test_next_period_check_refuses_a_split_after_the_data(cdnow_like):
    with pytest.raises(DataValidationError, match="split"):
        seg.next_period_check(cdnow_like, split="2001-01-01", k=3)


def test_model_round_trip(tmp_path):
    rfm = three_groups()
    model = seg.fit_segments(rfm, k=3)
    path = seg.save_model(model, tmp_path / "segments.joblib")
    loaded = seg.load_model(path)
    pd.testing.assert_frame_equal(seg.assign_segments(model, rfm), seg.assign_segments(loaded, rfm))
    (tmp_path / "junk.joblib").write_text("not a model")
    with pytest.raises(DataValidationError, match="junk"):
        seg.load_model(tmp_path / "junk.joblib")
    with pytest.raises(DataNotFoundError):
        seg.load_model(tmp_path / "missing.joblib")


def test_fit_shift_measures_the_move_on_the_fitted_scale():
    rfm = three_groups()
    model = seg.fit_segments(rfm, k=3)
    same = seg.fit_shift(model, rfm)
    np.testing.assert_allclose(same["shift_sd"], 0, atol=1e-9)
    np.testing.assert_allclose(same["ratio"], 1)
    assert not same["flagged"].any()
    # Spend moved up by exactly 2 on the log1p scale: ratio e^2, 2 / sd(log1p spend) SDs.
    richer = rfm.assign(monetary=np.expm1(np.log1p(rfm["monetary"]) + 2))
    shift = seg.fit_shift(model, richer)
    sd = np.log1p(rfm["monetary"]).std(ddof=0)
    assert shift.loc["monetary", "shift_sd"] == pytest.approx(2 / sd)
    assert shift.loc["monetary", "ratio"] == pytest.approx(np.exp(2))
    assert shift["flagged"].tolist() == [False, False, 2 / sd > seg.SHIFT_WARNING_SD]


def test_plot_helpers_return_their_axes():
    rfm = three_groups()
    segmented = seg.assign_segments(seg.fit_segments(rfm, k=3), rfm)
    scores = seg.evaluate_k(rfm, ks=range(2, 5), n_seeds=2)
    outcomes = pd.DataFrame(
        {"came_back": [True, False] * (len(rfm) // 2), "orders_next": 1, "spend_next": 1.0},
        index=rfm.index,
    )
    table = seg.next_period_table(segmented["segment"], outcomes)
    fig, axes = plt.subplots(2, 4)
    calls = [
        lambda ax: seg.plot_k_selection(scores, metric="silhouette", ax=ax, chosen=3),
        lambda ax: seg.plot_snake(seg.snake_data(segmented), ax=ax),
        lambda ax: seg.plot_segment_sizes(seg.segment_profiles(segmented), ax=ax),
        lambda ax: seg.plot_rfm_by_segment(segmented, feature="monetary", ax=ax, ylabel="GBP"),
        lambda ax: seg.plot_quintile_comparison(seg.quintile_comparison(segmented), ax=ax),
        lambda ax: seg.plot_next_period(table, metric="came_back", ax=ax, overall=0.5),
        lambda ax: seg.plot_next_period(table, metric="spend_next", ax=ax, label="x"),
    ]
    for call, ax in zip(calls, axes.flat, strict=False):
        assert call(ax) is ax
    plt.close(fig)


def test_recorded_chapter_figures(recorded_metrics):
    m = recorded_metrics("07_segmentation")
    assert m["retail_rows_clean"] == 388376
    assert m["retail_customers"] == 4324
    assert 3 <= m["k"] <= 8
    assert m["retail_next"]["came_back_diff_low"] > 0
    # one name per segment: the next-period checks speak the delivered segments' names
    for names in m["next_segments"].values():
        assert names == m["segment_order"]
    assert sorted(m["segment_order"]) == sorted(m["segments"])
    assert m["retail_next"]["worst_segment"] == m["segment_order"][-1]
    if m["is_demo"]:
        return
    # the delivered k is the only stable one from 3 up, and k = 4 is close on silhouette
    assert m["k"] == 3
    assert m["stability_ari"] == pytest.approx(0.93, abs=0.03)
    assert m["stability_ari"] >= 0.9 > max(m["stability_by_k"][str(k)] for k in (4, 5, 6))
    assert m["silhouette"] == pytest.approx(0.340, abs=0.005)
    assert m["silhouette_by_k"]["4"] == pytest.approx(0.336, abs=0.005)
    # the early period is cleaned as known at the split (no later cancellations)
    assert m["retail_future_cancelled_lines"] == 444
    r = m["retail_next"]
    assert r["customers"] == 2713
    assert r["best_came_back"] == pytest.approx(0.971, abs=0.01)
    assert r["worst_came_back"] == pytest.approx(0.556, abs=0.02)
    assert r["came_back_overall"] == pytest.approx(0.708, abs=0.01)
    # Champions' share of the revenue of known customers, and of all later revenue
    assert r["followed_revenue_share"] == pytest.approx(0.772, abs=0.005)
    assert r["best_share_next"] == pytest.approx(0.612, abs=0.02)
    assert r["best_share_all_next"] == pytest.approx(0.472, abs=0.02)
    # "about as well as a simple RFM score": top-bottom gaps within 5 points
    assert r["score_best_came_back"] == pytest.approx(0.973, abs=0.01)
    assert r["score_worst_came_back"] == pytest.approx(0.559, abs=0.02)
    gap = r["best_came_back"] - r["worst_came_back"]
    assert abs(gap - (r["score_best_came_back"] - r["score_worst_came_back"])) <= 0.05
    assert r["auc_rfm_score"] >= r["auc_segment"] == pytest.approx(0.70, abs=0.01)
    assert r["budget_order_holds"] is True
    if not m["cdnow_is_demo"]:
        c = m["cdnow_next"]
        assert c["customers"] == 23500
        assert c["came_back_diff_low"] > 0
        assert c["followed_revenue_share"] > 0.999  # a closed cohort
        assert c["best_came_back"] == pytest.approx(0.792, abs=0.01)
        assert c["score_best_came_back"] == pytest.approx(0.780, abs=0.01)
