"""Real-gas deviation factor Z: Dranchuk & Abou-Kassem (1975) fit of the Standing-Katz chart.

Sources: Dranchuk, P.M. and Abou-Kassem, J.H. (1975) "Calculation of Z Factors for Natural Gases
Using Equations of State", J. Can. Pet. Tech. 14(3), 34-36 (eleven-constant equation, solved for the
reduced density by Newton's method); pseudo-critical properties of a natural gas from its specific
gravity: Sutton, R.P. (1985) SPE 14265. Sour gas (CO2, H2S): Wichert, E. and Aziz, K. (1972) "Calculate Z's for
Sour Gases", Hydrocarbon Processing 51(5), 119-122, correction of the pseudo-critical properties
(:func:`wichert_aziz`), worked example in Ahmed, T. (2006) "Reservoir Engineering Handbook", 3rd ed., Example 2-9.
"""
from __future__ import annotations

import numpy as np

_A = (0.3265, -1.0700, -0.5339, 0.01569, -0.05165, 0.5475, -0.7361, 0.1844, 0.1056, 0.6134, 0.7210)


def pseudo_critical_sutton(gas_sg):
    """Pseudo-critical temperature (degR) and pressure (psia) of a natural gas (Sutton 1985)."""
    g = np.asarray(gas_sg, dtype=float)
    tpc_r = 169.2 + 349.5 * g - 74.0 * g * g
    ppc_psia = 756.8 - 131.0 * g - 3.6 * g * g
    return tpc_r, ppc_psia


def wichert_aziz(tpc_r, ppc_psia, co2_frac, h2s_frac):
    """Pseudo-critical temperature (degR) and pressure (psia) corrected for CO2 and H2S (Wichert & Aziz 1972).

    A = y_CO2 + y_H2S, B = y_H2S (mole fractions of the gas):
    epsilon = 120 (A^0.9 - A^1.6) + 15 (B^0.5 - B^4) (degR), T'pc = Tpc - epsilon,
    P'pc = Ppc T'pc / (Tpc + B (1 - B) epsilon). Zero fractions return the inputs unchanged. Published range:
    CO2 < 54.4 mol%, H2S < 73.8 mol% (Wichert & Aziz 1972).
    """
    b = np.asarray(h2s_frac, dtype=float)
    eps = wichert_aziz_epsilon(co2_frac, h2s_frac)
    tpc = np.asarray(tpc_r, dtype=float)
    tpc_c = tpc - eps
    ppc_c = np.asarray(ppc_psia, dtype=float) * (tpc_c / (tpc + b * (1.0 - b) * eps))  # exactly Ppc when epsilon = 0
    return (tpc_c, ppc_c) if tpc_c.ndim or ppc_c.ndim else (float(tpc_c), float(ppc_c))


def wichert_aziz_epsilon(co2_frac, h2s_frac):
    """Wichert & Aziz (1972) pseudo-critical temperature adjustment epsilon (degR)."""
    a = np.asarray(co2_frac, dtype=float) + np.asarray(h2s_frac, dtype=float)
    b = np.asarray(h2s_frac, dtype=float)
    return 120.0 * (a**0.9 - a**1.6) + 15.0 * (b**0.5 - b**4)


