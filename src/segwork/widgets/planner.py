"""The sample-size planner: baseline, minimum detectable effect, power, alpha and arms, and the
customers a test needs (the arithmetic is :func:`segwork.abtest.sample_size` and
:func:`segwork.abtest.mde`; nothing here is a formula of its own).

Started from a campaign's data (:meth:`SampleSizePlanner.from_exposures`,
:meth:`SampleSizePlanner.from_result`) it offers every campaign x segment as a starting point:
the control arm's observed conversion as the baseline and the segment's customers as the
customers available, and it says when a segment is too small for the test it plans and which
effect the segment can detect instead.

Shares are typed as people write them: ``20%``, ``20 %``, ``0.2`` and ``20`` are all 20 %
(a bare number above 1 is read as a percent; see :func:`parse_share`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd

from segwork import abtest
from segwork.abtest import ABTestError, mde, sample_size
from segwork.display import table_html
from segwork.numbers import pct

SHARE_HELP = "type 20%, 20 or 0.2 (a bare number above 1 is read as a percent)"
_SHARE = re.compile(r"^([+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+))\s*(%?)$")
BASELINE_COLUMNS = ["campaign_id", "segment", "baseline", "customers", "arms", "exposed"]


# ------------------------------------------------------------------------------------ reading


def parse_share(text: str | float, what: str = "the value") -> float:
    """A share typed by a person, as a fraction: ``"20%"``, ``"20 %"``, ``"20"`` -> 0.2;
    ``"0.2"`` -> 0.2; ``"2,5 %"`` -> 0.025 (decimal comma).

    A number with ``%`` is a percent. A bare number above 1 (in size) is read as a percent
    too (nobody means a 2000 % conversion rate); a bare number from 0 to 1 is a fraction, so
    ``"1"`` is 100 %. Anything else
    raises :class:`~segwork.abtest.ABTestError` naming ``what`` and the forms accepted.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        number, percent = float(text), False
    else:
        m = _SHARE.match(str(text).strip())
        if m is None:
            shown = str(text).strip()
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise ABTestError(f'{what}: "{shown}" is not a share; {SHARE_HELP}')
        number, percent = float(m.group(1).replace(",", ".")), bool(m.group(2))
    if not np.isfinite(number):
        raise ABTestError(f"{what}: {text!r} is not a share; {SHARE_HELP}")
    return number / 100 if percent or abs(number) > 1 else number


def share_text(value: float) -> str:
    """A share as the planner's input boxes show it: 0.05 -> '5 %', 0.125 -> '12.5 %'."""
    return f"{100 * value:.4g}%"


# ------------------------------------------------------------------------- baselines from data


def baselines_from_result(
    ab: abtest.ABResult, sizes: pd.Series | int | None = None
) -> pd.DataFrame:
    """One row per campaign x segment of an A/B result: the control arm's observed conversion
    (``baseline``, the first 0/1 metric), the customers who took part (``exposed``), the arms
    the campaign had and the customers available for the next test (``customers``): ``sizes``
    (customers per segment label, or one number for a result without segments), else the
    exposed customers."""
    kinds = ab.settings.get("metric_kinds", {})
    binary = [m for m in ab.settings["metrics"] if kinds.get(m) == "binary"]
    if not binary:
        raise ABTestError(
            "the planner sizes conversion tests, and the campaign result has no 0/1 outcome; "
            "evaluate a binary metric (e.g. metrics: {converted: binary})"
        )
    t = ab.table[ab.table["metric"] == binary[0]]
    g = t.groupby(["campaign_id", "segment"], sort=False)
    out = g.agg(
        baseline=("control_mean", "first"),
        n_control=("n_control", "first"),
        n_variants=("n_variant", "sum"),
        variants=("variant", "nunique"),
    ).reset_index()
    out["exposed"] = (out["n_control"] + out["n_variants"]).astype("int64")
    out["arms"] = (out["variants"] + 1).astype("int64")
    if sizes is None:
        out["customers"] = out["exposed"]
    elif isinstance(sizes, pd.Series):
        known = out["segment"].map(sizes)
        out["customers"] = known.fillna(out["exposed"]).astype("int64")
    else:
        out["customers"] = int(sizes)
    out["campaign_id"] = out["campaign_id"].astype(str)
    out["segment"] = out["segment"].astype(str)
    return out[BASELINE_COLUMNS]


