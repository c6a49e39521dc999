"""Inflow performance relationships (IPR): liquid rate as a function of flowing bottomhole pressure.

Every model is a frozen dataclass with vectorized ``rate_bpd(pwf_psi)`` and ``pwf_psi(q_bpd)``
(NaN beyond the absolute open flow), ``aof_bpd`` and ``productivity_index(pwf_psi)`` (q / (Pr - Pwf)),
plus a constructor from well-test data. Pressures in psi, any consistent datum (absolute or gauge, the
same for Pr, Pb and Pwf); rates in STB/d of liquid.

- Vogel, J.V. (1968) "Inflow Performance Relationships for Solution-Gas Drive Wells", JPT 20(1), 83-92:
  q / qmax = 1 - 0.2 (Pwf/Pr) - 0.8 (Pwf/Pr)^2.
- Straight-line PI (Darcy): q = J (Pr - Pwf); J for pseudo-steady radial flow J = k h / (141.2 Bo mu
  (ln(re/rw) - 0.75 + s)) (Guo, Lyons & Ghalambor 2007 "Petroleum Production Engineering", eq. 3.8).
- Composite (generalized Vogel): Darcy above Pb, Vogel below with qv = J Pb / 1.8, continuous in rate
  and slope at Pb (Guo et al. 2007, sec. 3.3.3, eqs. 3.18-3.20).
- Fetkovich, M.J. (1973) "The Isochronal Testing of Oil Wells", SPE 4529: q = C (Pr^2 - Pwf^2)^n.
- Jones, L.G., Blount, E.M. and Glaze, O.H. (1976) "Use of Short Term Multiple Rate Flow Tests to
  Predict Performance of Wells Having Turbulence", SPE 6133: Pr - Pwf = a q + b q^2.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


def _positive(name: str, value: float) -> None:
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")


def _test_arrays(reservoir_pressure_psi: float, q_bpd, pwf_psi, minimum: int):
    q = np.asarray(q_bpd, dtype=float).ravel()
    pwf = np.asarray(pwf_psi, dtype=float).ravel()
    if q.shape != pwf.shape or q.size < minimum:
        raise ValueError(f"need at least {minimum} test point(s) with matching q_bpd and pwf_psi")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(pwf))):
        raise ValueError("test rates and pressures must be finite")
    if np.any(q <= 0):
        raise ValueError("test rates must be > 0 STB/d")
    if np.any(pwf < 0) or np.any(pwf >= reservoir_pressure_psi):
        raise ValueError("test pwf_psi must be in [0, reservoir_pressure_psi)")
    return q, pwf


class Ipr(ABC):
    """Common interface of the IPR models."""

    reservoir_pressure_psi: float

    @abstractmethod
    def rate_bpd(self, pwf_psi):
        """Liquid rate (STB/d) at flowing bottomhole pressure(s) (psi); 0 at Pwf >= Pr."""

    @abstractmethod
    def pwf_psi(self, q_bpd):
        """Flowing bottomhole pressure (psi) delivering rate(s) (STB/d); NaN above the AOF."""

    @property
    def aof_bpd(self) -> float:
        """Absolute open flow: rate at Pwf = 0 (STB/d)."""
        return float(self.rate_bpd(0.0))

    def productivity_index(self, pwf_psi):
        """Secant productivity index q / (Pr - Pwf) (STB/d/psi) at Pwf (psi)."""
        pwf = np.asarray(pwf_psi, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.rate_bpd(pwf) / (self.reservoir_pressure_psi - pwf)

    def _clip_pwf(self, pwf_psi) -> np.ndarray:
        return np.clip(np.asarray(pwf_psi, dtype=float), 0.0, self.reservoir_pressure_psi)

    def _nan_above_aof(self, q_bpd, pwf) -> np.ndarray:
        q = np.asarray(q_bpd, dtype=float)
        return np.where((q >= 0) & (q <= self.aof_bpd * (1 + 1e-12)), pwf, np.nan)


def _vogel_fraction(x):
    return 1.0 - 0.2 * x - 0.8 * x * x


def _vogel_x(fraction):
    """Inverse of the Vogel curve: Pwf/Pr giving q/qmax = fraction (in [0, 1])."""
    return (-0.2 + np.sqrt(0.04 + 3.2 * (1.0 - fraction))) / 1.6


@dataclass(frozen=True)
class VogelIpr(Ipr):
    """Vogel (1968) IPR of a saturated reservoir (Pr <= Pb): ``qmax_bpd`` at Pwf = 0."""

    reservoir_pressure_psi: float
    qmax_bpd: float

    def __post_init__(self) -> None:
        _positive("reservoir_pressure_psi", self.reservoir_pressure_psi)
        _positive("qmax_bpd", self.qmax_bpd)

    @classmethod
    def from_test(cls, reservoir_pressure_psi: float, q_bpd: float, pwf_psi: float) -> "VogelIpr":
        """qmax from one stabilized test: qmax = q / (1 - 0.2 x - 0.8 x^2), x = Pwf/Pr."""
        _positive("reservoir_pressure_psi", reservoir_pressure_psi)
        q, pwf = _test_arrays(reservoir_pressure_psi, q_bpd, pwf_psi, 1)
        return cls(reservoir_pressure_psi, float(q[0] / _vogel_fraction(pwf[0] / reservoir_pressure_psi)))

    def rate_bpd(self, pwf_psi):
        return self.qmax_bpd * _vogel_fraction(self._clip_pwf(pwf_psi) / self.reservoir_pressure_psi)

    def pwf_psi(self, q_bpd):
        frac = np.clip(np.asarray(q_bpd, dtype=float) / self.qmax_bpd, 0.0, 1.0)
        return self._nan_above_aof(q_bpd, self.reservoir_pressure_psi * _vogel_x(frac))

    @property
    def aof_bpd(self) -> float:
        return self.qmax_bpd


@dataclass(frozen=True)
class DarcyIpr(Ipr):
    """Straight-line productivity index: q = J (Pr - Pwf), ``pi_bpd_psi`` = J (STB/d/psi)."""

    reservoir_pressure_psi: float
    pi_bpd_psi: float

    def __post_init__(self) -> None:
        _positive("reservoir_pressure_psi", self.reservoir_pressure_psi)
        _positive("pi_bpd_psi", self.pi_bpd_psi)

    @classmethod
    def from_test(cls, reservoir_pressure_psi: float, q_bpd: float, pwf_psi: float) -> "DarcyIpr":
        """J = q / (Pr - Pwf) from one test."""
        _positive("reservoir_pressure_psi", reservoir_pressure_psi)
        q, pwf = _test_arrays(reservoir_pressure_psi, q_bpd, pwf_psi, 1)
        return cls(reservoir_pressure_psi, float(q[0] / (reservoir_pressure_psi - pwf[0])))

    def rate_bpd(self, pwf_psi):
        return self.pi_bpd_psi * (self.reservoir_pressure_psi - self._clip_pwf(pwf_psi))

    def pwf_psi(self, q_bpd):
        q = np.asarray(q_bpd, dtype=float)
        return self._nan_above_aof(q, self.reservoir_pressure_psi - q / self.pi_bpd_psi)


def darcy_productivity_index(k_md: float, h_ft: float, bo_rb_stb: float, mu_cp: float, re_ft: float, rw_ft: float,
                             skin: float = 0.0) -> float:
    """Pseudo-steady-state radial PI J = k h / (141.2 Bo mu (ln(re/rw) - 0.75 + s)) in STB/d/psi (Guo et al. 2007, eq. 3.8)."""
    for name, value in (("k_md", k_md), ("h_ft", h_ft), ("bo_rb_stb", bo_rb_stb), ("mu_cp", mu_cp), ("re_ft", re_ft), ("rw_ft", rw_ft)):
        _positive(name, value)
    denominator = np.log(re_ft / rw_ft) - 0.75 + skin
    if denominator <= 0:
        raise ValueError("ln(re/rw) - 0.75 + skin must be > 0")
    return float(k_md * h_ft / (141.2 * bo_rb_stb * mu_cp * denominator))


@dataclass(frozen=True)
class CompositeIpr(Ipr):
    """Generalized Vogel: q = J (Pr - Pwf) above Pb; q = qb + (J Pb / 1.8)(1 - 0.2 x - 0.8 x^2), x = Pwf/Pb, below."""

    reservoir_pressure_psi: float
    bubble_point_psi: float
    pi_bpd_psi: float

    def __post_init__(self) -> None:
        _positive("reservoir_pressure_psi", self.reservoir_pressure_psi)
        _positive("pi_bpd_psi", self.pi_bpd_psi)
        if not (np.isfinite(self.bubble_point_psi) and self.bubble_point_psi >= 0):
            raise ValueError(f"bubble_point_psi must be a finite number >= 0, got {self.bubble_point_psi}")

    @property
    def effective_pb_psi(self) -> float:
        """Bubble point used by the curve (Pr when the reservoir is saturated; 0 below 1e-9 Pr: straight line)."""
        pb = min(self.bubble_point_psi, self.reservoir_pressure_psi)
        return pb if pb > 1e-9 * self.reservoir_pressure_psi else 0.0

    @property
    def qb_bpd(self) -> float:
        """Rate at Pwf = Pb (STB/d)."""
        return self.pi_bpd_psi * (self.reservoir_pressure_psi - self.effective_pb_psi)

    @property
    def qv_bpd(self) -> float:
        """Vogel part of the AOF, J Pb / 1.8 (STB/d)."""
        return self.pi_bpd_psi * self.effective_pb_psi / 1.8

    @classmethod
    def from_test(cls, reservoir_pressure_psi: float, bubble_point_psi: float, q_bpd: float, pwf_psi: float) -> "CompositeIpr":
        """J from one test, above or below the bubble point (Guo et al. 2007, eqs. 3.24-3.25)."""
        _positive("reservoir_pressure_psi", reservoir_pressure_psi)
        q, pwf = _test_arrays(reservoir_pressure_psi, q_bpd, pwf_psi, 1)
        pb = min(bubble_point_psi, reservoir_pressure_psi)
        if pwf[0] >= pb:
            j = q[0] / (reservoir_pressure_psi - pwf[0])
        else:
            j = q[0] / (reservoir_pressure_psi - pb + pb / 1.8 * _vogel_fraction(pwf[0] / pb))
        return cls(reservoir_pressure_psi, bubble_point_psi, float(j))

    def rate_bpd(self, pwf_psi):
        pwf = self._clip_pwf(pwf_psi)
        pb = self.effective_pb_psi
        above = self.pi_bpd_psi * (self.reservoir_pressure_psi - pwf)
        if pb <= 0:
            return above
        below = self.qb_bpd + self.qv_bpd * _vogel_fraction(np.minimum(pwf, pb) / pb)
        return np.where(pwf >= pb, above, below)

    def pwf_psi(self, q_bpd):
        q = np.asarray(q_bpd, dtype=float)
        pb = self.effective_pb_psi
        above = self.reservoir_pressure_psi - q / self.pi_bpd_psi
        if pb <= 0:
            return self._nan_above_aof(q, above)
        below = pb * _vogel_x(np.clip((q - self.qb_bpd) / self.qv_bpd, 0.0, 1.0))
        return self._nan_above_aof(q, np.where(q <= self.qb_bpd, above, below))

    @property
    def aof_bpd(self) -> float:
        return self.qb_bpd + self.qv_bpd


@dataclass(frozen=True)
class FetkovichIpr(Ipr):
    """Fetkovich (1973) back-pressure IPR q = C (Pr^2 - Pwf^2)^n; C in STB/d/psi^(2n)."""

    reservoir_pressure_psi: float
    c: float
    n: float

    def __post_init__(self) -> None:
        _positive("reservoir_pressure_psi", self.reservoir_pressure_psi)
        _positive("c", self.c)
        if not (0.3 <= self.n <= 1.5):
            raise ValueError(f"Fetkovich exponent n must be in [0.3, 1.5], got {self.n}")

    @classmethod
    def fit(cls, reservoir_pressure_psi: float, q_bpd, pwf_psi) -> "FetkovichIpr":
        """Least squares of log q = log C + n log(Pr^2 - Pwf^2) over >= 2 test points (exact for 2)."""
        _positive("reservoir_pressure_psi", reservoir_pressure_psi)
        q, pwf = _test_arrays(reservoir_pressure_psi, q_bpd, pwf_psi, 2)
        x = np.log(reservoir_pressure_psi**2 - pwf**2)
        if np.ptp(x) <= 0:
            raise ValueError("Fetkovich fit needs test points at different pwf_psi")
        n, log_c = np.polyfit(x, np.log(q), 1)
        return cls(reservoir_pressure_psi, float(np.exp(log_c)), float(n))

    def rate_bpd(self, pwf_psi):
        pwf = self._clip_pwf(pwf_psi)
        return self.c * (self.reservoir_pressure_psi**2 - pwf * pwf) ** self.n

    def pwf_psi(self, q_bpd):
        q = np.clip(np.asarray(q_bpd, dtype=float), 0.0, None)
        inner = np.maximum(self.reservoir_pressure_psi**2 - (q / self.c) ** (1.0 / self.n), 0.0)
        return self._nan_above_aof(q_bpd, np.sqrt(inner))


@dataclass(frozen=True)
class JonesIpr(Ipr):
    """Jones, Blount & Glaze (1976): Pr - Pwf = a q + b q^2 (a psi/(STB/d) laminar, b psi/(STB/d)^2 turbulent)."""

    reservoir_pressure_psi: float
    a: float
    b: float

    def __post_init__(self) -> None:
        _positive("reservoir_pressure_psi", self.reservoir_pressure_psi)
        if not (np.isfinite(self.a) and np.isfinite(self.b) and self.a >= 0 and self.b >= 0 and self.a + self.b > 0):
            raise ValueError(f"Jones coefficients need a >= 0, b >= 0 and a + b > 0, got a={self.a}, b={self.b}")

    @classmethod
    def fit(cls, reservoir_pressure_psi: float, q_bpd, pwf_psi) -> "JonesIpr":
        """Least squares of (Pr - Pwf)/q = a + b q over >= 2 test points (exact for 2); negative b is set to 0."""
        _positive("reservoir_pressure_psi", reservoir_pressure_psi)
        q, pwf = _test_arrays(reservoir_pressure_psi, q_bpd, pwf_psi, 2)
        if np.ptp(q) <= 0:
            raise ValueError("Jones fit needs test points at different rates")
        b, a = np.polyfit(q, (reservoir_pressure_psi - pwf) / q, 1)
        if b < 0:  # no turbulence detected: straight line through the mean
            a, b = float(np.sum(reservoir_pressure_psi - pwf) / np.sum(q)), 0.0
        if a < 0:
            raise ValueError("Jones fit gives a negative laminar coefficient; check the test points")
        return cls(reservoir_pressure_psi, float(a), float(b))

    def rate_bpd(self, pwf_psi):
        dp = self.reservoir_pressure_psi - self._clip_pwf(pwf_psi)
        if self.b == 0:
            return dp / self.a
        return 2.0 * dp / (self.a + np.sqrt(self.a * self.a + 4.0 * self.b * dp))

    def pwf_psi(self, q_bpd):
        q = np.asarray(q_bpd, dtype=float)
        return self._nan_above_aof(q, self.reservoir_pressure_psi - self.a * q - self.b * q * q)


IPR_MODELS = ("vogel", "darcy", "composite", "fetkovich", "jones")


def ipr_from_test(model: str, reservoir_pressure_psi: float, q_bpd, pwf_psi, bubble_point_psi: float | None = None) -> Ipr:
    """Build the named IPR model from test point(s): one point for vogel/darcy/composite, >= 2 for fetkovich/jones."""
    if model == "vogel":
        q, p = np.atleast_1d(q_bpd), np.atleast_1d(pwf_psi)
        return VogelIpr.from_test(reservoir_pressure_psi, q[-1:], p[-1:])
    if model == "darcy":
        q, p = np.atleast_1d(q_bpd), np.atleast_1d(pwf_psi)
        return DarcyIpr.from_test(reservoir_pressure_psi, q[-1:], p[-1:])
    if model == "composite":
        if bubble_point_psi is None:
            raise ValueError("composite IPR needs bubble_point_psi")
        q, p = np.atleast_1d(q_bpd), np.atleast_1d(pwf_psi)
        return CompositeIpr.from_test(reservoir_pressure_psi, bubble_point_psi, q[-1:], p[-1:])
    if model == "fetkovich":
        return FetkovichIpr.fit(reservoir_pressure_psi, q_bpd, pwf_psi)
    if model == "jones":
        return JonesIpr.fit(reservoir_pressure_psi, q_bpd, pwf_psi)
    raise ValueError(f"unknown IPR model {model!r}; choose one of {IPR_MODELS}")
