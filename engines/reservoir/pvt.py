"""Dead-oil PVT table: formation volume factor and viscosity versus pressure.

The table is interpreted piecewise-linearly in pressure for both Bo and mu, extrapolated linearly
beyond its ends (the reference interpretation of González Nieves, 2018, Table 4.2).  Derivatives are
returned with the values because the fully implicit simulator needs them for its Jacobian.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class PvtTable:
    """Dead-oil PVT: ``pressure_psi`` (strictly increasing), ``bo_rb_stb`` and ``viscosity_cp``."""

    pressure_psi: np.ndarray
    bo_rb_stb: np.ndarray
    viscosity_cp: np.ndarray

    def __post_init__(self) -> None:
        p = np.asarray(self.pressure_psi, dtype=float)
        b = np.asarray(self.bo_rb_stb, dtype=float)
        mu = np.asarray(self.viscosity_cp, dtype=float)
        if p.ndim != 1 or p.size < 2 or b.shape != p.shape or mu.shape != p.shape:
            raise ValueError("PVT table needs at least two rows of equal length (pressure_psi, bo_rb_stb, viscosity_cp)")
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(b)) and np.all(np.isfinite(mu))):
            raise ValueError("PVT table values must be finite")
        if np.any(np.diff(p) <= 0):
            raise ValueError("PVT pressure_psi must be strictly increasing")
        if p[0] < 0:
            raise ValueError("PVT pressure_psi must be absolute pressures (>= 0 psia)")
        if np.any(b <= 0) or np.any(mu <= 0):
            raise ValueError("PVT bo_rb_stb and viscosity_cp must be positive")
        object.__setattr__(self, "pressure_psi", p)
        object.__setattr__(self, "bo_rb_stb", b)
        object.__setattr__(self, "viscosity_cp", mu)
        object.__setattr__(self, "_b_slope", np.diff(b) / np.diff(p))
        object.__setattr__(self, "_mu_slope", np.diff(mu) / np.diff(p))
        object.__setattr__(self, "_inner", p[1:-1].copy())

    def segment(self, p_psi: np.ndarray) -> np.ndarray:
        """Index of the table interval used for each pressure (end intervals extrapolate)."""
        return np.searchsorted(self._inner, p_psi, side="right")

    def evaluate(self, p_psi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(Bo rb/STB, dBo/dp, mu cp, dmu/dp)`` at ``p_psi`` (any shape)."""
        p = np.asarray(p_psi, dtype=float)
        k = self.segment(p)
        dp = p - self.pressure_psi[k]
        bs = self._b_slope[k]
        ms = self._mu_slope[k]
        return self.bo_rb_stb[k] + bs * dp, bs, self.viscosity_cp[k] + ms * dp, ms

    def bo(self, p_psi) -> np.ndarray:
        """Formation volume factor, rb/STB."""
        return self.evaluate(p_psi)[0]

    def viscosity(self, p_psi) -> np.ndarray:
        """Oil viscosity, cp."""
        return self.evaluate(p_psi)[2]

    def resampled(self, p_min_psi: float, p_max_psi: float, n: int) -> "PvtTable":
        """The same piecewise-linear functions sampled on ``n`` points plus the original knots.

        Used to hand OPM Flow a PVDO table whose own interpolation (linear in 1/B and 1/(mu B))
        reproduces this table's linear-in-B law to within ~1e-7 relative."""
        grid = np.union1d(np.linspace(p_min_psi, p_max_psi, n),
                          self.pressure_psi[(self.pressure_psi > p_min_psi) & (self.pressure_psi < p_max_psi)])
        b, _, mu, _ = self.evaluate(grid)
        return PvtTable(grid, b, mu)