def z_factor_dak(tpr, ppr, *, tol: float = 1e-10, max_iter: int = 60):
    """Z-factor from pseudo-reduced temperature and pressure (vectorized, DAK 1975).

    Valid for 1.0 <= Tpr <= 3.0 and 0.2 <= Ppr < 30 (the fit's published range). Newton on the
    reduced density rho_r = 0.27 Ppr / (Z Tpr), started from Papay's (1968) explicit estimate
    Z = 1 - 3.52 Ppr / 10^(0.9813 Tpr) + 0.274 Ppr^2 / 10^(0.8157 Tpr) (floored at 0.25).
    """
    tpr, ppr = np.asarray(tpr, dtype=float), np.asarray(ppr, dtype=float)  # coefficients stay at Tpr's (often scalar) shape
    if np.any(tpr <= 0) or np.any(ppr < 0):
        raise ValueError("z_factor_dak needs Tpr > 0 and Ppr >= 0")
    a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11 = _A
    t = tpr
    c1 = a1 + a2 / t + a3 / t**3 + a4 / t**4 + a5 / t**5
    c2 = a6 + a7 / t + a8 / t**2
    c3 = a9 * (a7 / t + a8 / t**2)
    c4 = a10 / t**3
    shape = np.broadcast_shapes(tpr.shape, ppr.shape)
    coeffs = [np.broadcast_to(c, shape).ravel() if np.ndim(c) else c for c in (c1, c2, c3, c4)]
    target = np.broadcast_to(0.27 * ppr / t, shape).ravel()
    z0 = np.maximum(1.0 - 3.52 * ppr / 10.0 ** (0.9813 * t) + 0.274 * ppr * ppr / 10.0 ** (0.8157 * t), 0.25)
    rho = target / np.broadcast_to(z0, shape).ravel()
    active = np.arange(rho.size)  # Newton continues only on the points not yet converged
    for _ in range(max_iter):
        r = rho[active]
        tg = target[active]
        k1, k2, k3, k4 = (c[active] if np.ndim(c) else c for c in coeffs)
        r2 = r * r
        e = np.exp(-a11 * r2)
        z = 1.0 + k1 * r + k2 * r2 - k3 * r2 * r2 * r + k4 * r2 * (1.0 + a11 * r2) * e
        dz = k1 + 2.0 * k2 * r - 5.0 * k3 * r2 * r2 + 2.0 * k4 * r * (1.0 + a11 * r2 - a11 * a11 * r2 * r2) * e
        step = (z * r - tg) / (z + r * dz)
        r_new = np.maximum(r - step, 0.5 * r)
        rho[active] = r_new
        active = active[np.abs(step) > tol * r_new]
        if active.size == 0:
            break
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(rho > 0, target / np.where(rho > 0, rho, 1.0), 1.0).reshape(shape)
    return z if z.ndim else float(z)


def dak_dz_dppr(tpr, ppr, z):
    """dZ/dPpr of the DAK equation at a converged Z (implicit differentiation, no iteration).

    With rho_r = 0.27 Ppr / (Z Tpr) and F(rho_r) = Z(rho_r) rho_r - 0.27 Ppr / Tpr = 0:
    dZ/dPpr = (Z / Ppr) rho_r Z'(rho_r) / (Z + rho_r Z'(rho_r)).
    """
    t = np.asarray(tpr, dtype=float)
    ppr = np.asarray(ppr, dtype=float)
    z = np.asarray(z, dtype=float)
    a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11 = _A
    c1 = a1 + a2 / t + a3 / t**3 + a4 / t**4 + a5 / t**5
    c2 = a6 + a7 / t + a8 / t**2
    c3 = a9 * (a7 / t + a8 / t**2)
    c4 = a10 / t**3
    r = 0.27 * ppr / (z * t)
    r2 = r * r
    e = np.exp(-a11 * r2)
    dz = c1 + 2.0 * c2 * r - 5.0 * c3 * r2 * r2 + 2.0 * c4 * r * (1.0 + a11 * r2 - a11 * a11 * r2 * r2) * e
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ppr > 0, z / np.where(ppr > 0, ppr, 1.0) * r * dz / (z + r * dz), 0.0)


def gas_z_factor(p_psia, t_f, gas_sg, co2_frac=0.0, h2s_frac=0.0):
    """Z of a natural gas at pressure (psia) and temperature (degF): Sutton pseudo-criticals (Wichert-Aziz corrected
    for the CO2 / H2S mole fractions) + DAK."""
    tpc, ppc = wichert_aziz(*pseudo_critical_sutton(gas_sg), co2_frac, h2s_frac)
    return z_factor_dak((np.asarray(t_f, dtype=float) + 459.67) / tpc, np.asarray(p_psia, dtype=float) / ppc)
