"""The computation of notebook 02 as a plain function: steps.rfm_clv.run and its outputs."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from segwork import demo, rfm
from segwork.catalog import Catalog
from segwork.customers import build_customer360
from segwork.steps import rfm_clv as step


@pytest.fixture(scope="module")
def demo_result():
    d = demo.generate(1500, seed=7)
    ref = pd.Timestamp(d.truth["analysis_date"])
    c360 = build_customer360(d.customers, d.orders, analysis_date=ref, interactions=d.interactions)
    result = step.run(
        d.orders, d.customers, d.interactions, analysis_date=ref, profile=c360, window_days=365
    )
    return d, ref, c360, result


def test_outputs_are_the_catalog_datasets_of_notebook_02(demo_result, tmp_path) -> None:
    _, _, _, result = demo_result
    out = result.outputs()
    assert set(out) == {"rfm", "clv_models", "rfm_members"}
    assert out["rfm"]["customer_id"].is_unique
    assert {"rfm_segment", "R", "F", "M", "p_alive", "clv_12m", "propensity_90d"} <= set(
        out["rfm"].columns
    )
    assert set(out["clv_models"]) >= {"bgnbd", "gamma_gamma", "notes", "holdout"}
    catalog = Catalog(tmp_path / "run")
    paths = catalog.save_all(out)
    back = catalog.load("rfm")
    pd.testing.assert_frame_equal(back, out["rfm"], check_dtype=False)
    assert catalog.load("clv_models")["bgnbd"] == pytest.approx(out["clv_models"]["bgnbd"])
    assert paths["rfm_members"] == tmp_path / "run" / "rfm_segments"


def test_member_lists_hold_each_segment_with_its_customer_columns(demo_result, tmp_path) -> None:
    _, _, c360, result = demo_result
    written = result.members.write(tmp_path)
    table = result.table
    segments = table["rfm_segment"].dropna().astype(str)
    assert len(written) == segments.nunique() == len(result.members.memberships.columns)
    total = 0
    for path in written:
        members = pd.read_csv(path, encoding="utf-8-sig", dtype={"customer_id": str})
        seg = members["rfm_segment"].iloc[0]
        assert (
            path.suffix == ".csv"
            and path.stem == "_".join(re.findall(r"[A-Za-z0-9]+", seg)).lower()
        )
        assert set(members["customer_id"]) == set(segments.index[segments == seg])
        assert set(c360.columns) <= set(members.columns)
        total += len(members)
    assert total == len(segments)


def test_the_step_reuses_scores_and_gives_what_the_pieces_give(demo_result) -> None:
    """The shortcuts of the step (scores reused for migration, key figures from the classic
    features) give what the separate functions give."""
    d, ref, _, result = demo_result
    kpis = rfm.segment_kpis(result.scored, d.orders, analysis_date=ref)
    pd.testing.assert_frame_equal(result.kpis, kpis, check_exact=False, rtol=1e-12)
    moves = rfm.migration(
        d.orders, analysis_date=ref, earlier_days=90, feature_kwargs={"window_days": 365}
    )
    pd.testing.assert_frame_equal(result.migration.counts, moves.counts)
    assert result.customers_total == len(d.customers)
    assert result.breakdowns and set(result.breakdown_frames) == set(result.breakdowns)


def test_page_says_when_the_propensity_model_learned_from_a_sample() -> None:
    from types import SimpleNamespace

    import numpy as np

    from segwork.clv import PropensityModel
    from segwork.pages.rfm_clv import _sample_text

    rng = np.random.default_rng(3)
    X = pd.DataFrame({"orders_total": rng.poisson(2, 300), "recency": rng.integers(0, 90, 300)})
    y = pd.Series(rng.random(300) < 0.3, index=X.index)
    sampled = PropensityModel(max_samples=120, random_state=0).fit(X, y)
    assert (sampled.n_train_, sampled.n_customers_) == (120, 300)
    assert "random sample of 120 of the 300 customers" in _sample_text(
        SimpleNamespace(propensity_model=sampled)
    )
    everyone = PropensityModel(max_samples=None).fit(X, y)
    assert _sample_text(SimpleNamespace(propensity_model=everyone)) == ""


def test_page_02_is_for_people_tables_figures_and_analyst_sections(demo_result, monkeypatch):
    """Every section of page 02 on a real result: headers in words, money with its currency,
    shares in %, counts whole, no e-notation; every figure an image with alt text from the data
    (no plt.show); the accuracy table and the model summaries in collapsed analyst sections."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from segwork import display
    from segwork.pages import rfm_clv as page

    shown: list[str] = []
    monkeypatch.setattr(display, "_html", shown.append)
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plt.show() on a page"))
    _, _, _, result = demo_result
    page.lead(result)
    page.segments(result, currency="EUR")
    page.rf_grid(result)
    page.breakdowns(result)
    page.migration(result)
    page.models(result)
    page.value(result, currency="EUR")
    page.model_summaries(result)
    html = "\n".join(shown)
    assert not plt.get_fignums()  # every figure shown and closed
    alts = re.findall(r"<img [^>]*alt='([^']*)'", html)
    assert len(alts) == html.count("<img ") == 4 + len(result.breakdowns)
    top = result.kpis.set_index("segment")["customer_share"].idxmax()
    assert any(f"most customers: {top}" in a for a in alts)
    heads = re.findall(r"<th [^>]*>([^<]*)</th>", html)
    assert heads and not [h for h in heads if "_" in h or h[:1].islower()]
    assert "Net revenue" in heads and "Share of customers" in heads
    cells = re.findall(r"<td [^>]*>([^<]*)</td>", html)
    assert not [c for c in cells if re.search(r"\d[eE][+-]?\d", c)]
    assert any(c.endswith(" EUR") for c in cells) and any(c.endswith("%") for c in cells)
    analysts = re.findall(r"<summary[^>]*>(For analysts: [^<]*)</summary>", html)
    assert "For analysts: accuracy on the last 90 days" in analysts
    assert "For analysts: fitted models" in analysts
    # the notes on the scores (the demo has one): for analysts, in a neutral box (not an alert)
    assert result.notes
    notes = next(m for m in shown if "For analysts: notes on the scores" in m)
    assert "Note on the scores" in notes and display._STYLE["warning"] not in notes
    # the accuracy table is inside its collapsed section, after the finding it backs
    acc = html.index("Accuracy on the last 90 days")
    assert html.rfind("<details", 0, acc) > html.index("Which prediction to trust for what")


def test_member_formats_are_checked_before_any_work() -> None:
    """A wrong member-list format in the config fails at once, naming the formats."""
    from segwork.exports import ExportError

    with pytest.raises(ExportError, match="xls"):
        step.run(pd.DataFrame(), analysis_date="2026-09-30", member_formats=["csv", "xls"])
