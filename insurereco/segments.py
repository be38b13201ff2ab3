"""RFM segmentation: features, K-Means, segment names, and the next-period check.

The recipe, on a cleaned transaction log (see :mod:`insurereco.transactions`):

1. :func:`rfm_table` computes recency (days from the last purchase day to the
   snapshot), frequency (distinct invoices) and monetary value (total spend) per
   customer, using only purchases before the snapshot;
2. :func:`make_pipeline` applies ``log1p``, standard scaling and K-Means;
3. :func:`evaluate_k` scores each k by inertia (elbow), silhouette and stability
   under resampling (mean adjusted Rand index between the fit on all customers and
   refits on bootstrap resamples, each with the delivered number of starts), and
   :func:`select_k` picks one by a stated rule;
4. :func:`fit_segments` names the clusters by matching their centres to the prototypes
   in ``insurereco/rules/segments.yml`` (cluster numbers are arbitrary, so never by
   number) and attaches the strategy of each segment;
5. :func:`next_period_check` fits the same recipe on an early period and measures
   what each segment's customers did in the following period, next to a naive
   baseline (the classic RFM sum score cut into groups of the same sizes, see
   :func:`score_groups`).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, roc_auc_score, silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from insurereco.errors import DataValidationError
from insurereco.reporting import dump_artifact, load_artifact
from insurereco.transactions import TRANSACTION_COLUMNS, load_segment_rules

__all__ = [
    "RFM_COLUMNS",
    "SEGMENT_MODEL_FORMAT",
    "SHIFT_WARNING_SD",
    "NextPeriodCheck",
    "SegmentModel",
    "assign_segments",
    "budget_order_holds",
    "default_snapshot",
    "elbow_k",
    "evaluate_k",
    "fit_segments",
    "fit_shift",
    "load_model",
    "make_pipeline",
    "name_clusters",
    "next_period_check",
    "next_period_outcomes",
    "next_period_table",
    "plot_k_selection",
    "plot_next_period",
    "plot_quintile_comparison",
    "plot_rfm_by_segment",
    "plot_segment_sizes",
    "plot_snake",
    "quintile_comparison",
    "quintile_scores",
    "rfm_table",
    "save_model",
    "segment_profiles",
    "score_groups",
    "select_k",
    "snake_data",
    "strategy_table",
    "wilson_interval",
]

#: Format tag of saved segment models (see :func:`save_model`).
SEGMENT_MODEL_FORMAT = "insurereco-segments"

RFM_COLUMNS: tuple[str, ...] = ("recency", "frequency", "monetary")

#: :func:`fit_shift` flags a column whose mean moved by more than this many standard
#: deviations of the fitting customers. Measured (log scale): the same shop's customers
#: one period later move by at most 0.7 on Online Retail and CDNOW (1.25 for recency when
#: only recent buyers are kept); the other shop's customers move by 1.3 to 2.4.
SHIFT_WARNING_SD = 1.5


def _one_thread():
    """Run K-Means and silhouettes single-threaded.

    With three features the work per iteration is tiny, and OpenMP threads mostly wait
    on each other: on a busy 2-core machine a fit was about 50 times slower with two
    threads than with one.
    """
    return threadpool_limits(limits=1)


# --- RFM features -------------------------------------------------------------------------


def default_snapshot(tx: pd.DataFrame) -> pd.Timestamp:
    """The day after the last transaction (so the latest buyers have recency 1)."""
    return pd.Timestamp(tx["date"].max()).normalize() + pd.Timedelta(days=1)


def _timestamp(value: Any, *, what: str) -> pd.Timestamp:
    """A date from a date-like value; text must be ISO (``2011-12-10``), never ``10/12/2011``,
    which reads as 12 October or 10 December depending on the country."""
    message = f"{what}: cannot parse date {value!r}; write it as YYYY-MM-DD"
    try:
        if isinstance(value, str):
            stamp = pd.to_datetime(value, format="ISO8601")
        else:
            stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataValidationError(message) from exc
    if pd.isna(stamp):
        raise DataValidationError(message)
    return stamp


def rfm_table(tx: pd.DataFrame, *, snapshot: Any = None) -> pd.DataFrame:
    """Recency, frequency and monetary value per customer at ``snapshot``.

    Parameters
    ----------
    tx : DataFrame
        Cleaned, normalised transactions (``customer_id``, ``invoice_id``, ``date``,
        ``amount``).
    snapshot : date-like, optional
        Observation date; only transactions strictly before it count. Default: the day
        after the last transaction.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (sorted): ``recency`` (days from the last purchase day
        to the snapshot day, >= 1 when the snapshot is a day boundary), ``frequency``
        (distinct invoices), ``monetary`` (total amount).

    Raises
    ------
    DataValidationError
        Missing columns, an unparsable snapshot, or no transaction before the snapshot.
    """
    missing = [c for c in TRANSACTION_COLUMNS if c not in tx.columns]
    if missing:
        raise DataValidationError(f"transactions: missing column(s) {', '.join(missing)}")
    snap = default_snapshot(tx) if snapshot is None else _timestamp(snapshot, what="snapshot")
    before = tx.loc[tx["date"] < snap]
    if before.empty:
        raise DataValidationError(f"snapshot {snap.date()}: no transaction before this date")
    grouped = before.groupby("customer_id", sort=True)
    last_day = grouped["date"].max().dt.normalize()
    rfm = pd.DataFrame(
        {
            "recency": (snap.normalize() - last_day).dt.days.astype("int64"),
            "frequency": grouped["invoice_id"].nunique().astype("int64"),
            "monetary": grouped["amount"].sum().astype("float64"),
        }
    )
    rfm.index.name = "customer_id"
    return rfm


def quintile_scores(rfm: pd.DataFrame) -> pd.DataFrame:
    """Classic RFM scores: each of R, F, M cut into quintiles scored 1 (worst) to 5 (best).

    Ties share a score (percentile ranks with average ties), so a frequency of 1 held by
    many customers gets one score. Recency is reversed: the most recent score 5.

    Returns
    -------
    DataFrame
        ``r_score``, ``f_score``, ``m_score`` (1-5), ``rfm_cell`` (e.g. ``"545"``) and
        ``rfm_score`` (sum, 3-15), same index as ``rfm``.
    """

    def _score(values: pd.Series) -> pd.Series:
        pct = values.rank(method="average", pct=True)
        return np.ceil(pct * 5).clip(1, 5).astype("int64")

    out = pd.DataFrame(
        {
            "r_score": _score(-rfm["recency"]),
            "f_score": _score(rfm["frequency"]),
            "m_score": _score(rfm["monetary"]),
        },
        index=rfm.index,
    )
    out["rfm_cell"] = (
        out["r_score"].astype(str) + out["f_score"].astype(str) + out["m_score"].astype(str)
    )
    out["rfm_score"] = out[["r_score", "f_score", "m_score"]].sum(axis=1)
    return out


# --- clustering and the choice of k -------------------------------------------------------


def make_pipeline(n_clusters: int, *, n_init: int = 10, random_state: int = 0) -> Pipeline:
    """``log1p`` -> ``StandardScaler`` -> ``KMeans(n_clusters)`` on the R, F, M columns.

    Parameters
    ----------
    n_clusters : int
        Number of K-Means clusters (segments).
    n_init : int, default 10
        K-Means starts; the one with the lowest inertia is kept.
    random_state : int, default 0
        Seed of the K-Means initialisation.

    Returns
    -------
    Pipeline
        Unfitted.
    """
    return Pipeline(
        [
            ("log", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
            ("kmeans", KMeans(n_clusters=n_clusters, n_init=n_init, random_state=random_state)),
        ]
    )


def _features(rfm: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in RFM_COLUMNS if c not in rfm.columns]
    if missing:
        raise DataValidationError(f"RFM table: missing column(s) {', '.join(missing)}")
    return rfm.loc[:, list(RFM_COLUMNS)].astype("float64")


def evaluate_k(
    rfm: pd.DataFrame,
    *,
    ks: Any = range(2, 11),
    n_seeds: int = 5,
    n_init: int = 10,
    silhouette_sample: int | None = 5000,
    random_state: int = 0,
) -> pd.DataFrame:
    """Score each number of clusters by elbow, silhouette and stability under resampling.

    Stability is measured on the delivered procedure: for each k, K-Means with ``n_init``
    starts is refitted on ``n_seeds`` bootstrap resamples of the customers, each refit
    assigns every original customer, and the adjusted Rand index (ARI) compares that
    partition with the fit on all customers. A k whose partition changes when the
    customers are resampled cannot be handed over as a fixed list of segments.

    Parameters
    ----------
    rfm : DataFrame
        Output of :func:`rfm_table`.
    ks : iterable of int
        Candidate numbers of clusters (each >= 2).
    n_seeds : int
        Bootstrap resamples per k (the same resamples for every k).
    n_init : int
        K-Means starts of every fit: the main fit per k (inertia, silhouette) and each
        refit on a resample.
    silhouette_sample : int or None
        Customers sampled for the silhouette (None: all).
    random_state : int
        Seed of the main K-Means fit per k, of the resamples (refit ``s`` uses K-Means
        seed ``random_state + s``), and of the silhouette's customer sample.

    Returns
    -------
    DataFrame
        One row per k: ``k``, ``inertia``, ``silhouette``, ``stability_ari`` (mean ARI
        between the full fit and the resample refits), ``stability_min_ari``.
    """
    X = make_pipeline(2)[:-1].fit_transform(_features(rfm))
    sample = None if silhouette_sample is None else min(silhouette_sample, len(X))
    rng = np.random.default_rng(random_state)
    resamples = [rng.integers(0, len(X), len(X)) for _ in range(n_seeds)]
    with _one_thread():
        return pd.DataFrame(
            [_score_k(X, int(k), resamples, n_init, sample, random_state) for k in ks]
        )


def _score_k(
    X: np.ndarray,
    k: int,
    resamples: list[np.ndarray],
    n_init: int,
    sample: int | None,
    random_state: int,
) -> dict[str, float]:
    """One row of :func:`evaluate_k`."""
    if not 2 <= k < len(X):
        raise ValueError(f"k must be between 2 and {len(X) - 1} (customers - 1), got {k}")
    main = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(X)
    aris = [
        adjusted_rand_score(
            main.labels_,
            KMeans(n_clusters=k, n_init=n_init, random_state=random_state + s)
            .fit(X[rows])
            .predict(X),
        )
        for s, rows in enumerate(resamples)
    ]
    silhouette = silhouette_score(X, main.labels_, sample_size=sample, random_state=random_state)
    return {
        "k": k,
        "inertia": float(main.inertia_),
        "silhouette": float(silhouette),
        "stability_ari": float(np.mean(aris)) if aris else np.nan,
        "stability_min_ari": float(np.min(aris)) if aris else np.nan,
    }


def elbow_k(scores: pd.DataFrame) -> int:
    """The elbow of the inertia curve: the k farthest below the chord joining its ends.

    Both axes are rescaled to [0, 1] first (the "kneedle" construction).
    """
    k = scores["k"].to_numpy(dtype=float)
    inertia = scores["inertia"].to_numpy(dtype=float)
    if len(k) < 3:
        return int(k[0])
    x = (k - k.min()) / (k.max() - k.min())
    y = (inertia - inertia.min()) / (inertia.max() - inertia.min())
    gap = (1 - x) - y  # chord from (0, 1) to (1, 0) minus the curve
    return int(k[int(np.argmax(gap))])


def select_k(
    scores: pd.DataFrame,
    *,
    min_k: int = 3,
    max_k: int | None = None,
    min_stability: float = 0.9,
) -> int:
    """Pick k: the best silhouette among the stable candidates from ``min_k`` to ``max_k``.

    Parameters
    ----------
    scores : DataFrame
        Output of :func:`evaluate_k`.
    min_k : int
        Fewest segments that allow different treatments (retain / develop / reactivate
        needs 3).
    max_k : int, optional
        Most segments; default the number of segments defined in ``segments.yml``
        (each cluster needs its own name and strategy).
    min_stability : float
        Minimum stability (mean adjusted Rand index under resampling, see
        :func:`evaluate_k`).

    Returns
    -------
    int

    Raises
    ------
    ValueError
        No candidate was scored, or none passes both filters.
    """
    if scores.empty or "k" not in scores:
        raise ValueError("no k was scored (no candidate below the number of customers)")
    max_k = len(load_segment_rules()["segments"]) if max_k is None else max_k
    ok = scores.loc[scores["k"].between(min_k, max_k) & (scores["stability_ari"] >= min_stability)]
    if ok.empty:
        raise ValueError(
            f"no k in [{min_k}, {max_k}] has a stability (mean ARI) >= {min_stability}; "
            "lower min_stability or set k explicitly"
        )
    return int(ok.sort_values(["silhouette", "k"], ascending=[False, True])["k"].iloc[0])


# --- naming and the fitted model ----------------------------------------------------------


def _rules(rules: dict[str, Any] | None) -> dict[str, Any]:
    return load_segment_rules() if rules is None else rules


def name_clusters(
    centers: np.ndarray,
    *,
    rules: dict[str, Any] | None = None,
    segment_keys: Any = None,
) -> list[str]:
    """Match cluster centres to segment prototypes, one prototype per cluster.

    Parameters
    ----------
    centers : array of shape (k, 3)
        Cluster centres in the scaled log space, columns in :data:`RFM_COLUMNS` order.
    rules : dict, optional
        Parsed ``segments.yml`` (default: the packaged one).
    segment_keys : iterable of str, optional
        Only these segments may be used as names (default: all in the rules). Pass the
        keys of another fit (for example ``model.cluster_keys``) so that a refit on other
        data speaks the same vocabulary instead of picking a neighbouring prototype.

    Returns
    -------
    list of str
        The segment key of each cluster, minimising the total Euclidean distance
        (Hungarian assignment).

    Raises
    ------
    ValueError
        More clusters than allowed prototypes, or an unknown key in ``segment_keys``.
    """
    segments = _rules(rules)["segments"]
    if segment_keys is not None:
        wanted = set(segment_keys)
        unknown = sorted(wanted - {s["key"] for s in segments})
        if unknown:
            raise ValueError(f"segment_keys: unknown segment(s) {', '.join(unknown)}")
        segments = [s for s in segments if s["key"] in wanted]
    centers = np.asarray(centers, dtype=float)
    if len(centers) > len(segments):
        raise ValueError(
            f"k={len(centers)} clusters but only {len(segments)} segments are allowed as names"
        )
    protos = np.array([[s["prototype"][c] for c in RFM_COLUMNS] for s in segments], dtype=float)
    cost = np.linalg.norm(centers[:, None, :] - protos[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    keys = [""] * len(centers)
    for r, c in zip(rows, cols, strict=True):
        keys[r] = segments[c]["key"]
    return keys


@dataclass
class SegmentModel:
    """A fitted RFM segmentation: the pipeline plus the name of each cluster.

    Attributes
    ----------
    pipeline : Pipeline
        ``log1p`` -> scaler -> K-Means, fitted on R, F, M.
    cluster_keys : tuple of str
        Segment key of cluster 0, 1, ...
    rules : dict
        The segment rules used for names and strategies (saved with the model).
    snapshot : Timestamp or None
        Snapshot of the fitting data (for the record).
    """

    pipeline: Pipeline
    cluster_keys: tuple[str, ...]
    rules: dict[str, Any] = field(repr=False)
    snapshot: pd.Timestamp | None = None

    @property
    def n_clusters(self) -> int:
        """Number of clusters (k)."""
        return len(self.cluster_keys)

    @property
    def centers(self) -> pd.DataFrame:
        """Cluster centres in the scaled log space, one row per segment name."""
        centers = self.pipeline.named_steps["kmeans"].cluster_centers_
        return pd.DataFrame(
            centers, columns=list(RFM_COLUMNS), index=[self.names[k] for k in self.cluster_keys]
        )

    @property
    def names(self) -> dict[str, str]:
        """Segment key -> display name."""
        return {s["key"]: s["name"] for s in self.rules["segments"]}

    @property
    def order(self) -> list[str]:
        """Display names of this model's segments, best first (``segments.yml`` order)."""
        present = set(self.cluster_keys)
        return [s["name"] for s in self.rules["segments"] if s["key"] in present]

    def value_scores(self) -> pd.Series:
        """Per segment name: mean of (-recency, frequency, monetary) of the centre."""
        c = self.centers
        return ((-c["recency"] + c["frequency"] + c["monetary"]) / 3).rename("value_score")


