"""Campaign simulation: who to contact, how many, and whether it pays.

A campaign offers **one product per customer** (the recommender's top product)
and contacts customers in decreasing order of a score. On held-out customers
whose hidden product is known, an offer is "accepted" when the offered product
is the hidden one. For any ranking this module computes, contact by contact,
the accepted offers, conversion, cost, revenue and profit (:func:`campaign_curve`),
reads it at chosen depths (:func:`depth_table`, :func:`budget_outcome`,
:func:`best_depth`), applies the action rule "contact only when
probability x value > cost" (:func:`action_rule`), measures how the best depth
moves with the cost/value ratio (:func:`depth_sensitivity`) and compares the
expected with the realised number of acceptances (:func:`expected_vs_observed`).

Business parameters are data: ``insurereco/rules/campaign.yml`` holds
``cost_per_contact`` and ``value_per_sale`` (:func:`load_campaign_parameters`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import binom, norm

from insurereco.contract import load_rules_file
from insurereco.errors import DataValidationError
from insurereco.reporting import axes_or_new

__all__ = [
    "DEFAULT_SHARES",
    "CampaignParameters",
    "action_rule",
    "best_depth",
    "best_offers",
    "budget_outcome",
    "bundle_gaps",
    "bundles",
    "campaign_curve",
    "depth_sensitivity",
    "depth_table",
    "expected_vs_observed",
    "outside_by_chance",
    "load_campaign_parameters",
    "never_offered_products",
    "offer_sentence",
    "plot_depth_sensitivity",
    "plot_expected_vs_observed",
    "plot_gain",
    "plot_lift",
    "plot_profit",
    "take_up_scale",
    "take_up_scenarios",
]

#: Shares of customers contacted reported by :func:`depth_table`.
DEFAULT_SHARES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)

_RULES_FILE = "campaign.yml"
_TIE_BREAK_STREAM = 1  # seed [random_state, 1]: not the stream of default_rng(random_state)
_KEYS = ("cost_per_contact", "value_per_sale")


@dataclass(frozen=True)
class CampaignParameters:
    """Cost of one contact and value of one accepted offer (same currency).

    Attributes
    ----------
    cost_per_contact : float
        What one contact costs (call, letter, agent time), whether or not it sells.
    value_per_sale : float
        What one accepted offer brings (e.g. first-year margin).
    product_values : mapping of str to float
        Value of a sale of the products listed, when it differs from ``value_per_sale``
        (default: none, every product is worth ``value_per_sale``).
    """

    cost_per_contact: float
    value_per_sale: float
    product_values: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in _KEYS:
            value = getattr(self, key)
            if not np.isfinite(value) or value < 0:
                raise DataValidationError(f"campaign parameters: {key}={value} must be >= 0")
        if self.value_per_sale == 0:
            raise DataValidationError("campaign parameters: value_per_sale must be > 0")
        for product, value in self.product_values.items():
            if not isinstance(product, str) or isinstance(value, bool):
                raise DataValidationError(
                    f"campaign parameters: product_values maps product codes to numbers, "
                    f"got {product!r}: {value!r}"
                )
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = np.nan
            if not np.isfinite(number) or number <= 0:
                raise DataValidationError(
                    f"campaign parameters: product_values[{product!r}] = {value!r} must be a "
                    "number > 0"
                )

    def value_of(self, products) -> np.ndarray:
        """Value of a sale of each product in ``products`` (``value_per_sale`` by default).

        Parameters
        ----------
        products : array-like of str
            Product codes (a missing code, for a customer with nothing to offer, gets
            ``value_per_sale``).
        """
        products = np.asarray(products, dtype=object)
        own = pd.Series(products.ravel()).map(dict(self.product_values)).astype(float)
        return own.fillna(float(self.value_per_sale)).to_numpy().reshape(products.shape)

    @property
    def break_even(self) -> float:
        """Acceptance probability at which a contact pays for itself (cost / value)."""
        return self.cost_per_contact / self.value_per_sale

    def worth_contacting(self, score, products=None) -> np.ndarray:
        """The action rule: ``True`` where ``score x value of a sale > cost_per_contact``.

        A contact with a higher acceptance probability pays on average; at exactly the
        break-even it does not.

        Parameters
        ----------
        score : array-like of float
            Probability of a sale of each offer.
        products : array-like of str, optional
            The product offered, valued by :meth:`value_of`; default: every sale is
            worth ``value_per_sale``.
        """
        value = self.value_per_sale if products is None else self.value_of(products)
        return self.pays(np.asarray(score, dtype=float) * value)

    def pays(self, expected_value) -> np.ndarray:
        """The action rule on valued offers: ``True`` where ``expected_value > cost_per_contact``.

        Parameters
        ----------
        expected_value : array-like of float
            Chance of a sale x value of a sale, per offer. At exactly the cost, a
            contact does not pay.
        """
        return np.asarray(expected_value, dtype=float) > self.cost_per_contact

    def incremental_profit(self, uplift) -> np.ndarray | float:
        """Profit per contact when contacting adds ``uplift`` to the acceptance rate.

        Only the sales the contact causes count: ``uplift x value_per_sale -
        cost_per_contact``. It is zero at an uplift of :attr:`break_even`.

        Parameters
        ----------
        uplift : float or array-like of float
            Acceptance rate of contacted customers minus that of a control group.
        """
        return np.asarray(uplift, dtype=float) * self.value_per_sale - self.cost_per_contact


def _rules() -> dict:
    return load_rules_file(_RULES_FILE, required=_KEYS)


def never_offered_products() -> tuple[str, ...]:
    """Products a contact list leaves out by default (``never_offer`` in ``campaign.yml``).

    Raises
    ------
    DataValidationError
        If the entry is not a list of product codes.
    """
    products = _rules().get("never_offer", [])
    if not isinstance(products, list) or not all(isinstance(p, str) for p in products):
        raise DataValidationError(
            f"rules/{_RULES_FILE}: never_offer must be a list of product codes, got {products!r}"
        )
    return tuple(products)


def load_campaign_parameters(
    *,
    cost_per_contact: float | None = None,
    value_per_sale: float | None = None,
    product_values: Mapping[str, float] | None = None,
) -> CampaignParameters:
    """Read the business parameters from ``insurereco/rules/campaign.yml``.

    Parameters
    ----------
    cost_per_contact, value_per_sale : float, optional
        Overrides of the file's values (``None`` keeps the file's value), e.g.
        from a notebook parameter. The file's ``product_values`` (a value per sale for
        single products) still apply on top of ``value_per_sale``.
    product_values : mapping of str to float, optional
        Replaces the file's ``product_values``.

    Returns
    -------
    CampaignParameters

    Raises
    ------
    DataValidationError
        If the file lacks a key or holds a negative or non-numeric value.
    """
    rules = _rules()
    given = product_values is not None
    if not given:
        product_values = rules.get("product_values") or {}
    if not isinstance(product_values, Mapping):
        source = "the given parameters" if given else f"rules/{_RULES_FILE}"
        raise DataValidationError(
            f"{source}: product_values must map product codes to values, got {product_values!r}"
        )
    overrides = {"cost_per_contact": cost_per_contact, "value_per_sale": value_per_sale}
    values = {}
    for key in _KEYS:
        given = overrides.get(key)
        source = f"rules/{_RULES_FILE}" if given is None else "the given parameters"
        value = rules[key] if given is None else given
        try:
            values[key] = float(value)
        except (TypeError, ValueError):
            raise DataValidationError(f"{source}: {key} = {value!r} is not a number") from None
    return CampaignParameters(**values, product_values=product_values)


def _sale_values(parameters: CampaignParameters, products, n: int) -> np.ndarray:
    """Value of a sale of each of ``n`` offers (``value_per_sale`` without ``products``)."""
    if products is None:
        return np.full(n, float(parameters.value_per_sale))
    value = parameters.value_of(products)
    if value.shape != (n,):
        raise DataValidationError(f"campaign: {len(value)} products for {n} scores")
    return value


def _check_inputs(score, accepted) -> tuple[np.ndarray, np.ndarray]:
    score = np.asarray(score, dtype=float)
    accepted = np.asarray(accepted)
    if score.ndim != 1 or accepted.shape != score.shape:
        raise DataValidationError(
            f"campaign: score {score.shape} and accepted {accepted.shape} must be 1-D, same length"
        )
    if not np.isfinite(score).all():
        raise DataValidationError("campaign: score holds NaN or infinite values")
    if not np.isin(accepted, (0, 1)).all():
        raise DataValidationError("campaign: accepted must hold only 0/1")
    return score, accepted.astype(np.int64)


def best_offers(
    proba: pd.DataFrame,
    hidden: pd.Series | None = None,
    *,
    parameters: CampaignParameters | None = None,
) -> pd.DataFrame:
    """Turn a customers x products probability table into one offer per customer.

    Parameters
    ----------
    proba : pandas.DataFrame
        Output of a recommender's ``predict_proba`` (held products at 0).
    hidden : pandas.Series, optional
        The hidden product of each customer (same order as ``proba``); when
        given, ``accepted`` says whether the offer is that product.
    parameters : CampaignParameters, optional
        With products of different values (``product_values``), the offer is the most
        actionable product, with the highest probability x value of a sale; default:
        the most probable product.

    Returns
    -------
    pandas.DataFrame
        Same index as ``proba``: ``product`` (highest probability, or probability x
        value; ties go to the first product in column order; missing when every
        probability is 0, as for a customer who holds every product), ``score`` (its
        probability) and, with ``hidden``, ``accepted`` (0/1).
    """
    values = proba.to_numpy(dtype=float)
    worth = values if parameters is None else values * parameters.value_of(proba.columns)
    top = worth.argmax(axis=1)
    score = values[np.arange(len(values)), top]
    product = pd.array(np.asarray(proba.columns)[top], dtype="str")
    product[score <= 0] = pd.NA  # nothing left to offer
    offers = pd.DataFrame({"product": product, "score": score}, index=proba.index)
    if hidden is not None:
        if len(hidden) != len(proba):
            raise DataValidationError(
                f"best_offers: hidden has {len(hidden)} rows, proba has {len(proba)}"
            )
        offers["accepted"] = (offers["product"].to_numpy() == np.asarray(hidden)).astype("int64")
    return offers


def campaign_curve(
    score,
    accepted,
    *,
    parameters: CampaignParameters,
    order_by=None,
    n_possible: int | None = None,
    base_rate: float | None = None,
    products=None,
    random_state: int = 0,
) -> pd.DataFrame:
    """Outcome of contacting the first k customers, for every k from 0 to n.

    Parameters
    ----------
    score : array-like of float
        Probability that each customer accepts the offer (used for the
        expected number of acceptances, and for the order unless ``order_by``).
    accepted : array-like of {0, 1}
        Whether each customer accepted (the realised outcome).
    parameters : CampaignParameters
        Cost per contact and value per sale.
    order_by : array-like of float, optional
        Ranking key (highest first); defaults to the expected value of each offer,
        ``score`` x its value (the order of ``score`` when every sale is worth the
        same). Pass random numbers for random targeting.
    n_possible : int, optional
        Acceptances possible in the population, the denominator of ``gain``;
        defaults to the acceptances of this ranking (gain then ends at 1).
        Pass the same number to compare strategies whose offers differ: gain
        then ends at this ranking's acceptances / ``n_possible``.
    base_rate : float, optional
        Conversion that ``lift`` divides by; defaults to this list's own conversion
        when everyone is contacted. Pass one rate (for example the conversion of one
        strategy's whole list) to compare strategies whose offers differ on one scale.
    products : array-like of str, optional
        The product offered to each customer, each sale valued by
        :meth:`CampaignParameters.value_of`; default: every sale is worth
        ``value_per_sale``.
    random_state : int, default 0
        Seed of the random tie-break between equal keys. The tie-break draws
        from a stream of its own (seed ``[random_state, 1]``), so it is
        independent of other draws made with ``default_rng(random_state)``,
        such as the choice of hidden product in
        :func:`insurereco.protocol.evaluation_split`.

    Returns
    -------
    pandas.DataFrame
        Rows k = 0..n: ``contacted``, ``share_contacted``, ``accepted``
        (cumulative), ``expected`` (cumulative sum of scores), ``conversion``
        (accepted / contacted), ``gain`` (share of all acceptances captured),
        ``lift`` (conversion among the first k / ``base_rate``, by default the
        conversion when the whole list is contacted, so 1 at full depth and about
        1 at any depth for a random order; it does not depend on ``n_possible``), ``cost``,
        ``revenue``, ``profit`` and ``score`` (score of the k-th customer
        contacted).
    """
    score, accepted = _check_inputs(score, accepted)
    value = _sale_values(parameters, products, len(score))
    key = score * value if order_by is None else np.asarray(order_by, dtype=float)
    if key.shape != score.shape:
        raise DataValidationError("campaign: order_by must have the same length as score")
    tie_break = np.random.default_rng([random_state, _TIE_BREAK_STREAM]).random(len(key))
    order = np.lexsort((tie_break, -key))
    n = len(score)
    contacted = np.arange(n + 1)
    cum_accepted = np.concatenate([[0], np.cumsum(accepted[order])])
    cum_expected = np.concatenate([[0.0], np.cumsum(score[order])])
    total = cum_accepted[-1] if n_possible is None else int(n_possible)
    if total < cum_accepted[-1]:
        raise DataValidationError(
            f"campaign: n_possible={n_possible} is below the {cum_accepted[-1]} acceptances"
        )
    rate = cum_accepted[-1] / n if n else np.nan  # conversion of the whole list
    if base_rate is not None:
        if not 0 < base_rate <= 1:
            raise DataValidationError(f"campaign: base_rate {base_rate} not in (0, 1]")
        rate = base_rate
    with np.errstate(divide="ignore", invalid="ignore"):
        conversion = np.where(contacted > 0, cum_accepted / contacted, np.nan)
        gain = cum_accepted / total if total else np.full(n + 1, np.nan)
        lift = conversion / rate if rate else np.full(n + 1, np.nan)
    cost = contacted * parameters.cost_per_contact
    revenue = np.concatenate([[0.0], np.cumsum(accepted[order] * value[order])])
    return pd.DataFrame(
        {
            "contacted": contacted,
            "share_contacted": contacted / n if n else contacted.astype(float),
            "accepted": cum_accepted,
            "expected": cum_expected,
            "conversion": conversion,
            "gain": gain,
            "lift": lift,
            "cost": cost.astype(float),
            "revenue": revenue.astype(float),
            "profit": (revenue - cost).astype(float),
            "score": np.concatenate([[np.nan], score[order]]),
        }
    )


def depth_table(curve: pd.DataFrame, *, shares: Sequence[float] = DEFAULT_SHARES) -> pd.DataFrame:
    """Read a campaign curve when contacting the top ``p`` share of customers.

    ``k = ceil(p * n)`` customers are contacted for share ``p`` (at least one).

    Parameters
    ----------
    curve : pandas.DataFrame
        Output of :func:`campaign_curve`.
    shares : sequence of float, default :data:`DEFAULT_SHARES`
        Shares of customers contacted, each in (0, 1]; one row each.

    Returns
    -------
    pandas.DataFrame
        One row per share (column ``top_share``), with the curve's columns.
    """
    n = int(curve["contacted"].iloc[-1])
    shares = np.asarray(shares, dtype=float)
    if ((shares <= 0) | (shares > 1)).any():
        raise DataValidationError(f"depth_table: shares must be in (0, 1], got {list(shares)}")
    k = np.clip(np.ceil(np.round(shares * n, 9)).astype(int), 1, n)
    table = curve.iloc[k].reset_index(drop=True)
    table.insert(0, "top_share", shares)
    return table


def budget_outcome(curve: pd.DataFrame, n_contacts: int) -> pd.Series:
    """Outcome of a fixed budget of ``n_contacts`` contacts (capped at the customer count)."""
    if n_contacts < 0:
        raise DataValidationError(f"budget_outcome: n_contacts={n_contacts} must be >= 0")
    n = int(curve["contacted"].iloc[-1])
    return curve.iloc[min(int(n_contacts), n)]


def best_depth(curve: pd.DataFrame) -> pd.Series:
    """Row of the curve with the highest profit (the smallest depth among ties).

    Contacting nobody (k = 0, profit 0) is a candidate, so a campaign that
    cannot pay returns ``contacted == 0``.
    """
    return curve.iloc[int(curve["profit"].to_numpy().argmax())]


def action_rule(score, accepted, *, parameters: CampaignParameters, products=None) -> pd.Series:
    """Contact exactly the customers whose ``score x value of a sale > cost_per_contact``.

    With calibrated scores this is the profit-maximising rule: each contact
    with an acceptance probability above ``cost / value`` pays on average.

    Parameters
    ----------
    score : array-like of float
        Probability that each customer accepts the offer.
    accepted : array-like of {0, 1}
        Whether each customer accepted (the realised outcome), same length as ``score``.
    parameters : CampaignParameters
        Cost per contact and value per sale.
    products : array-like of str, optional
        The product offered to each customer, each sale valued by
        :meth:`CampaignParameters.value_of`; default: every sale is worth
        ``value_per_sale``.

    Returns
    -------
    pandas.Series
        ``threshold`` (the break-even probability at ``value_per_sale``), ``contacted``,
        ``share_contacted``, ``accepted``, ``expected``, ``conversion``,
        ``cost``, ``revenue`` and ``profit``.
    """
    score, accepted = _check_inputs(score, accepted)
    value = _sale_values(parameters, products, len(score))
    chosen = parameters.pays(score * value)
    contacted = int(chosen.sum())
    n_accepted = int(accepted[chosen].sum())
    cost = contacted * parameters.cost_per_contact
    revenue = float((accepted[chosen] * value[chosen]).sum())
    return pd.Series(
        {
            "threshold": parameters.break_even,
            "contacted": contacted,
            "share_contacted": contacted / len(score) if len(score) else np.nan,
            "accepted": n_accepted,
            "expected": float(score[chosen].sum()),
            "conversion": n_accepted / contacted if contacted else np.nan,
            "cost": float(cost),
            "revenue": float(revenue),
            "profit": float(revenue - cost),
        }
    )


def bundles(
    portfolio: pd.DataFrame,
    *,
    products: Sequence[str],
    min_confidence: float = 0.99,
    min_holders: int = 100,
) -> pd.DataFrame:
    """Pairs of products held together by (almost) every holder of the first.

    Parameters
    ----------
    portfolio : DataFrame
        Complete portfolios, one 0/1 column per product.
    products : sequence of str
        Product columns to consider.
    min_confidence : float, default 0.99
        Smallest share of the holders of ``product`` who also hold ``partner``.
    min_holders : int, default 100
        Smallest number of holders of ``product``.

    Returns
    -------
    DataFrame
        One row per pair: ``product``, ``partner``, ``holders`` (of ``product``) and
        ``confidence``, strongest first.
    """
    held = portfolio[list(products)].to_numpy(dtype=float)
    holders = held.sum(axis=0)
    both = held.T @ held
    rows = [
        {
            "product": a,
            "partner": b,
            "holders": int(holders[i]),
            "confidence": both[i, j] / holders[i],
        }
        for i, a in enumerate(products)
        for j, b in enumerate(products)
        if i != j and holders[i] >= min_holders and both[i, j] >= min_confidence * holders[i]
    ]
    columns = ["product", "partner", "holders", "confidence"]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["confidence", "holders"], ascending=False, ignore_index=True)


def bundle_gaps(portfolio: pd.DataFrame, pairs: pd.DataFrame) -> pd.Series:
    """Customers who hold a product of a bundle without its partner.

    In complete portfolios such a customer (almost) never exists; with one product
    hidden, it is a customer whose hidden product is the partner, an offer the model
    gets right by completing the pair rather than by targeting.

    Parameters
    ----------
    portfolio : DataFrame
        Portfolios (for example masked, one product hidden), one 0/1 column per product.
    pairs : DataFrame
        ``product`` and ``partner`` columns, as returned by :func:`bundles`.

    Returns
    -------
    pandas.Series of bool
        Aligned with ``portfolio``: True for a customer holding some ``product`` without
        its ``partner``.
    """
    gap = np.zeros(len(portfolio), dtype=bool)
    for product, partner in zip(pairs["product"], pairs["partner"], strict=True):
        gap |= (portfolio[product].to_numpy() == 1) & (portfolio[partner].to_numpy() == 0)
    return pd.Series(gap, index=portfolio.index, name="bundle_gap")


def take_up_scale(score, *, take_up: float, top: int | None = None) -> float:
    """Factor that makes scores average a measured take-up, the ranking kept.

    A score here is the chance that the offer names the customer's missing product; real
    offers are taken up far less often. Assuming take-up proportional to the score, each
    score is multiplied by ``take_up / mean(score)`` (and capped at 1 by the caller), the
    mean taken over the customers the rate was measured on: the ``top`` highest scores,
    as when a pilot contacts the top of the ranking, or all of them.

    Parameters
    ----------
    score : array-like of float
        Each customer's score for the offer (one per customer).
    take_up : float
        Rate measured on those customers, in (0, 1]. For the action rule, the extra
        take-up the contacts cause (contacted minus control group, as a pilot measures
        it), so that only the sales a contact causes are counted.
    top : int, optional
        The rate was measured on the customers with the ``top`` highest scores (all of
        them when ``top`` is larger); default: on all customers.

    Returns
    -------
    float
    """
    score = np.asarray(score, dtype=float)
    if score.ndim != 1 or not len(score) or not np.isfinite(score).all() or score.mean() <= 0:
        raise DataValidationError("take-up: scores must be 1-D, finite and not all 0")
    if not 0 < take_up <= 1:
        raise DataValidationError(f"take-up rate {take_up} not in (0, 1]")
    if top is not None:
        if top < 1:
            raise DataValidationError(f"take-up: top must be at least 1, got {top}")
        score = np.sort(score)[::-1][:top]
    return float(take_up / score.mean())


def take_up_scenarios(
    score,
    *,
    take_up_rates: Sequence[float],
    parameters: CampaignParameters,
    top: int | None = None,
    products=None,
) -> pd.DataFrame:
    """What the action rule would do if real offers were taken up less than the scores say.

    The scores of a simulated campaign count an offer as accepted when it names the
    customer's hidden product, far more often than a real offer is taken up. Assuming
    take-up proportional to the score (the ranking holds, the level drops), each score is
    multiplied by one factor (:func:`take_up_scale`), so that the scaled scores average
    ``rate`` over the customers it was measured on, capped at 1; the action rule is then
    applied to the scaled scores.

    Parameters
    ----------
    score : array-like of float
        Each customer's score for the offer (as for :func:`action_rule`).
    take_up_rates : sequence of float
        Assumed rates, each in (0, 1]: the extra take-up the contacts cause, as a pilot
        with a control group measures it.
    parameters : CampaignParameters
        Cost per contact and value per sale.
    top : int, optional
        The rates are measured on the ``top`` highest scores (a pilot on the top of the
        ranking); default: on all customers.
    products : array-like of str, optional
        The product offered to each customer, each sale valued by
        :meth:`CampaignParameters.value_of`; default: every sale is worth
        ``value_per_sale``.

    Returns
    -------
    pandas.DataFrame
        One row per rate: ``take_up``, ``scale`` (the factor applied to the scores),
        ``contacted``, ``share_contacted``, ``expected_accepted``, ``contacted_rate``
        (the expected rate among the customers contacted, NaN when nobody is), ``cost``,
        ``expected_revenue`` and ``expected_profit``.
    """
    score = np.asarray(score, dtype=float)
    value = _sale_values(parameters, products, len(score))
    rows = []
    for rate in take_up_rates:
        scale = take_up_scale(score, take_up=rate, top=top)
        scaled = np.minimum(score * scale, 1.0)
        chosen = parameters.pays(scaled * value)
        expected = float(scaled[chosen].sum())
        revenue = float((scaled[chosen] * value[chosen]).sum())
        cost = float(chosen.sum() * parameters.cost_per_contact)
        rows.append(
            {
                "take_up": float(rate),
                "scale": float(scale),
                "contacted": int(chosen.sum()),
                "share_contacted": float(chosen.mean()),
                "expected_accepted": expected,
                "contacted_rate": expected / chosen.sum() if chosen.any() else np.nan,
                "cost": cost,
                "expected_revenue": revenue,
                "expected_profit": revenue - cost,
            }
        )
    return pd.DataFrame(rows)


def depth_sensitivity(
    score,
    accepted,
    *,
    value_per_sale: float,
    ratios: Sequence[float],
    random_state: int = 0,
) -> pd.DataFrame:
    """How the best depth and the action rule move with the cost/value ratio.

    Parameters
    ----------
    score, accepted : array-like
        As in :func:`campaign_curve`.
    value_per_sale : float
        Kept fixed; the cost per contact is ``ratio * value_per_sale``.
    ratios : sequence of float
        Cost/value ratios to try (the break-even acceptance probability).
    random_state : int, default 0
        Tie-break seed of :func:`campaign_curve`.

    Returns
    -------
    pandas.DataFrame
        One row per ratio: ``cost_value_ratio``, ``cost_per_contact``,
        ``best_share`` and ``best_profit`` (best fixed depth), ``rule_share``
        and ``rule_profit`` (action rule).
    """
    rows = []
    for ratio in ratios:
        params = CampaignParameters(
            cost_per_contact=float(ratio) * value_per_sale, value_per_sale=value_per_sale
        )
        curve = campaign_curve(score, accepted, parameters=params, random_state=random_state)
        best = best_depth(curve)
        rule = action_rule(score, accepted, parameters=params)
        rows.append(
            {
                "cost_value_ratio": float(ratio),
                "cost_per_contact": params.cost_per_contact,
                "best_share": float(best["share_contacted"]),
                "best_profit": float(best["profit"]),
                "rule_share": float(rule["share_contacted"]),
                "rule_profit": float(rule["profit"]),
            }
        )
    return pd.DataFrame(rows)


def expected_vs_observed(
    score,
    accepted,
    *,
    bins: Sequence[float] = (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1),
    groups=None,
) -> pd.DataFrame:
    """Expected (sum of probabilities) against observed acceptances, by score band or group.

    Parameters
    ----------
    score : array-like of float
        Predicted acceptance probabilities in [0, 1].
    accepted : array-like of {0, 1}
        Realised outcomes.
    bins : sequence of float
        Band edges (left-closed, the last band includes 1).
    groups : array-like, optional
        Group label of each customer (e.g. branch); when given, rows are these
        groups (sorted) instead of score bands.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty band or group: ``band`` (label), ``customers``,
        ``expected``, ``observed``, ``low`` and ``high`` (expected +- 2
        standard deviations of a sum of independent Bernoulli outcomes, the
        range the observed count should fall in if the scores are right), and
        ``mean_score`` and ``observed_rate``.
    """
    score, accepted = _check_inputs(score, accepted)
    edges = np.asarray(bins, dtype=float)
    if (np.diff(edges) <= 0).any():
        raise DataValidationError("expected_vs_observed: bins must increase strictly")
    if groups is None:
        band = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, len(edges) - 2)
    else:
        band = np.asarray(groups)
        if band.shape != score.shape:
            raise DataValidationError("expected_vs_observed: groups must match score in length")
    frame = pd.DataFrame(
        {"band": band, "p": score, "y": accepted, "var": score * (1 - score)}
    ).groupby("band")
    table = pd.DataFrame(
        {
            "customers": frame["p"].size(),
            "expected": frame["p"].sum(),
            "observed": frame["y"].sum(),
            "sd": np.sqrt(frame["var"].sum()),
            "mean_score": frame["p"].mean(),
            "observed_rate": frame["y"].mean(),
        }
    )
    if groups is None:
        labels = [f"{edges[i]:.2f}-{edges[i + 1]:.2f}" for i in table.index]
    else:
        labels = [str(g) for g in table.index]
    table["low"] = (table["expected"] - 2 * table["sd"]).clip(lower=0)
    table["high"] = table["expected"] + 2 * table["sd"]
    table.insert(0, "band", labels)
    columns = ["band", "customers", "expected", "observed", "low", "high"]
    return table[[*columns, "mean_score", "observed_rate"]].reset_index(drop=True)


def outside_by_chance(n_checked: int, n_outside: int, *, z: float = 2.0) -> dict[str, float]:
    """How many of several chance ranges exact scores would miss, and how unusual a count is.

    Each range of :func:`expected_vs_observed` is the expected count +- ``z`` standard
    deviations, so even exact scores leave an observed count outside it about
    ``2 (1 - Phi(z))`` of the time (4.6% at ``z = 2``, normal approximation). Checking
    20 products, one outside is what chance gives; several are a signal.

    Parameters
    ----------
    n_checked : int
        Number of ranges checked (products, branches, score bands).
    n_outside : int
        Number of observed counts that fell outside their range.
    z : float, default 2.0
        Half-width of each range in standard deviations.

    Returns
    -------
    dict
        ``expected``: how many ranges exact scores would miss on average;
        ``p_value``: the chance of ``n_outside`` or more misses if the scores are exact
        (independent ranges, binomial).
    """
    if n_checked < 0 or not 0 <= n_outside <= n_checked:
        raise DataValidationError(
            f"outside_by_chance: need 0 <= n_outside <= n_checked, got {n_outside} of {n_checked}"
        )
    miss = 2 * norm.sf(z)
    return {
        "expected": n_checked * miss,
        "p_value": float(binom.sf(n_outside - 1, n_checked, miss)),
    }


def offer_sentence(
    product: str,
    probability: float,
    reasons: str,
    *,
    partner: str | None = None,
    lift: float | None = None,
) -> str:
    """One short sentence for a contact list: the offer, its chance and why.

    The association phrase ("customers who hold K6QO hold JWFN 1.32 times as often
    as the average customer") is added only when the evidence supports it: a held
    ``partner`` product whose ``lift`` with the offer is above 1. Without it, or
    with a lift of 1 or less, the sentence gives the model's reasons alone.

    Parameters
    ----------
    product : str
        Offered product code.
    probability : float
        Calibrated probability that the customer takes it.
    reasons : str
        ``"; "``-separated reasons (e.g. from :func:`insurereco.explain.reasons`),
        strongest first.
    partner : str, optional
        A product the customer holds, e.g. the one most associated with the offer
        (:func:`insurereco.explain.basket_association`). Required when ``lift`` is
        above 1.
    lift : float, optional
        Lift between ``partner`` and ``product``
        (:func:`insurereco.association.lift_matrix`); ``None`` or ``NaN`` when unknown.

    Returns
    -------
    str
        E.g. ``"Offer JWFN (34% chance): holds RVSZ and K6QO; aged 35-44; customers
        who hold K6QO hold JWFN 1.32 times as often as the average customer."``

    Raises
    ------
    ValueError
        When ``lift`` is above 1 and no ``partner`` is named.
    """
    parts = [r.strip() for r in str(reasons).split(";") if r.strip()]
    if lift is not None and np.isfinite(lift) and lift > 1:
        if partner is None:
            raise ValueError("offer_sentence: a lift above 1 needs the held partner product")
        parts.append(
            f"customers who hold {partner} hold {product} {lift:.2f} times as often "
            "as the average customer"
        )
    body = f": {'; '.join(parts)}" if parts else ""
    return f"Offer {product} ({probability:.0%} chance){body}."


def _legend(ax, loc: str) -> None:
    if loc == "below":
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    else:
        ax.legend(loc=loc)


def plot_gain(
    curves: Mapping[str, pd.DataFrame],
    *,
    ax=None,
    random_gain: float | None = 1.0,
    legend_loc: str = "best",
):
    """Cumulative gain: share of all acceptances captured vs share contacted.

    Parameters
    ----------
    curves : mapping of str to pandas.DataFrame
        Outputs of :func:`campaign_curve`, keyed by the legend label.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    random_gain : float or None, default 1.0
        Gain of contacting everyone: the dotted "random contact" line runs
        from (0, 0) to (1, ``random_gain``), the gain expected at each depth
        when customers are contacted in random order. Leave 1.0 when gain is
        measured against each ranking's own acceptances; with a shared
        ``n_possible``, pass the final gain of the offers contacted at random.
        ``None`` draws no line.
    legend_loc : str, default "best"
        Matplotlib legend location, or ``"below"`` to put the legend under the
        axes, clear of the curves.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = axes_or_new(ax)
    for name, curve in curves.items():
        ax.plot(curve["share_contacted"], curve["gain"], label=name)
    if random_gain is not None:
        ax.plot(
            [0, 1],
            [0, random_gain],
            color="grey",
            linestyle=":",
            linewidth=1,
            label="random contact (expected)",
        )
    ax.set_xlabel("share of customers contacted")
    ax.set_ylabel("share of all acceptances captured")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    _legend(ax, legend_loc)
    return ax


def plot_lift(
    curves: Mapping[str, pd.DataFrame],
    *,
    ax=None,
    min_share: float = 0.01,
    legend_loc: str = "best",
):
    """Lift: conversion among those contacted divided by the conversion of the whole list.

    Each curve is read against its own list (1 when everyone is contacted; the
    dotted line at 1 is random contact).

    Parameters
    ----------
    curves : mapping of str to pandas.DataFrame
        Outputs of :func:`campaign_curve`, keyed by the legend label.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    min_share : float, default 0.01
        Depths below this share are not drawn (lift is noisy on a few contacts).
    legend_loc : str, default "best"
        Matplotlib legend location, or ``"below"`` to put the legend under the
        axes, clear of the curves.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = axes_or_new(ax)
    for name, curve in curves.items():
        part = curve[curve["share_contacted"] >= min_share]
        ax.plot(part["share_contacted"], part["lift"], label=name)
    ax.axhline(1, color="grey", linestyle=":", linewidth=1, label="random contact (expected)")
    ax.set_xlabel("share of customers contacted")
    ax.set_ylabel("lift (x the conversion of the whole list)")
    ax.set_xlim(0, 1)
    _legend(ax, legend_loc)
    return ax


def plot_profit(
    curves: Mapping[str, pd.DataFrame],
    *,
    ax=None,
    rule: pd.Series | None = None,
    legend_loc: str = "best",
):
    """Profit against share contacted, best depth of each curve marked.

    Parameters
    ----------
    curves : mapping of str to pandas.DataFrame
        Outputs of :func:`campaign_curve`, keyed by the legend label.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    rule : pandas.Series, optional
        Output of :func:`action_rule`, drawn as a star.
    legend_loc : str, default "best"
        Matplotlib legend location, or ``"below"`` to put the legend under the
        axes, clear of the curves.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import FuncFormatter

    ax = axes_or_new(ax)
    for name, curve in curves.items():
        (line,) = ax.plot(curve["share_contacted"], curve["profit"], label=name)
        best = best_depth(curve)
        ax.plot(best["share_contacted"], best["profit"], "o", color=line.get_color())
    if rule is not None:
        ax.plot(
            rule["share_contacted"],
            rule["profit"],
            "*",
            color="black",
            markersize=12,
            label="action rule (p x value > cost)",
        )
    ax.axhline(0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("share of customers contacted")
    ax.set_ylabel("profit (currency units)")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlim(0, 1)
    _legend(ax, legend_loc)
    return ax


def plot_expected_vs_observed(table: pd.DataFrame, *, ax=None):
    """Bars of expected acceptances per band with their +-2 sd range, dots for observed."""
    ax = axes_or_new(ax)
    x = np.arange(len(table))
    expected = table["expected"].to_numpy()
    ax.bar(x, expected, color="lightsteelblue", label="expected (sum of probabilities)")
    ax.errorbar(
        x,
        expected,
        yerr=[expected - table["low"].to_numpy(), table["high"].to_numpy() - expected],
        fmt="none",
        ecolor="steelblue",
        capsize=3,
    )
    ax.plot(x, table["observed"], "o", color="darkred", label="observed")
    ax.set_xticks(x, table["band"], rotation=45, ha="right")
    ax.set_xlabel("predicted probability band")
    ax.set_ylabel("acceptances")
    ax.legend()
    return ax


def plot_depth_sensitivity(table: pd.DataFrame, *, ax=None):
    """Best share contacted (fixed depth and action rule) against the cost/value ratio.

    The x axis is logarithmic, with a tick at each ratio of ``table`` written
    as a plain number (``0.05``, not ``5 x 10^-2``).
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    ax = axes_or_new(ax)
    ax.plot(table["cost_value_ratio"], table["best_share"], marker="o", label="best fixed depth")
    ax.plot(
        table["cost_value_ratio"],
        table["rule_share"],
        marker="x",
        linestyle="--",
        label="action rule",
    )
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(table["cost_value_ratio"].to_numpy(dtype=float)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("cost per contact / value per sale")
    ax.set_ylabel("share of customers to contact")
    ax.set_ylim(0, 1.02)
    ax.legend()
    return ax
