"""The persona explorer (JupyterLab): choose features, algorithm and k; see indices, stability, profiles.

A new setting of features, algorithm or the numbers of groups tried means a new k sweep (a gmm
sweep on items takes tens of seconds), so while it runs the controls are locked, a status line
says what is being fitted and the previous result is greyed out; the k the user chose is kept
when the new sweep has it, or the status says it was reset and why. :func:`persona_table` and
:func:`sweep_table` are the tables in words (plain labels, counts, per cents), testable alone.
"""

from __future__ import annotations

import html
import io
import time
from typing import Any

import ipywidgets as widgets
import pandas as pd

from segwork.display import table_html
from segwork.errors import SegworkError
from segwork.personas.clusterer import ALGORITHMS, PersonaClusterer
from segwork.personas.estimator import _assemble
from segwork.personas.features import FEATURES, _prepare, _Prepared
from segwork.personas.result import PersonaResult, sweep_columns
from segwork.personas.selection import _k_values, choose_k, k_sweep
from segwork.plots.personas import profile_heatmap
from segwork.progress import format_seconds
from segwork.survey import ALPHA_THRESHOLD, DEFAULT_SCALE

#: The k sweep's columns in words (what each measures and which way is better).
SWEEP_LABELS = {
    "silhouette": "separation (silhouette; higher = better)",
    "calinski_harabasz": "Calinski-Harabasz (higher = better)",
    "davies_bouldin": "Davies-Bouldin (lower = better)",
    "bic": "BIC (lower = better)",
    "stability": "reproducibility in refits (ARI, mean)",
    "stability_sd": "reproducibility (ARI, sd)",
    "min_cluster_jaccard": "weakest group reproduced (Jaccard)",
}
_GREY = "opacity:0.35;pointer-events:none"
Sweep = tuple[pd.DataFrame, dict[int, PersonaClusterer], int, str]


def persona_table(profiles: pd.DataFrame) -> pd.DataFrame:
    """The personas of a fit for people: name, respondents, share of respondents and how often
    the group was reproduced in the refits (Jaccard; empty without refits)."""
    return pd.DataFrame(
        {
            "persona": profiles["name"].astype(str).to_numpy(),
            "respondents": profiles["size"].astype("int64").to_numpy(),
            "share of respondents": profiles["share"].astype(float).to_numpy(),
            "reproduced in refits (Jaccard)": profiles["stability"].astype(float).to_numpy(),
        }
    )


PERSONA_FORMATS = {
    "respondents": "count",
    "share of respondents": "pct",
    "reproduced in refits (Jaccard)": "{:.2f}",
}


def sweep_table(sweep: pd.DataFrame, *, shown: int, rule: int) -> pd.DataFrame:
    """The k sweep for people: one row per number of groups, its indices in words (three
    decimals; Calinski-Harabasz and BIC whole), and which k is shown and which the rule picks."""
    cols = sweep_columns(sweep)
    out = pd.DataFrame({"groups (k)": sweep.index.astype(int)})
    for c in cols:
        out[SWEEP_LABELS.get(c, c.replace("_", " "))] = sweep[c].astype(float).to_numpy()
    marks = []
    for k in out["groups (k)"]:
        words = (["shown"] if k == shown else []) + (["the rule's choice"] if k == rule else [])
        marks.append(", ".join(words))
    out["note"] = marks
    return out


def sweep_formats(table: pd.DataFrame) -> dict[str, str]:
    """Formats of :func:`sweep_table`'s number columns."""
    whole = {SWEEP_LABELS["calinski_harabasz"], SWEEP_LABELS["bic"]}
    return {
        c: ("{:,.0f}" if c in whole else "{:.3f}")
        for c in table.columns
        if c not in ("groups (k)", "note")
    }


def explorer(responses: pd.DataFrame, catalogue: pd.DataFrame, **kwargs: Any) -> ClusterExplorer:
    """An ipywidgets explorer: choose features, algorithm and k; see indices, stability, profiles."""
    return ClusterExplorer(responses, catalogue, **kwargs)


