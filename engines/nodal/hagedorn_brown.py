"""Hagedorn & Brown vertical two-phase gradient: modified (Griffith bubble flow, HL >= lambda_L) and original.

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
  Alternative fits of the same three charts (option ``chart_fits="guo"``): Guo, B., Lyons, W.C. and
  Ghalambor, A. (2007) "Petroleum Production Engineering: A Computer-Assisted Approach", sec. 4.3.2
  (reproduced as eqs. 9.29-9.35 in Guo & Liu (2011) "Applied Drilling Circulation Systems"):
  CNL = 10^Y, Y = -2.69851 + 0.15841 X1 - 0.55100 X1^2 + 0.54785 X1^3 - 0.12195 X1^4, X1 = log10 NL + 3;
  HL/psi = -0.10307 + 0.61777 u - 0.63295 u^2 + 0.29598 u^3 - 0.0401 u^4, u = log10 phi + 6;
  psi = 0.91163 - 4.82176 x + 1232.25 x^2 - 22253.6 x^3 + 116174.3 x^4 for x > 0.01. Each polynomial is
  used on its monotone branch (arguments held at the branch ends) and psi is held >= 1, as with the
  Economides fits. The two fit sets differ by up to 12% in CNL (NL <= 0.05; 24% at NL 0.1), 0.016 in
  HL/psi and 0.045 in psi inside the charts (tests/unit/test_nodal_hagedorn_brown.py).

Variants (registered correlation names, see ``traverse.CORRELATIONS``): ``hagedorn_brown`` is the modified
correlation above; ``hagedorn_brown_original`` is Hagedorn & Brown (1965) as published (chart holdup only:
no HL >= lambda_L floor, no Griffith bubble-flow branch); ``hagedorn_brown_guo`` is the same original
correlation read through the Guo et al. (2007) chart fits. All three carry the kinetic-energy term.

- Acceleration (kinetic-energy) term: Hagedorn & Brown (1965) and Brown, K.E. and Beggs, H.D. (1977)
  "The Technology of Artificial Lift Methods" vol. 1 (also Economides et al. 1994, eq. 7-48) add
  rho_s Delta(vm^2) / (2 gc Delta z) to the gradient. Taken to the limit of a short step,
  rho_s d(vm^2)/(2 gc dz) = rho_s vm (dvm/dp)(dp/dz) / gc, so with the total gradient G = -dp/dz the term
  is Ek G, Ek = -rho_s vm (dvm/dp) / (144 gc), and G = (elevation + friction) / (1 - Ek) exactly as in
  Beggs & Brill. dvm/dp comes from the black-oil model's own analytic derivatives (gas expansion with
  Z(p), gas leaving solution, oil and water compressibility; ``InSituFlow.dvm_dp``), so the term
  vanishes for an incompressible single phase. Ek is held at 0.95 (sonic-flow limit) like Beggs & Brill.

Against pyResToolbox's published HB oil well (docs/nodal.rst, all inputs published; 1783.69 psia) the
modified correlation gives 1941.8 psia (+8.9%): the HL >= lambda_L floor is 3.7 points (pyResToolbox's
changelist documents a floor of rho_g / (rho_g + rho_L), ~2%, which never binds here), the chart-fit set
4.3 points (``hagedorn_brown_guo`` gives 1798.6 psia, +0.8%), the kinetic-energy term 0.3 point; the
bubble-flow branch never applies on this well (README, nodal section; tests/unit/test_nodal_hagedorn_brown.py).

Matching multipliers (``holdup_multiplier``, ``friction_multiplier``) as in ``beggs_brill``: HL' = min(m_H HL, 1)
replaces the predicted holdup (slip density, slip viscosity, bubble-flow liquid velocity, kinetic-energy term) and the
friction gradient is multiplied by m_F.

Units as in ``beggs_brill``.
"""
from __future__ import annotations

import numpy as np

