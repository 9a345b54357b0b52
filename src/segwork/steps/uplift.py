"""Uplift (notebook 04's "whom to target next"): from a past randomised campaign, rank customers by
the expected extra conversion (and revenue) the campaign brings them, check the ranking on held-out
customers, and build the target list of the next campaign.

``run(exposures, customers, ...)`` takes one campaign's exposures (treated variants against the
control), joins the customer table, builds the features (:func:`segwork.uplift.feature_spec`),
compares the learners on held-out customers against random targeting and against "target the
segments that won" (:func:`segwork.uplift.evaluate`), refits the chosen learner on all the
campaign's customers and ranks the customers. :meth:`UpliftResult.target_list` turns the top of
the ranking (a number of customers or a budget) into an action list with
:func:`segwork.actions.build_actions`, so the consent and contact rules of rule segments apply
unchanged. No file is read or written: ``outputs()`` hands the datasets to ``RunContext.save``.

Which customers are ranked: when every feature is a column of the customer table, all customers of
that table (the next campaign can reach anyone); when the features come from the exposures (an
export with the customers' attributes at the time of the campaign, like the Hillstrom file), the
customers exposed in the campaign, described as they were then.

Scale: the learners are fitted on at most ``max_train`` customers and the rankings judged on at
most ``max_held_out`` held-out customers (random subsamples, said in the result's warnings).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from segwork import abtest, actions, uplift
from segwork.customers import build_customer360
from segwork.uplift import UpliftError, UpliftEvaluation

#: Extreme treatment shares: uplift models learn little about the smaller arm.
EXTREME_SHARE = 0.1
#: Fewer customers than this in an arm, or fewer outcome events, make a "small campaign".
SMALL_ARM = 1_000
SMALL_EVENTS = 100
#: A model that tells treated from control customers by their features (held-out AUC above this
#: and 3 standard errors above 0.5) means the groups differ: the campaign may not be randomised.
BALANCE_AUC = 0.55


@dataclass
class UpliftResult:
    """Everything the uplift section shows: evaluations, chosen models, the ranking, warnings."""

    campaign: str
    control: str
    treated: tuple[str, ...]
    outcome: str
    value: str | None
    evaluations: dict[str, UpliftEvaluation]  # metric -> held-out comparison
    models: dict[str, Any]  # metric -> the learner refitted on all the campaign's customers
    features: uplift.FeatureSpec
    ranking: pd.DataFrame  # index customer_id: uplift_rank, expected_extra_<metric>
    population: str  # "customer table" or "exposed customers"
    facts: dict[str, Any]
    warnings: list[str]
    customers: pd.DataFrame | None  # the customer table (contact and consent for the lists)
    lists: actions.ActionLists | None = None
    target_settings: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def evaluation(self) -> UpliftEvaluation:
        """The held-out comparison of the conversion outcome."""
        return self.evaluations[self.outcome]

    def score_column(self, metric: str | None = None) -> str:
        return f"expected_extra_{metric or self.outcome}"

    def target_list(
        self,
        *,
        top_n: int | None = None,
        budget: float | None = None,
        cost_per_contact: float | None = None,
        rank_by: str | None = None,
        action: Mapping[str, Any] | None = None,
        run_id: str = "uplift",
        today: Any = None,
        default_assignee: str = "unassigned",
    ) -> actions.ActionLists:
        """The next campaign's target list: the best-ranked customers who may be contacted.

        At most ``top_n`` customers, or ``budget / cost_per_contact`` of them (the smaller when
        both are given), taken in ranking order (``rank_by``: the outcome, default, or the value
        metric) among customers the model expects to gain: expected extra > 0, or, ranking by value
        with a ``cost_per_contact``, expected extra value above that cost. Customers who may not be
        contacted on the action's channel (consent, contact details: the rules of
        :func:`segwork.actions.build_actions`) are skipped and the next ones taken, so the list is
        full when enough customers qualify; those skipped above the last one listed are counted in
        ``excluded``. ``action``: a rule action (type, template, due_in_days, channel ...); default
        an email when the customer table has an email column, else a task (no contact, no consent
        needed). The list's segment is ``uplift: <campaign>``."""
        n_max = _contacts(top_n, budget, cost_per_contact)
        metric = rank_by or self.outcome
        col = self.score_column(metric)
        if col not in self.ranking:
            raise UpliftError(
                f"rank_by {rank_by!r}: no ranking by that metric; choose {self.outcome!r}"
                + (f" or {self.value!r}" if self.value else "")
            )
        floor = cost_per_contact if (metric != self.outcome and cost_per_contact) else 0.0
        ranked = self.ranking[self.ranking[col] > floor]
        ranked = ranked.iloc[np.argsort(-ranked[col].to_numpy(), kind="stable")]  # ties: rank order
        table = self._contact_table()
        segment = f"uplift: {self.campaign}"
        act = dict(action) if action is not None else _default_action(table, self.campaign)
        day = pd.Timestamp.now().normalize() if today is None else today
        kw = dict(run_id=run_id, today=day, default_assignee=default_assignee)
        entered = pd.DataFrame({"customer_id": ranked.index.astype(str), "segment": segment})
        first = actions.build_actions(entered, table, {segment: act}, **kw)
        kind = {"task": "tasks", "email": "emails", "call": "calls"}[act["type"]]
        reachable = set(first.lists()[kind]["customer_id"])
        listed = [c for c in ranked.index.astype(str) if c in reachable][:n_max]
        cut = int(ranked.index.astype(str).get_indexer(listed).max()) + 1 if listed else 0
        final = actions.build_actions(entered.iloc[:cut], table, {segment: act}, **kw)
        self.lists = final
        self.target_settings = dict(
            top_n=top_n,
            budget=budget,
            cost_per_contact=cost_per_contact,
            contacts=n_max,
            rank_by=metric,
            candidates=len(ranked),
            considered=cut,
            listed=len(listed),
            action_type=act["type"],
            model_expected_extra={  # the models' sums for the list: optimistic (top picks)
                m: float(self.ranking.loc[listed, self.score_column(m)].sum())
                for m in self.evaluations
            },
        )
        return final

    def _contact_table(self) -> pd.DataFrame:
        """The customer table for the lists, with each ranked customer's rank as a field."""
        base = self.customers if self.customers is not None else pd.DataFrame(index=[])
        base = base.copy(deep=False)
        base.index = base.index.astype(str).rename("customer_id")
        extra = self.ranking.index.difference(base.index)
        if len(extra):  # exposed customers missing from the table: ids only, never contacted
            base = pd.concat([base, pd.DataFrame(index=pd.Index(extra, name="customer_id"))])
        return base.join(self.ranking[["uplift_rank"]], how="left")

    def scores_table(self) -> pd.DataFrame:
        """Held-out scores of every ranking and metric (the dataset ``uplift_evaluation``)."""
        return pd.concat(
            [
                ev.scores.assign(
                    metric=m, campaign_id=self.campaign, chosen=ev.scores["ranking"] == ev.chosen
                )
                for m, ev in self.evaluations.items()
            ],
            ignore_index=True,
        )

    def outputs(self) -> dict[str, Any]:
        """The run's datasets (declared in :mod:`segwork.catalog` by the lead)."""
        out: dict[str, Any] = {
            "uplift_scores": self.ranking.reset_index(),
            "uplift_evaluation": self.scores_table(),
        }
        if self.lists is not None:
            from segwork.exports import ActionFiles

            out["uplift_actions"] = ActionFiles(
                self.lists, self.settings.get("action_formats", ("csv",))
            )
        return out

    def summary(self):
        s = self.evaluation.summary()
        s.facts = {
            "campaign": self.campaign,
            "treated": ", ".join(self.treated),
            "control": self.control,
            **{
                k: f"{v:,}" if isinstance(v, int) else str(v)
                for k, v in self.facts.items()
                if k in ("customers", "treated_customers", "control_customers")
            },
            **s.facts,
        }
        s.notes += self.warnings
        return s


