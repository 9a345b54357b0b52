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


def _slider(value: float, lo: float, hi: float, step: float, fmt: str, label: str):
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


class SampleSizePlanner:
    """Sliders for baseline, minimum detectable lift, power and alpha, and the customers a test
    needs, updated on every change. ``SampleSizePlanner().widget`` is the box to display;
    ``planner.power.value = 0.9`` updates it as moving the slider does (:meth:`update`)."""

    def __init__(
        self,
        baseline: float = 0.05,
        mde_value: float = 0.10,
        power: float = 0.8,
        alpha: float = 0.05,
        relative: bool = True,
    ):
        self.baseline = _slider(baseline, 0.001, 0.5, 0.001, ".1%", "baseline conversion")
        self.mde = _slider(mde_value, 0.005, 1.0, 0.005, ".1%", "min. detectable lift")
        self.power = _slider(power, 0.5, 0.99, 0.01, ".0%", "power")
        self.alpha = _slider(alpha, 0.001, 0.2, 0.001, ".3f", "alpha")
        self.relative = w.Checkbox(value=relative, description="lift is relative (else absolute)")
        self.output = w.HTML()
        controls = (self.baseline, self.mde, self.power, self.alpha, self.relative)
        for ctl in controls:
            ctl.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox([*controls, self.output])
        self.update()

    def update(self) -> None:
        """Recompute the sample size from the current settings (:func:`planner_text`)."""
        self.output.value = planner_text(
            self.baseline.value,
            self.mde.value,
            self.power.value,
            self.alpha.value,
            self.relative.value,
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
