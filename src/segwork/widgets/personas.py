"""The persona explorer (JupyterLab): choose features, algorithm and k; see indices, stability, profiles."""

from __future__ import annotations

import io
from typing import Any

import ipywidgets as widgets
import pandas as pd

from segwork.personas.clusterer import ALGORITHMS, PersonaClusterer
from segwork.personas.estimator import _assemble
from segwork.personas.features import FEATURES, _prepare, _Prepared
from segwork.personas.result import PersonaResult, sweep_columns
from segwork.personas.selection import _k_values, choose_k, k_sweep
from segwork.plots.personas import profile_heatmap
from segwork.survey import ALPHA_THRESHOLD, DEFAULT_SCALE


def explorer(responses: pd.DataFrame, catalogue: pd.DataFrame, **kwargs: Any) -> ClusterExplorer:
    """An ipywidgets explorer: choose features, algorithm and k; see indices, stability, profiles."""
    return ClusterExplorer(responses, catalogue, **kwargs)


class ClusterExplorer(widgets.VBox):
    """Controls (features, algorithm, k) above outputs (sweep table, stability, personas, heatmap).

    :meth:`update` is a plain method (the widgets' observers call it), so tests can set control
    values and check the outputs. Sweeps are cached per (features, algorithm); changing k only
    re-profiles the fit already made in the sweep.
    """

    def __init__(
        self,
        responses: pd.DataFrame,
        catalogue: pd.DataFrame,
        *,
        k_range: tuple[int, int] = (2, 8),
        n_bootstrap: int = 5,
        random_state: int = 0,
        features: str = "constructs",
        algorithm: str = "kmeans",
        **fit_kwargs: Any,
    ):
        self._responses, self._catalogue = responses, catalogue
        self._k_range, self._n_bootstrap, self._rs = k_range, n_bootstrap, random_state
        self._fit_kwargs = fit_kwargs
        self._prep: dict[str, _Prepared] = {}
        self._sweeps: dict[
            tuple[str, str], tuple[pd.DataFrame, dict[int, PersonaClusterer], int, str]
        ] = {}
        ks = _k_values(k_range)
        self.features = widgets.Dropdown(
            options=list(FEATURES), value=features, description="Features"
        )
        self.algorithm = widgets.Dropdown(
            options=list(ALGORITHMS), value=algorithm, description="Algorithm"
        )
        self.k = widgets.IntSlider(
            value=ks[0], min=ks[0], max=ks[-1], description="k", continuous_update=False
        )
        self.indices = widgets.HTML()
        self.stability = widgets.HTML()
        self.personas = widgets.HTML()
        self.heatmap = widgets.Image(format="png")
        self.result: PersonaResult | None = None
        self._busy = False
        super().__init__(
            [
                widgets.HBox([self.features, self.algorithm, self.k]),
                self.stability,
                self.indices,
                self.personas,
                self.heatmap,
            ]
        )
        self.update(new_sweep=True)
        for w in (self.features, self.algorithm):
            w.observe(lambda _change: self.update(new_sweep=True), names="value")
        self.k.observe(lambda _change: self.update(), names="value")

    def _sweep(
        self,
    ) -> tuple[_Prepared, tuple[pd.DataFrame, dict[int, PersonaClusterer], int, str]]:
        feat, alg = self.features.value, self.algorithm.value
        kw = self._fit_kwargs
        if feat not in self._prep:
            self._prep[feat] = _prepare(
                self._responses,
                self._catalogue,
                features=feat,
                behaviour=kw.get("behaviour"),
                profile=kw.get("profile"),
                consent=kw.get("consent"),
                min_answered=kw.get("min_answered", 0.7),
                scale=kw.get("scale", DEFAULT_SCALE),
                alpha_threshold=kw.get("alpha_threshold", ALPHA_THRESHOLD),
                n_factors=kw.get("n_factors"),
                random_state=self._rs,
            )
        prep = self._prep[feat]
        if (feat, alg) not in self._sweeps:
            sweep, fits = k_sweep(
                prep.X,
                self._k_range,
                algorithm=alg,
                random_state=self._rs,
                n_bootstrap=self._n_bootstrap,
                sample_size=kw.get("sample_size", 3000),
                n_init=kw.get("n_init", 4),
            )
            k_auto, reason = choose_k(sweep)
            self._sweeps[(feat, alg)] = (sweep, fits, k_auto, reason)
        return prep, self._sweeps[(feat, alg)]

    def update(self, new_sweep: bool = False) -> None:
        """Recompute for the current controls and redraw every output."""
        if self._busy:
            return
        self._busy = True
        try:
            prep, (sweep, fits, k_auto, reason) = self._sweep()
            if new_sweep:
                self.k.value = k_auto  # observers are muted by _busy
            k = int(self.k.value)
            why = (
                reason
                if k == k_auto
                else f"k={k} set in the explorer; the rule would choose k={k_auto}."
            )
            self.result = _assemble(
                prep,
                sweep,
                fits[k],
                why,
                algorithm=self.algorithm.value,
                random_state=self._rs,
                names=None,
                describe=None,
                projection_size=2000,
            )
            self._render(k, k_auto)
        finally:
            self._busy = False

    def _render(self, k: int, k_auto: int) -> None:
        import html

        import matplotlib.pyplot as plt

        res = self.result
        assert res is not None
        row = res.sweep.loc[k]
        self.stability.value = (
            f"<b>k={k}</b> (rule: k={k_auto}) &mdash; stability ARI {row['stability']:.3f} ± "
            f"{row['stability_sd']:.3f}, weakest cluster Jaccard {row['min_cluster_jaccard']:.3f}, "
            f"silhouette {row['silhouette']:.3f}<br><i>{html.escape(res.k_reason)}</i>"
        )
        cols = sweep_columns(res.sweep)
        table = res.sweep[cols].round(3)
        self.indices.value = table.style.apply(
            lambda r: ["font-weight: bold; background: #eef" if r.name == k else "" for _ in r],
            axis=1,
        ).to_html()
        self.personas.value = (
            res.profiles[["name", "size", "share", "stability"]].round(3).to_html()
        )
        fig, ax = plt.subplots(figsize=(8, 0.5 * k + 1.5))
        profile_heatmap(res.profiles, ax=ax)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        self.heatmap.value = buf.getvalue()  # an Image widget: drawn without a kernel, testable