def _contacts(top_n: int | None, budget: float | None, cost: float | None) -> int:
    """How many customers the list may hold."""
    if top_n is None and budget is None:
        raise UpliftError("target_list needs top_n (customers) or budget with cost_per_contact")
    limits = []
    if top_n is not None:
        if isinstance(top_n, bool) or not isinstance(top_n, int | np.integer) or top_n < 1:
            raise UpliftError(f"top_n must be a whole number of customers >= 1, got {top_n!r}")
        limits.append(int(top_n))
    if budget is not None:
        if not cost or not math.isfinite(float(cost)) or float(cost) <= 0:
            raise UpliftError(
                f"a budget needs cost_per_contact > 0 (what one contact costs), got {cost!r}"
            )
        if not math.isfinite(float(budget)) or float(budget) < 0:
            raise UpliftError(f"budget must be a number >= 0, got {budget!r}")
        limits.append(int(float(budget) // float(cost)))
    return min(limits)


def _default_action(table: pd.DataFrame, campaign: str) -> dict[str, Any]:
    name = campaign.replace("$", "$$")
    if "email" in table.columns:
        return dict(
            type="email",
            template=f"Next '{name}' campaign: ranked $uplift_rank by expected extra response",
            due_in_days=7,
        )
    return dict(
        type="task",
        template=f"Next '{name}' campaign: include (ranked $uplift_rank by expected extra response)",
        due_in_days=7,
    )


def _campaign_rows(
    exposures: pd.DataFrame | ibis.Table, campaign: str | None, control: str
) -> tuple[pd.DataFrame, str, list[str]]:
    """The exposures of one campaign as pandas (one row per customer) and notes on choices made."""
    notes: list[str] = []
    cols = [str(c) for c in exposures.columns]
    for need in ("customer_id", "campaign_id", "variant"):
        if need not in cols:
            raise UpliftError(
                f"campaign_exposures has no column '{need}'; columns: {', '.join(cols)}"
            )
    if isinstance(exposures, ibis.Table):
        sizes = exposures.group_by("campaign_id").aggregate(n=exposures.count()).to_pandas()
    else:
        sizes = exposures.groupby("campaign_id").size().rename("n").reset_index()
    sizes = sizes.sort_values(["n", "campaign_id"], ascending=[False, True])
    names = sizes["campaign_id"].astype(str).tolist()
    if campaign is None or campaign == "":
        if not names:
            raise UpliftError("campaign_exposures is empty: no campaign to learn from")
        campaign = names[0]
        if len(names) > 1:
            notes.append(
                f"The uplift models learn from '{campaign}', the largest of {len(names)} campaigns "
                "(set uplift_campaign to choose another)."
            )
    elif campaign not in names:
        raise UpliftError(
            f"uplift campaign {campaign!r} is not in campaign_exposures; campaigns: {', '.join(names)}"
        )
    if isinstance(exposures, ibis.Table):
        rows = exposures.filter(exposures.campaign_id == campaign).to_pandas()
    else:
        rows = exposures[exposures["campaign_id"].astype(str) == campaign]
    rows = rows.assign(customer_id=rows["customer_id"].astype(str))
    if "assigned_at" in rows.columns:
        rows = rows.sort_values("assigned_at", kind="stable")
    dup = rows["customer_id"].duplicated()
    if dup.any():
        notes.append(
            f"{int(dup.sum()):,} repeated exposures of the same customers in '{campaign}' were left "
            "out (each customer counts once, with their first assignment)."
        )
        rows = rows[~dup]
    variants = rows["variant"].astype(str)
    if control not in set(variants):
        raise UpliftError(
            f"campaign {campaign!r} has no control variant {control!r}; its variants: "
            f"{', '.join(sorted(set(variants)))}. Set control to the group that got nothing"
        )
    return rows.reset_index(drop=True), campaign, notes


def _pick(
    spec: Sequence[abtest.Metric], name: str | None, *, binary: bool, what: str
) -> str | None:
    """The column of the metric ``name`` (a metric name or column); None: the first 0/1 metric
    (``binary``) or the first other one (None when there is none)."""
    if name is None:
        found = [m.column for m in spec if m.binary == binary]
        if binary and not found:
            raise UpliftError(
                "the campaign has no 0/1 outcome to rank customers by; name one in metrics "
                "(e.g. {converted: binary})"
            )
        return found[0] if found else None
    for m in spec:
        if name in (m.name, m.column):
            return m.column
    raise UpliftError(
        f"uplift {what} {name!r} is not one of the campaign's metrics: "
        + ", ".join(f"{m.name} (column {m.column})" for m in spec)
    )


def _outcome(rows: pd.DataFrame, column: str, what: str, campaign: str) -> np.ndarray:
    if column not in rows.columns:
        raise UpliftError(
            f"campaign_exposures has no {what} column {column!r}; columns: "
            f"{', '.join(map(str, rows.columns))}"
        )
    y = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(y)
    if bad.any():
        raise UpliftError(
            f"campaign_exposures.{column} of campaign {campaign!r} has {int(bad.sum()):,} missing or "
            f"non-numeric values (e.g. row {int(np.flatnonzero(bad)[0])}); fill them (0 for no "
            "response) or drop those rows"
        )
    return y


def _balance(X: pd.DataFrame, t: np.ndarray, held: np.ndarray, seed: int, max_train: int):
    """Held-out AUC of a model telling treated from control by the features, and its null SE."""
    train = np.flatnonzero(~held)
    if len(train) > max_train:
        train = np.random.default_rng(seed).choice(train, max_train, replace=False)
    model = HistGradientBoostingClassifier(**{**uplift.learners.DEFAULT_HGB, "random_state": seed})
    model.fit(X.iloc[train], t[train])
    p = model.predict_proba(X.iloc[np.flatnonzero(held)])[:, 1]
    th = t[held]
    n1, n0 = int(th.sum()), int(len(th) - th.sum())
    return float(roc_auc_score(th, p)), math.sqrt((1 / n1 + 1 / n0) / 12)


def run(
    exposures: pd.DataFrame | ibis.Table,
    customers: pd.DataFrame | None,
    *,
    campaign: str | None = None,
    control: str = "control",
    treated: Sequence[str] | None = None,
    outcome: str | None = None,
    value: str | bool | None = None,
    segment_columns: Sequence[str] = (),
    exposure_features: bool | str = "auto",
    metrics: abtest.MetricsArg = None,
    exclude: Sequence[str] = (),
    test_size: float = 0.3,
    top_share: float = 0.2,
    n_boot: int = 200,
    max_train: int = 200_000,
    max_held_out: int = 100_000,
    seed: int = 0,
    top_n: int | None = None,
    budget: float | None = None,
    cost_per_contact: float | None = None,
    rank_by: str | None = None,
    action: Mapping[str, Any] | None = None,
    run_id: str = "uplift",
    today: Any = None,
    action_formats: Sequence[str] = ("csv",),
    history: pd.DataFrame | None = None,
    tables: Any = None,
    decide_on: str | None = None,
) -> UpliftResult:
    """Learn whom ``campaign`` moved, check it on held-out customers and rank the customers.

    ``treated``: the variants counted as treatment (default every variant but ``control``,
    pooled); ``metrics``: the campaign's outcomes as notebook 04 names them (its ``metrics``
    parameter; default the contract's converted and revenue), never used as features;
    ``outcome``: the 0/1 metric ranked by (default the first 0/1 metric); ``value``: an amount
    metric ranked by too (default the first other metric; False for none); ``segment_columns``:
    the segments of the "segments that won" policies (customer table or exposures; many values
    are grouped as in the A/B report); ``exclude``: columns not to use as features;
    ``exposure_features``: use the exposures' own columns as features (True),
    not (False), or only when the customer table has no usable feature ("auto"). With ``top_n``
    or ``budget`` the target list is built too (see :meth:`UpliftResult.target_list`).
    ``history``: the customer table as it was before the campaign (:func:`customers_before`);
    the models then learn from features the campaign could not have changed, and rank today's
    ``customers`` by the same features as they are now. Without it they learn from
    ``customers``, whose behaviour columns include what the campaign caused. ``tables``: the
    run's validated tables, to build ``history`` here when it is not given. ``decide_on``: the
    metric the A/B decisions are judged on; the default ``outcome`` when it is a 0/1 metric.
    """
    rows, campaign, notes = _campaign_rows(exposures, campaign, control)
    if history is None and tables is not None and customers is not None:
        history, note = customers_before(tables, exposures, campaign=campaign, control=control)
        if history is not None:
            notes.append(note)
    variants = rows["variant"].astype(str)
    treated = (
        tuple(sorted(set(variants) - {control})) if treated is None else tuple(map(str, treated))
    )
    unknown = [v for v in treated if v not in set(variants) or v == control]
    if unknown or not treated:
        raise UpliftError(
            f"treated variants {unknown or list(treated)} are not treatment variants of {campaign!r}; "
            f"its variants: {', '.join(sorted(set(variants)))}"
        )
    rows = rows[variants.isin([control, *treated]).to_numpy()].reset_index(drop=True)
    t = (rows["variant"].astype(str) != control).to_numpy(dtype=int)
    spec_m = abtest.resolve_metrics(
        abtest.default_metrics(rows) if metrics is None else metrics, rows
    )
    if outcome is None and decide_on is not None:
        outcome = next(
            (m.column for m in spec_m if decide_on in (m.name, m.column) and m.binary), None
        )
    outcome = _pick(spec_m, outcome, binary=True, what="outcome")
    value = None if value is False else _pick(spec_m, value or None, binary=False, what="value")
    y = _outcome(rows, outcome, "outcome", campaign)
    if not np.isin(y, (0, 1)).all():
        raise UpliftError(
            f"the outcome {outcome!r} must be 0/1 (converted or not); for amounts pass it as value"
        )
    ys = {outcome: y}
    if value:
        ys[value] = _outcome(rows, value, "value", campaign)

    keys = {"customer_id", "campaign_id", "variant", "assigned_at"}
    outcome_cols = [c for c in rows.columns if c in ys or c in keys]
    # outcomes are never features: the ones ranked by, the contract's and every metric's column
    outcomes = [*ys, *abtest.METRIC_COLUMNS.values(), *(m.column for m in spec_m)]
    cust = None
    if customers is not None:
        cust = customers.copy(deep=False)
        if "customer_id" in cust.columns:
            cust = cust.set_index("customer_id")
        cust.index = cust.index.astype(str).rename("customer_id")
    hist = None
    if history is not None:
        hist = history.copy(deep=False)
        if "customer_id" in hist.columns:
            hist = hist.set_index("customer_id")
        hist.index = hist.index.astype(str).rename("customer_id")
        if cust is not None:  # learn only from what today's table can be ranked by
            hist = hist[[c for c in hist.columns if c in cust.columns]]
    learn = hist if hist is not None else cust
    cust_spec = None
    if learn is not None and len(learn.columns):
        try:
            cust_spec = uplift.feature_spec(
                learn.loc[learn.index.intersection(rows["customer_id"])],
                outcomes=outcomes,
                exclude=exclude,
            )
        except UpliftError:
            cust_spec = None
    use_exposures = exposure_features is True or (exposure_features == "auto" and cust_spec is None)
    exp_cols = [c for c in rows.columns if c not in outcome_cols] if use_exposures else []
    table = rows[["customer_id", *exp_cols]].set_index("customer_id")
    if learn is not None:
        extra = [c for c in learn.columns if c not in table.columns]
        table = table.join(learn[extra], how="left")
    spec = uplift.feature_spec(table, outcomes=outcomes, exclude=exclude)
    X = spec.transform(table).reset_index(drop=True)
    from_exposures = [c for c in spec.columns if c in exp_cols]

    seg_frame = None
    if segment_columns:
        seg = abtest.attach_segments(rows, cust, list(segment_columns), max_segments=8)
        seg_frame = pd.DataFrame(
            {c: seg.exposures[seg.key[c]].astype(str).to_numpy() for c in seg.columns}
        )
        if seg.missing:
            notes.append(seg.note())

    held = uplift.held_out_split(y, t, test_size=test_size, seed=seed)
    evaluations: dict[str, UpliftEvaluation] = {}
    models: dict[str, Any] = {}
    for m, ym in ys.items():
        ev = uplift.evaluate(
            X,
            ym,
            t,
            segments=seg_frame,
            outcome=m,
            held_out=held,
            seed=seed,
            n_boot=n_boot,
            top_share=top_share,
            max_train=max_train,
            max_held_out=max_held_out,
        )
        evaluations[m] = ev
        learner = uplift.default_learners(uplift.learners.is_binary(ym), seed)[ev.chosen or ev.best]
        fit_rows = np.arange(len(ym))
        if len(fit_rows) > max_train:
            fit_rows = np.sort(
                np.random.default_rng(seed + 5).choice(fit_rows, max_train, replace=False)
            )
        models[m] = clone(learner).fit(X.iloc[fit_rows], ym[fit_rows], t[fit_rows])

    if from_exposures or cust is None:
        population = "exposed customers"
        score_table = table
    else:
        population = "customer table"
        score_table = cust
    Xs = spec.transform(score_table)
    ranking = pd.DataFrame(index=pd.Index(score_table.index.astype(str), name="customer_id"))
    for m, model in models.items():
        ranking[f"expected_extra_{m}"] = model.predict(Xs)
    order = np.argsort(-ranking[f"expected_extra_{outcome}"].to_numpy(), kind="stable")
    ranking["uplift_rank"] = 0
    ranking.iloc[order, ranking.columns.get_loc("uplift_rank")] = np.arange(1, len(ranking) + 1)
    ranking = ranking[["uplift_rank", *[f"expected_extra_{m}" for m in ys]]]

    share = float(t.mean())
    auc, se = _balance(X, t, held, seed, max_train)
    facts = dict(
        customers=int(len(t)),
        treated_customers=int(t.sum()),
        control_customers=int(len(t) - t.sum()),
        treatment_share=share,
        events_treated=int(y[t == 1].sum()),
        events_control=int(y[t == 0].sum()),
        balance_auc=auc,
        balance_auc_se=se,
        ranked=int(len(ranking)),
        ranked_not_in_campaign=int((~ranking.index.isin(rows["customer_id"])).sum()),
        features=spec.columns,
        features_from_exposures=from_exposures,
        subsampled=len(t) * (1 - test_size) > max_train,
        held_out_subsampled=evaluations[outcome].settings["held_out_subsampled"],
        held_out_rows=evaluations[outcome].n_held_out,
        features_before_campaign=hist is not None,
    )
    warnings = _warnings(facts, evaluations[outcome], outcome, campaign, max_train)
    result = UpliftResult(
        campaign=campaign,
        control=control,
        treated=treated,
        outcome=outcome,
        value=value,
        evaluations=evaluations,
        models=models,
        features=spec,
        ranking=ranking,
        population=population,
        facts=facts,
        warnings=warnings,
        customers=cust,
        settings=dict(
            notes=notes,
            test_size=test_size,
            top_share=top_share,
            n_boot=n_boot,
            max_train=max_train,
            seed=seed,
            segment_columns=list(segment_columns),
            action_formats=tuple(action_formats),
        ),
    )
    if top_n is not None or budget is not None:
        result.target_list(
            top_n=top_n,
            budget=budget,
            cost_per_contact=cost_per_contact,
            rank_by=rank_by,
            action=action,
            run_id=run_id,
            today=today,
        )
    return result


def _warnings(
    facts: dict, ev: UpliftEvaluation, outcome: str, campaign: str, max_train: int
) -> list[str]:
    """Honest warnings in plain words: small campaign, extreme split, groups that differ, no model
    better than random, subsampled training."""
    out = []
    p = facts["treatment_share"]
    if p < EXTREME_SHARE or p > 1 - EXTREME_SHARE:
        out.append(
            f"Only {min(p, 1 - p):.0%} of the customers of '{campaign}' are in the "
            f"{'treated' if p < 0.5 else 'control'} group: the models learn little about it and "
            "the ranking is uncertain."
        )
    small_arm = min(facts["treated_customers"], facts["control_customers"])
    events = min(facts["events_treated"], facts["events_control"])
    if small_arm < SMALL_ARM or events < SMALL_EVENTS:
        out.append(
            f"Small campaign: {small_arm:,} customers in the smaller group and {events:,} "
            f"{outcome} events in the group with fewer; per-customer effects need far more data, so "
            "treat the ranking as a rough guide at best."
        )
    auc, se = facts["balance_auc"], facts["balance_auc_se"]
    if auc > BALANCE_AUC and auc > 0.5 + 3 * se:
        out.append(
            f"The treated and control customers differ in their features (a model tells them apart "
            f"with AUC {auc:.2f}; a random split gives 0.50): the campaign may not have been "
            "randomised, and then the measured effects, and the ranking, can be biased."
        )
    if not ev.trusted:
        out.append(
            "No model ranks customers better than random targeting with evidence: the ranking "
            "cannot be trusted on this data. A target list from it is no better than a random one."
        )
    if facts["subsampled"]:
        out.append(
            f"The models were trained on a random {max_train:,} of the campaign's customers (to keep "
            "the run short); the held-out check uses customers none of them saw."
        )
    if facts["held_out_subsampled"]:
        out.append(
            f"The rankings are judged on a random {facts['held_out_rows']:,} of the held-out "
            "customers (to keep the run short); intervals are computed for that number."
        )
    return out


def customers_before(
    tables: Any,
    exposures: pd.DataFrame | ibis.Table,
    *,
    campaign: str | None = None,
    control: str = "control",
    windows: Sequence[int] = (30, 90, 365),
) -> tuple[pd.DataFrame | None, str]:
    """The customer 360 as it was the day before ``campaign``'s first assignment, and a note.

    Uplift models must learn from what customers looked like before the campaign: orders it
    caused would otherwise sit in the features (revenue in the last 30 days, days since the
    last order) and flatter the ranking. ``tables``: the run's validated tables (customers,
    orders, interactions, survey answers). None, with the reason, when the exposures have no
    ``assigned_at`` or there is no order or interaction history to rebuild.
    """
    rows, campaign, _ = _campaign_rows(exposures, campaign, control)
    if "assigned_at" not in rows.columns or rows["assigned_at"].isna().all():
        return None, (
            f"The exposures of '{campaign}' have no assignment dates, so the models learn from "
            "the customer table as of the analysis date, after the campaign: a feature the "
            "campaign itself changed (recent orders, revenue) would flatter the ranking."
        )
    orders = getattr(tables, "orders", None)
    interactions = getattr(tables, "interactions", None)
    customers = getattr(tables, "customers", None)
    if customers is None or (orders is None and interactions is None):
        return None, (
            "There is no order or interaction history to rebuild the customers as they were "
            "before the campaign; the models learn from the customer table as it is."
        )
    first = pd.Timestamp(pd.to_datetime(rows["assigned_at"]).min()).normalize()
    before = first - pd.Timedelta(days=1)
    if isinstance(customers, ibis.Table):
        customers = customers.to_pandas()
    history = build_customer360(
        customers,
        orders,
        analysis_date=before,
        interactions=interactions,
        survey_responses=getattr(tables, "survey_responses", None),
        windows=windows,
    )
    return history, (
        f"The models learn from the customers as they were on {before:%d %b %Y}, the day before "
        f"'{campaign}' assigned its first customer (orders and interactions up to then), and "
        "rank today's customers by the same features as they are now."
    )


@dataclass(frozen=True)
class UpliftSkipped:
    """Why this run has no uplift ranking: the data cannot support one. The A/B report stands
    without it, and the page says why in one sentence."""

    reason: str

    def outputs(self) -> dict[str, Any]:
        return {}


#: the settings of :func:`run` a user names on purpose; an error with one of them set is theirs
_NAMED = ("campaign", "treated", "outcome", "value")


def run_if_possible(
    exposures: pd.DataFrame | ibis.Table, customers: pd.DataFrame | None, **kwargs: Any
) -> UpliftResult | UpliftSkipped:
    """:func:`run`, or :class:`UpliftSkipped` when the defaults meet data that cannot support an
    uplift model (one variant only, no 0/1 outcome, too few customers). With any of
    ``campaign``, ``treated``, ``outcome`` or ``value`` named, its error is raised: a setting
    the data contradict is the user's to fix."""
    try:
        return run(exposures, customers, **kwargs)
    except UpliftError as err:
        if any(kwargs.get(k) is not None for k in _NAMED):
            raise
        return UpliftSkipped(str(err))
