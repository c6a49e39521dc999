"""Synthetic recordings of wells with a permanent downhole gauge and no flow meter (the 3W instrumentation).

Offshore naturally flowing (and gas-lifted) wells report a permanent downhole gauge (PDG: pressure and
temperature near the perforations), the pressure and temperature at the subsea tree, and the pressures up-
and downstream of the topside production choke (Vargas et al. 2019, "A realistic and public dataset with
rare undesirable real events in oil wells", J. Pet. Sci. Eng. 181:106223: the 3W dataset's variables P-PDG,
T-PDG, P-TPT, T-TPT, P-MON-CKP, P-JUS-CKP). This module makes such recordings, physically consistent, with
the undesirable events those operators watch for injected at a known time, and with realistic sensor
artifacts (white noise, gauge drift, frozen values, gaps).

Steady flow, vectorized over time, solved in closed form for the liquid rate q [bbl/d]:

    reservoir   p_dh  = Pr - q / J                           (straight-line IPR above the bubble point)
    tubing      p_dh  = p_wh + G(wc) D + f q^2               (flowing gradient G, friction f)
    riser       p_wh  = p_up + H_r + k_r q^2                 (riser / flowline head and friction)
    choke       p_up  = p_dn + q^2 / Cv^2                    (subcritical liquid choke, API Spec 6A / ISA 75.01)
    line        p_dn  = p_sep + k_dn q^2                     (downstream line to the separator)

so a q^2 + q / J - c = 0 with a = f + k_r + 1/Cv^2 + k_dn and c = Pr - p_sep - H_r - G D, q = 2c / (1/J +
sqrt(1/J^2 + 4 a c)) (0 when c <= 0: the well cannot flow). G = 0.30 + 0.15 wc [psi/ft] (oil with dissolved
gas to brine). The PDG temperature is the reservoir's plus the liquid Joule-Thomson heating of the drawdown
(0.004 degF/psi; Steffensen & Smith 1973); the tree temperature follows Ramey (1962, JPT 14:427):
T_wh = T_sea + (T_dh - T_sea) exp(-D / A), with the relaxation distance A proportional to the mass heat-capacity
rate q (c_o (1 - wc) + c_w wc), c_w = 2 c_o. Pressures and temperatures reach their steady values through
first-order lags (wellbore storage, thermal mass): ``LAG_S``.

Events (``EVENTS``; each ramps in from its onset over its ramp and stays) and their signatures are in
``EVENT_SPECS``; the diagnostic rules of ``engines.anomaly.rules`` (lift type ``natural_flow``) test for them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Telemetry keys of a downhole-gauge well [units in the names]. ``tubing_pressure_psi`` and
#: ``wellhead_temperature_f`` are read at the (subsea) tree.
KEYS: tuple[str, ...] = ("downhole_pressure_psi", "downhole_temperature_f", "tubing_pressure_psi", "wellhead_temperature_f",
                         "choke_upstream_pressure_psi", "choke_downstream_pressure_psi")

#: First-order lag [s] of each key toward its steady value.
LAG_S: dict[str, float] = {"downhole_pressure_psi": 900.0, "downhole_temperature_f": 3600.0, "tubing_pressure_psi": 120.0,
                           "wellhead_temperature_f": 2700.0, "choke_upstream_pressure_psi": 60.0,
                           "choke_downstream_pressure_psi": 60.0}

#: White sensor noise (1 sigma) [key units].
NOISE: dict[str, float] = {"downhole_pressure_psi": 0.5, "downhole_temperature_f": 0.05, "tubing_pressure_psi": 1.5,
                           "wellhead_temperature_f": 0.1, "choke_upstream_pressure_psi": 1.0,
                           "choke_downstream_pressure_psi": 1.0}

JOULE_THOMSON_F_PER_PSI = 0.004


@dataclass(frozen=True)
class EventSpec:
    """One injectable event: ramp [s] from onset to full severity, and its physical signature."""

    name: str
    ramp_s: float
    signature: str


EVENT_SPECS: dict[str, EventSpec] = {e.name: e for e in (
    EventSpec("dhsv_closure", 60.0, "spurious closure of the downhole safety valve (between the gauge and the tree): "
              "flow stops within a minute; below the valve the PDG pressure builds up toward the reservoir pressure "
              "(+~500 psi, time constant ~15 min), above it the tree pressure bleeds down to the separator pressure plus "
              "the riser's static head (-~750 psi within minutes), the choke differential vanishes (p_up -> p_dn), and "
              "the tree temperature falls toward the sea temperature over ~1 h."),
    EventSpec("severe_slugging", 600.0, "riser-induced severe slugging: the riser fills with liquid and blows down "
              "periodically (period ~45 min): tree and choke-upstream pressures cycle by tens of percent (saw-tooth: "
              "slow build-up, fast blow-down), the PDG pressure by a few percent, the mean level little changed."),
    EventSpec("flow_instability", 600.0, "flow instability (irregular heading, no full slug cycle): tree and "
              "choke-upstream pressures oscillate irregularly by a few percent (periods 15-30 min) while the PDG "
              "pressure barely moves."),
    EventSpec("productivity_loss", 7200.0, "rapid productivity loss (productivity index -60 % over ~2 h: fines "
              "migration, sand, asphaltene): the drawdown grows while the rate falls, so every pressure falls together "
              "(PDG -~250 psi, tree -~250 psi, choke differential -~50 %) and the tree temperature drops."),
    EventSpec("choke_restriction", 900.0, "quick restriction at the production choke (debris, scale; Cv -55 % in "
              "~15 min): the choke differential grows (+~170 %), upstream pressures rise (choke upstream, tree, PDG), "
              "the downstream pressure falls with the rate, the tree temperature drops. Scaling gives the same "
              "signature over days (``ramp_s``)."),
    EventSpec("hydrate", 10800.0, "hydrate plug building in the production line between tree and choke (line "
              "resistance x9 over ~3 h): the tree and PDG pressures rise while the choke-upstream pressure falls "
              "(the plug sits between them), the choke differential collapses, the tree temperature drops."),
    EventSpec("water_increase", 3600.0, "abrupt increase of water (water cut 0.2 -> 0.6 in ~1 h): the heavier "
              "column raises the PDG-to-tree pressure difference (+~550 psi); the PDG pressure rises (less rate, less "
              "drawdown) while tree and choke pressures fall; the tree temperature does not fall (water's heat "
              "capacity offsets the lower rate). Flow continues (the choke differential stays above ~40 %)."),
)}
EVENTS: tuple[str, ...] = tuple(EVENT_SPECS)


@dataclass(frozen=True)
class WellParams:
    """A downhole-gauge well [oilfield units]; defaults give q ~ 4,000 bbl/d at a 1,900 psi tree pressure."""

    reservoir_pressure_psi: float = 4580.0
    productivity_index_bpd_psi: float = 8.0
    gauge_to_tree_ft: float = 6000.0
    water_cut_frac: float = 0.2
    tubing_friction_psi_per_bpd2: float = 1.25e-5
    riser_head_psi: float = 1000.0
    riser_friction_psi_per_bpd2: float = 2.8125e-5
    choke_cv_bpd_per_sqrt_psi: float = 253.0
    separator_pressure_psi: float = 150.0
    line_friction_psi_per_bpd2: float = 3.125e-6
    reservoir_temperature_f: float = 200.0
    sea_temperature_f: float = 40.0
    relaxation_ft_per_bpd: float = 5.18  # Ramey A / (q c_mix), c_mix = 0.5 (1 - wc) + wc
    depletion_psi_per_day: float = 0.5


def steady_state(p: WellParams, pr, j, wc, h_r, k_r, cv, closed=None) -> dict[str, np.ndarray]:
    """Steady pressures [psi], temperatures [degF] and rate q [bbl/d] for arrays of the varying parameters
    (reservoir pressure ``pr``, PI ``j``, water cut ``wc``, riser head ``h_r``, riser friction ``k_r``, choke
    ``cv``); ``closed`` (0-1) the downhole safety valve's closure (the gauge sits below it)."""
    g = 0.30 + 0.15 * wc
    a = p.tubing_friction_psi_per_bpd2 + k_r + 1.0 / cv**2 + p.line_friction_psi_per_bpd2
    c = pr - p.separator_pressure_psi - h_r - g * p.gauge_to_tree_ft
    c_pos = np.maximum(c, 0.0)
    q = 2.0 * c_pos / (1.0 / j + np.sqrt(1.0 / j**2 + 4.0 * a * c_pos))
    if closed is not None:
        q = q * (1.0 - closed)
    p_dn = p.separator_pressure_psi + p.line_friction_psi_per_bpd2 * q**2
    p_up = p_dn + q**2 / cv**2
    p_wh = p_up + h_r + k_r * q**2
    p_dh = p_wh + g * p.gauge_to_tree_ft + p.tubing_friction_psi_per_bpd2 * q**2
    if closed is not None:  # below the closed valve the gauge sees the reservoir (build-up)
        p_dh = (1.0 - closed) * p_dh + closed * pr
    t_dh = p.reservoir_temperature_f + JOULE_THOMSON_F_PER_PSI * (pr - p_dh)
    big_a = p.relaxation_ft_per_bpd * np.maximum(q, 1e-6) * (0.5 * (1.0 - wc) + wc)
    t_wh = p.sea_temperature_f + (t_dh - p.sea_temperature_f) * np.exp(-p.gauge_to_tree_ft / big_a)
    return {"q": q, "downhole_pressure_psi": p_dh, "downhole_temperature_f": t_dh, "tubing_pressure_psi": p_wh,
            "wellhead_temperature_f": t_wh, "choke_upstream_pressure_psi": p_up, "choke_downstream_pressure_psi": p_dn}


