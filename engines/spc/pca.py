"""PCA process monitoring: Hotelling T^2 and SPE (Q) with control limits and variable contributions.

Fit on in-control data (standardized per variable). T^2 = sum_a t_a^2 / lambda_a over the kept
components; its limit for a new observation is a(n - 1)(n + 1) / (n (n - a)) F_alpha(a, n - a)
(Tracy, Young & Mason 1992, J. Qual. Technol. 24:88). SPE = ||x - P P^T x||^2 with the
Jackson & Mudholkar (1979, Technometrics 21:341) limit from the residual eigenvalues theta_i.
Contributions: SPE_j = e_j^2 and T^2_j = x_j sum_a p_ja t_a / lambda_a (they sum to T^2)
(Westerhuis, Gurden & Smilde 2000, Chemometr. Intell. Lab. 51:95).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PcaModel:
    """Fitted PCA monitor; ``keys`` names the variables."""

    keys: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    loadings: np.ndarray  # (n_vars, a)
    eigenvalues: np.ndarray  # (a,)
    t2_limit: float
    spe_limit: float
    confidence: float
    n_train: int

    def standardize(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=float) - self.mean) / self.scale

    def statistics(self, x: np.ndarray):
        """T^2 and SPE of observations ``x`` (..., n_vars) -> (t2, spe) each (...)."""
        xs = self.standardize(x)
        t = xs @ self.loadings
        t2 = np.sum(t**2 / self.eigenvalues, axis=-1)
        resid = xs - t @ self.loadings.T
        return t2, np.sum(resid**2, axis=-1)

    def contributions(self, x: np.ndarray):
        """Per-variable contributions (t2_contrib, spe_contrib), each (..., n_vars)."""
        xs = self.standardize(x)
        t = xs @ self.loadings
        t2c = xs * ((t / self.eigenvalues) @ self.loadings.T)
        resid = xs - t @ self.loadings.T
        return t2c, resid**2


def fit_pca(x: np.ndarray, keys, variance_explained: float = 0.9, confidence: float = 0.99,
            n_components: int | None = None) -> PcaModel:
    """Fit on in-control observations ``x`` (n_obs, n_vars)."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[0] <= x.shape[1] + 1:
        raise ValueError(f"need an (n_obs, n_vars) array with n_obs > n_vars + 1, got {x.shape}")
    if not 0.5 < confidence < 1:
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence}")
    keys = tuple(keys)
    if len(keys) != x.shape[1]:
        raise ValueError(f"{len(keys)} keys for {x.shape[1]} variables")
    mean = x.mean(axis=0)
    scale = x.std(axis=0, ddof=1)
    scale = np.where(scale > 0, scale, 1.0)
    xs = (x - mean) / scale
    n, p = xs.shape
    cov = xs.T @ xs / (n - 1)
    lam, vec = np.linalg.eigh(cov)
    order = np.argsort(lam)[::-1]
    lam, vec = np.maximum(lam[order], 1e-12), vec[:, order]
    if n_components is None:
        a = int(np.searchsorted(np.cumsum(lam) / lam.sum(), variance_explained) + 1)
    else:
        a = int(n_components)
    a = min(max(a, 1), p - 1)
    alpha = 1.0 - confidence
    t2_lim = a * (n - 1) * (n + 1) / (n * (n - a)) * _f_quantile(confidence, a, n - a)
    rest = lam[a:]
    th1, th2, th3 = rest.sum(), (rest**2).sum(), (rest**3).sum()
    h0 = 1.0 - 2.0 * th1 * th3 / (3.0 * th2**2)
    c = _normal_quantile(1.0 - alpha)
    spe_lim = th1 * (c * np.sqrt(2.0 * th2 * h0**2) / th1 + 1.0 + th2 * h0 * (h0 - 1.0) / th1**2) ** (1.0 / h0)
    return PcaModel(keys, mean, scale, vec[:, :a], lam[:a], float(t2_lim), float(spe_lim), confidence, n)


@lru_cache(maxsize=1024)
def _f_quantile(q: float, dfn: int, dfd: int) -> float:
    """F(dfn, dfd) quantile, cached: the wells of a small field each fit a monitor of the same sizes."""
    return float(stats.f.ppf(q, dfn, dfd))


@lru_cache(maxsize=64)
def _normal_quantile(q: float) -> float:
    return float(stats.norm.ppf(q))
