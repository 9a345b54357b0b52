"""The RFM explorer and the cluster explorer, driven as a user would (set a control, read the
outputs), with their numbers checked against an independent computation.

Oracles: the RFM explorer's segment sizes and revenue shares against a pandas groupby of
``rfm.score``'s own output for the same bins and window, and its R, F, M scores against
``pandas.qcut`` of the ranks (the tie policy ``rfm.score`` documents); the cluster explorer's
state read from inside a patched k sweep (what the user sees while the fit runs).
"""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest

from segwork import demo as demo_mod
from segwork import rfm
from segwork.numbers import money
from segwork.personas import ClusteringError
from segwork.schema import as_ibis
from segwork.widgets import RfmExplorer
from segwork.widgets import personas as persona_widgets
from segwork.widgets import rfm as rfm_widgets
from tests.test_clusters import simulate_survey

pytestmark = pytest.mark.filterwarnings("ignore::segwork.rfm.RFMWarning")


@pytest.fixture(scope="module")
def demo():
    return demo_mod.generate(1500, seed=7)


@pytest.fixture
def explorer(demo) -> RfmExplorer:
    return RfmExplorer(
        demo.orders, analysis_date=demo.truth["analysis_date"], customers=demo.customers
    )


def _reference(demo, bins: int, window: int | None, segment_map: str = "default"):
    features = rfm.features(
        demo.orders, analysis_date=demo.truth["analysis_date"], window_days=window
    )
    return features, rfm.score(features, bins=bins, segment_map=segment_map)


# --------------------------------------------------------------------------------------------
# RFM explorer: the numbers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bins", "window", "segment_map"),
    [(5, 365, "default"), (3, None, "default"), (7, 180, "rf_grid")],
)
def test_rfm_sizes_and_revenue_shares_match_a_groupby_of_rfm_score(
    demo, explorer, bins, window, segment_map
):
    explorer.bins.value = bins
    explorer.window.value = rfm_widgets.ALL_HISTORY if window is None else window
    explorer.segment_map.value = segment_map
    assert explorer.error is None
    _, scored = _reference(demo, bins, window, segment_map)
    segment = scored["segment"].astype(str)
    kpis = explorer.view.kpis.set_index("segment")

    sizes = segment.groupby(segment).size()
    shown = kpis["customers"]
    assert shown[shown > 0].sort_index().to_dict() == sizes.sort_index().to_dict()
    assert (shown[~shown.index.isin(sizes.index)] == 0).all()  # empty segments listed with 0
    assert kpis["customer_share"].to_dict() == pytest.approx((shown / len(scored)).to_dict())

    revenue = scored["monetary"].groupby(segment).sum() / scored["monetary"].sum()
    share = kpis["revenue_share"]
    assert abs(share.sum() - 1) <= 1e-12
    np.testing.assert_allclose(share[revenue.index].to_numpy(), revenue.to_numpy(), atol=1e-12)
    # the scores are the same customers' scores as rfm.score gives
    pd.testing.assert_frame_equal(
        explorer.view.scored[["R", "F", "M"]], scored[["R", "F", "M"]], check_like=True
    )
    # and the table shows the counts with thousands separators
    assert f">{int(shown.max()):,}</td>" in explorer.sizes.value
    top = kpis.index[0]  # money with its currency, shares in per cent
    assert f">{money(kpis.loc[top, 'revenue'], 'CZK')}</td>" in explorer.sizes.value
    share = float(kpis.loc[top, "revenue_share"])
    cell = re.search(f"data-sort='{share!r}'[^>]*>([^<]*)</td>", explorer.sizes.value)[1]
    assert cell.endswith("%") and float(cell[:-1]) == pytest.approx(100 * share, abs=0.05)


@pytest.mark.parametrize("bins", [2, 4, 9])
def test_rfm_bins_change_the_scores_as_qcut_of_the_ranks(demo, explorer, bins):
    explorer.window.value = 365
    explorer.bins.value = bins
    features, _ = _reference(demo, bins, 365)
    # rfm.score's documented tie policy: pandas.qcut of rank(method="first") on the frame in
    # the tie-break order (a fixed hash of the customer id)
    ordered = features.iloc[np.argsort(rfm.tie_break_order(features.index))]
    scored = explorer.view.scored.loc[ordered.index]
    for name, values in (
        ("R", -ordered["recency"]),
        ("F", ordered["frequency"]),
        ("M", ordered["monetary"]),
    ):
        expected = pd.qcut(values.rank(method="first"), bins, labels=False) + 1
        assert (scored[name].to_numpy() == expected.to_numpy()).all(), name
        assert scored[name].max() == bins
    assert explorer.view.scored["rfm_code"].str.len().eq(3).all()


# --------------------------------------------------------------------------------------------
# RFM explorer: the controls
# --------------------------------------------------------------------------------------------


