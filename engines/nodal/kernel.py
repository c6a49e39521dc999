"""Compiled (numba) pressure traverse: the same physics as the NumPy modules, one point at a time.

The NumPy implementation (``pvt``, ``zfactor``, ``flow``, ``friction``, ``beggs_brill``,
``hagedorn_brown``, ``no_slip`` and the march in ``traverse``/``fleet``) is the reference; this module
re-states the same formulas for a scalar (pressure, temperature, rate) point and marches every rate
along the segments in compiled loops, so the whole VLP curve runs without Python overhead. The tests
hold the two to 1e-9 relative on pressures across all flow patterns, inclinations and options.

Speed comes from: (1) everything that depends only on temperature (Standing's 10^x, the saturation
pressure, dead-oil viscosity, Lee's k/x/y, McCain's brine viscosity factor, the DAK coefficients and
Papay's start) is computed once per segment and shared by all rates, and so is Beggs & Brill's
inclination term sin(1.8 theta) - sin^3(1.8 theta)/3; (2) only the branch a point needs is evaluated
(NumPy evaluates every branch and selects); (3) the Newton solves for Z (DAK) and Colebrook's friction
factor start from the previous point of the same traverse and stop once quadratic convergence has
left an error of order 1e-12 (the reference converges from Papay / Swamee-Jain starts to the same
roots); (4) no temporary arrays. Fast-math is limited to "arcp" and "contract" (see ``_FASTMATH``).
One curve of 100 rates x 100 segments takes about 4.3 ms of CPU on the reference machine
(bench/bench_nodal.py), about 0.43 us per (rate, segment) point with the full black-oil PVT.

The VLP-matching multipliers (``traverse.MatchedCorrelation``) travel in the geometry tuple (``geo[6]`` holdup,
``geo[7]`` friction) and act where the NumPy correlations apply them (HL' = min(m_H HL, 1) right after the
holdup is predicted; the friction gradient times m_F). CO2/H2S enter only through the fluid vector's
Wichert-Aziz-corrected pseudo-criticals; a temperature survey only through the node temperatures.

Fluid constants are packed in a float64 vector (``FLUID_*`` indices) so that one compiled signature
serves a single well and a fleet; ``fluid_vector`` builds it from a :class:`BlackOilFluid` row.
"""
from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

from engines import numba_cache
from engines.nodal.hagedorn_brown import GUO_CNL_COEF, GUO_HL_COEF, GUO_PSI_COEF, GUO_U_MAX, GUO_U_MIN, GUO_X1_MAX

numba_cache.configure()  # Numba's disk cache in the user cache directory, before the cache=True kernels

#: LLVM fast-math flags: only "arcp" (x / c may become x * (1 / c)) and "contract" (a * b + c may fuse
#: into one FMA). Each changes a result by at most one rounding; no reassociation and no "nnan"/"ninf",
#: so NaN/inf propagation and comparisons are exactly IEEE (the 1e-9 agreement tests cover the rest).
#: ``error_model="numpy"``: a division by zero gives inf/NaN as in the NumPy reference, not an exception;
#: and clamps use np.minimum/np.maximum, which pass NaN on as the reference's array versions do.
_FASTMATH = {"arcp", "contract"}

# physical constants (same values as the NumPy modules)
GC = 32.174
BBL_TO_FT3 = 5.614583
SECONDS_PER_DAY = 86400.0
P_STD = 14.696
T_STD_R = 60.0 + 459.67
WATER_RHO = 62.366
AIR_MW = 28.967
R_GAS = 10.7316
PVT_P_MAX = 20000.0
MAX_PRESSURE = 1e5
LAMINAR_RE = 2000.0
TWO_OVER_LN10 = 2.0 / math.log(10.0)
DEG = math.pi / 180.0

# DAK constants
A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11 = (0.3265, -1.0700, -0.5339, 0.01569, -0.05165, 0.5475, -0.7361, 0.1844,
                                                0.1056, 0.6134, 0.7210)

# Beggs & Brill tables (beggs_brill._HORIZONTAL, _UPHILL, _DOWNHILL)
BB_A = (0.98, 0.845, 1.065)
BB_B = (0.4846, 0.5351, 0.5824)
BB_C = (0.0868, 0.0173, 0.0609)
BB_UP_LN_D = (math.log(0.011), math.log(2.96), 0.0)
BB_UP_E = (-3.768, 0.305, 0.0)
BB_UP_F = (3.539, -0.4473, 0.0)
BB_UP_G = (-1.614, 0.0978, 0.0)
BB_DN = (math.log(4.70), -0.3692, 0.1244, -0.5056)  # ln d', e, f, g
SEGREGATED, INTERMITTENT, DISTRIBUTED, TRANSITION = 0, 1, 2, 3

