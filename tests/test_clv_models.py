"""Pareto/NBD and MBG/NBD against lifetimes 0.11.3, the published CDNOW estimates, and data
simulated from known parameters.

CDNOW sample (lifetimes' ``cdnow_customers_summary``, 2,357 customers, weeks, 39-week
calibration): Fader & Hardie (2005, note 009 / the Pareto/NBD spreadsheet) report
r = 0.5534, alpha = 10.5786, s = 0.6061, beta = 11.6711, LL = -9,594.98. Full CDNOW in days
(23,570 customers to 1998-06-30): issue 16 quotes lifetimes' MLE r 0.611, alpha 95.30, s 0.3126,
beta 43.05.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifetimes import ModifiedBetaGeoFitter, ParetoNBDFitter
from scipy import integrate, special
from sklearn.base import clone

from segwork import clv, rfm
from segwork.clv.fitting import _minimise
from segwork.clv.paretonbd import _central_gradient
from tests.realdata import cdnow_master, cdnow_summary


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.read_csv(cdnow_summary())


@pytest.fixture(scope="module")
def arrays(sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(sample[c].to_numpy(float) for c in ("frequency", "recency", "T"))


@pytest.fixture(scope="module")
def pnbd(sample) -> clv.ParetoNBD:
    return clv.ParetoNBD().fit(sample)


@pytest.fixture(scope="module")
def mbg(sample) -> clv.ModifiedBetaGeo:
    return clv.ModifiedBetaGeo().fit(sample)


def _lifetimes_at(fitter, params: dict[str, float]):
    """A lifetimes fitter carrying the given parameters (its predictions at our estimates)."""
    fitter.params_ = pd.Series(params)
    return fitter


# ---- Pareto/NBD ------------------------------------------------------------------------------
def test_paretonbd_reproduces_the_published_cdnow_sample_estimates(pnbd) -> None:
    published = {"r": 0.5534, "alpha": 10.5786, "s": 0.6061, "beta": 11.6711}
    for k, v in published.items():
        assert pnbd.params_[k] == pytest.approx(v, rel=1e-3), (k, pnbd.params_[k])
    assert pnbd.log_likelihood_ == pytest.approx(-9594.98, abs=0.01)
    assert pnbd.converged_ and pnbd.weak_parameters_ == [] and pnbd.fit_warning_ is None
    # finite, positive standard errors for every parameter
    assert all(0 < se < np.inf for se in pnbd.standard_errors_.values())


def test_paretonbd_equals_lifetimes_fit_and_is_at_least_as_likely(pnbd, sample, arrays) -> None:
    want = ParetoNBDFitter().fit(sample["frequency"], sample["recency"], sample["T"])
    for k in ("r", "alpha", "s", "beta"):
        assert pnbd.params_[k] == pytest.approx(float(want.params_[k]), rel=1e-3), k
    # ours is the maximum: lifetimes' Nelder-Mead stops a little lower
    theirs = clv.paretonbd_log_likelihood(want.params_[["r", "alpha", "s", "beta"]], *arrays)
    assert pnbd.log_likelihood_ >= theirs.sum() - 1e-6


def test_paretonbd_log_likelihood_equals_lifetimes_at_the_same_params(pnbd, arrays) -> None:
    for params in (
        list(pnbd.params_.values()),  # alpha < beta branch
        [0.55, 20.0, 0.6, 11.0],  # alpha >= beta branch
    ):
        got = clv.paretonbd_log_likelihood(params, *arrays)
        want = ParetoNBDFitter._conditional_log_likelihood(params, *arrays)
        np.testing.assert_allclose(got, want, rtol=1e-8)
    assert pnbd.log_likelihood_ == pytest.approx(
        clv.paretonbd_log_likelihood(list(pnbd.params_.values()), *arrays).sum(), rel=1e-12
    )


def test_paretonbd_predictions_equal_lifetimes_at_the_same_params(pnbd, sample, arrays) -> None:
    want = _lifetimes_at(ParetoNBDFitter(), pnbd.params_)
    np.testing.assert_allclose(
        pnbd.conditional_probability_alive(sample),
        want.conditional_probability_alive(*arrays),
        rtol=1e-8,
    )
    for t in (1.0, 13.0, 52.0):
        np.testing.assert_allclose(
            pnbd.conditional_expected_number_of_purchases_up_to_time(t, sample),
            want.conditional_expected_number_of_purchases_up_to_time(t, *arrays),
            rtol=1e-8,
        )
    # a few customers by hand: three arrays give the same as the frame
    x, tx, T = (np.array([0.0, 2.0, 7.0]), np.array([0.0, 30.43, 35.14]), np.array([38.86] * 3))
    got = pnbd.conditional_probability_alive(x, tx, T)
    np.testing.assert_allclose(got, want.conditional_probability_alive(x, tx, T), rtol=1e-8)
    assert got[2] > got[0]  # a frequent recent buyer is more likely alive than a one-timer


def test_paretonbd_on_full_cdnow_in_days_gives_the_issue_estimates() -> None:
    raw = pd.read_csv(cdnow_master(), sep=r"\s+", dtype={"customer_id": str, "date": str})
    orders = pd.DataFrame(
        {
            "order_id": [f"R{i}" for i in range(len(raw))],
            "customer_id": raw["customer_id"],
            "order_date": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "amount": raw["dollar_value"].astype("float64"),
        }
    )
    daily = rfm.features(orders, analysis_date="1998-06-30", convention="clv", time_unit="D")
    got = clv.ParetoNBD().fit(daily)
    quoted = {"r": 0.611, "alpha": 95.30, "s": 0.3126, "beta": 43.05}
    for k, v in quoted.items():
        assert got.params_[k] == pytest.approx(v, rel=1e-3), (k, got.params_[k])
    assert got.n_customers_ == 23_570 and got.time_unit_ == "D"


# ---- MBG/NBD ---------------------------------------------------------------------------------
def test_mbgnbd_equals_lifetimes_fit(mbg, sample) -> None:
    want = ModifiedBetaGeoFitter().fit(sample["frequency"], sample["recency"], sample["T"])
    for k in ("r", "alpha", "a", "b"):
        assert mbg.params_[k] == pytest.approx(float(want.params_[k]), rel=1e-3), k
    assert mbg.converged_ and mbg.weak_parameters_ == []
    assert all(0 < se < np.inf for se in mbg.standard_errors_.values())


def test_mbgnbd_log_likelihood_equals_lifetimes_at_the_same_params(mbg, arrays) -> None:
    w = np.ones(len(arrays[0]))
    for params in (list(mbg.params_.values()), [0.3, 4.0, 1.5, 3.0]):
        got = clv.mbgnbd_log_likelihood(params, *arrays).mean()
        want = -ModifiedBetaGeoFitter._negative_log_likelihood(np.log(params), *arrays, w, 0.0)
        assert got == pytest.approx(want, rel=1e-8)


def test_mbgnbd_predictions_equal_lifetimes_at_the_same_params(mbg, sample, arrays) -> None:
    want = _lifetimes_at(ModifiedBetaGeoFitter(), mbg.params_)
    pa = mbg.conditional_probability_alive(sample)
    np.testing.assert_allclose(pa, want.conditional_probability_alive(*arrays), rtol=1e-8)
    assert (pa[sample["frequency"].to_numpy() == 0] < 1).all()  # one-time buyers may have left
    for t in (1.0, 13.0, 52.0):
        np.testing.assert_allclose(
            mbg.conditional_expected_number_of_purchases_up_to_time(t, sample),
            want.conditional_expected_number_of_purchases_up_to_time(t, *arrays),
            rtol=1e-8,
        )


def test_mbgnbd_analytic_gradient_equals_central_differences(mbg, arrays) -> None:
    data = (*arrays, np.ones(len(arrays[0])))
    log_p = np.log([0.3, 4.0, 1.5, 3.0])  # away from the optimum, where the gradient is not 0
    got = mbg._total_gradient(log_p, data)
    want = _central_gradient(
        lambda lp: float(clv.mbgnbd_log_likelihood(np.exp(lp), *arrays).sum()), log_p, 1e-5
    )
    assert np.abs(got).min() > 1.0
    np.testing.assert_allclose(got, want, rtol=1e-6)


# ---- both ------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", [clv.ParetoNBD, clv.ModifiedBetaGeo])
def test_weighted_rows_fit_as_the_customers_they_stand_for(model, sample) -> None:
    full = model().fit(sample)
    rows = sample.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    weighted = model().fit(rows["frequency"], rows["recency"], rows["T"], weights=rows["n"])
    assert len(rows) < len(sample)
    for k, v in full.params_.items():
        assert weighted.params_[k] == pytest.approx(v, rel=1e-6), k
    assert weighted.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-10)
    assert weighted.n_customers_ == len(sample)


@pytest.mark.parametrize("model", [clv.ParetoNBD, clv.ModifiedBetaGeo])
def test_bad_input_and_unfitted_model_raise_clear_errors(model, sample) -> None:
    with pytest.raises(clv.CLVError, match="fit the model first"):
        model().conditional_probability_alive(sample)
    with pytest.raises(clv.CLVError, match="weights must be finite and > 0"):
        model().fit(sample, weights=np.zeros(len(sample)))
    with pytest.raises(clv.CLVError, match="no.*repeat purchase|has a repeat purchase"):
        model().fit(np.zeros(5), np.zeros(5), np.arange(1.0, 6.0))
    with pytest.raises(clv.CLVError, match="recency outside"):
        model().fit([1, 2], [5.0, 1.0], [3.0, 4.0])
    assert clone(model(penalizer=0.1)).penalizer == 0.1


@pytest.mark.parametrize("model", [clv.ParetoNBD, clv.ModifiedBetaGeo])
def test_summary_names_the_model_and_its_parameters(model, sample) -> None:
    fitted = model().fit(sample)
    text = str(fitted.summary())
    assert fitted._model in text and "2,357" in text
    for k, v in fitted.params_.items():
        assert k in text and f"{v:.4g}" in text


# ---- simulation with known truth ------------------------------------------------------------
def _simulate(kind: str, params: tuple[float, ...], n: int, seed: int) -> pd.DataFrame:
    """(frequency, recency, T) of ``n`` customers drawn from the model with ``params``."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(20.0, 60.0, n)
    r, alpha, c, d = params
    lam = rng.gamma(r, 1.0 / alpha, n)
    if kind == "pareto":
        end = np.minimum(T, rng.exponential(1.0 / rng.gamma(c, 1.0 / d, n)))
        p = np.zeros(n)
    else:
        end, p = T, rng.beta(c, d, n)
    x, tx = np.zeros(n), np.zeros(n)
    for i in range(n):
        if kind == "mbg" and rng.random() < p[i]:
            continue  # left at the first purchase
        t = 0.0
        while True:
            t += rng.exponential(1.0 / lam[i])
            if t > end[i]:
                break
            x[i], tx[i] = x[i] + 1, t
            if kind == "mbg" and rng.random() < p[i]:
                break
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T})