from engines.nodal.flow import InSituFlow
from engines.nodal.friction import moody_friction_factor
from engines.nodal.gradient import GC, PressureGradient

BUBBLE, SLUG = 0, 1
GRIFFITH_SLIP_FT_S = 0.8

ECONOMIDES, GUO = "economides", "guo"
CHART_FITS = (ECONOMIDES, GUO)

# Guo et al. (2007) chart polynomials (coefficients lowest order first) and the ends of their monotone branches
GUO_CNL_COEF = (-2.69851, 0.15841, -0.55100, 0.54785, -0.12195)
GUO_HL_COEF = (-0.10307, 0.61777, -0.63295, 0.29598, -0.0401)
GUO_PSI_COEF = (0.91163, -4.82176, 1232.25, -22253.6, 116174.3)


def _branch_end(coef, lo, hi, kind):
    """Real root in [lo, hi] of the polynomial's derivative (kind "max") or of the polynomial itself ("zero")."""
    c = np.polynomial.polynomial.polyder(coef) if kind == "max" else np.asarray(coef)
    roots = np.polynomial.polynomial.polyroots(c)
    real = sorted(float(r.real) for r in roots if abs(r.imag) < 1e-12 and lo <= r.real <= hi)
    return real[0]


#: X1 = log10 NL + 3 where Guo's CNL polynomial peaks (NL ~ 0.31; the chart runs flat at ~0.002 below NL 0.01,
#: where the polynomial ripples by 3%); NL is held below it
GUO_X1_MAX = _branch_end(GUO_CNL_COEF, 1.5, 3.0, "max")
#: u = log10 phi + 6 where Guo's HL/psi polynomial crosses zero (phi ~ 1.6e-6) and where it peaks (phi ~ 4.7e-3)
GUO_U_MIN = _branch_end(GUO_HL_COEF, 0.0, 1.0, "zero")
GUO_U_MAX = _branch_end(GUO_HL_COEF, 2.0, 5.0, "max")


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


def cnl_guo(nl):
    """CNL from NL, Guo et al. (2007) polynomial (NL held to [0.001, 10^(GUO_X1_MAX - 3)])."""
    x1 = np.clip(np.log10(np.maximum(np.asarray(nl, dtype=float), 1e-300)) + 3.0, 0.0, GUO_X1_MAX)
    return 10.0 ** np.polynomial.polynomial.polyval(x1, GUO_CNL_COEF)


def holdup_over_psi_guo(phi):
    """HL / psi from phi, Guo et al. (2007) polynomial on its rising branch, held to [0, 1]."""
    u = np.clip(np.log10(np.maximum(np.asarray(phi, dtype=float), 1e-300)) + 6.0, GUO_U_MIN, GUO_U_MAX)
    return np.clip(np.polynomial.polynomial.polyval(u, GUO_HL_COEF), 0.0, 1.0)


def secondary_psi_guo(x):
    """Secondary correction psi from x, Guo et al. (2007) polynomial (1 for x <= 0.01; x held at 0.09; psi >= 1)."""
    x = np.asarray(x, dtype=float)
    psi = np.polynomial.polynomial.polyval(np.clip(x, 0.01, 0.09), GUO_PSI_COEF)
    return np.where(x <= 0.01, 1.0, np.maximum(psi, 1.0))


def griffith_holdup(vsl, vsg):
    """Griffith & Wallis bubble-flow liquid holdup for superficial velocities (ft/s)."""
    vm = np.asarray(vsl, dtype=float) + np.asarray(vsg, dtype=float)
    r = 1.0 + vm / GRIFFITH_SLIP_FT_S
    return 1.0 - 0.5 * (r - np.sqrt(np.maximum(r * r - 4.0 * np.asarray(vsg, dtype=float) / GRIFFITH_SLIP_FT_S, 0.0)))


