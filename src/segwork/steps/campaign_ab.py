"""Notebook 04's computation: campaign A/B results overall and by segment, decisions, plan.

``run(exposures, customers, ...)`` checks the settings against the exposures (every problem in
one :class:`~segwork.abtest.ABTestError`), attaches the segment columns, evaluates the campaigns
as a whole and split by each segment column, recommends what to do (one decision per campaign,
or per segment when the interaction test finds that the effect differs), runs the interaction
tests and plans the next test. No file is read or written: ``outputs()`` hands the datasets to
``RunContext.save``.

Campaigns the user declares still running (``running``) are decided by the sequential test of
:mod:`segwork.abtest.monitoring` instead of the fixed-horizon one (keep running, or stop for a
winner, harm or futility, carried from the previous run's ``ab_running`` state); their rows of
the decision table say so. Their fixed-horizon results stay in the result tables for reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import pandas as pd

from segwork import abtest
from segwork.abtest import monitoring

PLAN_TARGET_LIFT = 0.10  # the lift the plan sizes a follow-up test for


@dataclass
class CampaignAbResult:
    """Everything page 04 shows: results overall and per segment column, decisions, tests."""

    overall: abtest.ABResult
    by_segment: dict[str, abtest.ABResult]
    segments: abtest.Segments
    decisions: pd.DataFrame
    heterogeneity: pd.DataFrame  # interaction tests of the main segment column, every metric
    plan: pd.DataFrame  # the decision metric's plan for the main segment column (or overall)
    settings: dict[str, Any] = field(default_factory=dict)
    #: running campaigns after this run (:func:`segwork.abtest.monitoring.monitor`); empty when
    #: no campaign is declared running and no earlier run tracked one
    running: pd.DataFrame = field(default_factory=monitoring.empty_state)

    @property
    def running_campaigns(self) -> pd.DataFrame:
        """One row per declared running campaign with its decision (``campaign_decision``)."""
        return monitoring.campaign_decisions(self.running)

    @property
    def main(self) -> str | None:
        """The segment column decisions are split by (the first usable one), or None."""
        return self.segments.columns[0] if self.segments.columns else None

    @property
    def decide_metric(self) -> str:
        return str(self.decisions["metric"].iat[0])

    @property
    def value_metric(self) -> str | None:
        return self.overall.value_metric

    @property
    def plan_basis(self) -> abtest.ABResult:
        """The result the plan was made from: the main segmentation, else the whole campaigns."""
        return self.by_segment[self.main] if self.main else self.overall

    def results_table(self) -> pd.DataFrame:
        """Results of every segment column in one table (``segment_column`` names the split)."""
        if not self.by_segment:
            return self.overall.table.assign(segment_column="")
        return pd.concat(
            [r.table.assign(segment_column=c) for c, r in self.by_segment.items()],
            ignore_index=True,
        )

    def outputs(self) -> dict[str, Any]:
        return {
            "ab_overall": self.overall.table,
            "ab_results": self.results_table(),
            "ab_decisions": self.decisions,
            "ab_decisions_csv": self.decisions,
            "ab_running": self.running,
        }

    def summary(self):
        return self.overall.summary()


def run(
    exposures: pd.DataFrame | ibis.Table,
    customers: pd.DataFrame | None,
    *,
    segment_columns: Sequence[str] = (),
    control: str = "control",
    metrics: abtest.MetricsArg = None,
    decide_on: str | None = None,
    pre_metric: str | None = None,
    correction: abtest.Correction = "holm",
    alpha: float = 0.05,
    min_lift: float = 0.0,
    winsorize: float | None = None,
    expected_shares: Mapping[str, Any] | None = None,
    max_segments: int = 8,
    power: float = 0.8,
    currency: str = "",
    running: Any = None,
    today: Any = None,
    run_id: str = "scratch",
    previous_running: pd.DataFrame | None = None,
) -> CampaignAbResult:
    """Evaluate the campaigns of ``exposures`` overall and by ``segment_columns`` and decide.

    ``customers`` is the customer table (indexed by customer_id) the segment columns come from
    when the exposures do not have them. ``running``: the campaigns still running
    (:func:`segwork.abtest.monitoring.running_plans`), decided sequentially as of ``today``
    (the analysis date; None: today's date) in run ``run_id``, carrying the decisions of
    ``previous_running`` (``ab_running`` of the last successful run). Raises
    :class:`~segwork.abtest.ABTestError` listing every problem of the settings before anything
    is computed.
    """
    problems = abtest.setup_problems(
        exposures,
        control=control,
        metrics=metrics,
        pre_metric=pre_metric,
        decide_on=decide_on,
        expected_shares=expected_shares,
        correction=correction,
        alpha=alpha,
        winsorize=winsorize,
    )
    plans: dict[str, monitoring.RunningPlan] = {}
    if running is not None and "campaign_id" in exposures.columns:
        try:
            plans = monitoring.running_plans(running, monitoring.campaign_ids(exposures))
        except abtest.ABTestError as err:
            problems.append(str(err))
    if problems:
        raise abtest.ABTestError("\n".join(problems))
    seg = abtest.attach_segments(
        exposures, customers, list(segment_columns), max_segments=max_segments
    )
    spec = abtest.resolve_metrics(
        abtest.default_metrics(exposures) if metrics is None else metrics, exposures
    )
    pre = pre_metric or ("pre_revenue" if "pre_revenue" in exposures.columns else None)
    settings = dict(
        control=control,
        metrics=spec,
        correction=correction,
        alpha=alpha,
        winsorize=winsorize,
        expected_shares=expected_shares or None,
        pre_metric=pre,
    )
    overall, by_segment = abtest.evaluate_segmentations(
        seg.exposures, [seg.key[col] for col in seg.columns], **settings
    )
    by_segment = {col: by_segment[seg.key[col]] for col in seg.columns}
    main = seg.columns[0] if seg.columns else None
    from_customers = main and customers is not None and seg.sources[main] == "customers"
    sizes = (
        _segment_sizes(customers, main, seg, by_segment[main])
        if from_customers and main not in seg.grouped
        else None
    )
    decisions = abtest.recommend(
        overall,
        by_segment.get(main),
        metric=decide_on,
        min_lift=min_lift,
        currency=currency,
        segment_column=main,
        segment_sizes=sizes,
        population=len(customers) if customers is not None else None,
    )
    het = (
        pd.concat([by_segment[main].heterogeneity(m) for m in overall.settings["metrics"]])
        if main
        else pd.DataFrame()
    )
    basis = by_segment[main] if main else overall
    plan = abtest.plan(basis, power, target_lift=PLAN_TARGET_LIFT)
    plan = plan[plan["metric"] == decisions["metric"].iat[0]]
    state = monitoring.empty_state()
    if plans or (previous_running is not None and len(previous_running)):
        state = monitoring.monitor(
            overall.table,
            plans,
            metric=str(decisions["metric"].iat[0]),
            control=control,
            as_of=pd.Timestamp.now().normalize() if today is None else today,
            run_id=run_id,
            alpha=alpha,
            min_lift=min_lift,
            daily=monitoring.daily_assignments(exposures, list(plans)),
            previous=previous_running,
        )
        decisions = _with_running(decisions, state, overall, currency=currency, alpha=alpha)
    return CampaignAbResult(
        overall=overall,
        by_segment=by_segment,
        segments=seg,
        decisions=decisions,
        heterogeneity=het,
        plan=plan,
        settings=dict(
            alpha=alpha, correction=correction, currency=currency, power=power, min_lift=min_lift
        ),
        running=state,
    )


def _with_running(
    decisions: pd.DataFrame,
    state: pd.DataFrame,
    overall: abtest.ABResult,
    *,
    currency: str,
    alpha: float,
) -> pd.DataFrame:
    """The decision table with each declared running campaign's fixed-horizon rows replaced by
    one whole-campaign row of its sequential decision (the interval columns hold the
    always-valid interval; no p-value, no increments: a running test's are not final)."""
    camps = monitoring.campaign_decisions(state)
    if not len(camps):
        return decisions
    fmts = abtest.metric_formats(overall.table, currency=currency)
    level = f"{1 - alpha:.0%}"
    rows = []
    for _, c in camps.iterrows():
        m = str(c["metric"])
        f = fmts[m]
        n_campaign = float(state.loc[state["campaign_id"] == c["campaign_id"], "n_variant"].sum())
        n_campaign += float(c["n_control"])
        rows.append(
            {
                "campaign_id": c["campaign_id"],
                "scope": "whole campaign",
                "segment_column": "",
                "segment": "all",
                "target": "all customers",
                "variant": c["variant"],
                "decision": monitoring.DECISION_WORDS[str(c["campaign_decision"])],
                "reason": "still running, sequential test: "
                + monitoring.reason_text(c, f, level=level),
                "rule": "running campaign: "
                + "the winner with the highest lower end, else the largest estimate",
                "customers": n_campaign,
                "metric": m,
                "metric_kind": overall.settings["metric_kinds"][m],
                "control_mean": c["control_mean"],
                "variant_mean": c["variant_mean"],
                "diff": c["diff"],
                "diff_ci_low": c["low"],
                "diff_ci_high": c["high"],
                "p_adjusted": float("nan"),
                "effect": f"{m} {f.value(c['control_mean'])} → {f.value(c['variant_mean'])} "
                f"({f.diff(c['diff'], c['low'], c['high'])}, always-valid)",
                "interaction_p": float("nan"),
                "interaction_column": "",
            }
        )
    kept = decisions[~decisions["campaign_id"].astype(str).isin(set(camps["campaign_id"]))]
    add = pd.DataFrame(rows).reindex(columns=decisions.columns)
    out = pd.concat([kept, add], ignore_index=True) if len(kept) else add
    order = {c: i for i, c in enumerate(pd.unique(decisions["campaign_id"].astype(str)))}
    key = out["campaign_id"].astype(str).map(order)
    return out.iloc[key.argsort(kind="stable")].reset_index(drop=True)


def _segment_sizes(
    customers: pd.DataFrame, column: str, seg: abtest.Segments, result: abtest.ABResult
) -> pd.Series:
    """Customers per segment of the customer table, for the expected increments of a roll-out.

    Exposed customers missing from the customer table are labelled as unknown; when every
    customer of the table has a label, the unknown segment's size is the number of those
    exposed customers (all that is known of them), so it is not left without a size.
    """
    sizes = abtest.segment_sizes(customers, column)
    if abtest.UNKNOWN not in sizes.index and (result.table["segment"] == abtest.UNKNOWN).any():
        t = seg.exposures
        key = seg.key[column]
        if isinstance(t, ibis.Table):
            n = t.filter(t[key] == abtest.UNKNOWN).customer_id.nunique().to_pandas()
        else:
            n = t.loc[t[key] == abtest.UNKNOWN, "customer_id"].nunique()
        sizes = pd.concat([sizes, pd.Series({abtest.UNKNOWN: int(n)})])
    return sizes
