"""Beggs & Brill (1973) two-phase pressure gradient for any inclination, with the revised flow map.

Sources:
- Beggs, H.D. and Brill, J.P. (1973) "A Study of Two-Phase Flow in Inclined Pipes", JPT 25(5), 607-617:
  horizontal holdup HL(0) = a lambda^b / NFr^c, inclination factor psi = 1 + C [sin(1.8 t) - sin^3(1.8 t)/3],
  C = (1 - lambda) ln(d' lambda^e NLv^f NFr^g), two-phase friction f_tp = f_n exp(S).
- Revised flow-pattern map with the transition region and L1..L4 boundaries: Brill, J.P. and Beggs, H.D.
  (1991) "Two-Phase Flow in Pipes", 6th ed.; also Brill & Mukherjee (1999) SPE Monograph 17, sec. 4.2.5.
- Payne, G.A., Palmer, C.M., Brill, J.P. and Beggs, H.D. (1979) JPT 31(9): holdup x 0.924 uphill and
  x 0.685 downhill (optional, ``payne=True``); no-slip friction from the Moody chart (Colebrook) with
  the pipe roughness instead of the smooth-pipe curve.

Units: velocities ft/s, densities lbm/ft3, viscosities cp, surface tension dyne/cm (the liquid velocity
number NLv = 1.938 vsl (rho_L / sigma)^0.25 is defined with sigma in dyne/cm), diameter ft, roughness in,
angle degrees from horizontal (positive = upward flow), pressure psia.

Matching multipliers (``holdup_multiplier``, ``friction_multiplier``; 1 = the published correlation): the
liquid holdup is HL' = min(m_H HL, 1) and replaces HL everywhere after it is predicted (slip density,
friction exponent S, kinetic-energy term); the friction gradient is multiplied by m_F. This is the
"holdup (gravity) and friction multiplier" tuning of a VLP correlation to a well test (``engines.nodal.matching``).
"""
from __future__ import annotations

import numpy as np

from engines.nodal.flow import InSituFlow
from engines.nodal.friction import moody_friction_factor
from engines.nodal.gradient import GC, PressureGradient

SEGREGATED, INTERMITTENT, DISTRIBUTED, TRANSITION = 0, 1, 2, 3
PATTERN_NAMES = {SEGREGATED: "segregated", INTERMITTENT: "intermittent", DISTRIBUTED: "distributed", TRANSITION: "transition"}

# horizontal holdup a, b, c (Beggs & Brill 1973, Table 1) for segregated, intermittent, distributed
_HORIZONTAL = np.array([[0.98, 0.4846, 0.0868], [0.845, 0.5351, 0.0173], [1.065, 0.5824, 0.0609]])
# inclination coefficients d', e, f, g uphill (distributed: C = 0) and downhill (all patterns)
_UPHILL = np.array([[0.011, -3.768, 3.539, -1.614], [2.96, 0.305, -0.4473, 0.0978], [1.0, 0.0, 0.0, 0.0]])
_DOWNHILL = np.array([4.70, -0.3692, 0.1244, -0.5056])
PAYNE_UPHILL = 0.924
PAYNE_DOWNHILL = 0.685


def liquid_velocity_number(vsl_ft_s, rho_l_lbft3, sigma_dyne_cm):
    """Duns & Ros liquid velocity number NLv = 1.938 vsl (rho_L / sigma)^0.25 (vsl ft/s, rho lbm/ft3, sigma dyne/cm).

    The constant 1.938 = (1 / (g gc 6.852e-5))^0.25 folds in the conversion of sigma from dyne/cm to lbf/ft; passing sigma in lbf/ft instead inflates NLv by (1/6.852e-5)^0.25 = 10.99.
    """
    return 1.938 * np.asarray(vsl_ft_s, dtype=float) * (np.asarray(rho_l_lbft3, dtype=float) / np.asarray(sigma_dyne_cm, dtype=float)) ** 0.25


