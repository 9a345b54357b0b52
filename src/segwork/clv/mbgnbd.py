"""MBG/NBD (Batislam, Denizel & Filiztekin 2007): BG/NBD in which a customer may also drop out
right at the first purchase, so one-time buyers can be inactive too.

Maximum likelihood on the distinct (frequency, recency, T) triples weighted by their counts,
with the analytic gradient; the fit, standard errors, weak-parameter warnings and summary are
those of :class:`segwork.clv.paretonbd._CountModel`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from segwork.clv.bgnbd import _expected_new
from segwork.clv.paretonbd import _CountModel

_MBG = ("r", "alpha", "a", "b")


def _terms(theta: Sequence[float], x: np.ndarray, tx: np.ndarray, T: np.ndarray):
    """The head and the two bracket terms (alive, dropped out) of the log-likelihood."""
    r, alpha, a, b = (float(p) for p in theta)
    head = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * math.log(alpha)
        + special.betaln(a, b + x + 1)
        - special.betaln(a, b)
    )
    alive = -(r + x) * np.log(alpha + T)
    dead = math.log(a) - np.log(b + x) - (r + x) * np.log(alpha + tx)
    return head, alive, dead


def mbgnbd_log_likelihood(
    params: Sequence[float], x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer MBG/NBD log-likelihood (Batislam et al. 2007), in log space.

    L = B(a, b+x+1)/B(a, b) * G(r+x) alpha^r / G(r) * [(alpha+T)^-(r+x) + a/(b+x) (alpha+t_x)^-(r+x)]
    (the second term for every customer: dropout may follow the first purchase too).
    """
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    head, alive, dead = _terms(params, x, tx, T)
    return head + np.logaddexp(alive, dead)


class ModifiedBetaGeo(_CountModel):
    """MBG/NBD: expected purchases of each customer and the chance they are still active.

    Purchase rates are Gamma(r, alpha) across customers (alpha in the time unit of the
    features); at the first purchase and after every repeat purchase a customer drops out with
    a probability p ~ Beta(a, b). ``params_`` = {r, alpha, a, b}. ``penalizer`` as in
    :class:`~segwork.clv.paretonbd.ParetoNBD`.
    """

    _names = _MBG
    _title = "MBG/NBD (Batislam, Denizel & Filiztekin 2007), maximum likelihood"
    _model = "MBG/NBD"
    _time_params = (1,)

    @staticmethod
    def _log_likelihood(theta, x, tx, T) -> np.ndarray:
        return mbgnbd_log_likelihood(theta, x, tx, T)

    def _total_gradient(self, log_p: np.ndarray, data, step: float = 0.0) -> np.ndarray:
        """Analytic d(sum of w * log-likelihood)/d(log-parameters) (``step`` is not used)."""
        x, tx, T, w = data
        theta = np.exp(log_p)
        r, alpha, a, b = theta
        head, alive, dead = _terms(theta, x, tx, T)
        m = np.logaddexp(alive, dead)
        w3, w4 = np.exp(alive - m), np.exp(dead - m)  # posterior weights: alive, dropped out
        rx = r + x
        psi_abx1 = special.digamma(a + b + x + 1)
        d_r = (
            special.digamma(rx)
            - special.digamma(r)
            + math.log(alpha)
            - w3 * np.log(alpha + T)
            - w4 * np.log(alpha + tx)
        )
        d_alpha = r / alpha - rx * (w3 / (alpha + T) + w4 / (alpha + tx))
        d_a = special.digamma(a + b) - psi_abx1 + w4 / a
        d_b = (
            special.digamma(b + x + 1)
            - psi_abx1
            - special.digamma(b)
            + special.digamma(a + b)
            - w4 / (b + x)
        )
        return np.array([w @ d_r, w @ d_alpha, w @ d_a, w @ d_b]) * theta

    def conditional_probability_alive(self, frequency, recency=None, T=None) -> np.ndarray:
        """P(still active at T | history) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x))."""
        x, tx, t = self._args(frequency, recency, T)
        r, alpha, a, b = self._theta()
        log_odds_dead = (
            math.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + t) - np.log(alpha + tx))
        )
        return special.expit(-log_odds_dead)

    def conditional_expected_number_of_purchases_up_to_time(
        self, t, frequency, recency=None, T=None
    ) -> np.ndarray:
        """Expected purchases in the next ``t`` time units given the history:
        P(alive) (a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; z)],
        z = t/(alpha+T+t), i.e. BG/NBD's unconditional expectation at the posterior parameters
        (r+x, alpha+T, a, b+x+1), computed with its Euler-transformed form."""
        x, tx, tt = self._args(frequency, recency, T)
        r, alpha, a, b = self._theta()
        pa = self.conditional_probability_alive(x, tx, tt)
        return pa * _expected_new(t, r + x, alpha + tt, a, b + x + 1)

    def _notes(self) -> list[str]:
        r, alpha, a, b = self._theta()
        return [
            f"mean purchase rate r/alpha = {r / alpha:.4g} per time unit; mean dropout "
            f"probability a/(a+b) = {a / (a + b):.3f} at each purchase"
        ]
