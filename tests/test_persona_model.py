"""The persona estimator (segwork.personas.PersonaModel) behaves like a scikit-learn estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from segwork.personas import PersonaModel, choose_k, k_sweep
from segwork.summary import Summary
from segwork.survey import score_survey
from tests.test_clusters import simulate_survey


@pytest.fixture(scope="module")
def data():
    return simulate_survey(4, n=700, seed=5)


@pytest.fixture(scope="module")
def model(data):
    resp, cat, _ = data
    return PersonaModel(k_range=(2, 6), n_bootstrap=3).fit(resp.iloc[:600], cat)


def test_parameters_and_fitted_state(model):
    params = model.get_params()
    assert params["k"] == "auto" and params["k_range"] == (2, 6) and params["n_bootstrap"] == 3
    check_is_fitted(model)
    assert model.k_ == model.result_.k == 4 and len(model.labels_) == 600
    with pytest.raises(NotFittedError):
        check_is_fitted(PersonaModel())
    with pytest.raises(NotFittedError):
        PersonaModel().predict(pd.DataFrame({"customer_id": ["a"]}))


def test_clone_and_refit_gives_the_same_labels(model, data):
    resp, cat, _ = data
    twin = clone(model)
    assert not hasattr(twin, "labels_") and twin.get_params() == model.get_params()
    twin.fit(resp.iloc[:600], cat)
    pd.testing.assert_series_equal(twin.labels_, model.labels_)


def test_predict_on_training_answers_reproduces_the_fitted_labels(model, data):
    resp, _, _ = data
    got = model.predict(resp.iloc[:600])
    assert got.astype("int64").tolist() == model.labels_.tolist()
    assert got.index.tolist() == model.labels_.index.tolist()


def test_predict_on_new_answers_is_the_nearest_centre(model, data):
    resp, _, _ = data
    new = resp.iloc[600:]
    got = model.predict(new)
    # independently: score with the fitted rules, standardise with the fitted scaler's numbers,
    # nearest fitted centre by squared Euclidean distance
    scored = score_survey(new, model.spec_, learn_medians=False)
    scaler = model.pipeline_[0].named_transformers_["psychographic"]
    z = (scored.constructs.to_numpy() - scaler.mean_) / scaler.scale_
    centres = model.pipeline_[-1].cluster_centers_
    expected = ((z[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    assert got.loc[scored.constructs.index].astype("int64").tolist() == expected.tolist()


def test_summary_is_a_summary(model):
    s = model.summary()
    assert isinstance(s, Summary) and "k: 4" in s and "<table" in s._repr_html_()


def test_early_stop_keeps_what_is_stable(data):
    """Stopping the refits of a provably unstable k changes no stable/unstable verdict."""
    resp, cat, _ = data
    X = PersonaModel(k=4, n_bootstrap=0).fit(resp, cat).result_.features
    full, _ = k_sweep(X, (2, 7), n_bootstrap=6, stability_threshold=None)
    fast, _ = k_sweep(X, (2, 7), n_bootstrap=6, n_jobs=2)
    assert ((full["min_cluster_jaccard"] >= 0.9) == (fast["min_cluster_jaccard"] >= 0.9)).all()
    stable = fast["min_cluster_jaccard"] >= 0.9
    pd.testing.assert_frame_equal(full[stable], fast[stable])
    assert (fast.loc[~stable, "n_refits"] <= 6).all() and (fast.loc[stable, "n_refits"] == 6).all()
    chosen, reason = choose_k(full)
    assert choose_k(fast) == (chosen, reason)  # the same k, and the same figures quoted
    after = fast.index[fast.index > chosen][:1]  # quoted by choose_k: every refit made
    pd.testing.assert_frame_equal(full.loc[after], fast.loc[after])
    np.testing.assert_allclose(full["silhouette"], fast["silhouette"])


def test_the_fast_ari_is_sklearns():
    from sklearn.metrics import adjusted_rand_score

    from segwork.personas.selection import _ari

    rng = np.random.default_rng(3)
    for k, n in ((2, 50), (5, 5000), (9, 80_000)):
        a = rng.integers(0, k, n)
        b = np.where(rng.random(n) < 0.8, a, rng.integers(0, k + 1, n))
        assert _ari(a, b) == adjusted_rand_score(a, b)
        assert _ari(a, a) == adjusted_rand_score(a, a) == 1.0


def test_refit_threads_run_kmeans_on_n_threads(data, monkeypatch):
    """OpenMP's thread count is per thread: the refit threads get k_sweep's cap too, so a sweep
    with refits at once makes the same fits as one without (2 refits x all cores spun before)."""
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    from segwork.personas import clusterer

    resp, cat, _ = data
    X = PersonaModel(k=4, n_bootstrap=0).fit(resp, cat).result_.features
    seen, fit = [], clusterer.PersonaClusterer.fit

    def spy(self, *args, **kwargs):
        seen.append(_openmp_effective_n_threads())
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(clusterer.PersonaClusterer, "fit", spy)
    one, _ = k_sweep(X, (2, 5), n_bootstrap=4, n_jobs=1)
    two, _ = k_sweep(X, (2, 5), n_bootstrap=4, n_jobs=2)
    assert seen and set(seen) == {1}
    pd.testing.assert_frame_equal(one, two, check_exact=True)


def test_cluster_jaccard_from_one_count_of_the_pairs():
    from segwork.personas.selection import cluster_jaccard

    rng = np.random.default_rng(4)
    for k, n in ((2, 40), (4, 3000), (7, 20_000)):
        a = rng.integers(0, k, n)
        b = np.where(rng.random(n) < 0.7, rng.permutation(k + 1)[a], rng.integers(0, k + 1, n))
        table = pd.crosstab(a, b).to_numpy()
        jac = cluster_jaccard(a, b, k)
        for c in range(k):  # the matched cluster has the largest overlap here (70% kept)
            m = table[c].argmax()
            inter = table[c, m]
            assert jac[c] == inter / (table[c].sum() + table[:, m].sum() - inter)
        assert np.array_equal(cluster_jaccard(a, a, k), np.ones(k))