def fit_segments(
    rfm: pd.DataFrame,
    *,
    k: int,
    n_init: int = 10,
    random_state: int = 0,
    rules: dict[str, Any] | None = None,
    snapshot: Any = None,
    segment_keys: Any = None,
) -> SegmentModel:
    """Fit the RFM pipeline with ``k`` clusters and name the clusters.

    Parameters
    ----------
    rfm : DataFrame
        Output of :func:`rfm_table`.
    k : int
        Number of clusters, between 2 and the number of customers.
    n_init, random_state : int
        K-Means starts and seed.
    rules : dict, optional
        Parsed ``segments.yml``.
    snapshot : date-like, optional
        Recorded on the model.
    segment_keys : iterable of str, optional
        Restrict the names to these segments (see :func:`name_clusters`).

    Returns
    -------
    SegmentModel
    """
    X = _features(rfm)
    if not 2 <= k <= len(X):
        raise DataValidationError(f"k={k} needs between 2 and {len(X)} customers' worth of data")
    with _one_thread():
        pipeline = make_pipeline(k, n_init=n_init, random_state=random_state).fit(X)
    rules = _rules(rules)
    keys = name_clusters(
        pipeline.named_steps["kmeans"].cluster_centers_, rules=rules, segment_keys=segment_keys
    )
    snap = None if snapshot is None else pd.Timestamp(snapshot)
    return SegmentModel(pipeline=pipeline, cluster_keys=tuple(keys), rules=rules, snapshot=snap)