def hagedorn_brown_gradient(flow: InSituFlow, diameter_ft: float, roughness_in: float, angle_deg, p_psia, *,
                            modified: bool = True, chart_fits: str = ECONOMIDES, holdup_multiplier: float = 1.0,
                            friction_multiplier: float = 1.0) -> PressureGradient:
    """Hagedorn & Brown gradient (psi/ft along the pipe); elevation scales with sin(angle).

    modified: Brill & Mukherjee's modified correlation (HL >= lambda_L and the Griffith bubble-flow
    branch); False gives Hagedorn & Brown (1965) as published. chart_fits: "economides" or "guo".
    """
    if chart_fits not in CHART_FITS:
        raise ValueError(f"unknown chart_fits {chart_fits!r}; choose one of {CHART_FITS}")
    f_cnl, f_hl, f_psi = (cnl, holdup_over_psi, secondary_psi) if chart_fits == ECONOMIDES else \
        (cnl_guo, holdup_over_psi_guo, secondary_psi_guo)
    vsl, vsg = flow.vsl, flow.vsg
    vm = vsl + vsg
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(vm > 0, vsl / np.where(vm > 0, vm, 1.0), 1.0)
    rho_l, sigma = flow.rho_l, flow.sigma_l
    l_b = np.maximum(1.071 - 0.2218 * vm * vm / diameter_ft, 0.13)
    bubble = ((1.0 - lam) < l_b) & modified
    # Hagedorn & Brown dimensionless groups (sigma in dyne/cm)
    k = (rho_l / sigma) ** 0.25
    nlv = 1.938 * vsl * k
    ngv = 1.938 * vsg * k
    nd = 120.872 * diameter_ft * np.sqrt(rho_l / sigma)
    nl = 0.15726 * flow.mu_l * (1.0 / (rho_l * sigma**3)) ** 0.25
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(ngv > 0, nlv / np.where(ngv > 0, ngv, 1.0) ** 0.575, np.inf) * (np.asarray(p_psia, dtype=float) / 14.7) ** 0.1 * f_cnl(nl) / nd
    hl_slug = np.minimum(f_hl(np.where(np.isfinite(phi), phi, 1e6)) * f_psi(ngv * nl**0.38 / nd**2.14), 1.0)
    if modified:
        hl_slug = np.maximum(hl_slug, lam)
    hl_bubble = np.clip(griffith_holdup(vsl, vsg), lam, 1.0)
    hl = np.minimum(holdup_multiplier * np.where(bubble, hl_bubble, hl_slug), 1.0)  # exactly HL when the multiplier is 1
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
    friction = np.where(bubble, friction_bubble, friction_slug) / 144.0 * friction_multiplier
    elevation = rho_s * np.sin(np.radians(angle_deg)) / 144.0
    ek = np.minimum(-rho_s * vm * np.asarray(flow.dvm_dp, dtype=float) / (144.0 * GC), 0.95)
    return PressureGradient(elevation=elevation, friction=friction, ek=ek * np.ones_like(elevation), holdup=hl,
                            pattern=np.where(bubble, BUBBLE, SLUG))


def hagedorn_brown_original_gradient(flow: InSituFlow, diameter_ft: float, roughness_in: float, angle_deg, p_psia,
                                     **multipliers) -> PressureGradient:
    """Hagedorn & Brown (1965) as published: chart holdup (Economides fits), no floor, no bubble-flow branch."""
    return hagedorn_brown_gradient(flow, diameter_ft, roughness_in, angle_deg, p_psia, modified=False, **multipliers)


def hagedorn_brown_guo_gradient(flow: InSituFlow, diameter_ft: float, roughness_in: float, angle_deg, p_psia,
                                **multipliers) -> PressureGradient:
    """Hagedorn & Brown (1965) as published, charts read through the Guo et al. (2007) polynomial fits."""
    return hagedorn_brown_gradient(flow, diameter_ft, roughness_in, angle_deg, p_psia, modified=False, chart_fits=GUO, **multipliers)
