"""The sample-size planner: sliders for baseline, minimum detectable effect, power and alpha,
and the customers a test needs (the arithmetic is :func:`segwork.abtest.sample_size`)."""

from __future__ import annotations

import html

import ipywidgets as w

from segwork.abtest import ABTestError, sample_size


def planner_text(
    baseline: float, mde_value: float, power: float, alpha: float, relative: bool = True
) -> str:
    """The planner's output (HTML): customers per arm and in total for the settings."""
    try:
        n = sample_size(baseline, mde_value, power=power, alpha=alpha, relative=relative)
    except ABTestError as err:
        return f"<p style='color:#c05621'>{html.escape(str(err))}</p>"
    target = baseline * (1 + mde_value) if relative else baseline + mde_value
    return (
        f"<p><b>{n:,} customers per arm</b> ({2 * n:,} for control + one variant) to detect a change in "
        f"conversion from {baseline:.2%} to {target:.2%} with {power:.0%} power at alpha = {alpha:g} "
        f"(two-sided; unpooled normal approximation).</p>"
    )


def sample_size_planner(
    baseline: float = 0.05,
    mde_value: float = 0.10,
    power: float = 0.8,
    alpha: float = 0.05,
    relative: bool = True,
):
    """An ipywidgets planner: sliders for baseline, MDE, power and alpha, and the required sample
    size, updated on every change (the update is :func:`planner_text`, a plain function)."""

    def slider(
        value: float, lo: float, hi: float, step: float, fmt: str, label: str
    ) -> w.FloatSlider:
        return w.FloatSlider(
            value=value,
            min=lo,
            max=hi,
            step=step,
            readout_format=fmt,
            description=label,
            style={"description_width": "150px"},
            layout=w.Layout(width="480px"),
        )

    base = slider(baseline, 0.001, 0.5, 0.001, ".1%", "baseline conversion")
    eff = slider(mde_value, 0.005, 1.0, 0.005, ".1%", "min. detectable lift")
    pw = slider(power, 0.5, 0.99, 0.01, ".0%", "power")
    al = slider(alpha, 0.001, 0.2, 0.001, ".3f", "alpha")
    rel = w.Checkbox(value=relative, description="lift is relative (else absolute)")
    out = w.HTML(value=planner_text(base.value, eff.value, pw.value, al.value, rel.value))

    def update(_change=None) -> None:
        out.value = planner_text(base.value, eff.value, pw.value, al.value, rel.value)

    for ctl in (base, eff, pw, al, rel):
        ctl.observe(update, names="value")
    box = w.VBox([base, eff, pw, al, rel, out])
    return box


planner = sample_size_planner
