"""Modified Hagedorn & Brown vertical two-phase gradient, with the Griffith bubble-flow correction.

Sources:
- Hagedorn, A.R. and Brown, K.E. (1965) "Experimental Study of Pressure Gradients Occurring During
  Continuous Two-Phase Flow in Small-Diameter Vertical Conduits", JPT 17(4), 475-484: holdup from the
  three charts CNL(NL), HL/psi(phi), psi(x).
- Modifications per Brill & Mukherjee (1999) SPE Monograph 17, sec. 4.2.1: HL >= lambda_L, and the
  Griffith & Wallis (1961) bubble-flow holdup (slip velocity 0.8 ft/s) when the gas fraction is below
  L_B = 1.071 - 0.2218 vm^2 / D (D ft), L_B >= 0.13; in bubble flow the friction uses the in-situ liquid
  velocity vsl / HL.
- Chart curve fits: Economides, M.J., Hill, A.D. and Ehlig-Economides, C. (1994) "Petroleum Production
  Systems", sec. 7.4.3 rational fits; psi = 1 below x = 0.01 and x held at 0.09, the chart's range.

Acceleration is neglected (as in the original correlation). Units as in ``beggs_brill``.
"""
from __future__ import annotations

import numpy as np

from engines.nodal.flow import InSituFlow
from engines.nodal.friction import moody_friction_factor
from engines.nodal.gradient import GC, PressureGradient

BUBBLE, SLUG = 0, 1
GRIFFITH_SLIP_FT_S = 0.8


def cnl(nl):
    """Viscosity correction coefficient CNL from the liquid viscosity number NL (chart fit, NL in [0.001, 0.5])."""
    x = np.clip(np.asarray(nl, dtype=float), 0.001, 0.5)
    return (0.0019 + 0.0322 * x - 0.6642 * x**2 + 4.9951 * x**3) / (1.0 - 10.0147 * x + 33.8696 * x**2 + 277.2817 * x**3)


def holdup_over_psi(phi):
    """HL / psi from phi = NLv / NGv^0.575 (p / 14.7)^0.1 CNL / ND (chart fit)."""
    x = np.maximum(np.asarray(phi, dtype=float), 0.0)
    return np.sqrt((0.0047 + 1123.32 * x + 729489.64 * x**2) / (1.0 + 1097.1566 * x + 722153.97 * x**2))


def secondary_psi(x):
    """Secondary correction psi from x = NGv NL^0.38 / ND^2.14 (1 for x <= 0.01; fit on the chart range)."""
    x = np.asarray(x, dtype=float)
    xc = np.clip(x, 0.01, 0.09)
    psi = (1.0886 - 69.9473 * xc + 2334.3497 * xc**2 - 12896.683 * xc**3) / (1.0 - 53.4401 * xc + 1517.9369 * xc**2 - 8419.8115 * xc**3)
    return np.where(x <= 0.01, 1.0, np.clip(psi, 1.0, 1.8))


def griffith_holdup(vsl, vsg):
    """Griffith & Wallis bubble-flow liquid holdup for superficial velocities (ft/s)."""
    vm = np.asarray(vsl, dtype=float) + np.asarray(vsg, dtype=float)
    r = 1.0 + vm / GRIFFITH_SLIP_FT_S
    return 1.0 - 0.5 * (r - np.sqrt(np.maximum(r * r - 4.0 * np.asarray(vsg, dtype=float) / GRIFFITH_SLIP_FT_S, 0.0)))


def hagedorn_brown_gradient(flow: InSituFlow, diameter_ft: float, roughness_in: float, angle_deg, p_psia) -> PressureGradient:
    """Modified Hagedorn & Brown gradient (psi/ft along the pipe); elevation scales with sin(angle)."""
    vsl, vsg = flow.vsl, flow.vsg
    vm = vsl + vsg
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(vm > 0, vsl / np.where(vm > 0, vm, 1.0), 1.0)
    rho_l, sigma = flow.rho_l, flow.sigma_l
    l_b = np.maximum(1.071 - 0.2218 * vm * vm / diameter_ft, 0.13)
    bubble = (1.0 - lam) < l_b
    # Hagedorn & Brown dimensionless groups (sigma in dyne/cm)
    k = (rho_l / sigma) ** 0.25
    nlv = 1.938 * vsl * k
    ngv = 1.938 * vsg * k
    nd = 120.872 * diameter_ft * np.sqrt(rho_l / sigma)
    nl = 0.15726 * flow.mu_l * (1.0 / (rho_l * sigma**3)) ** 0.25
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(ngv > 0, nlv / np.where(ngv > 0, ngv, 1.0) ** 0.575, np.inf) * (np.asarray(p_psia, dtype=float) / 14.7) ** 0.1 * cnl(nl) / nd
    hl_slug = np.minimum(holdup_over_psi(np.where(np.isfinite(phi), phi, 1e6)) * secondary_psi(ngv * nl**0.38 / nd**2.14), 1.0)
    hl_slug = np.maximum(hl_slug, lam)
    hl_bubble = np.clip(griffith_holdup(vsl, vsg), lam, 1.0)
    hl = np.where(bubble, hl_bubble, hl_slug)
    rho_s = rho_l * hl + flow.rho_g * (1.0 - hl)
    rho_ns = rho_l * lam + flow.rho_g * (1.0 - lam)
    rel_rough = roughness_in / 12.0 / diameter_ft
    # slug/churn friction: Re with the slip viscosity mu_L^HL mu_G^(1-HL)
    mu_s = flow.mu_l**hl * flow.mu_g ** (1.0 - hl)
    f_slug = moody_friction_factor(1488.0 * rho_ns * vm * diameter_ft / mu_s, rel_rough)
    friction_slug = f_slug * rho_ns**2 * vm * vm / (2.0 * GC * diameter_ft * rho_s)
    # bubble friction: liquid at its in-situ velocity
    v_l = vsl / np.maximum(hl, 1e-12)
    f_bub = moody_friction_factor(1488.0 * rho_l * v_l * diameter_ft / flow.mu_l, rel_rough)
    friction_bubble = f_bub * rho_l * v_l * v_l / (2.0 * GC * diameter_ft)
    friction = np.where(bubble, friction_bubble, friction_slug) / 144.0
    elevation = rho_s * np.sin(np.radians(angle_deg)) / 144.0
    return PressureGradient(elevation=elevation, friction=friction, ek=np.zeros_like(elevation), holdup=hl,
                            pattern=np.where(bubble, BUBBLE, SLUG))