def baselines_from_exposures(
    exposures: Any,
    segment_column: str | None = None,
    *,
    customers: pd.DataFrame | None = None,
    control: str = "control",
    outcome: str = "converted",
    max_segments: int = 8,
) -> pd.DataFrame:
    """:func:`baselines_from_result` of the campaign exposures (pandas or Ibis), split by
    ``segment_column`` (a column of the exposures, else of ``customers``, the customer table
    indexed by customer_id; grouped as notebook 04 groups it). Customers available per segment:
    the customer table's, when the column comes from it; else the exposed customers."""
    column = [segment_column] if segment_column else []
    seg = abtest.attach_segments(exposures, customers, column, max_segments=max_segments)
    if seg.missing:
        raise ABTestError(
            f"no column '{seg.missing[0]}' in the campaign exposures"
            + (" or the customer table" if customers is not None else "")
        )
    ab = abtest.evaluate(
        seg.exposures,
        segment=seg.key[segment_column] if segment_column else None,
        control=control,
        metrics={outcome: "binary"},
    )
    return baselines_from_result(ab, _available(customers, segment_column, seg))


def _available(customers: pd.DataFrame | None, column: str | None, seg: Any) -> Any:
    """Customers per segment label in the customer table, where that is what the label means."""
    if customers is None:
        return None
    if column is None:
        return len(customers)
    if seg.sources.get(column) != "customers":
        return None
    # a grouped column keeps its largest values as labels; its other labels (quartile ranges,
    # 'other ...') are not values of the table and fall back to the exposed customers
    return abtest.segment_sizes(customers, column)


# --------------------------------------------------------------------------------- the plan


def segment_plan(
    baselines: pd.DataFrame,
    mde_value: float,
    *,
    power: float = 0.8,
    alpha: float = 0.05,
    relative: bool = True,
    arms: int | None = None,
) -> pd.DataFrame:
    """Every row of ``baselines`` at one setting: customers per arm (``n_per_arm``), in all
    arms (``needed``), ``too_small`` (needed > customers), ``short_by`` and the effect the
    segment can detect when its customers are split evenly over the arms (``detectable``,
    relative or absolute as ``mde_value``; inf when none). ``arms`` overrides each row's."""
    out = baselines.copy()
    if arms is not None:
        out["arms"] = int(arms)
    p = out["baseline"].to_numpy(dtype=float)
    target = p * (1 + mde_value) if relative else p + mde_value
    ok = (p > 0) & (p < 1) & (target > 0) & (target < 1)
    n = np.full(len(out), np.nan)
    if ok.any():
        n[ok] = sample_size(p[ok], mde_value, power=power, alpha=alpha, relative=relative)
    out["n_per_arm"] = n
    out["needed"] = n * out["arms"].to_numpy()
    out["too_small"] = out["needed"] > out["customers"]
    out["short_by"] = np.where(out["too_small"], out["needed"] - out["customers"], 0.0)
    per_arm = out["customers"].to_numpy() // out["arms"].to_numpy()
    det = np.full(len(out), np.inf)
    usable = (p > 0) & (p < 1) & (per_arm > 0)
    if usable.any():
        det[usable] = mde(p[usable], per_arm[usable], power=power, alpha=alpha, relative=relative)
    out["detectable"] = det
    return out


def planner_text(
    baseline: float, mde_value: float, power: float, alpha: float, relative: bool = True
) -> str:
    """The planner's output (HTML): customers per arm and in total for the settings."""
    return _plan_html(baseline, mde_value, power, alpha, relative)


def _plan_html(
    baseline: float,
    mde_value: float,
    power: float,
    alpha: float,
    relative: bool = True,
    arms: int = 2,
    available: int | None = None,
    where: str = "the segment",
) -> str:
    try:
        n = sample_size(baseline, mde_value, power=power, alpha=alpha, relative=relative)
    except ABTestError as err:
        return _error_html(str(err))
    target = baseline * (1 + mde_value) if relative else baseline + mde_value
    split = "control + one variant" if arms == 2 else f"control + {arms - 1} variants"
    text = (
        f"<p><b>{n:,} customers per arm</b> ({arms * n:,} for {split}) to detect a change in "
        f"conversion from {baseline:.2%} to {target:.2%} with {power:.0%} power at alpha = {alpha:g} "
        f"(two-sided; unpooled normal approximation).</p>"
    )
    if available:
        text += _size_warning(
            baseline, n, arms, available, power, alpha, relative, html.escape(where)
        )
    return text


