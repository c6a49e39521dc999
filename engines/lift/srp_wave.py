"""Diagnostic transform of a sucker-rod string: surface dynamometer card -> downhole (pump) card.

The rod string obeys Gibbs' damped wave equation (Gibbs 1963, "Predicting the behavior of sucker-rod pumping systems", J. Petrol. Technol.; Takacs 2015, ch. 4)

    d2u/dt2 = v^2 d2u/dx2 - c du/dt,          F = -EA du/dx,

with ``x`` the depth below the polished rod (ft), ``u`` the upward rod displacement (ft), ``F`` the
dynamic tension (lbf, the measured load minus the buoyant rod weight below that depth), ``v`` the
wave speed (ft/s) and ``c`` the damping coefficient (1/s). Two solutions are provided:

* :func:`downhole_card_fd` - the finite-difference space-marching scheme of Everitt & Jennings
  (1992, SPE-18189-PA) with second-order start and end formulas, the step obeying the Courant
  condition ``dx <= v dt``; tapers are chained by continuity of displacement and force.
* :func:`downhole_card_fourier` - Gibbs' analytic Fourier-series solution, one complex transfer
  matrix per taper and harmonic (exact for the sampled surface card).

Cards are sampled uniformly in time over one stroke (360 points is the usual standard). Positions
are in inches above the bottom of the polished-rod stroke, loads in lbf.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.lift.rod_string import RodString


@dataclass(frozen=True)
class Card:
    """A dynamometer card sampled uniformly in time over one stroke: position (in), load (lbf), SPM."""

    position_in: np.ndarray
    load_lbf: np.ndarray
    spm: float

    def __post_init__(self) -> None:
        pos = np.asarray(self.position_in, dtype=float)
        load = np.asarray(self.load_lbf, dtype=float)
        if pos.ndim != 1 or pos.shape != load.shape:
            raise ValueError("position_in and load_lbf must be 1-D arrays of equal length")
        if pos.size < 16:
            raise ValueError(f"a card needs at least 16 points, got {pos.size}")
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(load))):
            raise ValueError("card contains non-finite values")
        if not (0 < self.spm <= 40):
            raise ValueError(f"spm must be in (0, 40], got {self.spm}")
        object.__setattr__(self, "position_in", pos)
        object.__setattr__(self, "load_lbf", load)

    @property
    def period_s(self) -> float:
        return 60.0 / self.spm

    @property
    def stroke_in(self) -> float:
        return float(self.position_in.max() - self.position_in.min())

    def work_ftlbf(self) -> float:
        """Work per stroke = closed-loop integral of F du (ft*lbf), trapezoidal rule, cyclic."""
        u = self.position_in / 12.0
        du = np.roll(u, -1) - u
        f_mid = 0.5 * (self.load_lbf + np.roll(self.load_lbf, -1))
        return float(np.sum(f_mid * du))


@dataclass(frozen=True)
class DownholeResult:
    """Downhole card (pump), dynamic loads at each taper top (lbf, including buoyant weight below)."""

    card: Card
    taper_top_load_lbf: np.ndarray  # shape (n_tapers, n_points)
    buoyant_rod_weight_lbf: float


def _time_operator(u: np.ndarray, dt: float, c: float, pad: np.ndarray) -> np.ndarray:
    """u_tt + c u_t by periodic central differences (``pad`` is scratch space of length n + 2)."""
    pad[1:-1] = u
    pad[0] = u[-1]
    pad[-1] = u[0]
    nxt, prv = pad[2:], pad[:-2]
    return (nxt - 2.0 * u + prv) * (1.0 / dt**2) + (nxt - prv) * (c / (2.0 * dt))


def _check(rods: RodString, damping_factor: float, fluid_sg: float) -> None:
    if not isinstance(rods, RodString):
        raise ValueError("rods must be a RodString")
    if not (0 <= damping_factor <= 2):
        raise ValueError(f"damping_factor must be in [0, 2], got {damping_factor}")
    if not (0 <= fluid_sg <= 2):
        raise ValueError(f"fluid_sg must be in [0, 2], got {fluid_sg}")


def downhole_card_fd(surface: Card, rods: RodString, damping_factor: float = 0.05, fluid_sg: float = 1.0,
                     courant: float = 1.0) -> DownholeResult:
    """Gibbs diagnostic by finite differences (Everitt & Jennings 1992), vectorized over time.

    ``courant`` = dx / (v dt) <= 1 (stability of the space-marching scheme); smaller values refine
    the depth grid. Returns the pump card (position in, load lbf) and the loads at each taper top.
    """
    _check(rods, damping_factor, fluid_sg)
    if not (0 < courant <= 1.0):
        raise ValueError(f"courant must be in (0, 1] for stability, got {courant}")
    dt = surface.period_s / surface.position_in.size
    c = rods.damping_coefficient_1_s(damping_factor)
    w_rf = rods.buoyant_weight_lbf(fluid_sg)
    w_below = rods.buoyant_weight_below_lbf(fluid_sg)
    u = surface.position_in / 12.0
    f = surface.load_lbf - w_rf
    pad = np.empty(u.size + 2)
    tops = []
    for k, taper in enumerate(rods.tapers):
        tops.append(f + w_below[k])
        v, ea = taper.wave_speed_ft_s, taper.ea_lbf
        n = max(2, int(np.ceil(taper.length_ft / (courant * v * dt))))
        dx = taper.length_ft / n
        r = dx * dx / (v * v)
        u_prev = u
        u_cur = u - dx * f / ea + 0.5 * r * _time_operator(u, dt, c, pad)
        for _ in range(n - 1):
            u_prev, u_cur = u_cur, 2.0 * u_cur - u_prev + r * _time_operator(u_cur, dt, c, pad)
        # second-order backward Taylor for the slope at the taper bottom
        slope = (u_cur - u_prev) / dx + 0.5 * dx * _time_operator(u_cur, dt, c, pad) / (v * v)
        u, f = u_cur, -ea * slope
    pump = Card(u * 12.0 - (u * 12.0).min(), f, surface.spm)
    return DownholeResult(pump, np.array(tops), w_rf)


def _transfer(u_hat: np.ndarray, s_hat: np.ndarray, omega: np.ndarray, c: float, taper, length_ft: float):
    """Propagate (U, EA*U') of each harmonic down ``length_ft`` of one taper (complex, exact)."""
    v, ea = taper.wave_speed_ft_s, taper.ea_lbf
    beta = np.sqrt((omega**2 - 1j * c * omega).astype(complex)) / v
    bl = beta * length_ft
    cos_bl = np.cos(bl)
    safe = np.where(beta == 0, 1.0, beta)
    sin_over_beta = np.where(beta == 0, length_ft, np.sin(bl) / safe)
    beta_sin = np.where(beta == 0, 0.0, beta * np.sin(bl))
    u_l = u_hat * cos_bl + s_hat / ea * sin_over_beta
    s_l = -ea * beta_sin * u_hat + s_hat * cos_bl
    return u_l, s_l


def downhole_card_fourier(surface: Card, rods: RodString, damping_factor: float = 0.05, fluid_sg: float = 1.0,
                          n_harmonics: int | None = None) -> DownholeResult:
    """Gibbs' analytic (Fourier-series) diagnostic: per harmonic, chained exact taper transfer matrices.

    ``n_harmonics`` truncates the series (Gibbs used 10-30); default keeps every harmonic of the card.
    """
    _check(rods, damping_factor, fluid_sg)
    m = surface.position_in.size
    c = rods.damping_coefficient_1_s(damping_factor)
    w_rf = rods.buoyant_weight_lbf(fluid_sg)
    w_below = rods.buoyant_weight_below_lbf(fluid_sg)
    u_hat = np.fft.rfft(surface.position_in / 12.0)
    s_hat = -np.fft.rfft(surface.load_lbf - w_rf)  # S = EA du/dx = -F
    if n_harmonics is not None:
        if n_harmonics < 1:
            raise ValueError("n_harmonics must be >= 1")
        u_hat[n_harmonics + 1:] = 0.0
        s_hat[n_harmonics + 1:] = 0.0
    omega = 2.0 * np.pi / surface.period_s * np.arange(u_hat.size)
    tops = []
    for k, taper in enumerate(rods.tapers):
        tops.append(np.fft.irfft(-s_hat, m) + w_below[k])
        u_hat, s_hat = _transfer(u_hat, s_hat, omega, c, taper, taper.length_ft)
    u = np.fft.irfft(u_hat, m) * 12.0
    pump = Card(u - u.min(), np.fft.irfft(-s_hat, m), surface.spm)
    return DownholeResult(pump, np.array(tops), w_rf)


def damping_work_ftlbf(surface: Card, rods: RodString, damping_factor: float, fluid_sg: float = 1.0,
                       points_per_taper: int = 400) -> float:
    """Energy dissipated per stroke by viscous damping, integral of c m' (du/dt)^2 dx dt (ft*lbf).

    Evaluated from the Fourier solution on a depth grid (Simpson-free trapezoid, ``points_per_taper``).
    With the card works it closes the balance W_surface = W_pump + W_damping.
    """
    _check(rods, damping_factor, fluid_sg)
    m = surface.position_in.size
    period = surface.period_s
    c = rods.damping_coefficient_1_s(damping_factor)
    u_hat = np.fft.rfft(surface.position_in / 12.0)
    s_hat = -np.fft.rfft(surface.load_lbf - rods.buoyant_weight_lbf(fluid_sg))
    omega = 2.0 * np.pi / period * np.arange(u_hat.size)
    weights = np.full(u_hat.size, 2.0)
    weights[0] = 1.0
    if m % 2 == 0:
        weights[-1] = 1.0
    total = 0.0
    for taper in rods.tapers:
        xs = np.linspace(0.0, taper.length_ft, points_per_taper)
        ul, _ = _transfer(u_hat[None, :], s_hat[None, :], omega[None, :], c, taper, xs[:, None])
        # Parseval: integral over one period of (du/dt)^2 = period * sum_n w_n |omega_n U_n / m|^2
        vel_sq = period * np.sum(weights * np.abs(omega * ul / m) ** 2, axis=1)
        total += c * taper.mass_slug_per_ft * np.trapezoid(vel_sq, xs)
        u_hat, s_hat = _transfer(u_hat, s_hat, omega, c, taper, taper.length_ft)
    return float(total)