def assign_segments(model: SegmentModel, rfm: pd.DataFrame) -> pd.DataFrame:
    """Add ``cluster``, ``segment`` (ordered categorical, best first) and ``strategy``.

    Returns
    -------
    DataFrame
        ``rfm`` plus the three columns, same index.
    """
    with _one_thread():
        clusters = model.pipeline.predict(_features(rfm))
    by_key = {s["key"]: s for s in model.rules["segments"]}
    names = [by_key[model.cluster_keys[c]]["name"] for c in clusters]
    out = rfm.copy()
    out["cluster"] = clusters.astype("int64")
    out["segment"] = pd.Categorical(names, categories=model.order, ordered=True)
    strategy = {s["name"]: s["strategy"] for s in model.rules["segments"]}
    out["strategy"] = out["segment"].astype(str).map(strategy).astype(str)
    return out


def fit_shift(model: SegmentModel, rfm: pd.DataFrame) -> pd.DataFrame:
    """How far ``rfm``'s customers are from those ``model`` was fitted on.

    A saved segmentation applied to another shop's log (another currency, another
    season length) still gives every customer a segment, but the names stop meaning
    what they say. This compares the new customers with the fitting ones through the
    pipeline's own scaler, so it needs nothing beyond the saved model.

    Returns
    -------
    DataFrame
        One row per R, F, M column: ``shift_sd`` (mean of the new customers on the
        fitted scale, i.e. in standard deviations of the fitting customers, log scale),
        ``ratio`` (typical new value over typical fitted value, geometric means of
        ``1 + value``) and ``flagged`` (``|shift_sd| > SHIFT_WARNING_SD``).
    """
    scaler = model.pipeline.named_steps["scale"]
    logged = np.log1p(_features(rfm))
    diff = logged.mean().to_numpy() - scaler.mean_
    shift = pd.DataFrame(
        {"shift_sd": diff / scaler.scale_, "ratio": np.exp(diff)}, index=list(RFM_COLUMNS)
    )
    shift["flagged"] = shift["shift_sd"].abs() > SHIFT_WARNING_SD
    return shift


