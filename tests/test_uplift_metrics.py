"""segwork.uplift.metrics against scikit-uplift's metrics (the oracle, imported only here) on
random and on tied scores, plus a hand-computed case and the bootstrap of the share kept."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from segwork.uplift import metrics as m
from segwork.uplift.errors import UpliftError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from sklift import metrics as sk

RTOL = 1e-9


def _data(kind: str, n: int = 500, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n)
    score = rng.normal(size=n)
    y = (rng.random(n) < 0.2 + 0.1 * t * (score > 0)).astype(int)
    if kind == "ties":  # few distinct scores: ties everywhere
        score = np.round(score * 2) / 2
    elif kind == "unbalanced":  # treatment share 0.8
        t = (rng.random(n) < 0.8).astype(int)
    return y, score, t


CASES = [(k, s) for k in ("random", "ties", "unbalanced") for s in (0, 1, 2)]


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.mark.parametrize(("kind", "seed"), CASES)
def test_curves_match_sklift(kind, seed):
    y, s, t = _data(kind, seed=seed)
    for ours, theirs in ((m.qini_curve, sk.qini_curve), (m.uplift_curve, sk.uplift_curve)):
        x, v = ours(y, s, t)
        xs, vs = _quiet(theirs, y, s, t)
        np.testing.assert_array_equal(x, xs)
        np.testing.assert_allclose(v, vs, rtol=RTOL, atol=1e-12)
    for neg in (True, False):
        x, v = m.perfect_qini_curve(y, t, negative_effect=neg)
        xs, vs = _quiet(sk.perfect_qini_curve, y, t, negative_effect=neg)
        np.testing.assert_allclose(x, xs, rtol=RTOL)
        np.testing.assert_allclose(v, vs, rtol=RTOL, atol=1e-12)
    x, v = m.perfect_uplift_curve(y, t)
    xs, vs = _quiet(sk.perfect_uplift_curve, y, t)
    np.testing.assert_array_equal(x, xs)
    np.testing.assert_allclose(v, vs, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize(("kind", "seed"), CASES)
def test_scores_match_sklift(kind, seed):
    y, s, t = _data(kind, seed=seed)
    for neg in (True, False):
        assert m.qini_auc_score(y, s, t, negative_effect=neg) == pytest.approx(
            _quiet(sk.qini_auc_score, y, s, t, negative_effect=neg), rel=RTOL
        )
    assert m.uplift_auc_score(y, s, t) == pytest.approx(
        _quiet(sk.uplift_auc_score, y, s, t), rel=RTOL
    )
    for k in (0.2, 0.3, 0.5, 50):
        for strategy in ("overall", "by_group"):
            assert m.uplift_at_k(y, s, t, k, strategy=strategy) == pytest.approx(
                _quiet(sk.uplift_at_k, y, s, t, strategy=strategy, k=k), rel=RTOL, abs=1e-12
            )


def test_absolute_areas_are_sklift_areas_above_the_diagonal():
    y, s, t = _data("ties", seed=4)
    from sklearn.metrics import auc

    for ours, theirs in ((m.qini_area, sk.qini_curve), (m.uplift_area, sk.uplift_curve)):
        xs, vs = _quiet(theirs, y, s, t)
        expected = auc(xs, vs) - auc([0, xs[-1]], [0, vs[-1]])
        assert ours(y, s, t) == pytest.approx(expected, rel=RTOL)


def test_hand_case():
    # ranked: (t=1,y=1), (t=0,y=0), (t=1,y=0), (t=0,y=1)
    y = np.array([1, 0, 0, 1])
    t = np.array([1, 0, 1, 0])
    s = np.array([4.0, 3.0, 2.0, 1.0])
    x, q = m.qini_curve(y, s, t)
    # n=1: Y_t=1, no control -> 1; n=2: 1 - 0*1/1 = 1; n=3: 1 - 0 = 1; n=4: 1 - 1*2/2 = 0
    np.testing.assert_array_equal(x, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(q, [0, 1, 1, 1, 0])
    _, u = m.uplift_curve(y, s, t)
    # n=1: (1 - 0)*1; n=2: (1 - 0)*2; n=3: (1/2 - 0)*3; n=4: (1/2 - 1/2)*4
    np.testing.assert_allclose(u, [0, 1, 2, 1.5, 0])
    # area: trapezoids 0.5 + 1 + 1 + 0.5 = 3; random line ends at 0 -> area above random 3
    assert m.qini_area(y, s, t) == pytest.approx(3.0)
    # perfect: order by y t - y (1 - t): (1,1) first, control responder last -> same as above
    assert m.qini_auc_score(y, s, t) == pytest.approx(1.0)
    assert m.qini_auc_score(y, -s, t) < 0
    assert m.uplift_at_k(y, s, t, 2) == pytest.approx(1.0)


def test_weighted_replicates_equal_repeated_rows():
    y, s, t = _data("ties", n=200, seed=7)
    w = np.random.default_rng(1).poisson(1.0, size=(3, 200)).astype(float)
    got = m.qini_auc_score(y, s, t, weights=w)
    for b in range(3):
        rep = np.repeat(np.arange(200), w[b].astype(int))
        assert got[b] == pytest.approx(m.qini_auc_score(y[rep], s[rep], t[rep]), rel=1e-9)
        assert m.uplift_auc_score(y, s, t, weights=w)[b] == pytest.approx(
            m.uplift_auc_score(y[rep], s[rep], t[rep]), rel=1e-9
        )


def test_effect_kept_is_uplift_at_k_times_rows_over_total():
    y, s, t = _data("random", n=2000, seed=3)
    e = m.effect_kept(y, s, t, 0.2, n_boot=200, seed=1)
    at_k = _quiet(sk.uplift_at_k, y, s, t, strategy="overall", k=0.2)
    total = y[t == 1].mean() - y[t == 0].mean()
    assert e.n_top == 400
    assert e.kept == pytest.approx(at_k * 400, rel=RTOL)
    assert e.total == pytest.approx(total * 2000, rel=RTOL)
    assert e.share == pytest.approx(at_k * 400 / (total * 2000), rel=RTOL)
    assert e.ci_low < e.share < e.ci_high


def test_effect_kept_interval_covers_truth_in_simulation():
    # uplift only for score > 0.8 quantile: the top 20% keep all of the effect (share 1)
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(40):
        n = 4000
        s = rng.random(n)
        t = rng.integers(0, 2, n)
        y = (rng.random(n) < 0.1 + 0.15 * t * (s > 0.8)).astype(int)
        e = m.effect_kept(y, s, t, 0.2, n_boot=200, seed=int(rng.integers(1e6)))
        hits += e.ci_low <= 1.0 <= e.ci_high
    assert hits >= 34  # nominal 95%: 38 of 40; allow for the bootstrap's small-sample error


def test_bad_inputs_raise_named_errors():
    with pytest.raises(UpliftError, match="0/1"):
        m.qini_curve([0, 1], [0.1, 0.2], [0, 2])
    with pytest.raises(UpliftError, match="one length"):
        m.qini_curve([0, 1], [0.1], [0, 1])
    with pytest.raises(UpliftError, match="share between 0 and 1"):
        m.uplift_at_k([0, 1, 1], [1.0, 2.0, 3.0], [0, 1, 1], 1.5)
    with pytest.raises(UpliftError, match="0/1 outcome"):
        m.perfect_uplift_curve([0.5, 2.0], [0, 1])


def test_amounts_perfect_qini_is_the_ranking_by_realised_outcome():
    # sklift takes 0/1 outcomes only: amounts are checked against the definition
    rng = np.random.default_rng(5)
    n = 400
    t = rng.integers(0, 2, n)
    y = rng.gamma(2.0, 30.0, n) * (rng.random(n) < 0.3)
    s = rng.normal(size=n)
    x, v = m.perfect_qini_curve(y, t)
    xo, vo = m.qini_curve(y, y * t - y * (1 - t), t)
    np.testing.assert_array_equal(x, xo)
    np.testing.assert_allclose(v, vo)
    # no ranking of these customers has a larger area above random than the perfect one
    best = m.qini_area(y, y * t - y * (1 - t), t)
    for score in (s, y * t, -y * (1 - t), rng.random(n)):
        assert m.qini_area(y, score, t) <= best + 1e-9
    assert m.qini_auc_score(y, y * t - y * (1 - t), t) == pytest.approx(1.0)
    # a hand case: treated spends 10 (rank 1), control spends 4 (rank 4), two zeros between
    yy, tt, ss = np.array([10.0, 0, 0, 4]), np.array([1, 1, 0, 0]), np.array([4.0, 3, 2, 1])
    _, q = m.qini_curve(yy, ss, tt)
    np.testing.assert_allclose(q, [0, 10, 10, 10 - 0 * 2 / 1, 10 - 4 * 2 / 2])
