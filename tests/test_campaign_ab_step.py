"""Notebook 04's computation as a plain function: steps.campaign_ab.run, without papermill."""

from __future__ import annotations

import subprocess
import sys

import ibis
import numpy as np
import pandas as pd
import pytest

from segwork import abtest
from segwork.steps import campaign_ab

SETTINGS = dict(
    segment_columns=["persona", "tier", "nope"],
    control="control",
    metrics=None,
    decide_on=None,
    pre_metric=None,
    correction="holm",
    alpha=0.05,
    min_lift=0.0,
    winsorize=None,
    expected_shares={},
    max_segments=8,
    power=0.8,
    currency="EUR",
)


def _data(n: int = 6000, seed: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"C{i:05d}" for i in range(n)]
    persona = rng.choice(["thrifty", "loyal", "new"], n)
    customers = pd.DataFrame(
        {"persona": persona, "tier": rng.choice(["gold", "silver"], n)},
        index=pd.Index(ids, name="customer_id"),
    ).iloc[:-50]  # 50 exposed customers without labels
    variant = rng.choice(["control", "offer"], n)
    p = 0.05 + 0.06 * ((persona == "thrifty") & (variant == "offer"))
    conv = (rng.random(n) < p).astype(int)
    exposures = pd.DataFrame(
        {
            "customer_id": ids,
            "campaign_id": rng.choice(["spring", "summer"], n),
            "variant": variant,
            "assigned_at": pd.Timestamp("2025-03-01"),
            "converted": conv,
            "revenue": np.round(conv * rng.gamma(2.0, 40.0, n), 2),
            "pre_revenue": np.round(rng.gamma(2.0, 30.0, n), 2),
        }
    )
    return exposures, customers


@pytest.mark.parametrize("engine", ["pandas", "ibis"])
def test_run_gives_what_the_notebook_computed(engine) -> None:
    exposures, customers = _data()
    t = ibis.memtable(exposures) if engine == "ibis" else exposures
    result = campaign_ab.run(t, customers, **SETTINGS)

    # the notebook's former computation, call by call
    seg = abtest.attach_segments(t, customers, SETTINGS["segment_columns"], max_segments=8)
    spec = abtest.resolve_metrics(abtest.default_metrics(t), t)
    settings = dict(
        control="control",
        metrics=spec,
        correction="holm",
        alpha=0.05,
        winsorize=None,
        expected_shares=None,
        pre_metric="pre_revenue",
    )
    overall = abtest.evaluate(seg.exposures, **settings)
    by = {c: abtest.evaluate(seg.exposures, segment=seg.key[c], **settings) for c in seg.columns}
    decisions = abtest.recommend(
        overall,
        by["persona"],
        currency="EUR",
        segment_column="persona",
        segment_sizes=pd.concat(  # the 50 exposed customers missing from the customer table
            [abtest.segment_sizes(customers, "persona"), pd.Series({abtest.UNKNOWN: 50})]
        ),
        population=len(customers),
    )

    out = result.outputs()
    assert set(out) == {
        "ab_overall",
        "ab_results",
        "ab_decisions",
        "ab_decisions_csv",
        "ab_running",
    }
    assert len(out["ab_running"]) == 0  # no campaign declared running
    assert result.segments.missing == ["nope"] and result.main == "persona"
    num = overall.table.select_dtypes("number").columns
    np.testing.assert_allclose(
        out["ab_overall"][num].to_numpy(float), overall.table[num].to_numpy(float), rtol=1e-9
    )
    results = out["ab_results"]
    assert list(results["segment_column"].unique()) == ["persona", "tier"]
    for col, res in by.items():
        got = results[results["segment_column"] == col].reset_index(drop=True)
        pd.testing.assert_frame_equal(
            got[["campaign_id", "segment", "variant", "metric"]],
            res.table[["campaign_id", "segment", "variant", "metric"]],
        )
        np.testing.assert_allclose(
            got[num].to_numpy(float), res.table[num].to_numpy(float), rtol=1e-9, atol=1e-12
        )
    pd.testing.assert_frame_equal(
        out["ab_decisions"].select_dtypes(exclude="number"),
        decisions.select_dtypes(exclude="number"),
    )
    assert out["ab_decisions_csv"] is out["ab_decisions"]
    assert set(result.heterogeneity["metric"]) == {"conversion", "revenue"}
    assert set(result.plan["metric"]) == {result.decide_metric}
    assert "c" in str(result.summary()).lower()


def test_setup_problems_raise_one_error_with_every_problem() -> None:
    exposures, customers = _data(n=500)
    with pytest.raises(abtest.ABTestError) as err:
        campaign_ab.run(exposures, customers, **(SETTINGS | {"control": "ctrl", "alpha": 2}))
    text = str(err.value)
    assert "ctrl" in text and "alpha" in text


def test_importing_the_analysis_loads_no_io_or_presentation() -> None:
    code = (
        "import sys, segwork.abtest, segwork.steps.campaign_ab; print(sorted(m for m in "
        "sys.modules if m.startswith(('segwork.config', 'segwork.engines', 'segwork.warehouse', "
        "'segwork.display', 'segwork.plots', 'segwork.pages', 'segwork.widgets', 'matplotlib', "
        "'ipywidgets', 'sqlalchemy', 'seaborn', 'IPython'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_page_sections_show_every_section(monkeypatch) -> None:
    """One call per section of page 04; each shows its tables and sentences from the result;
    the interaction tests and the planning table sit in collapsed 'For analysts' sections and
    every forest plot is an image with alt text (no plt.show)."""
    import re

    import matplotlib

    matplotlib.use("Agg")
    from segwork import display
    from segwork.pages import campaign_ab as page

    shown: list[tuple[str, str]] = []
    for name in ("finding", "warning", "explain", "show_table"):
        monkeypatch.setattr(
            display,
            name,
            lambda x, *a, _n=name, **k: shown.append(
                (_n, k.get("caption") or k.get("title") or "")
            ),
        )
    markup: list[str] = []
    monkeypatch.setattr(display, "_html", markup.append)  # for_analysts and figure
    monkeypatch.setattr(
        matplotlib.pyplot, "show", lambda *a, **k: pytest.fail("plt.show() on a page")
    )
    exposures, customers = _data()
    result = campaign_ab.run(exposures, customers, **SETTINGS)
    for section in (
        page.decision,
        page.whole_campaigns,
        page.effect_by_segment,
        page.decision_table,
        page.other_segmentations,
        page.planning,
    ):
        section(result)
    captions = [c for kind, c in shown if kind == "show_table"]
    assert captions == [
        "Whole campaigns: variant against control",
        "Decision table (also written as ab_decisions.csv)",
        "conversion by tier",
    ]
    assert shown[0] == ("finding", "Decision")
    analysts = [m for m in markup if m.startswith("<details")]
    assert [re.search(r"For analysts: [^<]*", m)[0] for m in analysts] == [
        "For analysts: does the effect differ between segments?",
        "For analysts: planning the next test",
    ]
    assert "Does the effect differ between persona segments? (interaction test)" in analysts[0]
    assert "Minimum detectable effect at 80% power" in analysts[1]
    figures = [m for m in markup if m.startswith("<img")]
    assert len(figures) == result.overall.table["campaign_id"].nunique()
    assert all("alt='Forest plot of " in f and "significantly above zero" in f for f in figures)
    assert not matplotlib.pyplot.get_fignums()