@pytest.mark.parametrize(
    ("kind", "model", "truth"),
    [
        ("pareto", clv.ParetoNBD, {"r": 0.8, "alpha": 8.0, "s": 0.7, "beta": 12.0}),
        ("mbg", clv.ModifiedBetaGeo, {"r": 0.8, "alpha": 8.0, "a": 1.2, "b": 3.0}),
    ],
)
def test_simulated_truth_lies_within_three_standard_errors(kind, model, truth) -> None:
    data = _simulate(kind, tuple(truth.values()), 4000, seed=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error", clv.CLVWarning)
        got = model().fit(data)
    for k, v in truth.items():
        z = (got.params_[k] - v) / got.standard_errors_[k]
        assert abs(z) < 3, (k, got.params_[k], got.standard_errors_[k])


def test_paretonbd_warns_when_nobody_leaves() -> None:
    """Poisson buyers who never drop out: the data cannot pin down the dropout rates s, beta."""
    rng = np.random.default_rng(3)
    n = 2000
    T = rng.uniform(20.0, 60.0, n)
    x = rng.poisson(rng.gamma(0.8, 1.0 / 8.0, n) * T).astype(float)
    tx = np.where(x > 0, T * rng.beta(np.maximum(x, 1.0), 1.0), 0.0)  # last of x uniform times
    with pytest.warns(clv.CLVWarning, match="s, beta are not identified"):
        got = clv.ParetoNBD().fit(x, tx, T)
    assert got.weak_parameters_ == ["s", "beta"]
    assert "not identified" in got.fit_warning_


def _paretonbd_ll_by_quadrature(params, x: float, tx: float, T: float) -> float:
    """Eq. 18 with A0's integral form, s * int_tx^T (alpha+y)^-(r+x) (beta+y)^-(s+1) dy, by
    numerical quadrature (scaled at t_x so that it stays finite for frequent buyers)."""
    r, alpha, s, beta = params
    head = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    lead = -(r + x) * np.log(alpha + tx) - (s + 1) * np.log(beta + tx)
    integral, _ = integrate.quad(
        lambda y: np.exp(
            -(r + x) * np.log((alpha + y) / (alpha + tx))
            - (s + 1) * np.log((beta + y) / (beta + tx))
        ),
        tx,
        T,
        epsabs=0,
        epsrel=1e-12,
        limit=200,
    )
    return head + np.logaddexp(alive, np.log(s) + lead + np.log(integral))


@pytest.mark.parametrize(
    "params", [(0.55, 10.58, 0.61, 11.67), (0.55, 0.1, 0.61, 50.0), (0.55, 50.0, 0.61, 0.1)]
)
def test_paretonbd_log_likelihood_holds_for_frequent_buyers(params) -> None:
    """Up to 1,000 repeat purchases, where lifetimes' plain 2F1 overflows (alpha << beta)."""
    x = np.array([1.0, 5.0, 50.0, 300.0, 1000.0])
    tx = np.array([3.0, 10.0, 30.0, 38.0, 38.5])
    T = np.full(5, 39.0)
    got = clv.paretonbd_log_likelihood(params, x, tx, T)
    want = [_paretonbd_ll_by_quadrature(params, *row) for row in zip(x, tx, T, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-8)


def test_standard_errors_equal_independent_hessians(pnbd, mbg, sample, arrays) -> None:
    """Pareto/NBD: against the inverse Hessian by second differences of the log-likelihood
    (lifetimes gives none); MBG/NBD: against lifetimes' standard errors (autograd Hessian)."""
    theta = np.array(list(pnbd.params_.values()))
    log_p, h, eye = np.log(theta), 1e-3, np.eye(4) * 1e-3

    def ll(q):
        return float(clv.paretonbd_log_likelihood(np.exp(q), *arrays).sum())

    hess = np.array(
        [
            [
                ll(log_p + eye[i] + eye[j])
                - ll(log_p + eye[i] - eye[j])
                - ll(log_p - eye[i] + eye[j])
                + ll(log_p - eye[i] - eye[j])
                for j in range(4)
            ]
            for i in range(4)
        ]
    ) / (4 * h * h)
    want = theta * np.sqrt(np.diag(np.linalg.inv(-hess)))
    np.testing.assert_allclose(list(pnbd.standard_errors_.values()), want, rtol=1e-4)
    theirs = ModifiedBetaGeoFitter().fit(sample["frequency"], sample["recency"], sample["T"])
    for k in ("r", "alpha", "a", "b"):
        assert mbg.standard_errors_[k] == pytest.approx(float(theirs.standard_errors_[k]), rel=1e-4)


@pytest.mark.parametrize("model", [clv.ParetoNBD, clv.ModifiedBetaGeo])
def test_penalizer_shrinks_the_parameters_in_rescaled_time(model, sample) -> None:
    plain, shrunk = model().fit(sample), model(penalizer=0.05).fit(sample)
    scale = np.ones(4)
    scale[list(model._time_params)] = 10.0 / sample["T"].max()  # max T = 10, as BetaGeo

    def size(m):
        th = np.array(list(m.params_.values())) * scale
        return float(th @ th)

    assert size(shrunk) < size(plain)
    assert shrunk.log_likelihood_ < plain.log_likelihood_
    with pytest.raises(clv.CLVError, match="penalizer"):
        model(penalizer=-1).fit(sample)


def test_mbgnbd_penalty_is_lifetimes_penalty_in_its_time_scale(arrays) -> None:
    """lifetimes 0.11.3 rescales to max T = 1; minimising our objective in that scale gives its
    penalised fit."""
    x, tx, T = arrays
    want = ModifiedBetaGeoFitter(penalizer_coef=0.05).fit(x, tx, T).params_
    m, s = clv.ModifiedBetaGeo(penalizer=0.05), 1.0 / T.max()
    res = _minimise(lambda lp: m._objective(lp, (x, tx * s, T * s, np.ones(len(x)))), np.zeros(4))
    got = np.exp(res.x) / [1, s, 1, 1]
    np.testing.assert_allclose(got, want[["r", "alpha", "a", "b"]], rtol=1e-4)