def flow_pattern_boundaries(lambda_l):
    """Froude-number boundaries L1, L2, L3, L4 of the revised map (Brill & Beggs 1991) for no-slip holdup(s)."""
    ln_lam = np.log(np.maximum(np.asarray(lambda_l, dtype=float), 1e-12))
    return _boundaries_from_log(ln_lam)


def _boundaries_from_log(ln_lam):
    return (316.0 * np.exp(0.302 * ln_lam), 0.0009252 * np.exp(-2.4684 * ln_lam), 0.10 * np.exp(-1.4516 * ln_lam),
            0.5 * np.exp(-6.738 * ln_lam))


def _pattern_from_log(lam, nfr, ln_lam):
    l1, l2, l3, l4 = _boundaries_from_log(ln_lam)
    low = lam < 0.01
    segregated = np.where(low, nfr < l1, nfr < l2)
    transition = ~low & (nfr >= l2) & (nfr <= l3)
    intermittent = ~low & (nfr > l3) & np.where(lam < 0.4, nfr <= l1, nfr <= l4)
    pattern = np.where(segregated, SEGREGATED, np.where(transition, TRANSITION, np.where(intermittent, INTERMITTENT, DISTRIBUTED)))
    return pattern, l2, l3


def flow_pattern(lambda_l, froude):
    """Revised-map flow pattern codes (SEGREGATED, INTERMITTENT, DISTRIBUTED, TRANSITION) for lambda_L, NFr."""
    lam = np.asarray(lambda_l, dtype=float)
    return _pattern_from_log(lam, np.asarray(froude, dtype=float), np.log(np.maximum(lam, 1e-12)))[0]


def _holdup_for(pattern, lam, ln_lam, ln_nfr, ln_nlv, sin_term, uphill):
    """Inclined holdup HL(theta) for a pure (non-transition) pattern index 0..2 (arrays of any shape).

    Powers are taken in log space: HL(0) = a exp(b ln lambda - c ln NFr) and
    C = (1 - lambda)(ln d' + e ln lambda + f ln NLv + g ln NFr), identical to the power forms.
    """
    a, b, c = (_HORIZONTAL[:, i][pattern] for i in range(3))
    hl0 = np.minimum(np.maximum(a * np.exp(b * ln_lam - c * ln_nfr), lam), 1.0)
    d, e, f, g = (np.where(uphill, _UPHILL[:, i][pattern], _DOWNHILL[i]) for i in range(4))
    with np.errstate(invalid="ignore"):
        c_inc = (1.0 - lam) * (np.log(d) + e * ln_lam + f * ln_nlv + g * ln_nfr)
    c_inc = np.where(np.isfinite(c_inc) & (c_inc > 0.0), c_inc, 0.0)
    c_inc = np.where(uphill & (pattern == DISTRIBUTED), 0.0, c_inc)
    return hl0 * (1.0 + c_inc * sin_term)


def liquid_holdup(lambda_l, froude, nlv, angle_deg, *, payne: bool = True):
    """In-situ liquid holdup HL (fraction) and flow pattern for no-slip holdup, Froude number, NLv, angle.

    Transition: HL = A HL_seg + (1 - A) HL_int with A = (L3 - NFr) / (L3 - L2). With ``payne`` the holdup
    is multiplied by 0.924 for uphill and 0.685 for downhill flow (every pattern), and uphill holdup is
    kept >= lambda_L (gas cannot be slower than the liquid going up).
    """
    lam = np.asarray(lambda_l, dtype=float)
    ang = np.asarray(angle_deg, dtype=float)
    lam_c = np.minimum(np.maximum(lam, 1e-12), 1.0)
    nfr_c = np.maximum(np.asarray(froude, dtype=float), 1e-12)
    ln_lam, ln_nfr = np.log(lam_c), np.log(nfr_c)
    with np.errstate(divide="ignore"):
        ln_nlv = np.log(np.asarray(nlv, dtype=float))
    pattern, l2, l3 = _pattern_from_log(lam_c, nfr_c, ln_lam)
    s = np.sin(np.radians(1.8 * ang))
    sin_term = s - s**3 / 3.0
    uphill = ang >= 0
    is_transition = pattern == TRANSITION
    pure = np.where(is_transition, SEGREGATED, pattern)
    hl = _holdup_for(pure, lam_c, ln_lam, ln_nfr, ln_nlv, sin_term, uphill)
    if np.any(is_transition):
        weight = (l3 - nfr_c) / (l3 - l2)
        hl_int = _holdup_for(np.full(np.shape(pattern), INTERMITTENT), lam_c, ln_lam, ln_nfr, ln_nlv, sin_term, uphill)
        hl = np.where(is_transition, weight * hl + (1.0 - weight) * hl_int, hl)
    if payne:
        hl = np.where(ang > 0, np.maximum(PAYNE_UPHILL * hl, lam_c), np.where(ang < 0, PAYNE_DOWNHILL * hl, hl))
    hl = np.minimum(np.maximum(hl, 0.0), 1.0)
    hl = np.where(lam >= 1.0, 1.0, np.where(lam <= 0.0, 0.0, hl))
    return hl, pattern


