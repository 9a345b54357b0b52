"""Notebook 03's computation as a plain function (segwork.steps.personas), without papermill."""

from __future__ import annotations

import pandas as pd

from segwork.catalog import DATASETS, Catalog
from segwork.personas.model_file import load
from segwork.steps import personas as step
from tests.test_clusters import simulate_survey


def test_run_gives_the_three_outputs_the_catalog_declares(tmp_path):
    resp, cat, _ = simulate_survey(3, n=400, seed=2)
    consent = pd.DataFrame({"customer_id": resp["customer_id"], "profiling_consent": True})
    consent.loc[:9, "profiling_consent"] = False
    result = step.run(resp, cat, None, consent=consent, k_range=(2, 5), n_bootstrap=3)
    assert result.fitted and result.personas.k == 3 and result.consent_source == "customers"
    assert result.personas.n_respondents == 390 and result.behaviour is None
    out = result.outputs()
    assert set(out) == {"personas", "persona_profiles", "persona_model"} <= set(DATASETS)
    catalog = Catalog(tmp_path / "run")
    catalog.save_all(out)
    model = load(catalog.path("persona_model"))
    assert model.assign(resp.iloc[10:]).astype(int).tolist() == result.personas.labels.tolist()
    assert catalog.load("personas")["persona"].tolist() == result.personas.personas.tolist()


def test_a_survey_that_cannot_be_clustered_says_why():
    resp, cat, _ = simulate_survey(3, n=15, seed=2)
    result = step.run(resp, cat, k_range=(2, 4), n_bootstrap=2)
    assert not result.fitted and "clustering needs at least 20" in result.not_fitted
    assert result.outputs() == {} and result.consent_source == "none"


def test_page_says_which_k_were_judged_on_fewer_refits() -> None:
    import pandas as pd

    from segwork.pages.personas import early_stop_text

    sweep = pd.DataFrame({"n_refits": [10, 10, 2, 2]}, index=pd.Index([2, 3, 4, 5], name="k"))
    text = early_stop_text(sweep)
    assert "mean of 2 refits for 4, 5 groups (of 10)" in text
    assert early_stop_text(sweep.assign(n_refits=10)) == ""
    assert early_stop_text(sweep.drop(columns="n_refits")) == ""


def test_behaviour_added_after_the_fit_equals_behaviour_fitted_with_it():
    """Notebook 03 fits first and compares behaviour once the RFM table is written beside it:
    the same tests and profiles as giving the customer table to the fit."""
    import numpy as np

    resp, cat, _ = simulate_survey(3, n=300, seed=5)
    rng = np.random.default_rng(5)
    customers = pd.DataFrame(
        {
            "orders_total": rng.integers(0, 6, len(resp)),
            "aov": rng.gamma(2.0, 50.0, len(resp)),
            "rfm_segment": rng.choice(["Champions", "At Risk", "Lost"], len(resp)),
        },
        index=pd.Index(resp["customer_id"], name="customer_id"),
    )
    at_once = step.run(resp, cat, customers, k=3, n_bootstrap=2)
    later = step.add_behaviour(step.run(resp, cat, k=3, n_bootstrap=2), customers)
    assert later.behaviour is not None and at_once.behaviour is not None
    assert at_once.behaviour.available, at_once.behaviour.reason
    pd.testing.assert_frame_equal(later.behaviour.tests, at_once.behaviour.tests)
    pd.testing.assert_frame_equal(later.behaviour.table, at_once.behaviour.table)
    assert later.behaviour.text == at_once.behaviour.text
    # a survey without personas has nothing to compare and stays as it was
    none = step.run(*simulate_survey(3, n=15, seed=2)[:2], k_range=(2, 4), n_bootstrap=2)
    assert step.add_behaviour(none, customers) is none and none.behaviour is None