def test_rfm_controls_update_the_outputs_and_features_are_cached(demo, explorer, monkeypatch):
    calls: list[int | None] = []
    real = rfm.features

    def counting(*args, **kwargs):
        calls.append(kwargs.get("window_days"))
        return real(*args, **kwargs)

    monkeypatch.setattr(rfm, "features", counting)
    header, sizes, sample = explorer.header.value, explorer.sizes.value, explorer.sample.value
    assert "Analysis date 30 Sep 2026" in header and "customers scored" in header
    n365 = len(explorer.view.scored)
    assert f"<b>{n365:,}</b> customers scored" in header

    explorer.bins.value = 3
    assert explorer.sizes.value != sizes and explorer.view.scored["R"].max() == 3
    sizes = explorer.sizes.value
    explorer.segment_map.value = "rf_grid"
    assert explorer.sizes.value != sizes
    assert "New Customers" in explorer.view.segments
    assert [v for _, v in explorer.segment.options] == explorer.view.segments
    assert calls == []  # bins and map re-score the features already aggregated

    explorer.window.value = rfm_widgets.ALL_HISTORY
    assert calls == [None]
    assert len(explorer.view.scored) > n365 and explorer.header.value != header
    assert "window: all history" in explorer.header.value
    explorer.window.value = 365
    assert calls == [None]  # this window's features were kept
    assert f"<b>{n365:,}</b> customers scored" in explorer.header.value

    # the member sample: customers of the selected segment, reproducible by seed
    explorer.segment.value = "At Risk"
    members = explorer.members
    assert explorer.sample.value != sample and "At Risk" in explorer.sample.value
    at_risk = explorer.view.scored.index[explorer.view.scored["segment"] == "At Risk"]
    assert len(members) == min(10, len(at_risk)) and set(members["customer"]) <= set(at_risk)
    assert list(members.columns[:4]) == ["customer", "name", "customer type", "region"]
    names = demo.customers.set_index("customer_id")["name"]
    assert members["name"].tolist() == names[members["customer"]].tolist()
    again = rfm_widgets.member_sample(
        explorer.view.scored, "At Risk", seed=explorer.seed, customers=demo.customers
    )
    assert again["customer"].tolist() == members["customer"].tolist()
    explorer.another.click()
    assert (
        explorer.seed == 1 and explorer.members["customer"].tolist() != members["customer"].tolist()
    )
    explorer.bins.value = 4  # the chosen segment stays chosen while it exists
    assert explorer.segment.value == "At Risk"


def test_rfm_explorer_on_an_ibis_table_shows_the_same_segments(demo, explorer):
    """A run's orders are an Ibis table (Parquet views): the same numbers as from pandas."""
    ex = RfmExplorer(as_ibis(demo.orders), analysis_date=demo.truth["analysis_date"])
    pd.testing.assert_frame_equal(ex.view.kpis, explorer.view.kpis)
    assert "widget-view+json" in str(ex._repr_mimebundle_())  # shows itself in a notebook
    assert ex.sample.value and "name" not in ex.members.columns  # no customers: ids only


def test_rfm_user_map_errors_are_said_and_data_is_escaped(demo, tmp_path):
    customers = demo.customers.assign(name="<script>alert(1)</script>")
    ex = RfmExplorer(
        demo.orders,
        analysis_date=demo.truth["analysis_date"],
        customers=customers,
        window_days=200,  # not a preset: added to the choices
    )
    assert ex.window.value == 200 and (("last 200 days", 200) in ex.window.options)
    assert "&lt;script&gt;" in ex.sample.value and "<script>" not in ex.sample.value

    ex.segment_map.value = rfm_widgets.MAP_FILE
    assert ex.view is None and "type the path" in ex.message.value and ex.sizes.value == ""
    path = tmp_path / "two.yaml"
    path.write_text("'<i>Recent</i>': ['[4-5]..']\nEarlier: ['[1-3]..']\n", encoding="utf-8")
    ex.map_file.value = str(path)
    assert ex.error is None and ex.view.segments == ["<i>Recent</i>", "Earlier"]
    recent = ex.view.kpis.set_index("segment").loc["<i>Recent</i>", "customers"]
    ex.segment.value = "<i>Recent</i>"
    for shown in (ex.sizes.value, ex.sample.value):  # a segment name is data: escaped
        assert "&lt;i&gt;Recent&lt;/i&gt;" in shown and "<i>Recent" not in shown
    assert recent == int((ex.view.scored["R"] >= 4).sum())
    ex.bins.value = 3  # a map written for 5 scores is no partition of 3-score codes
    assert ex.view is None and isinstance(ex.error, str) and "codes" in ex.error
    assert "color:#c53030" in ex.message.value and ex.sample.value == ""
    ex.bins.value = 5
    assert ex.error is None and ex.view.segments == ["<i>Recent</i>", "Earlier"]


# --------------------------------------------------------------------------------------------
# the cluster explorer
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def survey():
    resp, cat, _ = simulate_survey(3, n=400, seed=5)
    return resp, cat


