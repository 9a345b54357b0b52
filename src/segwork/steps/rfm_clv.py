"""The computation of notebook 02: RFM segments, migration, next purchase and lifetime value.

:func:`run` takes the validated orders (and, when the run has them, customers, interactions and
the customer 360 as ``profile``) and the notebook's parameters, and returns an
:class:`RfmClvResult` whose :meth:`~RfmClvResult.outputs` are the datasets ``rfm``,
``clv_models`` and ``rfm_members`` of the catalog. A section this data cannot support (no
earlier period for migration, no repeat purchase for BG/NBD, too short a history for the
holdout, no profile columns for breakdowns) is left out with one plain sentence instead of an
error. The page's words are in :mod:`segwork.pages.rfm_clv`.

Each aggregation runs once: the orders (and interactions) are materialised once in their Ibis
backend, the scores at the analysis date are reused by the migration, the key figures per
segment come from the classic features (net revenue and purchase orders of the window), and
the propensity model is fitted once per window (the comparison with BG/NBD reuses it).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import pandas as pd

from segwork import rfm
from segwork.clv import (
    BetaGeo,
    CLVError,
    GammaGamma,
    HoldoutComparison,
    HoldoutResult,
    PropensityModel,
    build_propensity_dataset,
    compare_on_holdout,
    customer_lifetime_value,
    temporal_holdout,
)
from segwork.clv.model_choice import (
    LIFETIME_MODELS,
    LifetimeModel,
    ModelChoice,
    check_choice,
    check_models,
    choose_lifetime_model,
    fit_lifetime_model,
)
from segwork.exports import MemberFiles, check_formats
from segwork.schema import as_ibis, is_purchase, to_day

__all__ = ["BREAKDOWN_COLUMNS", "RfmClvResult", "run"]

# profile columns a segment breakdown can use, in the order they are shown (built by customers)
BREAKDOWN_COLUMNS = (
    "age_band",
    "gender",
    "income_band",
    "region",
    "country",
    "industry",
    "company_size",
    "customer_type",
)
BREAKDOWN_TOP = 12  # groups per breakdown chart; the rest pooled as "other"
# the columns the step reads, required and optional (a table lacking a required one is passed
# on whole, so the function that needs it names it in its error)
ORDER_COLUMNS = (("order_id", "customer_id", "order_date", "amount"), ("is_return",))
INTERACTION_COLUMNS = (("customer_id", "occurred_at", "kind"), ())


@dataclass
class RfmClvResult:
    """Everything notebook 02 shows, computed from the run's tables; every ``*_note`` is the one
    plain sentence the page shows instead of a section that this data cannot support.

    ``scored``: features with scores and segment (``scored.attrs["coverage"]``: who was scored
    and why others were left out); ``notes``: RFM scoring caveats; ``model_notes``: models that
    could not be fitted or cannot be trusted, in words; ``table``: per customer RFM scores and
    segment joined with the model predictions that exist (the ``rfm`` dataset);
    ``breakdowns``: the profile columns with a segment-mix table in ``breakdown_frames``;
    ``model_choice``: BG/NBD, Pareto/NBD and MBG/NBD compared on the last ``horizon_days``
    (:mod:`segwork.clv.model_choice`), ``lifetime``: the model behind p_alive, the expected
    purchases and CLV (the chosen one, refitted up to the analysis date; BG/NBD when none could
    be chosen), ``model_choice_note``: why there is no comparison or its model is not used.
    ``bgnbd`` is BG/NBD's fit at the analysis date either way (compared with the propensity
    model).
    """

    scored: pd.DataFrame
    kpis: pd.DataFrame
    notes: list[str]
    migration: rfm.MigrationResult | None
    migration_note: str | None
    clv_features: pd.DataFrame
    bgnbd: BetaGeo | None
    spend: GammaGamma | None
    model_notes: list[str]
    comparison: HoldoutComparison | None
    holdout: HoldoutResult | None
    holdout_note: str | None
    propensity_model: PropensityModel | None
    table: pd.DataFrame
    breakdowns: list[str]
    breakdown_note: str | None
    horizon_days: int
    clv_months: int
    bins: int = 5
    window_days: int | None = 365
    migration_days: int = 90
    discount_rate_monthly: float = 0.01
    customers_total: int | None = None  # customers known to the run (the customer 360)
    breakdown_frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    members: MemberFiles | None = None
    model_choice: ModelChoice | None = None  # the purchase-count models on the holdout
    model_choice_note: str | None = None  # why there is no comparison, or its choice not used
    lifetime: LifetimeModel | None = None  # the model behind p_alive, expected purchases, CLV

    @property
    def lifetime_name(self) -> str:
        """The name of the model behind the predictions ("BG/NBD" when there is none)."""
        return self.lifetime.name if self.lifetime is not None else "BG/NBD"

    @property
    def lifetime_untrusted(self) -> bool:
        """The model behind p_alive, expected purchases and CLV was fitted and the page warns
        that it cannot be trusted (BG/NBD: :attr:`bgnbd_untrusted`)."""
        if self.lifetime is None or self.lifetime.key == "bgnbd":
            return self.bgnbd_untrusted
        return bool(self.lifetime.caveats())

    @property
    def bgnbd_untrusted(self) -> bool:
        """BG/NBD was fitted and the page warns that it cannot be trusted (its caveats)."""
        return self.bgnbd is not None and bool(self.bgnbd.caveats())

    @property
    def spend_untrusted(self) -> bool:
        """The spend model was fitted and the page warns that it cannot be trusted."""
        return self.spend is not None and self.spend.untrusted

    def models(self) -> dict[str, Any]:
        """Parameters and holdout metrics as plain data (the clv_models dataset)."""
        out: dict[str, Any] = {
            "bgnbd": self.bgnbd.params_ if self.bgnbd else None,
            "gamma_gamma": self.spend.params_ if self.spend else None,
            "lifetime_model": self.lifetime.key if self.lifetime else None,
            "lifetime_params": self.lifetime.params_ if self.lifetime else None,
            "notes": list(self.model_notes),
        }
        if self.model_choice is not None:
            out["model_choice"] = self.model_choice.to_dict()
        if self.model_choice_note:
            out["model_choice_note"] = self.model_choice_note
        if self.comparison is not None:
            out["holdout"] = self.comparison.metrics.reset_index(names="model").to_dict("records")
            out["auc_difference"] = dict(self.comparison.auc_difference)
        elif self.holdout is not None:
            out["holdout"] = [{"model": "propensity", **self.holdout.metrics}]
        if self.holdout_note:
            out["holdout_note"] = self.holdout_note
        return out

    def outputs(self) -> dict[str, Any]:
        """The datasets of notebook 02, by catalog name (see :mod:`segwork.catalog`)."""
        return {
            "rfm": self.table.reset_index(),
            "clv_models": self.models(),
            "rfm_members": self.members,
        }


def _first_purchase(orders: ibis.Table) -> pd.Timestamp | None:
    first = orders.filter(is_purchase(orders)).order_date.min().to_pandas()
    return None if pd.isna(first) else pd.Timestamp(first).normalize()


def _materialise(
    table: pd.DataFrame | ibis.Table | None, columns: tuple[tuple[str, ...], tuple[str, ...]]
) -> ibis.Table | None:
    """The columns of ``table`` the step reads, once in its backend (a cached Ibis table), so
    that the many aggregations below do not each re-read and re-validate the source."""
    if table is None:
        return None
    t = as_ibis(table)
    required, optional = columns
    if set(required) <= set(t.columns):
        t = t.select(*[c for c in t.columns if c in required + optional])
    try:
        return t.cache()
    except Exception:  # noqa: BLE001 - a backend without caching: the table as it is
        return t


def run(
    orders: pd.DataFrame | ibis.Table,
    customers: pd.DataFrame | None = None,
    interactions: pd.DataFrame | ibis.Table | None = None,
    *,
    analysis_date: Any,
    profile: pd.DataFrame | None = None,
    bins: int = 5,
    segment_map: Any = "default",
    window_days: int | None = 365,
    migration_days: int = 90,
    horizon_days: int = 90,
    clv_months: int = 12,
    discount_rate_monthly: float = 0.01,
    member_formats: Sequence[str] = ("csv",),
    clv_models: Sequence[str] = tuple(LIFETIME_MODELS),
    clv_model: str = "auto",
) -> RfmClvResult:
    """RFM segments, migration, BG/NBD + Gamma-Gamma, the propensity model and their holdout
    comparison, as notebook 02 shows them.

    ``profile`` is the customer 360 (index customer_id) whose profile columns the breakdowns
    use and whose columns go into the segment member lists; ``customers`` is the customers
    table the propensity model takes its profile from. ``member_formats``: the files of each
    segment's member list (csv, xlsx, parquet, jsonl; pdf prints the first 2,000 rows).
    ``clv_models``: the purchase-count models compared on the holdout (bgnbd, paretonbd,
    mbgnbd); ``clv_model``: "auto" (the rule of :mod:`segwork.clv.model_choice` chooses) or
    one of them. The chosen model gives p_alive, the expected purchases and, with Gamma-Gamma,
    CLV; BG/NBD is fitted either way (``bgnbd``, and the comparison with the propensity model).
    """
    member_formats = check_formats(member_formats)  # a wrong one fails before the work
    clv_models = check_models(clv_models)
    clv_model = check_choice(clv_model, clv_models)
    ref = to_day(analysis_date, "analysis_date", error=rfm.RFMError)
    orders = _materialise(orders, ORDER_COLUMNS)
    interactions = _materialise(interactions, INTERACTION_COLUMNS)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        features = rfm.features(orders, analysis_date=ref, window_days=window_days)
        scored = rfm.score(features, bins=bins, segment_map=segment_map)
    # classic features carry each customer's net revenue and purchase orders of the window
    kpis = rfm.segment_kpis(scored)
    notes = sorted(
        {
            str(w.message)
            for w in caught
            if issubclass(w.category, rfm.RFMWarning)
            and "left out of the RFM" not in str(w.message)
        }
    )

    moves, migration_note = None, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rfm.RFMWarning)  # the same notes as the scores above
            moves = rfm.migration(
                orders,
                analysis_date=ref,
                earlier_days=migration_days,
                feature_kwargs={"window_days": window_days},
                current=scored,
                bins=bins,
                segment_map=segment_map,
            )
    except rfm.RFMNotApplicable as e:
        migration_note = str(e)

    model_notes: list[str] = []
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")  # the page says it in words (caveats) instead
        clv_features = rfm.features(orders, analysis_date=ref, convention="clv")
        bgnbd: BetaGeo | None = None
        spend: GammaGamma | None = None
        try:
            bgnbd = BetaGeo().fit(clv_features)
            model_notes += bgnbd.caveats()
        except CLVError as e:
            model_notes.append(
                "The BG/NBD model (chance still active, expected purchases, lifetime value) is "
                f"left out: {e}"
            )
        try:
            spend = GammaGamma().fit(clv_features)
            model_notes += spend.caveats()
        except CLVError as e:
            model_notes.append(
                f"The spend model (Gamma-Gamma) and lifetime value are left out: {e}"
            )
        if spend is not None and spend.params_["q"] <= 1:
            model_notes.append(
                "Lifetime value is left out: spend per purchase is too heavy-tailed for the spend "
                f"model (fitted q = {spend.params_['q']:.2f} <= 1, an infinite mean)."
            )
            spend = None

        comparison, holdout, holdout_note, final = None, None, None, None
        h = pd.Timedelta(days=int(horizon_days))
        first = _first_purchase(orders)
        if first is not None and first > ref - 2 * h:
            holdout_note = (
                "The propensity model and the check of the models on past data are left out: "
                f"they need purchases before {ref - 2 * h:%d %b %Y} (two periods of "
                f"{horizon_days} days before the analysis date), and the first purchase is on "
                f"{first:%d %b %Y}."
            )
        else:
            try:  # fitted once: the comparison with BG/NBD reuses it
                holdout = temporal_holdout(
                    orders,
                    customers,
                    interactions,
                    analysis_date=ref,
                    horizon_days=horizon_days,
                )
            except CLVError as e:
                holdout_note = (
                    "The propensity model and the check of the models on past data are left "
                    f"out: {e}."
                )
            if holdout is not None and bgnbd is not None:
                try:
                    comparison = compare_on_holdout(
                        orders,
                        customers,
                        interactions,
                        analysis_date=ref,
                        horizon_days=horizon_days,
                        holdout=holdout,
                    )
                except CLVError as e:
                    holdout_note = (
                        "BG/NBD is not compared with the propensity model on past data: "
                        f"at {ref - h:%d %b %Y} {e}"
                    )
            if holdout is not None:
                final = holdout.model

        choice, choice_note, lifetime = _lifetime_model(
            orders, clv_features, bgnbd, ref, horizon_days, clv_models, clv_model
        )
        if lifetime is not None and lifetime.key != "bgnbd":
            # the page warns about the model behind the predictions, not about BG/NBD
            bg_caveats = bgnbd.caveats() if bgnbd is not None else []
            model_notes = [n for n in model_notes if n not in bg_caveats]
            model_notes[:0] = lifetime.caveats()

    value = pd.DataFrame(index=clv_features.index)
    if lifetime is not None:
        value["p_alive"] = lifetime.p_alive(clv_features)
        value[f"expected_purchases_{horizon_days}d"] = lifetime.expected_purchases(
            float(horizon_days), clv_features
        )
        if spend is not None:
            value["expected_spend"] = spend.conditional_expected_average_profit(clv_features)
            value[f"clv_{clv_months}m"] = customer_lifetime_value(
                lifetime,
                spend,
                clv_features,
                horizon_months=clv_months,
                discount_rate_monthly=discount_rate_monthly,
            )
    if final is not None:
        X_now, _ = build_propensity_dataset(
            orders, customers, interactions, cutoff=ref, horizon_days=horizon_days
        )
        value[f"propensity_{horizon_days}d"] = final.predict_proba(X_now).reindex(value.index)
    table = rfm.customer_table(scored).join(value, how="outer")

    # the profile columns once on the scored customers (each breakdown would align them again)
    aligned = None
    if profile is not None:
        present = [c for c in BREAKDOWN_COLUMNS if c in profile]
        aligned = (
            profile[present]
            if profile.index.has_duplicates  # breakdown says so in its error
            else profile[present].reindex(scored.index)
        )
    breakdowns = [
        c
        for c in BREAKDOWN_COLUMNS
        if aligned is not None and c in aligned and aligned[c].reindex(scored.index).nunique() >= 2
    ]
    breakdown_note = (
        None
        if breakdowns
        else "The segment mix by customer profile is left out: the customer data has no profile "
        "column with at least two values among the scored customers (such as age, region, "
        "industry or company size)."
    )
    frames = {c: rfm.breakdown(scored, aligned, c, top=BREAKDOWN_TOP) for c in breakdowns}
    member_columns = table if profile is None else profile.join(table, how="inner")
    members = MemberFiles(rfm.segment_members(table), member_columns, formats=member_formats)
    return RfmClvResult(
        scored=scored,
        kpis=kpis,
        notes=notes,
        migration=moves,
        migration_note=migration_note,
        clv_features=clv_features,
        bgnbd=bgnbd,
        spend=spend,
        model_notes=model_notes,
        comparison=comparison,
        holdout=holdout,
        holdout_note=holdout_note,
        propensity_model=final,
        table=table,
        breakdowns=breakdowns,
        breakdown_note=breakdown_note,
        horizon_days=int(horizon_days),
        clv_months=int(clv_months),
        bins=int(bins),
        window_days=window_days,
        migration_days=int(migration_days),
        discount_rate_monthly=float(discount_rate_monthly),
        customers_total=None if profile is None else len(profile),
        breakdown_frames=frames,
        members=members,
        model_choice=choice,
        model_choice_note=choice_note,
        lifetime=lifetime,
    )


def _lifetime_model(
    orders: ibis.Table,
    clv_features: pd.DataFrame,
    bgnbd: BetaGeo | None,
    ref: pd.Timestamp,
    horizon_days: int,
    models: tuple[str, ...],
    choice: str,
) -> tuple[ModelChoice | None, str | None, LifetimeModel | None]:
    """The models compared on the last ``horizon_days`` (when the data allow) and the model the
    predictions come from: the chosen one refitted on all data up to the analysis date, else
    BG/NBD (with the sentence saying why)."""
    compared, note = None, None
    if len(models) > 1 or choice == "auto":
        try:
            compared = choose_lifetime_model(
                orders, analysis_date=ref, horizon_days=horizon_days, models=models, choice=choice
            )
        except CLVError as e:
            used = ", so BG/NBD is used" if bgnbd is not None else ""
            note = f"The lifetime models are not compared on past data{used}: {e}"
    # the analyst's choice stands (the comparison says how it did); else the rule's, if any
    key = choice if choice != "auto" else (compared.chosen if compared is not None else None)
    if key is None or key == "bgnbd":
        return compared, note, None if bgnbd is None else LifetimeModel("bgnbd", bgnbd)
    try:
        fitted = fit_lifetime_model(key, clv_features)
    except CLVError as e:
        note = (
            f"{LIFETIME_MODELS[key]} was chosen but could not be fitted on all data up to the "
            f"analysis date ({e}); the predictions use BG/NBD."
        )
        return compared, note, None if bgnbd is None else LifetimeModel("bgnbd", bgnbd)
    return compared, note, fitted
