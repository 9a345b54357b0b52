"""The "Contracts and subscriptions" sections: how long contracts last, how many renew, and what
an active one is worth, from a :class:`segwork.steps.contracts.ContractsResult`.

Text functions return plain text from the result; section functions (:func:`headline`,
:func:`retention`, :func:`plans`, :func:`model_details`, and :func:`no_contracts` for a run
without a contracts table) show one section with :mod:`segwork.display`. Every sentence is
written from the fitted figures and the observed retention; plan names are data and are escaped
by the display helpers (and drawn as plain text in the figure).
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from segwork import display as show
from segwork.display import money, pct
from segwork.numbers import p_phrase
from segwork.plots import plain_labels
from segwork.steps.contracts import (
    ALL,
    LIFETIME_YEARS,
    SAME_RATE,
    ContractFit,
    ContractsResult,
    churn_rate_spread,
)

TITLE = "Contracts and subscriptions"
MAX_CURVES = 6  # plans drawn in the retention figure at most (the largest)


# --------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------
def _periods(n: float, period: str, decimals: int = 0) -> str:
    """'30 months', '1 month', '2.5 years'."""
    if not math.isfinite(n):
        return f"more than {LIFETIME_YEARS * 10_000:,} {period}s"
    text = f"{n:,.{decimals}f}"
    return f"{text} {period}{'' if text == '1' else 's'}"


def _name(fit: ContractFit) -> str:
    """How a sentence names a fit: 'all contracts', 'Month-to-month contracts'."""
    return ALL if fit.group == ALL else f"{fit.group} contracts"


def lifetime_text(fit: ContractFit, period: str) -> str:
    """How long a new contract of the fit lasts, in the words its parameters allow."""
    if math.isfinite(fit.expected_lifetime) and fit.expected_lifetime <= fit.lifetime_within * 1.5:
        text = f"a new one is expected to last {_periods(fit.expected_lifetime, period, 1)}"
    else:
        text = (
            f"a new one stays on average {_periods(fit.lifetime_within, period, 1)} of its first "
            f"{LIFETIME_YEARS} years"
        )
    if math.isfinite(fit.median_lifetime):
        text += f"; half are gone after {_periods(fit.median_lifetime, period)}"
    else:
        text += "; more than half never churn in the model"
    return text


def _share(value: float) -> str:
    """A share with the digits it needs: '5.4%', '0.26%', '< 0.01%'."""
    if value >= 0.01:
        return pct(value)
    return pct(value, 2) if value >= 0.0001 else "< 0.01%"


def heterogeneity_text(fit: ContractFit) -> str:
    """What alpha and beta mean for this fit: first-period churn, how much contracts differ,
    and how the renewal rate rises with tenure (the churn-prone leave first)."""
    a, b = fit.alpha, fit.beta
    first = a / (a + b)
    spread = churn_rate_spread(a, b)
    if spread < SAME_RATE:
        differ = (
            f"churn hardly differs between contracts: about {_share(first)} of them end each "
            f"period, whatever their age"
        )
    else:
        how = "a lot (some churn fast, others almost never)" if spread > 1 else "somewhat"
        differ = (
            f"{_share(first)} of new contracts end in their first period, and contracts differ "
            f"{how} in how likely they are to churn"
        )
    model = fit.model
    assert model is not None
    later = max(model.n_periods_, 2)
    r1, rn = float(model.retention_rate(1)), float(model.retention_rate(later))
    if rn - r1 >= 0.005:
        differ += (
            f"; the renewal rate rises from {pct(r1)} at the first renewal to {pct(rn)} at "
            f"renewal {later}, because the contracts likely to churn leave first, not because "
            "any contract grows more loyal"
        )
    return differ


def headline_text(result: ContractsResult, *, currency: str) -> str:
    """The finding: how long the largest group's new contracts last, which plan keeps its
    contracts longest (share retained at the second mark, model and observed), and the value of
    an active contract."""
    plans = result.plan_fits
    overall = result.fits[ALL]
    if overall.model is None and not plans:
        return (
            f"The {len(result.durations):,} contracts cannot be modelled: {overall.reason}. The "
            "observed retention is shown below."
        )
    period = result.period
    lead = plans[0] if plans else overall
    sentences = [f"Of {_name(lead)} ({lead.contracts:,}), {lifetime_text(lead, period)}."]
    mark = result.marks[1]
    if len(plans) > 1:
        best = max(plans, key=lambda f: f.retained.get(mark, -1.0))
        seen = best.observed_retained.get(mark)
        sentences.append(
            f"{_name(best)[:1].upper()}{_name(best)[1:]} keep the most: the model expects "
            f"{pct(best.retained[mark])} to remain after {_periods(mark, period)}"
            + (f" (observed: {pct(seen)})" if seen is not None else "")
            + "."
        )
    with_value = [f for f in (plans or [overall]) if math.isfinite(f.value_per_active)]
    if with_value:
        parts = [
            f"{f.group if f.group != ALL else 'overall'} {money(f.value_per_active, currency)}"
            for f in with_value
        ]
        sentences.append(
            "An active contract is worth, in its expected future payments discounted at "
            f"{pct(result.discount_rate, 2)} a {period}: " + "; ".join(parts) + "."
        )
    return " ".join(sentences)


def retention_caption(result: ContractsResult) -> str:
    """What the retention figure shows and how to read it."""
    period = result.period
    text = (
        f"Share of contracts still active after each number of {period}s. Solid lines: what "
        "happened to these contracts (counted among those observed at each point, so contracts "
        "still running count for as long as they have run). Dashed lines: the fitted model. "
        "Where the two lines part, the model's lifetimes and values are less reliable."
    )
    if result.window_periods:
        text += (
            f" The export holds only contracts active {_periods(result.window_periods, period)} "
            "before its date, so each contract is counted only in that window."
        )
    return text


def retention_alt(result: ContractsResult, fits: list[ContractFit]) -> str:
    """The alt text of the retention figure, from its data."""
    mark = result.marks[1]
    parts = []
    for f in fits:
        part = f"{f.group}: model {pct(f.retained[mark])}"
        if mark in f.observed_retained:
            part += f", observed {pct(f.observed_retained[mark])}"
        parts.append(part)
    return (
        f"Line chart of the share of contracts still active by {result.period}s since the "
        f"start, observed (solid) and model (dashed), for {len(fits)} group"
        f"{'s' if len(fits) != 1 else ''}. After {_periods(mark, result.period)}: "
        + "; ".join(parts)
        + "."
    )


def plans_table(result: ContractsResult, *, currency: str) -> show.PageTable:
    """One row per fit: contracts, active, churned, churn in words, retention at the marks
    (model and observed), lifetimes, and the value of an active contract with its interval."""
    period = result.period
    rows = []
    for f in result.fits.values():
        row = {
            "group": f.group,
            "contracts": f.contracts,
            "active": f.active,
            "churned": f.churned,
        }
        if f.model is None:
            row["how churn behaves"] = f"no model: {f.reason}"
            rows.append(row)
            continue
        row["how churn behaves"] = heterogeneity_text(f)
        for m in result.marks:
            row[f"model: left after {_periods(m, period)}"] = f.retained[m]
            row[f"observed: left after {_periods(m, period)}"] = f.observed_retained.get(m, np.nan)
        row[f"expected lifetime ({period}s)"] = f.expected_lifetime
        row[f"within {LIFETIME_YEARS} years ({period}s)"] = f.lifetime_within
        row[f"half gone after ({period}s)"] = f.median_lifetime
        row["value of an active contract"] = f.value_per_active
        row["95% interval"] = (
            f"{money(f.value_low, currency)} to {money(f.value_high, currency)}"
            if math.isfinite(f.value_low)
            else ("not identified" if math.isfinite(f.value_per_active) else "")
        )
        rows.append(row)
    frame = pd.DataFrame(rows)
    formats = {"contracts": "count", "active": "count", "churned": "count"}
    for c in frame.columns:
        if c.startswith(("model:", "observed:")):
            formats[c] = "pct"
        elif c.startswith(("expected lifetime", "within", "half gone")):
            formats[c] = "number"
    if "value of an active contract" in frame:
        formats["value of an active contract"] = "money"
    return show.PageTable(
        frame,
        formats=formats,
        note=(
            "Model: the fitted shifted-beta-geometric curve; observed: the share counted in the "
            "data (empty where fewer than 20 contracts were observed that long). Expected "
            f"lifetime is infinite when the model says some contracts almost never churn; the "
            f"lifetime within {LIFETIME_YEARS} years is then the figure to use. Value: each "
            f"active contract's {period}ly value times its expected further renewals, "
            f"discounted at {pct(result.discount_rate, 2)} a {period} (the current {period} "
            "not counted), averaged; the interval is from the model's uncertainty only."
        ),
        currency=currency,
    )


# --------------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------------
def retention_figure(result: ContractsResult, fits: list[ContractFit]):
    """Observed (solid steps) and model (dashed) retention per fit; the Axes."""
    fig, ax = plt.subplots(figsize=(9, 4.8))
    curves = result.curves
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = plain_labels(pd.Series([f.group for f in fits]))
    for i, (f, label) in enumerate(zip(fits, labels, strict=True)):
        c = curves.loc[curves["group"] == f.group]
        colour = colours[i % len(colours)]
        ax.step(c["period"], c["observed"], where="post", color=colour, label=f"{label} observed")
        t = np.arange(0, int(c["period"].max()) + 1)
        ax.plot(t, f.model.survival(t), "--", color=colour, label=f"{label} model")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_xlabel(f"{result.period}s since the start")
    ax.set_ylabel("share still active")
    ax.set_title("Contracts still active: observed and model")
    ax.legend(fontsize=8, ncols=2)
    return ax


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------
def no_contracts() -> None:
    """The section of a run without a contracts table."""
    show.explain(
        "This run has no contracts table (sources.contracts in the config), so there is nothing "
        "on contracts and subscriptions."
    )


def headline(result: ContractsResult, *, currency: str) -> None:
    """The finding, then every warning the fits raised and what was pooled or left out."""
    show.finding(headline_text(result, currency=currency), title=TITLE)
    for f in result.fits.values():
        if f.warnings:  # one alert per fit, its sentences together
            show.warning("\n\n".join(f.warnings), title=f"Contract model: {f.group}")
    for note in result.notes:
        show.explain(note)


def retention(result: ContractsResult) -> None:
    """The retention figure (plans, or all contracts without plans) and its caption."""
    fits = result.plan_fits[:MAX_CURVES] or [f for f in result.fitted if f.group == ALL]
    if not fits:
        return
    ax = retention_figure(result, fits)
    show.figure(ax.figure, alt=retention_alt(result, fits))
    show.explain(retention_caption(result))


def plans(result: ContractsResult, *, currency: str) -> None:
    """The table of fits: counts, churn in words, retention, lifetimes, value."""
    show.show_page_table(
        plans_table(result, currency=currency),
        caption=f"Contracts by {result.by or 'group'}: retention, lifetime and value",
    )


def model_details(result: ContractsResult) -> None:
    """Each fit's parameters with standard errors, and the misfit measures, for analysts."""
    parts = []
    for f in result.fitted:
        parts.append(show.summary_html(f.model.summary()))
        fit_check = (
            f"{f.group}: largest gap between observed and model retention "
            f"{100 * f.max_gap:.1f} percentage points (after {f.gap_at} {result.period}s); "
            if math.isfinite(f.max_gap)
            else f"{f.group}: "
        )
        if f.chi2_df:
            fit_check += (
                f"Pearson chi-square of the churns per {result.period} against the model's churn "
                f"rate among contracts at risk (periods pooled to expect at least 5 churns) "
                f"{f.chi2:,.1f} on {f.chi2_df} df, p {p_phrase(f.chi2_p)}. With thousands of "
                "contracts a small misfit is significant; the gap says how large it is."
            )
        parts.append(show.text_html(fit_check))
    if parts:
        show.for_analysts("contract model fits", *parts)