def test_cluster_explorer_locks_its_controls_and_says_it_is_refitting(survey, monkeypatch):
    resp, cat = survey
    states: list[dict] = []
    real = persona_widgets.k_sweep
    holder: dict = {}

    def slow_fit(X, k_range, **kwargs):
        ex = holder.get("ex")
        if ex is not None:
            states.append(
                {
                    "disabled": [c.disabled for c in ex.controls],
                    "status": ex.status.value,
                    "stability": ex.stability.value,
                    "heatmap": ex.heatmap.layout.visibility,
                }
            )
        return real(X, k_range, **kwargs)

    monkeypatch.setattr(persona_widgets, "k_sweep", slow_fit)
    ex = persona_widgets.explorer(resp, cat, k_range=(2, 4), n_bootstrap=2)
    holder["ex"] = ex
    assert not any(c.disabled for c in ex.controls)
    assert "Showing k=" in ex.status.value and "Refitting" not in ex.status.value
    old_stability = ex.stability.value

    ex.algorithm.value = "gmm"
    assert len(states) == 1
    during = states[0]
    assert all(during["disabled"])  # features, algorithm, k tried, k and the rule button
    assert "Refitting k=from the rule, algorithm=gmm" in during["status"]
    assert "this can take a while" in during["status"]
    assert "opacity:0.35" in during["stability"] and old_stability in during["stability"]
    assert during["heatmap"] == "hidden"  # the old result is greyed out, not shown as new
    assert not any(c.disabled for c in ex.controls)  # unlocked afterwards
    assert ex.result.algorithm == "gmm" and "opacity" not in ex.stability.value
    assert ex.heatmap.layout.visibility == "visible"
    assert "Showing k=" in ex.status.value and "algorithm=gmm" in ex.status.value

    ex.algorithm.value = "kmeans"  # cached: no new sweep, the same unlocked end state
    assert len(states) == 1 and ex.result.algorithm == "kmeans"
    assert not any(c.disabled for c in ex.controls)


def test_cluster_explorer_unlocks_and_says_so_when_a_fit_fails(survey, monkeypatch):
    resp, cat = survey
    ex = persona_widgets.explorer(resp, cat, k_range=(2, 4), n_bootstrap=2)
    result = ex.result

    def failing(X, k_range, **kwargs):
        raise ClusteringError("k=4 needs more than 3 respondents")

    monkeypatch.setattr(persona_widgets, "k_sweep", failing)
    ex.features.value = "items"
    assert "could not be fitted" in ex.status.value and "needs more than 3" in ex.status.value
    assert not any(c.disabled for c in ex.controls)
    assert ex.result is result and "opacity:0.35" in ex.stability.value  # old result greyed


def test_cluster_explorer_keeps_the_users_k_or_says_it_was_reset(survey):
    resp, cat = survey
    ex = persona_widgets.explorer(resp, cat, k_range=(2, 5), n_bootstrap=2)
    rule_k = ex.result.k
    assert ex.user_k is None and ex.k.value == rule_k
    mine = 5 if rule_k != 5 else 2
    ex.k.value = mine
    assert ex.user_k == mine and ex.result.k == mine

    ex.algorithm.value = "gmm"  # a new sweep keeps the k the user chose
    assert ex.k.value == ex.result.k == mine and ex.result.algorithm == "gmm"
    assert f"Kept your k={mine}" in ex.status.value
    ex.features.value = "items"
    assert ex.k.value == ex.result.k == mine

    lo, hi = (2, 4) if mine == 5 else (3, 5)
    ex.k_range.value = (lo, hi)  # the new range excludes the user's k
    assert ex.user_k is None and ex.k.value == ex.result.k != mine
    assert (ex.k.min, ex.k.max) == ex.k_range.value
    said = html.unescape(ex.status.value)
    assert f"Your k={mine} was reset to the rule's choice k={ex.result.k}" in said
    assert f"the numbers of groups tried now are {lo} to {hi}, which exclude {mine}" in said

    other = hi if ex.result.k != hi else lo
    ex.k.value = other
    assert ex.result.k == other and ex.user_k == other
    ex.use_rule.click()  # back to the rule's choice
    assert ex.user_k is None and ex.result.k == ex.k.value != other
    assert "Kept" not in ex.status.value and "reset" not in ex.status.value


def test_cluster_explorer_tables_are_in_words(survey):
    resp, cat = survey
    ex = persona_widgets.explorer(resp, cat, k_range=(2, 4), n_bootstrap=2)
    res = ex.result
    people = persona_widgets.persona_table(res.profiles)
    assert list(people.columns) == [
        "persona",
        "respondents",
        "share of respondents",
        "reproduced in refits (Jaccard)",
    ]
    assert people["respondents"].sum() == res.n_respondents
    biggest = int(res.profiles["size"].max())
    share = float(res.profiles["share"].max())
    shown = ex.personas.value
    assert f">{biggest:,}</td>" in shown  # a count, not 196.00
    assert f"data-sort='{share!r}' style='text-align:right'>{100 * share:.1f}%</td>" in shown
    sweep = persona_widgets.sweep_table(res.sweep, shown=res.k, rule=res.k)
    assert sweep.loc[sweep["groups (k)"] == res.k, "note"].item() == "shown, the rule's choice"
    for raw in ("min_cluster_jaccard", "stability_sd", "calinski_harabasz", "davies_bouldin"):
        assert raw not in ex.indices.value
    assert "weakest group reproduced (Jaccard)".lower() in ex.indices.value.lower()
    assert ex.widget is ex