#: correlation name -> (code, option flag) understood by the kernel; the flag is the Payne correction for
#: Beggs & Brill (code 0) and the variant bits for Hagedorn & Brown (code 1): HB_ORIGINAL (no HL >= lambda_L
#: floor, no Griffith bubble branch) and HB_GUO (Guo et al. 2007 chart fits), see ``hagedorn_brown``
HB_ORIGINAL, HB_GUO = 1, 2
KERNEL_CORRELATIONS = {"beggs_brill": (0, 1), "beggs_brill_original": (0, 0), "hagedorn_brown": (1, 0),
                       "hagedorn_brown_original": (1, HB_ORIGINAL), "hagedorn_brown_guo": (1, HB_ORIGINAL | HB_GUO),
                       "no_slip": (2, 0)}

# fluid vector layout
FLUID_API, FLUID_GSG, FLUID_OSG, FLUID_WSG, FLUID_WC, FLUID_GOR, FLUID_RSB, FLUID_SCALE, FLUID_SALINITY, FLUID_TPC, \
    FLUID_PPC, FLUID_SQ = range(12)
N_FLUID = 12
N_TTERMS = 27


def fluid_matrix(fluid) -> np.ndarray:
    """Kernel fluid vectors, shape (n, N_FLUID), of a :class:`~engines.nodal.pvt.BlackOilFluid` whose fields are
    scalars (n = 1) or arrays of n wells (:func:`~engines.nodal.pvt.stack_fluids`)."""
    cols = [fluid.oil_api, fluid.gas_sg, fluid.oil_sg, fluid.water_sg, fluid.water_cut_frac, fluid.gor_scf_stb, fluid.rsb,
            fluid.rs_scale, fluid.salinity_wt_pct]
    n = max(np.size(c) for c in cols)
    out = np.empty((n, N_FLUID))
    for i, c in enumerate(cols):
        out[:, i] = np.broadcast_to(np.asarray(c, dtype=float).reshape(-1), (n,))
    tpc, ppc = fluid.pseudo_critical  # Sutton (1985), Wichert & Aziz (1972) corrected for CO2 / H2S
    out[:, FLUID_TPC] = np.broadcast_to(np.asarray(tpc, dtype=float).reshape(-1), (n,))
    out[:, FLUID_PPC] = np.broadcast_to(np.asarray(ppc, dtype=float).reshape(-1), (n,))
    out[:, FLUID_SQ] = np.sqrt(out[:, FLUID_GSG] / out[:, FLUID_OSG])
    return out


def fluid_vector(fluid) -> np.ndarray:
    """The kernel's fluid vector of a single-well :class:`~engines.nodal.pvt.BlackOilFluid` (cached per fluid
    when its fields are hashable; read-only)."""
    try:
        return _cached_fluid_vector(fluid)
    except TypeError:  # a field given as a 0-d array: not hashable
        return _read_only(fluid_matrix(fluid)[0])


@functools.lru_cache(maxsize=1024)
def _cached_fluid_vector(fluid) -> np.ndarray:
    return _read_only(fluid_matrix(fluid)[0])


