"""Predictive rod-pump model: the surface card the damped wave equation predicts for a pump condition.

The rod string is discretized into lumped masses joined by springs (the explicit central-difference
form of Gibbs' equation, stable under the Courant condition ``v dt <= dx``), driven at the polished
rod by harmonic motion ``u0 = S/2 (1 - cos wt)``. The pump is a boundary condition that switches
with the valves, as in Gibbs (1963) and Doty & Schmidt (1983, SPE-10249-PA):

* traveling valve closed, standing valve open: load = fluid load ``Fo`` (Neumann);
* both valves closed (load transfer): plunger held while the rod stretches/relaxes (Dirichlet);
* traveling valve open: load 0.

Pump conditions alter that cycle: ``fluid_pound`` (barrel filled to ``fillage``; the plunger falls
through the void with ``Fo`` until it hits liquid), ``gas_interference`` (isothermal gas in the
barrel: load follows p V = const on the downstroke and the clearance gas re-expands on the
upstroke; ``gas_lock`` is the limit where the valves barely open), ``tv_leak`` / ``sv_leak``
(the load is carried only while the plunger outruns the leak: linear in plunger velocity up to Fo,
with ``leak_speed_frac`` of the peak polished-rod speed giving full load; integrated implicitly),
``rod_part`` (string parted at ``part_depth_frac`` of its length; no pump load), ``pump_hitting_down`` /
``pump_hitting_up`` (a full pump whose plunger meets a stop - the standing-valve cage when spaced too low,
the top of the barrel when spaced too high - ``tag_frac`` of its free travel short of the stroke's end:
a unilateral constraint, the plunger held at the stop, an inelastic impact, while the rods would push it
beyond; its load is what holds it there, solved from the plunger node's update, as for the leaks; the
stop is set from the plunger's free travel after three cycles). The cycle is repeated until periodic;
360 samples per stroke of both cards are returned.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.lift.rod_string import RodString, RodTaper
from engines.lift.srp_wave import Card

PUMP_CONDITIONS = ("normal", "fluid_pound", "gas_interference", "gas_lock", "tv_leak", "sv_leak", "rod_part",
                   "pump_hitting_down", "pump_hitting_up")
_TAGGING = ("pump_hitting_down", "pump_hitting_up")
_TAG_WARMUP_CYCLES = 3


@dataclass(frozen=True)
class PumpCondition:
    """Downhole pump condition for the predictive model.

    kind: one of :data:`PUMP_CONDITIONS`; fluid_load_lbf: Fo = (p_discharge - p_intake) * A_plunger;
    fillage: liquid fraction of the barrel (fluid_pound); gas_fraction: gas fraction of the barrel at
    intake pressure (gas cases); pressure_ratio: p_intake / p_discharge; leak_speed_frac: plunger speed
    below which the leak unloads the valve, as a fraction of peak speed; part_depth_frac: rod part depth;
    tag_frac: how far the stop cuts into the plunger's free travel (fraction of it; pump hitting cases).
    """

    kind: str = "normal"
    fluid_load_lbf: float = 5000.0
    fillage: float = 1.0
    gas_fraction: float = 0.0
    pressure_ratio: float = 0.1
    leak_speed_frac: float = 0.5
    part_depth_frac: float = 0.5
    tag_frac: float = 0.05

    def __post_init__(self) -> None:
        if self.kind not in PUMP_CONDITIONS:
            raise ValueError(f"kind must be one of {PUMP_CONDITIONS}, got {self.kind!r}")
        if not self.fluid_load_lbf >= 0:
            raise ValueError("fluid_load_lbf must be non-negative")
        if not (0.05 <= self.fillage <= 1.0):
            raise ValueError("fillage must be in [0.05, 1]")
        if not (0 <= self.gas_fraction < 1.0):
            raise ValueError("gas_fraction must be in [0, 1)")
        if not (0 < self.pressure_ratio < 1):
            raise ValueError("pressure_ratio must be in (0, 1)")
        if not (0 < self.leak_speed_frac <= 2):
            raise ValueError("leak_speed_frac must be in (0, 2]")
        if not (0.05 <= self.part_depth_frac <= 0.95):
            raise ValueError("part_depth_frac must be in [0.05, 0.95]")
        if not (0 < self.tag_frac <= 0.3):
            raise ValueError("tag_frac must be in (0, 0.3]")


@dataclass(frozen=True)
class PredictedCards:
    """Surface card (polished rod, total load incl. buoyant rod weight) and pump card (dynamic load)."""

    surface: Card
    pump: Card
    cycles: int


def _truncate(rods: RodString, depth_ft: float) -> RodString:
    out, top = [], 0.0
    for t in rods.tapers:
        if top >= depth_ft:
            break
        out.append(RodTaper(t.diameter_in, min(t.length_ft, depth_ft - top), t.grade, t.material))
        top += t.length_ft
    return RodString(tuple(out))


def predict_cards(rods: RodString, spm: float, stroke_in: float, condition: PumpCondition,
                  damping_factor: float = 0.05, fluid_sg: float = 1.0, n_points: int = 360,
                  segments: int = 40, max_cycles: int = 40, tol_frac: float = 1e-3) -> PredictedCards:
    """Predict the surface and pump cards for ``condition`` (time-marched to a periodic state)."""
    if not (0 < spm <= 40):
        raise ValueError(f"spm must be in (0, 40], got {spm}")
    if not (0 < stroke_in <= 400):
        raise ValueError(f"stroke_in must be in (0, 400], got {stroke_in}")
    if n_points < 16 or segments < 4:
        raise ValueError("n_points must be >= 16 and segments >= 4")
    c = rods.damping_coefficient_1_s(damping_factor)  # damping of the intact well
    fo = condition.fluid_load_lbf
    if condition.kind == "rod_part":
        rods = _truncate(rods, condition.part_depth_frac * rods.length_ft)
        fo = 0.0
    # grid: nodes 0..N, segment properties
    dx_target = rods.length_ft / segments
    ea, mass_seg, dxs = [], [], []
    for t in rods.tapers:
        n = max(2, int(np.ceil(t.length_ft / dx_target)))
        ea += [t.ea_lbf] * n
        dxs += [t.length_ft / n] * n
        mass_seg += [t.mass_slug_per_ft * t.length_ft / n] * n
    ea, dxs, mass_seg = np.array(ea), np.array(dxs), np.array(mass_seg)
    k_seg = ea / dxs
    node_mass = np.zeros(ea.size + 1)
    node_mass[:-1] += 0.5 * mass_seg
    node_mass[1:] += 0.5 * mass_seg
    dt_max = float(np.min(dxs / np.sqrt(ea * dxs / mass_seg)))
    period = 60.0 / spm
    sub = int(np.ceil(period / n_points / (0.95 * dt_max)))
    dt = period / (n_points * sub)
    omega = 2.0 * np.pi / period
    half_s = stroke_in / 24.0  # ft
    a = 1.0 + 0.5 * c * dt
    b = 1.0 - 0.5 * c * dt
    m_inner = node_mass[1:]

    u_prev = np.zeros(node_mass.size)
    u = np.zeros(node_mass.size)
    kind = condition.kind
    g, pr = condition.gas_fraction, condition.pressure_ratio
    dead = 0.1 * g  # clearance gas, as a fraction of the stroke volume
    pound_width = 0.03  # stroke fraction over which the plunger unloads after hitting the liquid
    lam = condition.leak_speed_frac
    hysteresis = 0.015 * 2.0 * half_s  # ft of reversal travel that confirms a plunger reversal

    def load_up(s: float) -> float:
        """Pump load on the upstroke after pickup; s = travel from the bottom (stroke fraction)."""
        if kind in ("gas_interference", "gas_lock"):
            if dead <= 0:
                return fo
            p = dead / (dead + s)  # clearance gas re-expands from discharge pressure (p/p_d)
            return fo * min(1.0, max(0.0, (1.0 - p) / (1.0 - pr)))
        return fo

    def load_down(s: float) -> float:
        """Pump load on the downstroke; s = travel from the top (stroke fraction)."""
        if kind == "fluid_pound":
            return fo * min(1.0, max(0.0, 1.0 - (s - (1.0 - condition.fillage)) / pound_width))
        if kind not in ("gas_interference", "gas_lock") or g <= 0:
            return 0.0
        p = pr * g / max(g - s, 1e-9)  # barrel gas compressed isothermally (p/p_d)
        return fo * min(1.0, max(0.0, (1.0 - p) / (1.0 - pr)))

    # leaking valve: the pump carries the load only while the plunger outruns the leak, so the load is
    # linear in plunger velocity, F = F0 + G v clipped to [0, Fo], G = Fo / v_leak (treated implicitly)
    leak_gain = fo / (lam * half_s * omega) if kind in ("tv_leak", "sv_leak") else 0.0
    leak_f0 = fo if kind == "sv_leak" else 0.0

    coef_u, coef_prev, coef_f = 2.0 / a, b / a, dt * dt / (a * m_inner)  # explicit update coefficients
    tension = np.empty(k_seg.size)
    force = np.empty(m_inner.size)

    # direction of plunger travel and transfer flags; held = both valves shut, plunger fixed
    going_up = True
    full = kind in ("normal", *_TAGGING)  # full barrel: load transfer at both ends of the stroke
    held = full  # start at the bottom, load pickup
    stop = None  # plunger position of the stop (ft), pump hitting cases, set after the warm-up cycles
    u_bottom, u_top = 0.0, 0.0
    u_ext = 0.0
    stroke_est = 2.0 * half_s
    prev_surface = None
    cycles = 0
    fp = 0.0
    for cycles in range(1, max_cycles + 1):
        surf_pos = np.empty(n_points)
        surf_load = np.empty(n_points)
        pump_pos = np.empty(n_points)
        pump_load = np.empty(n_points)
        for j in range(n_points):
            for s_i in range(sub):
                t_new = (j * sub + s_i + 1) * dt
                phase = (omega * t_new) % (2.0 * np.pi)
                np.subtract(u[:-1], u[1:], out=tension)
                tension *= k_seg
                if held:
                    fp = tension[-1]
                elif kind in ("tv_leak", "sv_leak"):
                    fp = np.nan  # implicit, below
                elif kind == "rod_part":
                    fp = 0.0
                elif going_up:
                    fp = load_up(max(0.0, u[-1] - u_bottom) / stroke_est)
                else:
                    fp = load_down(max(0.0, u_top - u[-1]) / stroke_est)
                np.subtract(tension[:-1], tension[1:], out=force[:-1])
                force[-1] = tension[-1] - fp
                u_new = np.empty_like(u)
                u_new[0] = half_s * (1.0 - np.cos(omega * t_new))
                np.multiply(coef_u, u[1:], out=u_new[1:])
                u_new[1:] -= coef_prev * u_prev[1:]
                u_new[1:] += coef_f * force
                if kind in ("tv_leak", "sv_leak"):
                    m_n = m_inner[-1]
                    damp = (leak_gain + c * m_n) / (2.0 * dt)
                    u_new[-1] = (tension[-1] - leak_f0 + m_n * (2.0 * u[-1] - u_prev[-1]) / dt**2 + damp * u_prev[-1]) / (m_n / dt**2 + damp)
                    fp = leak_f0 + leak_gain * (u_new[-1] - u_prev[-1]) / (2.0 * dt)
                    if not 0.0 <= fp <= fo:
                        fp = min(max(fp, 0.0), fo)
                        u_new[-1] = (2.0 * u[-1] - b * u_prev[-1] + dt * dt * (tension[-1] - fp) / m_n) / a
                if held:
                    u_new[-1] = u[-1]
                elif stop is not None and (u_new[-1] < stop if kind == "pump_hitting_down" else u_new[-1] > stop):
                    # the stop holds the plunger: the load on it is what the node's update needs to stay there
                    m_n = m_inner[-1]
                    u_new[-1] = stop
                    fp = tension[-1] - m_n * (a * stop - 2.0 * u[-1] + b * u_prev[-1]) / dt**2
                u_prev, u = u, u_new
                # valve events while held: release the plunger when the rod load reaches the target
                if held:
                    t_bot = k_seg[-1] * (u[-2] - u[-1])
                    if going_up and t_bot >= fo:
                        held = False
                    elif not going_up and t_bot <= 0.0:
                        held = False
                # reversal detection with hysteresis (robust to stress-wave ripple of the plunger)
                if going_up:
                    u_ext = max(u_ext, u[-1])
                    if u_ext - u[-1] > hysteresis and 0.5 * np.pi < phase < 1.7 * np.pi:
                        going_up, u_top = False, u_ext
                        stroke_est = max(u_top - u_bottom, 0.05 * half_s)
                        u_ext = u[-1]
                        held = full
                else:
                    u_ext = min(u_ext, u[-1])
                    if u[-1] - u_ext > hysteresis and (phase > 1.5 * np.pi or phase < 0.7 * np.pi):
                        going_up, u_bottom = True, u_ext
                        u_ext = u[-1]
                        held = full or kind == "fluid_pound"
            tension = k_seg * (u[:-1] - u[1:])
            t_s = (j + 1) * sub * dt
            acc0 = half_s * omega**2 * np.cos(omega * t_s)
            vel0 = half_s * omega * np.sin(omega * t_s)
            surf_pos[j] = u[0]
            surf_load[j] = tension[0] + node_mass[0] * (acc0 + c * vel0)
            pump_pos[j] = u[-1]
            pump_load[j] = tension[-1] if held else fp
        if kind in _TAGGING and cycles == _TAG_WARMUP_CYCLES:
            lo, hi = float(pump_pos.min()), float(pump_pos.max())
            cut = condition.tag_frac * (hi - lo)
            stop = lo + cut if kind == "pump_hitting_down" else hi - cut
            prev_surface = None
            continue
        if prev_surface is not None and np.max(np.abs(surf_load - prev_surface)) <= tol_frac * max(fo, 1000.0):
            break
        prev_surface = surf_load
    # samples j correspond to t = (j+1) T/n; rotate so that sample 0 is t = 0 (bottom of stroke)
    surf_pos, surf_load = np.roll(surf_pos, 1), np.roll(surf_load, 1)
    pump_pos, pump_load = np.roll(pump_pos, 1), np.roll(pump_load, 1)
    w_rf = rods.buoyant_weight_lbf(fluid_sg)
    surface = Card(surf_pos * 12.0, surf_load + w_rf, spm)
    pump = Card(pump_pos * 12.0 - (pump_pos * 12.0).min(), pump_load, spm)
    return PredictedCards(surface, pump, cycles)
