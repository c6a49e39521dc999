"""Downhole (pump) card analysis: fillage, effective stroke, fluid load, displacement, classification.

The card is read by its geometry, the way an analyst reads it (Gibbs & Neely 1966, SPE-1165-PA;
Takacs 2015 ch. 5): loads are normalised between the low and high load levels (medians of a
two-level split, robust to impact spikes), positions between the bottom and top of the plunger stroke. The traveling
valve opens where the downstroke load falls through mid-level (fillage = that position / gross
stroke); the standing valve opens where the upstroke load rises through mid-level.

Classes: ``normal``, ``fluid_pound`` (late, sharp unloading), ``gas_interference`` (late, gradual
unloading following gas compression; ``gas_lock`` when the valves barely open), ``tv_leak``
(upstroke load lost before the top), ``sv_leak`` (downstroke load regained before the bottom),
``rod_part`` (pump load far below the expected fluid load; needs ``expected_fluid_load_lbf``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.lift.srp_wave import Card

CARD_CLASSES = ("normal", "fluid_pound", "gas_interference", "gas_lock", "tv_leak", "sv_leak", "rod_part")
#: 1440 min/d * (pi/4) in^2 / 9702 in^3/bbl: PD (bbl/d) = 0.1166 D^2 (in^2) * S (in) * N (1/min).
PUMP_CONSTANT = 1440.0 * np.pi / 4.0 / 9702.0


@dataclass(frozen=True)
class CardAnalysis:
    """Results of :func:`analyze_pump_card` (positions in in, loads in lbf, rates in bbl/d)."""

    card_class: str
    fillage_frac: float
    gross_stroke_in: float
    effective_stroke_in: float
    fluid_load_lbf: float
    pump_displacement_bpd: float
    effective_displacement_bpd: float
    pump_efficiency_frac: float | None
    features: dict


def pump_displacement_bpd(plunger_diameter_in: float, stroke_in: float, spm: float) -> float:
    """Theoretical pump displacement PD = 0.1166 D^2 S N (bbl/d) (API RP 11L; Takacs 2015, ch. 3)."""
    return float(PUMP_CONSTANT * plunger_diameter_in**2 * stroke_in * spm)


def _branch(x: np.ndarray, y: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    n = x.size
    idx = np.arange(start, start + ((stop - start) % n) + 1) % n
    return x[idx], y[idx]


def _first_cross(xs: np.ndarray, ys: np.ndarray, level: float, rising: bool) -> float:
    hit = np.nonzero(ys >= level if rising else ys <= level)[0]
    if hit.size == 0:
        return float(xs[-1])
    k = hit[0]
    if k == 0:
        return float(xs[0])
    y0, y1 = ys[k - 1], ys[k]
    w = 0.0 if y1 == y0 else (level - y0) / (y1 - y0)
    return float(xs[k - 1] + w * (xs[k] - xs[k - 1]))


def analyze_pump_card(card: Card, plunger_diameter_in: float, expected_fluid_load_lbf: float | None = None,
                      measured_rate_bpd: float | None = None) -> CardAnalysis:
    """Fillage, effective stroke, fluid load, displacement, pump efficiency and class of a pump card."""
    if not plunger_diameter_in > 0:
        raise ValueError("plunger_diameter_in must be positive")
    if expected_fluid_load_lbf is not None and not expected_fluid_load_lbf > 0:
        raise ValueError("expected_fluid_load_lbf must be positive when given")
    pos, load = card.position_in, card.load_lbf
    stroke = float(pos.max() - pos.min())
    if stroke <= 0:
        raise ValueError("pump card has zero stroke")
    x = (pos - pos.min()) / stroke
    f_lo, f_hi = np.percentile(load, [10.0, 90.0])
    for _ in range(5):  # two-level clustering by medians: robust to impact spikes and ringing
        mid = 0.5 * (f_lo + f_hi)
        lower, upper = load[load < mid], load[load >= mid]
        if lower.size == 0 or upper.size == 0:
            break
        f_lo, f_hi = float(np.median(lower)), float(np.median(upper))
    rng = max(float(f_hi - f_lo), 1e-9)
    y = (load - f_lo) / rng
    i_bot, i_top = int(np.argmin(pos)), int(np.argmax(pos))
    xu, yu = _branch(x, y, i_bot, i_top)  # upstroke, bottom -> top
    xd, yd = _branch(x, y, i_top, i_bot)  # downstroke, top -> bottom
    feats = {
        "x_up_10": _first_cross(xu, yu, 0.1, True), "x_up_50": _first_cross(xu, yu, 0.5, True),
        "x_up_90": _first_cross(xu, yu, 0.9, True), "x_down_90": _first_cross(xd, yd, 0.9, False),
        "x_down_50": _first_cross(xd, yd, 0.5, False), "x_down_10": _first_cross(xd, yd, 0.1, False),
        "up_load_near_top": float(np.mean(yu[xu > 0.92])) if np.any(xu > 0.92) else 1.0,
        "down_load_near_bottom": float(np.mean(yd[xd < 0.08])) if np.any(xd < 0.08) else 0.0,
        "load_high_lbf": float(f_hi), "load_low_lbf": float(f_lo),
    }
    fillage = float(np.clip(feats["x_down_50"], 0.0, 1.0))
    eff_frac = float(np.clip(feats["x_down_50"] - feats["x_up_50"], 0.0, 1.0))
    width_down = feats["x_down_90"] - feats["x_down_10"]
    width_up = feats["x_up_90"] - feats["x_up_10"]
    feats["unloading_width"], feats["pickup_width"] = width_down, width_up
    if expected_fluid_load_lbf is not None and (f_hi < 0.3 * expected_fluid_load_lbf or rng < 0.2 * expected_fluid_load_lbf):
        cls = "rod_part"
    elif feats["up_load_near_top"] < 0.6 and width_up > 0.05:
        cls = "tv_leak"
    elif feats["down_load_near_bottom"] > 0.4:
        cls = "sv_leak"
    elif fillage < 0.85:
        if width_down < 0.1 and width_up < 0.1:
            cls = "fluid_pound"
        else:
            cls = "gas_lock" if eff_frac < 0.25 else "gas_interference"
    else:
        cls = "normal"
    pd_gross = pump_displacement_bpd(plunger_diameter_in, stroke, card.spm)
    pd_eff = pump_displacement_bpd(plunger_diameter_in, eff_frac * stroke, card.spm)
    eff = None if measured_rate_bpd is None else float(measured_rate_bpd / pd_gross) if pd_gross > 0 else None
    return CardAnalysis(cls, fillage, stroke, eff_frac * stroke, float(rng), pd_gross, pd_eff, eff, feats)