def _lag(x: np.ndarray, tau_s: float, step_s: float) -> np.ndarray:
    """First-order lag along the last axis (exact discretization of dy/dt = (x - y) / tau), starting at x[0]."""
    alpha = 1.0 - np.exp(-step_s / tau_s)
    y = np.empty_like(x)
    y[0] = x[0]
    for t in range(1, x.shape[0]):
        y[t] = y[t - 1] + alpha * (x[t] - y[t - 1])
    return y


@dataclass(frozen=True)
class Recording:
    """A synthetic recording: ``ts_s`` [s from start], ``values[key]`` (NaN in gaps), the event and its onset
    [s], the rate (not reported), and the sample masks of the injected sensor artifacts."""

    ts_s: np.ndarray
    values: dict[str, np.ndarray]
    event: str | None
    onset_s: float | None
    q_bpd: np.ndarray
    artifacts: dict[str, str]


def make_recording(event: str | None = None, days: float = 3.0, step_s: float = 300.0, onset_day: float = 2.0,
                   seed: int = 0, params: WellParams = WellParams(), ramp_s: float | None = None,
                   artifacts: bool = True) -> Recording:
    """A recording of ``days`` at ``step_s`` with ``event`` (one of ``EVENTS``, or None) from ``onset_day``.

    Sensor artifacts (``artifacts``; all before the onset, in the normal part): white noise ``NOISE`` on every key
    (always), a PDG drift of +1 psi/day, riser process noise (AR(1), 0.4 %), the tree temperature frozen for 2 h
    and the downstream pressure for 1 h (the RTU repeats its last value), a 45-min outage of every key and a 3-h gap
    of the choke-upstream pressure."""
    if event is not None and event not in EVENT_SPECS:
        raise ValueError(f"unknown event {event!r}; expected one of {EVENTS}")
    if step_s <= 0 or days <= 0:
        raise ValueError("step_s and days must be positive")
    rng = np.random.default_rng(seed)
    n = int(round(days * 86400.0 / step_s))
    ts = np.arange(n) * step_s
    onset = onset_day * 86400.0 if event is not None else None
    ramp = ramp_s if ramp_s is not None else (EVENT_SPECS[event].ramp_s if event else 1.0)
    sev = np.zeros(n) if onset is None else np.clip((ts - onset + step_s) / max(ramp, step_s), 0.0, 1.0) * (ts >= onset)
    pr = params.reservoir_pressure_psi - params.depletion_psi_per_day * ts / 86400.0
    j = np.full(n, params.productivity_index_bpd_psi)
    wc = np.full(n, params.water_cut_frac)
    ar = np.zeros(n)
    e = rng.standard_normal(n) * 0.004 * np.sqrt(1 - 0.5**2)
    for t in range(1, n):
        ar[t] = 0.5 * ar[t - 1] + e[t]
    h_r = params.riser_head_psi * (1.0 + ar)
    k_r = np.full(n, params.riser_friction_psi_per_bpd2)
    cv = np.full(n, params.choke_cv_bpd_per_sqrt_psi)
    closed = None
    if event == "dhsv_closure":
        closed = sev
    elif event == "severe_slugging":
        phase = ((ts - (onset or 0)) / 2700.0) % 1.0
        saw = np.where(phase < 0.8, phase / 0.8, 1.0 - (phase - 0.8) / 0.2)  # slow build-up, fast blow-down
        h_r = h_r * (1.0 + 0.6 * sev * (2.0 * saw - 1.0))
    elif event == "flow_instability":
        ph = rng.uniform(0, 2 * np.pi, 2)
        wave = 0.6 * np.sin(2 * np.pi * ts / 1020.0 + ph[0]) + 0.4 * np.sin(2 * np.pi * ts / 1740.0 + ph[1])
        h_r = h_r * (1.0 + 0.15 * sev * wave)
    elif event == "productivity_loss":
        j = j * (1.0 - 0.6 * sev)
    elif event == "choke_restriction":
        cv = cv * (1.0 - 0.55 * sev)
    elif event == "hydrate":
        k_r = k_r * (1.0 + 8.0 * sev)
    elif event == "water_increase":
        wc = wc + 0.4 * sev
    st = steady_state(params, pr, j, wc, h_r, k_r, cv, closed)
    values = {}
    for k in KEYS:
        values[k] = _lag(st[k], LAG_S[k], step_s) + NOISE[k] * rng.standard_normal(n)
    notes: dict[str, str] = {}
    if artifacts:
        normal = int(n * 0.95) if onset is None else int(onset // step_s)
        values["downhole_pressure_psi"] = values["downhole_pressure_psi"] + 1.0 * ts / 86400.0
        notes["drift"] = "downhole_pressure_psi +1 psi/day"

        def span(start_frac, length_s):
            i0 = int(start_frac * normal)
            return slice(i0, min(i0 + max(int(length_s // step_s), 1), normal))

        s = span(0.55, 7200.0)
        values["wellhead_temperature_f"][s] = values["wellhead_temperature_f"][s.start]
        notes["frozen"] = f"wellhead_temperature_f samples {s.start}-{s.stop - 1}; choke_downstream_pressure_psi 1 h"
        s = span(0.7, 3600.0)
        values["choke_downstream_pressure_psi"][s] = values["choke_downstream_pressure_psi"][s.start]
        s = span(0.62, 2700.0)
        for k in KEYS:
            values[k][s] = np.nan
        s2 = span(0.8, 10800.0)
        values["choke_upstream_pressure_psi"][s2] = np.nan
        notes["gaps"] = f"all keys samples {s.start}-{s.stop - 1}; choke_upstream_pressure_psi samples {s2.start}-{s2.stop - 1}"
    return Recording(ts, values, event, onset, st["q"], notes)