def save_model(model: SegmentModel, path: str | os.PathLike) -> Path:
    """Save a fitted :class:`SegmentModel` with joblib (atomically)."""
    return dump_artifact({"format": SEGMENT_MODEL_FORMAT, "model": model}, path)


def load_model(path: str | os.PathLike) -> SegmentModel:
    """Load a model saved by :func:`save_model`; complain clearly about anything else."""
    model = load_artifact(path, fmt=SEGMENT_MODEL_FORMAT)["model"]
    if not isinstance(model, SegmentModel):
        raise DataValidationError(f"{path}: holds a {type(model).__name__}, not a SegmentModel")
    return model


# --- profiles and tables ------------------------------------------------------------------


def segment_profiles(segmented: pd.DataFrame) -> pd.DataFrame:
    """Size, mean R/F/M, mean quintile scores and share of revenue per segment.

    Parameters
    ----------
    segmented : DataFrame
        Output of :func:`assign_segments`.

    Returns
    -------
    DataFrame
        One row per segment (best first): ``customers``, ``share_customers``,
        ``recency``, ``frequency``, ``monetary`` (means), ``median_monetary``,
        ``share_revenue``, ``r_score``, ``f_score``, ``m_score``, ``rfm_score`` (means).
    """
    scores = quintile_scores(segmented)
    data = segmented.join(scores[["r_score", "f_score", "m_score", "rfm_score"]])
    grouped = data.groupby("segment", observed=True, sort=True)
    out = grouped.agg(
        customers=("recency", "size"),
        recency=("recency", "mean"),
        frequency=("frequency", "mean"),
        monetary=("monetary", "mean"),
        median_monetary=("monetary", "median"),
        revenue=("monetary", "sum"),
        r_score=("r_score", "mean"),
        f_score=("f_score", "mean"),
        m_score=("m_score", "mean"),
        rfm_score=("rfm_score", "mean"),
    )
    out.insert(1, "share_customers", out["customers"] / out["customers"].sum())
    out.insert(6, "share_revenue", out.pop("revenue") / data["monetary"].sum())
    out.index = out.index.astype(str)
    return out


