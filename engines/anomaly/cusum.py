"""Two-sided tabular CUSUM in baseline-sigma units, its ARL by Markov chain, and the adaptive h.

C+_t = max(0, z_t - k + C+_{t-1}), C-_t = max(0, -z_t - k + C-_{t-1}), signal when either exceeds h
(Page 1954; Montgomery 2009, Introduction to Statistical Quality Control 6th ed., sec. 9.1.2).
ARL of a one-sided CUSUM by the Brook & Evans (1972, Biometrika 59:539) Markov chain with m
states; two-sided 1/ARL = 1/ARL+ + 1/ARL- (Lucas & Crosier 1982 approximation, exact enough for
k >= 0.5). ``h_for_arl0`` inverts it so the in-control ARL stays at its target whatever k.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from threadpoolctl import threadpool_limits
from scipy.optimize import brentq
from scipy.stats import norm

#: Decision intervals (sigma units) offered as configuration presets.
H_PRESETS_SIGMA: dict[str, float] = {"2sigma": 2.0, "3sigma": 3.0, "4sigma": 4.0, "5sigma": 5.0}


@dataclass(frozen=True)
class CusumState:
    """Running sums (n_wells, n_keys) carried between 5-minute windows."""

    c_plus: np.ndarray
    c_minus: np.ndarray

    @classmethod
    def zeros(cls, shape) -> "CusumState":
        return cls(np.zeros(shape), np.zeros(shape))


def cusum_update(z: np.ndarray, state: CusumState, k: float = 0.5, h: float = 5.0, reset_on_signal: bool = True):
    """Run the CUSUM over standardized samples ``z`` (..., n_steps) from ``state``.

    Returns ``(new_state, signal (..., n_steps) bool, c_max (..., n_steps))``; after a signal the
    sums restart from zero when ``reset_on_signal`` (the usual restart after action)."""
    if k < 0 or h <= 0:
        raise ValueError(f"need k >= 0 and h > 0, got k={k}, h={h}")
    z = np.asarray(z, dtype=float)
    cp, cm = np.array(state.c_plus, dtype=float), np.array(state.c_minus, dtype=float)
    sig = np.zeros(z.shape, bool)
    cmax = np.zeros(z.shape)
    for t in range(z.shape[-1]):
        zt = np.nan_to_num(z[..., t], nan=0.0)
        cp = np.maximum(0.0, zt - k + cp)
        cm = np.maximum(0.0, -zt - k + cm)
        s = (cp > h) | (cm > h)
        sig[..., t] = s
        cmax[..., t] = np.maximum(cp, cm)
        if reset_on_signal:
            cp = np.where(s, 0.0, cp)
            cm = np.where(s, 0.0, cm)
    return CusumState(cp, cm), sig, cmax


@lru_cache(maxsize=256)
def _arl_one_sided(k: float, h: float, shift: float, m: int) -> float:
    # State 0 is C = 0 (up to w/2), state i covers ((i - 1/2) w, (i + 1/2) w]; beyond h is absorbing.
    # The transition i -> j depends on j - i only: F(d) = P(C_new <= (i + d + 1/2) w | C = i w)
    # = Phi((d + 1/2) w + k - shift), so P_ij = F(j - i) - F(j - i - 1) (j >= 1) and P_i0 = F(-i).
    w = 2.0 * h / (2 * m - 1)
    d = np.arange(-m, m)
    f = norm.cdf((d + 0.5) * w + k - shift)
    i = np.arange(m)[:, None]
    j = np.arange(m)[None, :]
    p = f[j - i + m] - f[j - i - 1 + m]
    p[:, 0] = f[-i[:, 0] + m]
    with threadpool_limits(limits=1):  # a few-hundred-state solve is fastest on one BLAS thread
        arl = np.linalg.solve(np.eye(m) - p, np.ones(m))
    return float(arl[0])


def cusum_arl(k: float, h: float, shift: float = 0.0, two_sided: bool = True, m: int = 400) -> float:
    """Average run length (samples) of the tabular CUSUM for a mean shift ``shift`` (sigma units)."""
    if k < 0 or h <= 0:
        raise ValueError(f"need k >= 0 and h > 0, got k={k}, h={h}")
    up = _arl_one_sided(float(k), float(h), float(shift), int(m))
    if not two_sided:
        return up
    down = _arl_one_sided(float(k), float(h), float(-shift), int(m))
    return 1.0 / (1.0 / up + 1.0 / down)


def h_for_arl0(arl0: float, k: float = 0.5, two_sided: bool = True) -> float:
    """Decision interval h (sigma units) whose in-control ARL equals ``arl0`` (the adaptive threshold)."""
    if arl0 <= 2:
        raise ValueError(f"arl0 must exceed 2 samples, got {arl0}")
    f = lambda h: np.log(cusum_arl(k, h, 0.0, two_sided, m=200)) - np.log(arl0)  # noqa: E731
    lo, hi = 0.05, 1.0
    while f(hi) < 0:
        lo, hi = hi, 1.5 * hi
        if hi > 100:
            raise ValueError(f"no h below 100 sigma reaches ARL0 = {arl0} with k = {k}")
    return brentq(f, lo, hi, xtol=1e-6)