def _size_warning(
    baseline: float,
    n: int,
    arms: int,
    available: int,
    power: float,
    alpha: float,
    relative: bool,
    where: str,
) -> str:
    """Whether the customers available hold the test; if not, by how much, and what they can
    detect instead (:func:`segwork.abtest.mde` at the customers split evenly over the arms)."""
    needed = n * arms
    if needed <= available:
        return (
            f"<p>{where.capitalize()} has {available:,} customers: enough "
            f"({available - needed:,} to spare).</p>"
        )
    per_arm = available // arms
    can = (
        mde(baseline, per_arm, power=power, alpha=alpha, relative=relative)
        if per_arm > 0
        else np.inf
    )
    if np.isfinite(can):
        reach = baseline * (1 + can) if relative else baseline + can
        effect = f"{pct(can)} lift" if relative else f"{100 * can:.2f} percentage points"
        instead = (
            f"With {per_arm:,} customers per arm it can detect a {effect} (conversion from "
            f"{baseline:.2%} to {reach:.2%}) at the same power and alpha."
        )
    else:
        instead = f"With {per_arm:,} customers per arm no effect is detectable at this power."
    return (
        "<p style='color:#c05621'><b>Too small:</b> the test needs "
        f"{arms} &times; {n:,} = {needed:,} customers; {where} has {available:,} "
        f"({needed - available:,} too few). {instead}</p>"
    )


def _error_html(message: str) -> str:
    return f"<p style='color:#c05621'>{html.escape(message)}</p>"


# ------------------------------------------------------------------------------- the widget