def friction_ratio_s(lambda_l, holdup):
    """Beggs & Brill exponent S in f_tp / f_n = exp(S), y = lambda_L / HL^2 (S = ln(2.2 y - 1.2) for 1 < y < 1.2)."""
    lam = np.asarray(lambda_l, dtype=float)
    hl = np.asarray(holdup, dtype=float)
    y = np.where((hl > 0) & (lam > 0), lam / np.maximum(hl * hl, 1e-300), 1.0)
    ln_y = np.log(y)
    window = (y > 1.0) & (y < 1.2)
    denominator = -0.0523 + 3.182 * ln_y - 0.8725 * ln_y**2 + 0.01853 * ln_y**4
    s_general = ln_y / np.where(ln_y == 0.0, 1.0, denominator)
    return np.where(window, np.log(np.where(window, 2.2 * y - 1.2, 1.0)), s_general)


def beggs_brill_gradient(flow: InSituFlow, diameter_ft: float, roughness_in: float, angle_deg, p_psia, *, payne: bool = True,
                         holdup_multiplier: float = 1.0, friction_multiplier: float = 1.0) -> PressureGradient:
    """Beggs & Brill pressure gradient (psi/ft along the pipe, positive = pressure falls in the flow direction).

    ``holdup_multiplier`` / ``friction_multiplier``: matching multipliers (module docstring; 1 = as published)."""
    vsl, vsg = flow.vsl, flow.vsg
    vm = vsl + vsg
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(vm > 0, vsl / np.where(vm > 0, vm, 1.0), 1.0)
    froude = vm * vm / (GC * diameter_ft)
    nlv = liquid_velocity_number(vsl, flow.rho_l, flow.sigma_l)
    hl, pattern = liquid_holdup(lam, froude, nlv, angle_deg, payne=payne)
    hl = np.minimum(holdup_multiplier * hl, 1.0)  # exactly HL when the multiplier is 1
    rho_s = flow.rho_l * hl + flow.rho_g * (1.0 - hl)
    rho_ns = flow.rho_l * lam + flow.rho_g * (1.0 - lam)
    mu_ns = flow.mu_l * lam + flow.mu_g * (1.0 - lam)
    reynolds = 1488.0 * rho_ns * vm * diameter_ft / mu_ns
    f_n = moody_friction_factor(reynolds, roughness_in / 12.0 / diameter_ft)
    f_tp = f_n * np.exp(friction_ratio_s(lam, hl))
    elevation = rho_s * np.sin(np.radians(angle_deg)) / 144.0
    friction = f_tp * rho_ns * vm * vm / (2.0 * GC * diameter_ft) / 144.0 * friction_multiplier
    ek = np.minimum(rho_s * vm * vsg / (GC * np.asarray(p_psia, dtype=float) * 144.0), 0.95)
    return PressureGradient(elevation=elevation, friction=friction, ek=ek, holdup=hl, pattern=pattern)