def _read_only(a: np.ndarray) -> np.ndarray:
    """Read-only copy: the kernels' one compiled signature takes read-only fluid and node arrays."""
    a = np.array(a, dtype=float)
    a.flags.writeable = False
    return a


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _temperature_terms(t, fl, out):
    """Everything in the PVT that depends on temperature only (degF), for fluid vector ``fl``."""
    api, gsg, rsb, scale = fl[FLUID_API], fl[FLUID_GSG], fl[FLUID_RSB], fl[FLUID_SCALE]
    out[0] = t
    out[1] = 10.0 ** (0.0125 * api - 0.00091 * t)  # Standing Rs factor
    rs_ref = np.maximum(rsb, 1e-9) / scale
    a = 10.0 ** (0.00091 * t - 0.0125 * api)
    out[2] = np.maximum(18.2 * ((rs_ref / gsg) ** (1.0 / 1.2048) * a - 1.4), P_STD)  # saturation pressure at t
    out[3] = np.maximum(1e-5 * (-1433.0 + 5.0 * rsb + 17.2 * t - 1180.0 * gsg + 12.61 * api), 0.0)  # Vasquez-Beggs A
    x = t ** -1.163 * math.exp(6.9824 - 0.04658 * api)
    out[4] = 10.0 ** x - 1.0  # Beggs-Robinson dead oil
    out[21] = np.log(out[4])
    out[22] = 10.715 * (rsb + 100.0) ** -0.515 * np.exp(5.44 * (rsb + 150.0) ** -0.338 * out[21])  # live oil at Rsb
    t_r = t + 459.67
    out[5] = t_r
    m = AIR_MW * gsg
    out[6] = (9.4 + 0.02 * m) * t_r ** 1.5 / (209.0 + 19.0 * m + t_r)  # Lee k
    xl = 3.5 + 986.0 / t_r + 0.01 * m
    out[7] = xl
    out[8] = 2.4 - 0.2 * xl
    s = fl[FLUID_SALINITY]
    aw = 109.574 - 8.40564 * s + 0.313314 * s ** 2 + 8.72213e-3 * s ** 3
    bw = -1.12166 + 2.63951e-2 * s - 6.79461e-4 * s ** 2 - 5.47119e-5 * s ** 3 + 1.55586e-6 * s ** 4
    out[9] = aw * t ** bw  # McCain brine viscosity at 1 atm
    out[10] = -1.0001e-2 + 1.33391e-4 * t + 5.50654e-7 * t * t  # McCain dVwt
    # Baker & Swerdloff dead-oil surface tension at t (clipped to 68..100 degF)
    tc = np.minimum(np.maximum(t, 68.0), 100.0)
    s68 = 39.0 - 0.2571 * api
    s100 = 37.5 - 0.2571 * api
    out[11] = s68 + (tc - 68.0) * (s100 - s68) / 32.0
    out[12] = np.minimum(np.maximum(t, 74.0), 280.0)  # Jennings & Newman interpolation temperature
    tpr = t_r / fl[FLUID_TPC]
    out[13] = tpr
    out[14] = A1 + A2 / tpr + A3 / tpr ** 3 + A4 / tpr ** 4 + A5 / tpr ** 5
    out[15] = A6 + A7 / tpr + A8 / tpr ** 2
    out[16] = A9 * (A7 / tpr + A8 / tpr ** 2)
    out[17] = A10 / tpr ** 3
    out[18] = 10.0 ** (0.9813 * tpr)
    out[19] = 10.0 ** (0.8157 * tpr)
    out[20] = 0.27 / tpr
    out[23] = 1.0 / fl[FLUID_PPC]
    out[24] = 1.0 / out[2]
    out[25] = P_STD / T_STD_R * t_r  # Bg = out[25] z / p
    out[26] = AIR_MW * gsg / (R_GAS * t_r)  # rho_g = out[26] p / z


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _moody(re, rr, ws):
    """Darcy friction factor (friction.moody_friction_factor for one point).

    Newton on Colebrook's x = 1/sqrt(f) starts from ``ws[1]`` (the previous turbulent point of the same
    traverse) when there is one, else from Swamee & Jain like the reference; it stops once a step is
    below 1e-6 x, where the quadratic convergence leaves a relative error of order 1e-12 (the reference's
    three steps from Swamee & Jain reach the same root to rounding)."""
    if re < LAMINAR_RE:
        return 64.0 / np.maximum(re, 1e-300)
    a = rr / 3.7
    b = 2.51 / re
    x = ws[1] if ws[1] > 0 else -2.0 * np.log10(a + 5.74 / re ** 0.9)
    for _ in range(8):
        inner = a + b * x
        step = (x + 2.0 * np.log10(inner)) / (1.0 + TWO_OVER_LN10 * b / inner)
        x = x - step
        if abs(step) < 1e-6 * x:
            break
    ws[1] = x
    return 1.0 / (x * x)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _bb_holdup_pure(pattern, lam, ln_lam, ln_nfr, ln_nlv, sin_term, uphill):
    hl0 = np.minimum(np.maximum(BB_A[pattern] * np.exp(BB_B[pattern] * ln_lam - BB_C[pattern] * ln_nfr), lam), 1.0)
    if uphill:
        if pattern == DISTRIBUTED:
            return hl0
        ln_d, e, f, g = BB_UP_LN_D[pattern], BB_UP_E[pattern], BB_UP_F[pattern], BB_UP_G[pattern]
    else:
        ln_d, e, f, g = BB_DN[0], BB_DN[1], BB_DN[2], BB_DN[3]
    c_inc = (1.0 - lam) * (ln_d + e * ln_lam + f * ln_nlv + g * ln_nfr)
    if not (np.isfinite(c_inc) and c_inc > 0.0):
        c_inc = 0.0
    return hl0 * (1.0 + c_inc * sin_term)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _beggs_brill(vsl, vsg, rho_l, rho_g, mu_l, mu_g, sigma_l, geo, angle, sin_angle, sin_term, p, payne, ws):
    vm = vsl + vsg
    lam = vsl / vm if vm > 0 else 1.0
    diameter, rel_rough = geo[0], geo[2]
    froude = vm * vm * geo[3]
    nlv = 1.938 * vsl * np.sqrt(np.sqrt(rho_l / sigma_l))
    lam_c = np.minimum(np.maximum(lam, 1e-12), 1.0)
    nfr = np.maximum(froude, 1e-12)
    ln_lam = np.log(lam_c)
    ln_nfr = np.log(nfr)
    ln_nlv = np.log(nlv)
    # revised flow-pattern map; each boundary is computed only when the comparison needs it
    l2 = l3 = 0.0
    if lam_c < 0.01:
        pattern = SEGREGATED if nfr < 316.0 * np.exp(0.302 * ln_lam) else DISTRIBUTED
    else:
        l2 = 0.0009252 * np.exp(-2.4684 * ln_lam)
        if nfr < l2:
            pattern = SEGREGATED
        else:
            l3 = 0.10 * np.exp(-1.4516 * ln_lam)
            if nfr <= l3:
                pattern = TRANSITION
            elif nfr <= (316.0 * np.exp(0.302 * ln_lam) if lam_c < 0.4 else 0.5 * np.exp(-6.738 * ln_lam)):
                pattern = INTERMITTENT
            else:
                pattern = DISTRIBUTED
    uphill = angle >= 0
    if pattern == TRANSITION:
        weight = (l3 - nfr) / (l3 - l2)
        hl = (weight * _bb_holdup_pure(SEGREGATED, lam_c, ln_lam, ln_nfr, ln_nlv, sin_term, uphill)
              + (1.0 - weight) * _bb_holdup_pure(INTERMITTENT, lam_c, ln_lam, ln_nfr, ln_nlv, sin_term, uphill))
    else:
        hl = _bb_holdup_pure(pattern, lam_c, ln_lam, ln_nfr, ln_nlv, sin_term, uphill)
    if payne:
        if angle > 0:
            hl = np.maximum(0.924 * hl, lam_c)
        elif angle < 0:
            hl = 0.685 * hl
    hl = np.minimum(np.maximum(hl, 0.0), 1.0)
    if lam >= 1.0:
        hl = 1.0
    elif lam <= 0.0:
        hl = 0.0
    hl = np.minimum(geo[6] * hl, 1.0)  # matching holdup multiplier (beggs_brill module docstring)
    # Beggs & Brill friction exponent S
    y = lam / np.maximum(hl * hl, 1e-300) if (hl > 0 and lam > 0) else 1.0
    ln_y = np.log(y)
    if 1.0 < y < 1.2:
        s_exp = np.log(2.2 * y - 1.2)
    elif ln_y == 0.0:
        s_exp = 0.0
    else:
        s_exp = ln_y / (-0.0523 + 3.182 * ln_y - 0.8725 * ln_y ** 2 + 0.01853 * ln_y ** 4)
    rho_s = rho_l * hl + rho_g * (1.0 - hl)
    rho_ns = rho_l * lam + rho_g * (1.0 - lam)
    mu_ns = mu_l * lam + mu_g * (1.0 - lam)
    f_tp = _moody(1488.0 * rho_ns * vm * diameter / mu_ns, rel_rough, ws) * np.exp(s_exp)
    elevation = rho_s * sin_angle / 144.0
    friction = f_tp * rho_ns * vm * vm * geo[4] * geo[7]
    ek = np.minimum(rho_s * vm * vsg / (GC * p * 144.0), 0.95)
    return (elevation + friction) / (1.0 - ek), hl


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _poly4(x, c):
    """c0 + c1 x + ... + c4 x^4 by Horner's rule, in the order of numpy.polynomial.polynomial.polyval."""
    return (((c[4] * x + c[3]) * x + c[2]) * x + c[1]) * x + c[0]


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _hagedorn_brown(vsl, vsg, rho_l, rho_g, mu_l, mu_g, sigma, dvm_dp, geo, sin_angle, p, variant, ws):
    vm = vsl + vsg
    lam = vsl / vm if vm > 0 else 1.0
    diameter, rel_rough = geo[0], geo[2]
    modified = (variant & HB_ORIGINAL) == 0
    l_b = np.maximum(1.071 - 0.2218 * vm * vm * geo[5], 0.13)
    bubble = modified and (1.0 - lam) < l_b
    if bubble:
        r = 1.0 + vm / 0.8
        hl = 1.0 - 0.5 * (r - np.sqrt(np.maximum(r * r - 4.0 * vsg / 0.8, 0.0)))
        hl = np.minimum(np.maximum(hl, lam), 1.0)
    else:
        k = np.sqrt(np.sqrt(rho_l / sigma))
        nlv = 1.938 * vsl * k
        ngv = 1.938 * vsg * k
        nd = 120.872 * diameter * np.sqrt(rho_l / sigma)
        nl = 0.15726 * mu_l * (1.0 / (rho_l * sigma ** 3)) ** 0.25
        guo = (variant & HB_GUO) != 0
        if guo:  # hagedorn_brown.cnl_guo
            x1 = np.minimum(np.maximum(np.log10(np.maximum(nl, 1e-300)) + 3.0, 0.0), GUO_X1_MAX)
            cnl = 10.0 ** _poly4(x1, GUO_CNL_COEF)
        else:
            xn = np.minimum(np.maximum(nl, 0.001), 0.5)
            cnl = (0.0019 + 0.0322 * xn - 0.6642 * xn ** 2 + 4.9951 * xn ** 3) / (
                1.0 - 10.0147 * xn + 33.8696 * xn ** 2 + 277.2817 * xn ** 3)
        phi = (nlv / ngv ** 0.575 if ngv > 0 else np.inf) * (p / 14.7) ** 0.1 * cnl / nd
        if not np.isfinite(phi):
            phi = 1e6
        if guo:  # hagedorn_brown.holdup_over_psi_guo
            u = np.minimum(np.maximum(np.log10(np.maximum(phi, 1e-300)) + 6.0, GUO_U_MIN), GUO_U_MAX)
            h_psi = np.minimum(np.maximum(_poly4(u, GUO_HL_COEF), 0.0), 1.0)
        else:
            xp = np.maximum(phi, 0.0)
            h_psi = np.sqrt((0.0047 + 1123.32 * xp + 729489.64 * xp ** 2) / (1.0 + 1097.1566 * xp + 722153.97 * xp ** 2))
        xs = ngv * nl ** 0.38 / nd ** 2.14
        if xs <= 0.01:
            psi = 1.0
        elif guo:  # hagedorn_brown.secondary_psi_guo
            psi = np.maximum(_poly4(np.minimum(xs, 0.09), GUO_PSI_COEF), 1.0)
        else:
            xc = np.minimum(np.maximum(xs, 0.01), 0.09)
            psi = (1.0886 - 69.9473 * xc + 2334.3497 * xc ** 2 - 12896.683 * xc ** 3) / (
                1.0 - 53.4401 * xc + 1517.9369 * xc ** 2 - 8419.8115 * xc ** 3)
            psi = np.minimum(np.maximum(psi, 1.0), 1.8)
        hl = np.minimum(h_psi * psi, 1.0)
        if modified:
            hl = np.maximum(hl, lam)
    hl = np.minimum(geo[6] * hl, 1.0)  # matching holdup multiplier
    rho_s = rho_l * hl + rho_g * (1.0 - hl)
    rho_ns = rho_l * lam + rho_g * (1.0 - lam)
    if bubble:
        v_l = vsl / np.maximum(hl, 1e-12)
        f_b = _moody(1488.0 * rho_l * v_l * diameter / mu_l, rel_rough, ws)
        friction = f_b * rho_l * v_l * v_l * geo[4]
    else:
        mu_s = mu_l ** hl * mu_g ** (1.0 - hl)
        f_s = _moody(1488.0 * rho_ns * vm * diameter / mu_s, rel_rough, ws)
        friction = f_s * rho_ns ** 2 * vm * vm * geo[4] / rho_s
    friction = friction * geo[7]  # matching friction multiplier
    elevation = rho_s * sin_angle / 144.0
    ek = np.minimum(-rho_s * vm * dvm_dp / (144.0 * GC), 0.95)
    return (elevation + friction) / (1.0 - ek), hl


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _no_slip(vsl, vsg, rho_l, rho_g, mu_l, mu_g, geo, sin_angle, ws):
    vm = vsl + vsg
    lam = vsl / vm if vm > 0 else 1.0
    rho = rho_l * lam + rho_g * (1.0 - lam)
    mu = mu_l * lam + mu_g * (1.0 - lam)
    f = _moody(1488.0 * rho * vm * geo[0] / mu, geo[2], ws)
    hl = np.minimum(geo[6] * lam, 1.0)  # matching holdup multiplier: elevation at HL' (exactly rho when it is 1)
    rho_s = rho_l * hl + rho_g * (1.0 - hl)
    return rho_s * sin_angle / 144.0 + f * rho * vm * vm * geo[4] * geo[7], hl


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _z_factor(ppr, tt, z_guess):
    """DAK Z by Newton on the reduced density (zfactor.z_factor_dak).

    ``z_guess`` > 0 (the previous point's Z along the same traverse) replaces Papay's start. Newton stops
    once a step is below 1e-6 of the density: convergence is quadratic, so the relative error left is of
    order 1e-12, and the reference (Papay start, stop below 1e-10) lands on the same root to that precision."""
    c1, c2, c3, c4 = tt[14], tt[15], tt[16], tt[17]
    target = tt[20] * ppr
    z0 = z_guess if z_guess > 0 else np.maximum(1.0 - 3.52 * ppr / tt[18] + 0.274 * ppr * ppr / tt[19], 0.25)
    r = target / z0
    for _ in range(60):
        r2 = r * r
        e = np.exp(-A11 * r2)
        z = 1.0 + c1 * r + c2 * r2 - c3 * r2 * r2 * r + c4 * r2 * (1.0 + A11 * r2) * e
        dz = c1 + 2.0 * c2 * r - 5.0 * c3 * r2 * r2 + 2.0 * c4 * r * (1.0 + A11 * r2 - A11 * A11 * r2 * r2) * e
        step = (z * r - target) / (z + r * dz)
        r_new = np.maximum(r - step, 0.5 * r)
        r = r_new
        if not abs(step) > 1e-6 * r_new:
            break
    return target / r if r > 0 else 1.0


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _dz_dppr(ppr, z, tt):
    """dZ/dPpr at a converged Z (zfactor.dak_dz_dppr)."""
    c1, c2, c3, c4 = tt[14], tt[15], tt[16], tt[17]
    r = tt[20] * ppr / z
    r2 = r * r
    e = np.exp(-A11 * r2)
    dz = c1 + 2.0 * c2 * r - 5.0 * c3 * r2 * r2 + 2.0 * c4 * r * (1.0 + A11 * r2 - A11 * A11 * r2 * r2) * e
    return z / ppr * r * dz / (z + r * dz) if ppr > 0 else 0.0


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _geometry_terms(diameter, area, rel_rough, holdup_mult, friction_mult):
    """(D ft, 1 / (86400 A) to turn ft3/d into ft/s, eps/D, 1 / (gc D), 1 / (2 gc D 144), 1 / D, holdup multiplier,
    friction multiplier)."""
    return (diameter, 1.0 / (SECONDS_PER_DAY * area), rel_rough, 1.0 / (GC * diameter), 1.0 / (2.0 * GC * diameter * 144.0),
            1.0 / diameter, holdup_mult, friction_mult)


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def point_gradient(p_in, q, inj_scf_d, tt, fl, geo, angle, sin_angle, sin_term, corr, payne, ws):
    """Total gradient (psi/ft) and holdup at pressure ``p_in`` (psia), liquid rate ``q`` (STB/d), T-terms ``tt``.

    ``p_in`` is the traverse's evaluation pressure (already held to [14.696, 1e5]); the PVT holds it
    to 20000 psia as :func:`engines.nodal.pvt.fluid_state` does. ``ws`` carries the previous point's Z
    and Colebrook x of the same traverse (0 = none) as Newton starts, and is updated. ``geo`` is
    :func:`_geometry_terms` of the pipe. ``payne`` is the correlation's option flag (``KERNEL_CORRELATIONS``):
    the Payne correction for Beggs & Brill, the variant bits for Hagedorn & Brown.
    """
    p = np.minimum(np.maximum(p_in, P_STD), PVT_P_MAX)
    t = tt[0]
    gsg, osg, rsb, wc = fl[FLUID_GSG], fl[FLUID_OSG], fl[FLUID_RSB], fl[FLUID_WC]
    # --- black oil (pvt.fluid_state) ---
    rs_free = fl[FLUID_SCALE] * (gsg * ((p / 18.2 + 1.4) * tt[1]) ** 1.2048)
    if rs_free < rsb:
        rs = rs_free
        drs = 1.2048 * rs_free / (p + 25.48)
    else:
        rs = rsb
        drs = 0.0
    p_sat = tt[2]
    above = p > p_sat and rsb > 0
    u = rs * fl[FLUID_SQ] + 1.25 * t
    bo = 0.9759 + 0.00012 * u ** 1.2
    inv_p = 1.0 / p
    if above:
        bo = bo * (p_sat * inv_p) ** tt[3]
    rho_o = (WATER_RHO * osg + 0.0136 * rs * gsg) / bo
    if rs == rsb:
        mu_o = tt[22]
    else:
        mu_o = 10.715 * (rs + 100.0) ** -0.515 * np.exp(5.44 * (rs + 150.0) ** -0.338 * tt[21])
    ln_p = np.log(p)
    if above:
        m_vb = 2.6 * np.exp(1.187 * ln_p) * np.exp(-11.513 - 8.98e-5 * p)
        mu_o = mu_o * (p * tt[24]) ** m_vb
    ppc = fl[FLUID_PPC]
    ppr = p * tt[23]
    z = _z_factor(ppr, tt, ws[0])
    ws[0] = z
    bg = tt[25] * z * inv_p
    rho_g = tt[26] * p / z
    mu_g = 1e-4 * tt[6] * np.exp(tt[7] * (rho_g / 62.428) ** tt[8])
    dvp = -1.95301e-9 * p * t - 1.72834e-13 * p * p * t - 3.58922e-7 * p - 2.25341e-10 * p * p
    bw = (1.0 + tt[10]) * (1.0 + dvp)
    dbw = (1.0 + tt[10]) * (-1.95301e-9 * t - 2.0 * 1.72834e-13 * p * t - 3.58922e-7 - 2.0 * 2.25341e-10 * p)
    rho_w = WATER_RHO * fl[FLUID_WSG] / bw
    mu_w = tt[9] * (0.9994 + 4.0295e-5 * p + 3.1062e-9 * p * p)
    sigma_o = np.maximum(tt[11] * (1.0 - 0.024 * np.exp(0.45 * ln_p)), 1.0)
    s74 = 75.0 - 1.108 * np.exp(0.349 * ln_p)
    s280 = 53.0 - 0.1048 * np.exp(0.637 * ln_p)
    sigma_w = np.maximum(s74 + (tt[12] - 74.0) * (s280 - s74) / 206.0, 1.0)
    # --- in-situ flow (flow.in_situ_flow) ---
    q_oil = q * (1.0 - wc)
    free_per_stb = fl[FLUID_GOR] - rs
    free_gas = q_oil * np.maximum(free_per_stb, 0.0) + inj_scf_d
    scale = geo[1]
    f_oil = (1.0 - wc) * bo / ((1.0 - wc) * bo + wc * bw)
    f_water = 1.0 - f_oil
    vsl = (q_oil * bo * BBL_TO_FT3 + q * wc * bw * BBL_TO_FT3) * scale
    vsg = free_gas * bg * scale
    rho_l = f_oil * rho_o + f_water * rho_w
    mu_l = f_oil * mu_o + f_water * mu_w
    sigma_l = f_oil * sigma_o + f_water * sigma_w
    if corr == 0:
        g, hl = _beggs_brill(vsl, vsg, rho_l, rho_g, mu_l, mu_g, sigma_l, geo, angle, sin_angle, sin_term, p_in, payne, ws)
    elif corr == 1:
        dbo = -tt[3] * bo * inv_p if above else 0.00012 * 1.2 * u ** 0.2 * fl[FLUID_SQ] * drs
        dbg = bg * (_dz_dppr(ppr, z, tt) / (ppc * z) - inv_p)
        d_free = -q_oil * drs if free_per_stb > 0.0 else 0.0
        dvm_dp = ((q_oil * dbo + q * wc * dbw) * BBL_TO_FT3 + d_free * bg + free_gas * dbg) * scale
        g, hl = _hagedorn_brown(vsl, vsg, rho_l, rho_g, mu_l, mu_g, sigma_l, dvm_dp, geo, sin_angle, p_in, payne, ws)
    else:
        g, hl = _no_slip(vsl, vsg, rho_l, rho_g, mu_l, mu_g, geo, sin_angle, ws)
    return g, hl


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _prepare(md, tvd, temp, fl, top_down):
    """Per-segment angle (deg), sin(angle), Beggs & Brill's sin(1.8 angle) - sin^3(1.8 angle)/3, length and
    T-terms; slot n-1 holds the start node's T-terms."""
    n = md.size
    angle = np.empty(n - 1)
    sin_a = np.empty(n - 1)
    sin_t = np.empty(n - 1)
    d_md = np.empty(n - 1)
    tterms = np.empty((n, N_TTERMS))
    for seg in range(n - 1):
        d = md[seg + 1] - md[seg]
        d_md[seg] = d
        ratio = np.minimum(np.maximum((tvd[seg + 1] - tvd[seg]) / d, -1.0), 1.0)
        a = np.degrees(np.arcsin(ratio))
        angle[seg] = a
        sin_a[seg] = np.sin(np.radians(a))
        s18 = np.sin(DEG * (1.8 * a))
        sin_t[seg] = s18 - s18 ** 3 / 3.0
        _temperature_terms(0.5 * (temp[seg] + temp[seg + 1]), fl, tterms[seg])
    _temperature_terms(temp[0] if top_down else temp[n - 1], fl, tterms[n - 1])
    return angle, sin_a, sin_t, d_md, tterms


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def _march_rate(k, q, p_start, top_down, md, angle, sin_a, sin_t, d_md, tterms, fl, diameter, area, rel_rough, corr, payne,
                pump_depth, gain, inj_scf_d, inj_depth, holdup_mult, friction_mult, pressure, holdup):
    """March one rate ``q`` along the nodes (traverse.traverse for one column ``k``)."""
    n = md.size
    sign = 1.0 if top_down else -1.0
    p = p_start
    first = 0 if top_down else n - 2
    inj0 = inj_scf_d if (inj_depth >= 0.0 and md[first + 1] <= inj_depth + 1e-9) else 0.0
    p_eval = np.minimum(np.maximum(p, P_STD), MAX_PRESSURE)
    ws = np.zeros(2)  # Newton starts carried along the traverse: Z, Colebrook x
    geo = _geometry_terms(diameter, area, rel_rough, holdup_mult, friction_mult)
    g_prev, _ = point_gradient(p_eval, q, inj0, tterms[n - 1], fl, geo, angle[first], sin_a[first], sin_t[first], corr, payne,
                               ws)
    pressure[0 if top_down else n - 1, k] = p
    for i in range(n - 1):
        seg = i if top_down else n - 2 - i
        if pump_depth >= 0.0 and abs(md[seg if top_down else seg + 1] - pump_depth) < 1e-6:
            p = p - gain if top_down else p + gain
        inj = inj_scf_d if (inj_depth >= 0.0 and md[seg + 1] <= inj_depth + 1e-9) else 0.0
        p_mid = p + sign * 0.5 * g_prev * d_md[seg]
        p_eval = np.minimum(np.maximum(p_mid, P_STD), MAX_PRESSURE)
        g, hl = point_gradient(p_eval, q, inj, tterms[seg], fl, geo, angle[seg], sin_a[seg], sin_t[seg], corr, payne, ws)
        p = np.minimum(p + sign * g * d_md[seg], MAX_PRESSURE)
        g_prev = g
        node = seg + 1 if top_down else seg
        pressure[node, k] = p
        holdup[node, k] = hl
    if top_down and pump_depth >= 0.0 and abs(md[n - 1] - pump_depth) < 1e-6:
        pressure[n - 1, k] = pressure[n - 1, k] - gain
    if top_down:
        holdup[0, k] = holdup[1, k]
    else:
        holdup[n - 1, k] = holdup[n - 2, k]


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def march(q, p_start, top_down, md, tvd, temp, fl, diameter, area, rel_rough, corr, payne, pump_depth, gains, inj_scf_d,
          inj_depth, holdup_mult, friction_mult):
    """Pressure (n_nodes, n_rates) and holdup along nodes ``md`` for rates ``q`` (one well, serial).

    top_down/corr/payne are int64 flags; pump_depth and inj_depth are -1 when absent; ``gains`` the
    pump's pressure gain per rate (psi); holdup_mult / friction_mult the matching multipliers (1 = as published).
    """
    n = md.size
    pressure = np.empty((n, q.size))
    holdup = np.empty((n, q.size))
    angle, sin_a, sin_t, d_md, tterms = _prepare(md, tvd, temp, fl, top_down)
    for k in range(q.size):
        _march_rate(k, q[k], p_start, top_down, md, angle, sin_a, sin_t, d_md, tterms, fl, diameter, area, rel_rough, corr, payne,
                    pump_depth, gains[k], inj_scf_d, inj_depth, holdup_mult, friction_mult, pressure, holdup)
    return pressure, holdup


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def march_wells(q, p_start, md, tvd, temp, fluids, diameter, area, rel_rough, corr, payne, holdup_mult, friction_mult, lo, hi, out):
    """Top-down natural-flow traverse of wells ``lo``..``hi``-1: bottomhole pressure into ``out[w]`` (n_rates).

    md/tvd/temp: (n_wells, n_nodes); fluids: (n_wells, N_FLUID); q: (n_wells, n_rates). Runs without the
    GIL, so Python threads can traverse disjoint blocks of wells at the same time (:func:`run_march_fleet`).
    """
    n_rates = q.shape[1]
    n_nodes = md.shape[1]
    pressure = np.empty((n_nodes, n_rates))
    holdup = np.empty((n_nodes, n_rates))
    for w in range(lo, hi):
        angle, sin_a, sin_t, d_md, tterms = _prepare(md[w], tvd[w], temp[w], fluids[w], 1)
        for k in range(n_rates):
            _march_rate(k, q[w, k], p_start[w], 1, md[w], angle, sin_a, sin_t, d_md, tterms, fluids[w], diameter[w], area[w],
                        rel_rough[w], corr, payne, -1.0, 0.0, 0.0, -1.0, holdup_mult, friction_mult, pressure, holdup)
        out[w] = pressure[n_nodes - 1]