class ShareInput(w.HBox):
    """A share as a slider (to explore) and a text box (to type ``20%``, ``20`` or ``0.2``;
    :func:`parse_share`). ``value`` is the share; ``error`` says why the typed text was not
    taken (None when it was). Typed values outside the slider's range widen it."""

    def __init__(
        self,
        label: str,
        value: float,
        lo: float,
        hi: float,
        step: float,
        *,
        valid: Callable[[float], str | None],
        on_change: Callable[[], None],
    ) -> None:
        self.description = label
        self.slider = w.FloatSlider(
            value=value,
            min=lo,
            max=hi,
            step=step,
            readout=False,
            description=label,
            style={"description_width": "150px"},
            layout=w.Layout(width="400px"),
        )
        self.text = w.Text(
            value=share_text(value),
            continuous_update=False,
            placeholder="e.g. 20%",
            tooltip=SHARE_HELP,
            layout=w.Layout(width="90px"),
        )
        self.error: str | None = None
        self._value = float(value)
        self._valid = valid
        self._on_change = on_change
        self._syncing = False
        super().__init__([self.slider, self.text])
        self.slider.observe(self._from_slider, names="value")
        self.text.observe(self._from_text, names="value")

    @property
    def value(self) -> float:
        return self._value

    @value.setter
    def value(self, v: float) -> None:
        v = float(v)
        problem = self._valid(v)
        if problem:
            raise ABTestError(f"{self.description}: {share_text(v)} {problem}")
        self._set(v)
        self._on_change()

    def _set(self, v: float) -> None:
        """Take ``v``: the slider (widened if needed) and the text box show it."""
        self._value, self.error = v, None
        self._syncing = True
        try:
            self.slider.min, self.slider.max = min(self.slider.min, v), max(self.slider.max, v)
            self.slider.value = v
            self.text.value = share_text(v)
        finally:
            self._syncing = False

    def _from_slider(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        self._value, self.error = float(change["new"]), None
        self._syncing = True
        try:
            self.text.value = share_text(self._value)
        finally:
            self._syncing = False
        self._on_change()

    def _from_text(self, change: dict[str, Any]) -> None:
        if self._syncing or not change["new"].strip():
            return
        try:
            v = parse_share(change["new"], self.description)
            problem = self._valid(v)
            if problem:
                raise ABTestError(f"{self.description}: {share_text(v)} {problem}")
        except ABTestError as err:
            self.error = str(err)
        else:
            self._set(v)
        self._on_change()


def _between_0_and_1(v: float) -> str | None:
    return None if 0 < v < 1 else "must be above 0% and below 100%"


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be above 0%"


class SampleSizePlanner:
    """Baseline, minimum detectable lift, power, alpha and arms, and the customers a test needs,
    updated on every change. ``SampleSizePlanner().widget`` is the box to display;
    ``planner.power.value = 0.9`` or ``planner.mde.text.value = "20%"`` updates it as moving
    the slider or typing does (:meth:`update`).

    With ``baselines`` (:func:`baselines_from_exposures`, or the constructors
    :meth:`from_exposures` and :meth:`from_result`) a "start from" list offers each campaign x
    segment (the largest first): choosing one sets the baseline to its observed control
    conversion, the arms to the campaign's and the customers available to the segment's (the
    customer table's, else the exposed customers); the table below the controls
    shows every segment at the current setting and which are too small for it.
    """

    def __init__(
        self,
        baseline: float = 0.05,
        mde_value: float = 0.10,
        power: float = 0.8,
        alpha: float = 0.05,
        relative: bool = True,
        *,
        baselines: pd.DataFrame | None = None,
        arms: int = 2,
        available: int | None = None,
        segment_column: str | None = None,
    ):
        self.baselines = baselines.reset_index(drop=True) if baselines is not None else None
        self.segment_column = segment_column
        self._ready = False
        upd = self.update
        self.baseline = ShareInput(
            "baseline conversion",
            baseline,
            0.001,
            0.5,
            0.001,
            valid=_between_0_and_1,
            on_change=upd,
        )
        self.mde = ShareInput(
            "min. detectable lift", mde_value, 0.005, 1.0, 0.005, valid=_positive, on_change=upd
        )
        self.power = ShareInput(
            "power", power, 0.5, 0.99, 0.01, valid=_between_0_and_1, on_change=upd
        )
        self.alpha = ShareInput(
            "alpha", alpha, 0.001, 0.2, 0.001, valid=_between_0_and_1, on_change=upd
        )
        self.relative = w.Checkbox(value=relative, description="lift is relative (else absolute)")
        self.arms = w.BoundedIntText(
            value=arms,
            min=2,
            max=20,
            description="arms",
            tooltip="control + variants",
            style={"description_width": "150px"},
            layout=w.Layout(width="240px"),
        )
        self.available = w.IntText(
            value=available or 0,
            description="customers available",
            tooltip="0: not given",
            style={"description_width": "150px"},
            layout=w.Layout(width="300px"),
        )
        self.start = w.Dropdown(
            options=self._start_options(),
            value=self._largest(),
            description="start from",
            style={"description_width": "150px"},
            layout=w.Layout(width="640px"),
        )
        self.help = w.HTML(f"<small>Shares: {html.escape(SHARE_HELP)}.</small>")
        self.table = w.HTML()
        self.output = w.HTML()
        for ctl in (self.relative, self.arms, self.available):
            ctl.observe(lambda _change: self.update(), names="value")
        self.start.observe(lambda change: self.choose(change["new"]), names="value")
        head = [self.start] if self.baselines is not None else []
        self.widget = w.VBox(
            [
                *head,
                self.baseline,
                self.mde,
                self.power,
                self.alpha,
                self.relative,
                self.arms,
                self.available,
                self.help,
                self.table,
                self.output,
            ]
        )
        self._ready = True
        if self.start.value is not None:
            self.choose(self.start.value)
        else:
            self.update()

    # -- from data
    @classmethod
    def from_exposures(
        cls,
        exposures: Any,
        segment_column: str | None = None,
        *,
        customers: pd.DataFrame | None = None,
        control: str = "control",
        outcome: str = "converted",
        **settings: Any,
    ) -> SampleSizePlanner:
        """A planner started from campaign exposures (see :func:`baselines_from_exposures`)."""
        table = baselines_from_exposures(
            exposures, segment_column, customers=customers, control=control, outcome=outcome
        )
        return cls(baselines=table, segment_column=segment_column, **settings)

    @classmethod
    def from_result(
        cls, result: Any, *, customers: pd.DataFrame | None = None, **settings: Any
    ) -> SampleSizePlanner:
        """A planner started from notebook 04's result (:mod:`segwork.steps.campaign_ab`): the
        segmentation decisions are split by, with ``customers`` (the customer table) giving
        the customers available per segment (else the exposed customers)."""
        column = result.main
        sizes = _available(customers, column, result.segments)
        table = baselines_from_result(result.plan_basis, sizes)
        settings.setdefault("power", result.settings.get("power", 0.8))
        settings.setdefault("alpha", result.settings.get("alpha", 0.05))
        return cls(baselines=table, segment_column=column, **settings)

    def _largest(self) -> int | None:
        """The row to start from: the segment with the most customers."""
        if self.baselines is None or not len(self.baselines):
            return None
        return int(self.baselines["customers"].to_numpy().argmax())

    def _start_options(self) -> list[tuple[str, int | None]]:
        if self.baselines is None:
            return [("your own numbers", None)]
        opts: list[tuple[str, int | None]] = []
        for i, row in self.baselines.iterrows():
            opts.append(
                (
                    f"{row['campaign_id']} · {self._segment_words(row['segment'])}: "
                    f"{row['baseline']:.2%} conversion in control, "
                    f"{int(row['customers']):,} customers",
                    int(i),
                )
            )
        return [*opts, ("your own numbers", None)]

    def _segment_words(self, label: str) -> str:
        return (
            "all customers" if label == "all" else abtest.segment_name(label, self.segment_column)
        )

    def choose(self, row: int | None) -> None:
        """Start from row ``row`` of the baselines (None: keep the typed numbers)."""
        if row is None or self.baselines is None:
            self.update()
            return
        r = self.baselines.iloc[row]
        self._ready = False
        try:
            if 0 < r["baseline"] < 1:
                self.baseline.value = float(r["baseline"])
            self.arms.value = int(r["arms"])
            self.available.value = int(r["customers"])
        finally:
            self._ready = True
        self.update()

    # -- output
    def update(self) -> None:
        """Recompute the plan from the current settings and say whether the customers
        available hold it; refresh the table of every segment."""
        if not self._ready:
            return
        errors = [c.error for c in (self.baseline, self.mde, self.power, self.alpha) if c.error]
        if errors:
            self.output.value = "".join(_error_html(e) for e in errors)
            return
        where = "the segment"
        if self.baselines is not None and self.start.value is not None:
            r = self.baselines.iloc[self.start.value]
            where = f"{self._segment_words(r['segment'])} ({r['campaign_id']})"
        self.output.value = _plan_html(
            self.baseline.value,
            self.mde.value,
            self.power.value,
            self.alpha.value,
            self.relative.value,
            arms=int(self.arms.value),
            available=int(self.available.value) or None,
            where=where,
        )
        self.table.value = self._table_html() if self.baselines is not None else ""

    def plan(self) -> pd.DataFrame:
        """:func:`segment_plan` of every segment at the current lift, power, alpha and arms."""
        if self.baselines is None:
            raise ABTestError("this planner was not started from campaign data")
        return segment_plan(
            self.baselines,
            self.mde.value,
            power=self.power.value,
            alpha=self.alpha.value,
            relative=self.relative.value,
            arms=int(self.arms.value),
        )

    def _table_html(self) -> str:
        plan = self.plan()
        rel = self.relative.value

        def effect(v: float) -> str:
            if not np.isfinite(v):
                return "none"
            return pct(v) if rel else f"{100 * v:.2f} pp"

        shown = pd.DataFrame(
            {
                "campaign": plan["campaign_id"],
                "segment": plan["segment"].map(self._segment_words),
                "conversion in control": plan["baseline"].map(lambda v: f"{v:.2%}"),
                "customers": plan["customers"].map(lambda v: f"{int(v):,}"),
                "needed (all arms)": plan["needed"].map(
                    lambda v: f"{int(v):,}" if np.isfinite(v) else "–"
                ),
                "enough?": np.where(
                    plan["too_small"],
                    plan["short_by"].map(lambda v: f"no: {int(v):,} too few"),
                    np.where(np.isfinite(plan["needed"]), "yes", "no baseline"),
                ),
                "detectable with all its customers": plan["detectable"].map(effect),
            }
        )
        return table_html(
            shown,
            caption=f"Every segment at a {effect(self.mde.value)} "
            f"{'lift' if rel else 'change'}, {self.arms.value} arms",
        )


def sample_size_planner(
    baseline: float = 0.05,
    mde_value: float = 0.10,
    power: float = 0.8,
    alpha: float = 0.05,
    relative: bool = True,
) -> w.VBox:
    """The planner's box (:class:`SampleSizePlanner`), ready to display."""
    return SampleSizePlanner(baseline, mde_value, power, alpha, relative).widget


planner = sample_size_planner