class ClusterExplorer(widgets.VBox):
    """Controls in one row (features, algorithm, numbers of groups tried, k), a status line,
    then the personas table beside their heatmap and the k sweep in a second tab.

    :meth:`update` is a plain method (the widgets' observers call it), so tests can set control
    values and check the outputs. Sweeps are cached per (features, algorithm, k range);
    changing k only re-profiles the fit already made in the sweep. The k the user set on the
    slider is kept across new sweeps while they fit it; "k from the rule" goes back to the
    rule's choice. The explorer is a widget itself (``.widget`` is itself, as in the other
    explorers).
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
        self._n_bootstrap, self._rs = n_bootstrap, random_state
        self._fit_kwargs = fit_kwargs
        self._prep: dict[str, _Prepared] = {}
        self._sweeps: dict[tuple[str, str, tuple[int, int]], Sweep] = {}
        ks = _k_values(k_range)
        lo, hi = min(ks), max(ks)
        style = {"description_width": "initial"}
        self.features = widgets.Dropdown(
            options=list(FEATURES), value=features, description="Features", style=style
        )
        self.algorithm = widgets.Dropdown(
            options=list(ALGORITHMS), value=algorithm, description="Algorithm", style=style
        )
        self.k_range = widgets.IntRangeSlider(
            value=(lo, hi),
            min=2,
            max=max(12, hi),
            description="k tried",
            continuous_update=False,
            style=style,
        )
        self.k = widgets.IntSlider(
            value=lo, min=lo, max=hi, description="k", continuous_update=False, style=style
        )
        self.use_rule = widgets.Button(
            description="k from the rule", tooltip="Show the number of groups the rule chooses"
        )
        self.status = widgets.HTML()
        self.indices = widgets.HTML()
        self.stability = widgets.HTML()
        self.personas = widgets.HTML()
        self.heatmap = widgets.Image(format="png", layout=widgets.Layout(max_width="60%"))
        self.result: PersonaResult | None = None
        self.user_k: int | None = None  # the k set on the slider; None = the rule's choice
        self.k_note = ""  # kept or reset: what happened to the user's k in the last update
        self._busy = False
        self._sweep_seconds: float | None = None
        row = widgets.Layout(flex_flow="row wrap", align_items="center")
        tabs = widgets.Tab(
            children=[
                widgets.HBox(
                    [self.personas, self.heatmap],
                    layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"),
                ),
                self.indices,
            ],
            titles=("Personas", "Choosing k"),
        )
        super().__init__(
            [
                widgets.HBox(
                    [self.features, self.algorithm, self.k_range, self.k, self.use_rule],
                    layout=row,
                ),
                self.status,
                self.stability,
                tabs,
            ]
        )
        self.update(new_sweep=True)
        for w in (self.features, self.algorithm, self.k_range):
            w.observe(lambda _change: self.update(new_sweep=True), names="value")
        self.k.observe(self._k_changed, names="value")
        self.use_rule.on_click(lambda _button: self.follow_rule())

    @property
    def widget(self) -> ClusterExplorer:
        """The box to display (the explorer itself), as ``RuleBuilder(...).widget``."""
        return self

    @property
    def controls(self) -> tuple[widgets.DOMWidget, ...]:
        """The controls that are locked while a fit runs."""
        return (self.features, self.algorithm, self.k_range, self.k, self.use_rule)

    def _k_changed(self, change: dict[str, Any]) -> None:
        if self._busy:  # set by update itself, not by the user
            return
        self.user_k = int(change["new"])
        self.update()

    def follow_rule(self) -> None:
        """Forget the k set on the slider and show the rule's choice."""
        self.user_k = None
        self.update()

    def _key(self) -> tuple[str, str, tuple[int, int]]:
        lo, hi = self.k_range.value
        return self.features.value, self.algorithm.value, (int(lo), int(hi))

    def _sweep(self) -> tuple[_Prepared, Sweep]:
        feat, alg, k_range = self._key()
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
        if (feat, alg, k_range) not in self._sweeps:
            start = time.perf_counter()
            sweep, fits = k_sweep(
                prep.X,
                k_range,
                algorithm=alg,
                random_state=self._rs,
                n_bootstrap=self._n_bootstrap,
                sample_size=kw.get("sample_size", 3000),
                n_init=kw.get("n_init", 4),
            )
            self._sweep_seconds = time.perf_counter() - start
            k_auto, reason = choose_k(sweep)
            self._sweeps[(feat, alg, k_range)] = (sweep, fits, k_auto, reason)
        return prep, self._sweeps[(feat, alg, k_range)]

    def _choose_k(self, fits: dict[int, PersonaClusterer], k_auto: int) -> tuple[int, str]:
        """The k to show and what happened to the user's k (kept, reset and why, or nothing)."""
        if self.user_k is None:
            return k_auto, ""
        if self.user_k in fits:
            return self.user_k, (
                f"Kept your k={self.user_k} (the rule would choose k={k_auto}; "
                "“k from the rule” shows its choice)."
            )
        lo, hi = min(fits), max(fits)
        k, self.user_k = self.user_k, None
        return k_auto, (
            f"Your k={k} was reset to the rule's choice k={k_auto}: the numbers of groups tried "
            f"now are {lo} to {hi}, which exclude {k}."
        )

    def _lock(self, locked: bool) -> None:
        for control in self.controls:
            control.disabled = locked

    def _grey_out(self) -> None:
        """Mark the shown result as the previous one while a new one is computed."""
        for out in (self.stability, self.indices, self.personas):
            if out.value and not out.value.startswith(f"<div style='{_GREY}'"):
                out.value = f"<div style='{_GREY}' title='previous result'>{out.value}</div>"
        self.heatmap.layout.visibility = "hidden"

    def _working_text(self, new_sweep: bool) -> str:
        feat, alg, (lo, hi) = self._key()
        k_text = "from the rule" if self.user_k is None else str(self.user_k)
        if new_sweep and self._key() not in self._sweeps:
            return (
                f"<b>Refitting k={k_text}, algorithm={html.escape(alg)}, "
                f"features={html.escape(feat)}</b> (this can take a while): every k from {lo} "
                f"to {hi}, each with {self._n_bootstrap} refits on resamples. The controls are "
                "locked until it is done; the greyed result below is the previous one."
            )
        return f"<b>Profiling k={k_text}</b> &hellip;"

    def update(self, new_sweep: bool = False) -> None:
        """Recompute for the current controls and redraw every output; the controls are locked
        and the old result greyed out meanwhile."""
        if self._busy:
            return
        self._busy = True
        self._lock(True)
        self.status.value = (
            f"<div style='color:#2b6cb0'>&#8987; {self._working_text(new_sweep)}</div>"
        )
        self._grey_out()
        self._sweep_seconds = None
        try:
            prep, (sweep, fits, k_auto, reason) = self._sweep()
            lo, hi = min(fits), max(fits)
            k, self.k_note = self._choose_k(fits, k_auto)
            self.k.min, self.k.max = min(self.k.min, lo), max(self.k.max, hi)
            self.k.value = k  # observers are muted by _busy
            self.k.min, self.k.max = lo, hi
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
            self.status.value = self._done_text(k)
        except Exception as e:
            why = str(e).strip().rstrip(".")
            before = " The greyed result below is the previous one." if self.result else ""
            self.status.value = (
                "<div style='color:#c53030'>This setting could not be fitted: "
                f"{html.escape(why)}.{before}</div>"
            )
            if not isinstance(e, SegworkError):
                raise  # a bug, not a setting the data cannot support: its traceback too
        finally:
            self._lock(False)
            self._busy = False

    def _done_text(self, k: int) -> str:
        feat, alg, _ = self._key()
        took = (
            f" The k sweep took {format_seconds(self._sweep_seconds)}."
            if self._sweep_seconds is not None
            else ""
        )
        note = (
            f"<br><span style='color:#c05621'>{html.escape(self.k_note)}</span>"
            if self.k_note.startswith("Your k=")
            else f" {html.escape(self.k_note)}"
            if self.k_note
            else ""
        )
        return (
            f"<div>Showing k={k}, algorithm={html.escape(alg)}, features={html.escape(feat)}."
            f"{took}{note}</div>"
        )

    def _render(self, k: int, k_auto: int) -> None:
        import matplotlib.pyplot as plt

        res = self.result
        assert res is not None
        row = res.sweep.loc[k]
        self.stability.value = (
            f"<b>k={k}</b> (rule: k={k_auto}) &mdash; stability ARI {row['stability']:.3f} ± "
            f"{row['stability_sd']:.3f}, weakest cluster Jaccard {row['min_cluster_jaccard']:.3f}, "
            f"silhouette {row['silhouette']:.3f}<br><i>{html.escape(res.k_reason)}</i>"
        )
        sweep = sweep_table(res.sweep, shown=k, rule=k_auto)
        self.indices.value = table_html(
            sweep,
            caption="Each number of groups tried",
            formats=sweep_formats(sweep),
            max_rows=len(sweep),
        )
        personas = persona_table(res.profiles)
        self.personas.value = table_html(
            personas, caption=f"{k} personas", formats=PERSONA_FORMATS, max_rows=len(personas)
        )
        fig, ax = plt.subplots(figsize=(7, 0.45 * k + 1.5))
        profile_heatmap(res.profiles, ax=ax)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        self.heatmap.value = buf.getvalue()  # an Image widget: drawn without a kernel, testable
        self.heatmap.layout.visibility = "visible"
