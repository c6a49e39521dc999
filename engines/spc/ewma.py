"""EWMA control chart for gradual drift (0.5-2 sigma shifts), in baseline-sigma units.

z_t = lambda x_t + (1 - lambda) z_{t-1}, z_0 = 0; signal when |z_t| > L sqrt(lambda / (2 - lambda))
(steady-state limits, as in the ARL tables of Lucas & Saccucci 1990, Technometrics 32:1, reproduced
in Montgomery 2009, Table 9.11). Default lambda = 0.10, L = 2.814: ARL0 = 500, ARL(1 sigma) = 10.3,
the design those tables recommend for small shifts.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from threadpoolctl import threadpool_limits
from scipy.optimize import brentq
from scipy.stats import norm

DEFAULT_LAMBDA = 0.10
DEFAULT_L = 2.814

#: (lambda, L) -> ARL at shifts 0, 0.5, 1.0, 1.5, 2.0 sigma (Lucas & Saccucci 1990; Montgomery Table 9.11).
PUBLISHED_ARL: dict[tuple[float, float], dict[float, float]] = {
    (0.10, 2.814): {0.0: 500.0, 0.5: 31.3, 1.0: 10.3, 1.5: 6.1, 2.0: 4.4},
    (0.20, 2.962): {0.0: 500.0, 0.5: 41.8, 1.0: 10.5, 1.5: 5.5, 2.0: 3.7},
    (0.05, 2.615): {0.0: 500.0, 0.5: 28.8, 1.0: 11.4, 1.5: 7.1, 2.0: 5.2},
}


@dataclass(frozen=True)
class EwmaState:
    """EWMA statistic (n_wells, n_keys) carried between windows."""

    z: np.ndarray

    @classmethod
    def zeros(cls, shape) -> "EwmaState":
        return cls(np.zeros(shape))


def ewma_update(x: np.ndarray, state: EwmaState, lam: float = DEFAULT_LAMBDA, L: float = DEFAULT_L,
                reset_on_signal: bool = True):
    """Run the chart over standardized samples ``x`` (..., n_steps). Returns (state, signal, z_path)."""
    if not 0 < lam <= 1 or L <= 0:
        raise ValueError(f"need 0 < lambda <= 1 and L > 0, got {lam}, {L}")
    x = np.asarray(x, dtype=float)
    limit = L * np.sqrt(lam / (2.0 - lam))
    z = np.array(state.z, dtype=float)
    sig = np.zeros(x.shape, bool)
    path = np.zeros(x.shape)
    for t in range(x.shape[-1]):
        z = lam * np.nan_to_num(x[..., t], nan=0.0) + (1.0 - lam) * z
        s = np.abs(z) > limit
        sig[..., t], path[..., t] = s, z
        if reset_on_signal:
            z = np.where(s, 0.0, z)
    return EwmaState(z), sig, path


def ewma_arl(lam: float, L: float, shift: float = 0.0, m: int = 301) -> float:
    """ARL of the two-sided EWMA by the Lucas & Saccucci (1990) Markov chain with ``m`` (odd) states."""
    ucl = L * np.sqrt(lam / (2.0 - lam))
    w = 2.0 * ucl / m
    c = -ucl + w * (np.arange(m) + 0.5)
    lo = (c[None, :] - w / 2 - (1 - lam) * c[:, None]) / lam
    hi = (c[None, :] + w / 2 - (1 - lam) * c[:, None]) / lam
    p = norm.cdf(hi - shift) - norm.cdf(lo - shift)
    with threadpool_limits(limits=1):  # a few-hundred-state solve is fastest on one BLAS thread
        arl = np.linalg.solve(np.eye(m) - p, np.ones(m))
    return float(arl[m // 2])


@lru_cache(maxsize=64)
def L_for_arl0(arl0: float, lam: float = DEFAULT_LAMBDA) -> float:
    """Limit width L whose in-control ARL equals ``arl0`` (Markov chain of :func:`ewma_arl`; memoized)."""
    if arl0 <= 2:
        raise ValueError(f"arl0 must exceed 2 samples, got {arl0}")
    return brentq(lambda L: np.log(ewma_arl(lam, L, 0.0, m=151)) - np.log(arl0), 1.0, 6.0, xtol=1e-5)