def strategy_table(rules: dict[str, Any] | None = None) -> pd.DataFrame:
    """The segment -> strategy table from ``segments.yml`` (all segments, best first)."""
    rows = [
        {
            "segment": s["name"],
            "profile": s["profile"],
            "strategy": s["strategy"],
            "budget": s["budget"],
        }
        for s in _rules(rules)["segments"]
    ]
    return pd.DataFrame(rows)


def quintile_comparison(segmented: pd.DataFrame) -> pd.DataFrame:
    """Share of each K-Means segment's customers at each classic RFM sum score (3-15)."""
    scores = quintile_scores(segmented)["rfm_score"]
    table = pd.crosstab(segmented["segment"], scores, normalize="index")
    table.index = table.index.astype(str)
    table.columns.name = "rfm_score"
    return table


def snake_data(segmented: pd.DataFrame) -> pd.DataFrame:
    """Mean standardised ``log1p`` R, F, M per segment (rows) for a snake plot."""
    logs = np.log1p(_features(segmented))
    z = (logs - logs.mean()) / logs.std(ddof=0)
    z["segment"] = segmented["segment"]
    out = z.groupby("segment", observed=True, sort=True).mean()
    out.index = out.index.astype(str)
    return out


# --- next-period check --------------------------------------------------------------------