def run_march(q, *args):
    """:func:`march` (one well, serial: 100 rates are ~5 ms of work, less than a thread hand-off is worth)."""
    return march(q, *args)


def run_march_fleet(q, p_start, md, tvd, temp, fluids, diameter, area, rel_rough, corr, payne, n_threads=None, holdup_mult=1.0,
                    friction_mult=1.0):
    """Bottomhole pressure (n_wells, n_rates) of a fleet: blocks of wells on ``n_threads`` Python threads
    (default NUMBA_NUM_THREADS: the number of cores unless set) running :func:`march_wells` without the GIL.

    Four blocks per thread, taken as threads come free, so a thread slowed by other work on a shared
    machine does not hold the rest up. Plain threads instead of numba's ``parallel=True``: no threading
    layer to pick (workqueue is not thread-safe, GNU OpenMP not fork-safe), one serial compilation."""
    n_wells = q.shape[0]
    out = np.empty(q.shape)
    n_threads = max(1, min(int(n_threads or numba.config.NUMBA_NUM_THREADS), n_wells))
    args = (q, p_start, md, tvd, temp, fluids, diameter, area, rel_rough, corr, payne, float(holdup_mult), float(friction_mult))
    if n_threads == 1:
        march_wells(*args, 0, n_wells, out)
        return out
    bounds = np.linspace(0, n_wells, min(4 * n_threads, n_wells) + 1).astype(int)
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        for f in [pool.submit(march_wells, *args, int(lo), int(hi), out) for lo, hi in zip(bounds[:-1], bounds[1:])]:
            f.result()
    return out