def wilson_interval(successes: Any, n: Any, *, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a proportion (vectorised); returns (low, high)."""
    successes = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    p = np.divide(successes, n, out=np.zeros_like(n), where=n > 0)
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


def next_period_outcomes(
    tx: pd.DataFrame, customers: pd.Index, *, start: Any, end: Any = None
) -> pd.DataFrame:
    """What each customer did in ``[start, end)``: came back, number of orders, spend.

    Parameters
    ----------
    tx : DataFrame
        Cleaned, normalised transactions.
    customers : Index
        Customers to report (e.g. those segmented on the early period); customers
        first seen in the later period are not counted.
    start, end : date-like
        Later period (``end`` None: up to the last transaction).

    Returns
    -------
    DataFrame
        Indexed like ``customers``: ``came_back`` (bool), ``orders_next`` (int),
        ``spend_next`` (float).
    """
    start = _timestamp(start, what="next-period start")
    end = None if end is None else _timestamp(end, what="next-period end")
    grouped = _period(tx, start, end).groupby("customer_id")
    out = pd.DataFrame(
        {
            "orders_next": grouped["invoice_id"].nunique(),
            "spend_next": grouped["amount"].sum(),
        }
    ).reindex(customers)
    out = out.fillna({"orders_next": 0, "spend_next": 0.0})
    out["orders_next"] = out["orders_next"].astype("int64")
    out.insert(0, "came_back", out["orders_next"] > 0)
    out.index.name = customers.name
    return out


def _period(tx: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp | None) -> pd.DataFrame:
    """Transactions dated in ``[start, end)`` (no end: from ``start`` on)."""
    later = tx.loc[tx["date"] >= start]
    return later if end is None else later.loc[later["date"] < end]


def next_period_table(
    segment: pd.Series, outcomes: pd.DataFrame, *, total_revenue: float | None = None
) -> pd.DataFrame:
    """Next-period behaviour per segment (rows in the segment order).

    Parameters
    ----------
    segment : Series
        Segment of each customer (categorical keeps the best-first order).
    outcomes : DataFrame
        Output of :func:`next_period_outcomes`, same index.
    total_revenue : float, optional
        Revenue of the whole later period, including customers first seen in it; when
        given, ``share_all_next_revenue`` is added.

    Returns
    -------
    DataFrame
        ``customers``, ``came_back`` (rate) with its 95% Wilson ``came_back_low`` /
        ``came_back_high``, ``orders_next`` and ``spend_next`` (means per customer),
        ``spend_per_returner``, ``share_customers``, ``share_next_revenue`` (share of
        the later revenue of the customers in ``outcomes``) and, with
        ``total_revenue``, ``share_all_next_revenue``.
    """
    data = outcomes.assign(segment=segment)
    grouped = data.groupby("segment", observed=True, sort=True)
    out = grouped.agg(
        customers=("came_back", "size"),
        returned=("came_back", "sum"),
        orders_next=("orders_next", "mean"),
        spend_next=("spend_next", "mean"),
        revenue_next=("spend_next", "sum"),
    )
    low, high = wilson_interval(out["returned"], out["customers"])
    out.insert(1, "came_back", out["returned"] / out["customers"])
    out.insert(2, "came_back_low", low)
    out.insert(3, "came_back_high", high)
    out["spend_per_returner"] = out["revenue_next"] / out["returned"].where(out["returned"] > 0)
    out["share_customers"] = out["customers"] / out["customers"].sum()
    total = out["revenue_next"].sum()
    out["share_next_revenue"] = out["revenue_next"] / total if total > 0 else np.nan
    if total_revenue is not None:
        out["share_all_next_revenue"] = (
            out["revenue_next"] / total_revenue if total_revenue > 0 else np.nan
        )
    out = out.drop(columns=["returned", "revenue_next"])
    out.index = out.index.astype(str)
    return out


def score_groups(
    score: pd.Series,
    sizes: Any,
    *,
    labels: Any = None,
    tiebreak: pd.Series | None = None,
) -> pd.Series:
    """Cut customers ranked by a score into consecutive groups of given sizes, best first.

    The naive baseline of a segmentation: rank customers by a simple score and cut the
    ranking into groups as large as the segments, so that both are compared on equal
    group sizes.

    Parameters
    ----------
    score : Series
        Higher = better (e.g. the classic RFM sum score of :func:`quintile_scores`).
    sizes : sequence of int
        Group sizes, best group first; they must add up to ``len(score)``.
    labels : sequence of str, optional
        Group names, best first (default ``"1"``, ``"2"``, ...).
    tiebreak : Series, optional
        Second ranking key (higher = better) for customers with equal scores; remaining
        ties go by ascending index, so the result never depends on the row order.

    Returns
    -------
    Series
        Ordered categorical group of each customer, same index as ``score``.

    Raises
    ------
    ValueError
        Sizes that do not add up to the number of customers, a negative size, or a
        number of labels different from the number of sizes.
    """
    sizes = [int(n) for n in sizes]
    labels = [str(i + 1) for i in range(len(sizes))] if labels is None else list(labels)
    if len(labels) != len(sizes):
        raise ValueError(f"{len(labels)} labels for {len(sizes)} group sizes")
    if min(sizes, default=0) < 0 or sum(sizes) != len(score):
        raise ValueError(f"group sizes {sizes} must be >= 0 and add up to {len(score)} customers")
    keys = pd.DataFrame({"score": score.to_numpy(dtype=float)}, index=score.index)
    keys["tiebreak"] = 0.0 if tiebreak is None else tiebreak.reindex(score.index).to_numpy(float)
    ranked = keys.sort_index(kind="stable").sort_values(
        ["score", "tiebreak"], ascending=False, kind="stable"
    )
    group = np.repeat(np.arange(len(sizes)), sizes)
    out = pd.Series(
        pd.Categorical.from_codes(group, categories=labels, ordered=True), index=ranked.index
    )
    return out.reindex(score.index).rename("group")


def budget_order_holds(
    table: pd.DataFrame, *, rules: dict[str, Any] | None = None, metric: str = "spend_next"
) -> bool:
    """Whether the planned budget order holds in the measured next period.

    True when every segment with a higher planned budget level (``segments.yml``) has a
    higher ``metric`` than every segment with a lower level; segments that share a level
    are not compared with each other.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`next_period_table` (index: segment names).
    rules : dict, optional
        Parsed ``segments.yml``.
    metric : str
        Column compared, default the mean next-period spend per customer.

    Returns
    -------
    bool
    """
    rules = _rules(rules)
    levels = list(rules["budget_levels"])
    level = {s["name"]: levels.index(s["budget"]) for s in rules["segments"]}
    rows = [(level[name], float(value)) for name, value in table[metric].items()]
    return all(va > vb for (la, va), (lb, vb) in itertools.permutations(rows, 2) if la < lb)


@dataclass
class NextPeriodCheck:
    """Result of :func:`next_period_check` (segments fitted on the early period only).

    Attributes
    ----------
    split, end : Timestamp
        Later period ``[split, end)``; the early period is everything before ``split``.
    scores : DataFrame
        :func:`evaluate_k` on the early period (empty when ``k`` was given).
    model : SegmentModel
    customers : DataFrame
        Early RFM, segment, quintile score, value score, RFM score group and next-period
        outcomes.
    table : DataFrame
        :func:`next_period_table` per segment.
    score_table : DataFrame
        :func:`next_period_table` per RFM score group of the same sizes (the baseline).
    summary : dict
        Headline figures: best and worst segment (by the a-priori order), their return
        rates and spend, the difference with a 95% interval, the overall return rate,
        the same figures for the RFM score groups, the AUC of "came back" for the
        segment value score, the classic RFM sum score and each of R, F, M alone, the
        followed customers' share of all later revenue and whether the planned budget
        order holds.
    """

    split: pd.Timestamp
    end: pd.Timestamp | None
    scores: pd.DataFrame
    model: SegmentModel
    customers: pd.DataFrame
    table: pd.DataFrame
    score_table: pd.DataFrame
    summary: dict[str, Any]


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else float("inf")


def _summary(
    customers: pd.DataFrame,
    table: pd.DataFrame,
    score_table: pd.DataFrame,
    model: SegmentModel,
    later_revenue: float,
) -> dict[str, Any]:
    best, worst = table.index[0], table.index[-1]
    p1, p2 = table.loc[best, "came_back"], table.loc[worst, "came_back"]
    n1, n2 = table.loc[best, "customers"], table.loc[worst, "customers"]
    diff = p1 - p2
    half = 1.96 * np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    came = customers["came_back"].astype(int)
    followed = float(customers["spend_next"].sum())
    return {
        "k": model.n_clusters,
        "customers": len(customers),
        "best_segment": best,
        "worst_segment": worst,
        "came_back_overall": float(came.mean()),
        "best_came_back": float(p1),
        "worst_came_back": float(p2),
        "came_back_diff": float(diff),
        "came_back_diff_low": float(diff - half),
        "came_back_diff_high": float(diff + half),
        "best_spend_next": float(table.loc[best, "spend_next"]),
        "worst_spend_next": float(table.loc[worst, "spend_next"]),
        "spend_ratio": _ratio(table.loc[best, "spend_next"], table.loc[worst, "spend_next"]),
        "score_best_came_back": float(score_table["came_back"].iloc[0]),
        "score_worst_came_back": float(score_table["came_back"].iloc[-1]),
        "score_spend_ratio": _ratio(
            score_table["spend_next"].iloc[0], score_table["spend_next"].iloc[-1]
        ),
        "auc_segment": float(roc_auc_score(came, customers["value_score"])),
        "auc_rfm_score": float(roc_auc_score(came, customers["rfm_score"])),
        "auc_recency": float(roc_auc_score(came, -customers["recency"])),
        "auc_frequency": float(roc_auc_score(came, customers["frequency"])),
        "auc_monetary": float(roc_auc_score(came, customers["monetary"])),
        "best_share_next": float(table.loc[best, "share_next_revenue"]),
        "best_share_all_next": float(table.loc[best, "share_all_next_revenue"]),
        "followed_revenue_share": followed / later_revenue if later_revenue > 0 else np.nan,
        "budget_order_holds": budget_order_holds(table, rules=model.rules),
    }


def next_period_check(
    tx: pd.DataFrame,
    *,
    split: Any,
    end: Any = None,
    early: pd.DataFrame | None = None,
    k: int | None = None,
    ks: Any = range(2, 9),
    min_k: int = 3,
    max_k: int | None = None,
    min_stability: float = 0.9,
    n_seeds: int = 5,
    n_init: int = 10,
    silhouette_sample: int | None = 5000,
    random_state: int = 0,
    rules: dict[str, Any] | None = None,
    segment_keys: Any = None,
) -> NextPeriodCheck:
    """Segment on the period before ``split``, then measure ``[split, end)`` per segment.

    The recipe (RFM at snapshot ``split``, choice of k unless given, K-Means, naming)
    sees only the early period, so the later period is a fair test. The same customers
    are also cut into groups of the segments' sizes by the classic RFM sum score
    (:func:`score_groups`, ties by spend), the naive baseline the segments must beat.

    Parameters
    ----------
    tx : DataFrame
        Cleaned, normalised transactions covering both periods; the later period's
        behaviour and total revenue are read from it.
    split, end : date-like
        Start and (exclusive) end of the later period.
    early : DataFrame, optional
        The early period's log as it could be cleaned at the split, that is
        ``clean_transactions(raw, before=split)``, so that no cancellation dated on or
        after the split removes an early purchase. Default: ``tx`` (cleaned with the
        whole log, which lets later cancellations reach back).
    k : int, optional
        Number of clusters; default chosen by :func:`select_k`.
    ks, min_k, max_k, min_stability, n_seeds, n_init, silhouette_sample, random_state
        As in :func:`evaluate_k` and :func:`select_k`; candidates outside
        ``[min_k, max_k]`` are not evaluated, since they could not be selected.
    rules : dict, optional
        Parsed ``segments.yml``.
    segment_keys : iterable of str, optional
        Name the early-period clusters only with these segments, typically the
        ``cluster_keys`` of the delivered (full-period) fit, so that both fits use one
        name per segment. ``max_k`` defaults to their number, so with ``min_k`` equal to
        it k is in effect taken from the delivered fit: pass ``k`` explicitly to say so.

    Returns
    -------
    NextPeriodCheck
    """
    segment_keys = None if segment_keys is None else tuple(segment_keys)
    split = _timestamp(split, what="split date")
    end_ts = None if end is None else _timestamp(end, what="end date")
    if end_ts is not None and end_ts <= split:
        raise DataValidationError(f"end date {end_ts.date()} must be after split {split.date()}")
    if not (tx["date"] >= split).any():
        raise DataValidationError(f"split date {split.date()}: no transaction on or after it")
    rfm = rfm_table(tx if early is None else early, snapshot=split)
    scores = pd.DataFrame()
    if k is None:
        if max_k is None:
            max_k = len(_rules(rules)["segments"] if segment_keys is None else segment_keys)
        scores = evaluate_k(
            rfm,
            ks=[c for c in ks if min_k <= c <= max_k] or ks,
            n_seeds=n_seeds,
            n_init=n_init,
            silhouette_sample=silhouette_sample,
            random_state=random_state,
        )
        k = select_k(scores, min_k=min_k, max_k=max_k, min_stability=min_stability)
    model = fit_segments(
        rfm,
        k=k,
        n_init=n_init,
        random_state=random_state,
        rules=rules,
        snapshot=split,
        segment_keys=segment_keys,
    )
    customers = assign_segments(model, rfm)
    customers["rfm_score"] = quintile_scores(rfm)["rfm_score"]
    customers["value_score"] = (
        customers["segment"].astype(str).map(model.value_scores()).astype(float)
    )
    later_revenue = float(_period(tx, split, end_ts)["amount"].sum())
    customers = customers.join(next_period_outcomes(tx, rfm.index, start=split, end=end_ts))
    table = next_period_table(customers["segment"], customers, total_revenue=later_revenue)
    customers["score_group"] = score_groups(
        customers["rfm_score"],
        table["customers"],
        labels=[f"RFM score group {i + 1}" for i in range(len(table))],
        tiebreak=customers["monetary"],
    )
    score_table = next_period_table(
        customers["score_group"], customers, total_revenue=later_revenue
    )
    return NextPeriodCheck(
        split=split,
        end=end_ts,
        scores=scores,
        model=model,
        customers=customers,
        table=table,
        score_table=score_table,
        summary=_summary(customers, table, score_table, model, later_revenue),
    )


# --- plots --------------------------------------------------------------------------------


def plot_k_selection(scores: pd.DataFrame, *, metric: str, ax, chosen: int | None = None):
    """Line plot of one :func:`evaluate_k` column against k, the chosen k marked."""
    labels = {
        "inertia": "inertia (within-cluster sum of squares)",
        "silhouette": "silhouette (higher = better separated)",
        "stability_ari": "stability under resampling (mean ARI)",
    }
    ax.plot(scores["k"], scores[metric], marker="o", color="tab:blue")
    if chosen is not None:
        ax.axvline(chosen, color="tab:red", linestyle="--", label=f"chosen k = {chosen}")
        ax.legend(loc="best")
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel(labels.get(metric, metric))
    ax.set_xticks(scores["k"])
    return ax


def plot_snake(snake: pd.DataFrame, *, ax):
    """Snake plot: one line per segment across standardised log R, F, M, up = better.

    Recency is drawn with its sign reversed and labelled "recentness", so that on all
    three axes a higher point means a more valuable customer.
    """
    shown = snake.assign(recency=-snake["recency"]).rename(columns={"recency": "recentness"})
    for segment, row in shown.iterrows():
        ax.plot(list(shown.columns), row.to_numpy(), marker="o", label=segment)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_ylabel("segment mean, standard deviations (log1p)")
    ax.set_xlabel("recentness = minus recency: up is better on all three")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=min(len(shown), 3))
    return ax


def plot_segment_sizes(profiles: pd.DataFrame, *, ax):
    """Side-by-side bars: share of customers and share of revenue per segment."""
    x = np.arange(len(profiles))
    ax.bar(x - 0.2, profiles["share_customers"], width=0.4, label="share of customers")
    ax.bar(x + 0.2, profiles["share_revenue"], width=0.4, label="share of revenue")
    ax.set_xticks(x, profiles.index)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.legend(loc="best")
    return ax


#: Default y labels of :func:`plot_rfm_by_segment`.
_RFM_LABELS = {
    "recency": "days since last purchase",
    "frequency": "invoices",
    "monetary": "total spend",
}


def plot_rfm_by_segment(segmented: pd.DataFrame, *, feature: str, ax, ylabel: str | None = None):
    """Box plot of one of R, F, M per segment on a log scale, with its own y label.

    ``ylabel`` overrides the default (e.g. to name the currency); "(log scale)" is added.
    """
    order = list(segmented["segment"].cat.categories)
    data = [segmented.loc[segmented["segment"] == s, feature].to_numpy() for s in order]
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(order) + 1), order, rotation=20)
    ax.set_yscale("log")
    ax.set_title(feature)
    ax.set_ylabel(f"{ylabel or _RFM_LABELS.get(feature, feature)} (log scale)")
    return ax


def plot_quintile_comparison(table: pd.DataFrame, *, ax):
    """Heat map of :func:`quintile_comparison` (rows: segments, columns: RFM sum score)."""
    image = ax.imshow(table.to_numpy(), aspect="auto", cmap="Blues", vmin=0)
    ax.set_xticks(range(table.shape[1]), table.columns)
    ax.set_yticks(range(table.shape[0]), table.index)
    ax.set_xlabel("classic RFM sum score (3 = worst, 15 = best)")
    ax.figure.colorbar(image, ax=ax, label="share of segment")
    return ax


def plot_next_period(
    table: pd.DataFrame,
    *,
    metric: str = "came_back",
    ax,
    label: str = "",
    overall: float | None = None,
):
    """Bars of a :func:`next_period_table` column per segment (with CI for ``came_back``).

    ``overall``, when given, is drawn as a dashed line (e.g. the rate of all customers).
    """
    x = np.arange(len(table))
    values = table[metric].to_numpy()
    if metric == "came_back":
        err = np.vstack(
            [
                values - table["came_back_low"].to_numpy(),
                table["came_back_high"].to_numpy() - values,
            ]
        )
        ax.bar(x, values, yerr=err, capsize=4, color="tab:blue")
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.set_ylabel("came back in next period (95% CI)")
    else:
        ax.bar(x, values, color="tab:green")
        ax.set_ylabel(metric.replace("_", " "))
    if overall is not None:
        text = f"{overall:.0%}" if metric == "came_back" else f"{overall:,.0f}"
        ax.axhline(overall, color="black", linestyle="--", linewidth=1, label=f"all: {text}")
        ax.legend(loc="upper right")
    ax.set_xticks(x, table.index, rotation=20)
    if label:
        ax.set_title(label)
    return ax
