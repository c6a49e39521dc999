"""Sucker-rod pump: Gibbs wave equation (FD and Fourier), predictive cards, card analysis, loading, optimizer."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from engines.lift.rod_loading import free_fall_spm, goodman_allowable_stress_psi, goodman_loading_pct, rod_fall_limit_spm, rod_string_loading
from engines.lift.rod_string import RodString, RodTaper
from engines.lift.srp import SrpSystem, optimize_spm, scan_spm
from engines.lift.srp_card import analyze_pump_card, pump_displacement_bpd
from engines.lift.srp_predictive import PumpCondition, predict_cards
from engines.lift.srp_wave import Card, damping_work_ftlbf, downhole_card_fd, downhole_card_fourier

TAPERED = RodString((RodTaper(0.875, 2000.0), RodTaper(0.75, 3000.0)))


def standing_wave_cards(rods: RodString, spm: float, damping: float, a_ft: float, pump_load_lbf: float, n: int = 360):
    """Closed-form periodic solution of Gibbs' equation on a uniform rod (independent of both solvers).

    u(x, t) = Re[(A cos b(L-x) + B sin b(L-x)) e^{iwt}], b^2 = (w^2 - i c w)/v^2, F = -EA u_x: the pump end
    moves as A e^{iwt} (amplitude ``a_ft``) and carries the load F_L = EA B b (amplitude ``pump_load_lbf``).
    """
    taper = rods.tapers[0]
    ea, v, length = taper.ea_lbf, taper.wave_speed_ft_s, taper.length_ft
    c = rods.damping_coefficient_1_s(damping)
    w = 2 * np.pi * spm / 60.0
    b = np.sqrt(w * w - 1j * c * w) / v
    amp_a, amp_b = a_ft, pump_load_lbf / (ea * b)
    t = np.arange(n) * (60.0 / spm) / n
    e = np.exp(1j * w * t)

    def u(x):
        return np.real((amp_a * np.cos(b * (length - x)) + amp_b * np.sin(b * (length - x))) * e)

    def force(x):
        ux = amp_a * b * np.sin(b * (length - x)) - amp_b * b * np.cos(b * (length - x))
        return np.real(-ea * ux * e)

    w_rf = rods.buoyant_weight_lbf(1.0)
    u0 = u(0.0)
    surface = Card(12 * (u0 - u0.min()), force(0.0) + w_rf, spm)
    return surface, 12 * u(length), force(length)


UNIFORM = RodString.uniform(0.875, 5000.0)


@pytest.mark.parametrize("damping,pump_load", [(0.0, 0.0), (0.0, 3000.0), (0.2, 3000.0)])
def test_fourier_and_fd_reproduce_analytic_wave_solution(damping, pump_load):
    surface, u_pump_in, f_pump = standing_wave_cards(UNIFORM, 8.0, damping, 4.0, pump_load)
    scale = np.ptp(f_pump) + 1000.0
    fourier = downhole_card_fourier(surface, UNIFORM, damping, 1.0).card
    assert np.max(np.abs(fourier.load_lbf - f_pump)) < 1e-6 * scale
    assert np.max(np.abs(fourier.position_in - (u_pump_in - u_pump_in.min()))) < 1e-6
    fd = downhole_card_fd(surface, UNIFORM, damping, 1.0).card
    assert np.max(np.abs(fd.load_lbf - f_pump)) < 0.01 * scale
    assert np.max(np.abs(fd.position_in - (u_pump_in - u_pump_in.min()))) < 0.01 * np.ptp(u_pump_in)


def test_fd_converges_at_second_order_under_refinement():
    errors = []
    for n in (90, 180, 360, 720):
        surface, _, f_pump = standing_wave_cards(UNIFORM, 8.0, 0.3, 4.0, 3000.0, n)
        fd = downhole_card_fd(surface, UNIFORM, 0.3, 1.0, courant=0.7).card
        errors.append(np.max(np.abs(fd.load_lbf - f_pump)))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all(ratios > 3.0), (errors, ratios)  # ~4 for a second-order scheme


def test_fd_and_fourier_agree_on_tapered_string_and_energy_balances():
    pred = predict_cards(TAPERED, 8.0, 100.0, PumpCondition("normal", 5000.0), damping_factor=0.1)
    fd = downhole_card_fd(pred.surface, TAPERED, 0.1, 1.0)
    fo = downhole_card_fourier(pred.surface, TAPERED, 0.1, 1.0)
    # sharp valve events: the FD scheme disperses them slightly (RMS ~1.5 % of Fo on 360 points)
    assert np.sqrt(np.mean((fd.card.load_lbf - fo.card.load_lbf) ** 2)) < 0.02 * 5000.0
    # work balance: polished-rod work = pump work + viscous damping dissipation (Gibbs damping)
    w_s, w_p = pred.surface.work_ftlbf(), fo.card.work_ftlbf()
    dissipated = damping_work_ftlbf(pred.surface, TAPERED, 0.1, 1.0)
    assert w_s == pytest.approx(w_p + dissipated, rel=0.005)
    assert w_p == pytest.approx(fd.card.work_ftlbf(), rel=0.01)
    # a full pump card is a rectangle: Fo x the travel between the two load-transfer positions
    transfer = pred.pump.position_in[(pred.pump.load_lbf > 1000.0) & (pred.pump.load_lbf < 4000.0)]
    assert w_p == pytest.approx(5000.0 * (transfer.max() - transfer.min()) / 12.0, rel=0.01)
    # the diagnostic recovers the pump card the predictive model produced
    assert np.sqrt(np.mean((fo.card.load_lbf - pred.pump.load_lbf) ** 2)) < 0.02 * 5000.0


def test_undamped_energy_is_conserved():
    pred = predict_cards(TAPERED, 6.0, 100.0, PumpCondition("normal", 4000.0), damping_factor=0.0, max_cycles=6)
    fo = downhole_card_fourier(pred.surface, TAPERED, 0.0, 1.0)
    assert damping_work_ftlbf(pred.surface, TAPERED, 0.0) == 0.0
    assert pred.surface.work_ftlbf() == pytest.approx(fo.card.work_ftlbf(), rel=1e-6)


CASES = [
    ("normal", {}),
    ("fluid_pound", {"fillage": 0.6}),
    ("fluid_pound", {"fillage": 0.75}),
    ("gas_interference", {"gas_fraction": 0.4}),
    ("gas_lock", {"gas_fraction": 0.9}),
    ("tv_leak", {}),
    ("sv_leak", {}),
    ("rod_part", {}),
]


@pytest.mark.parametrize("spm,damping", [(5.0, 0.05), (11.0, 0.2)])
@pytest.mark.parametrize("kind,kw", CASES)
def test_classification_round_trip(kind, kw, spm, damping):
    pred = predict_cards(TAPERED, spm, 100.0, PumpCondition(kind, 5000.0, **kw), damping_factor=damping, segments=30)
    recovered = downhole_card_fourier(pred.surface, TAPERED, damping, 1.0).card
    analysis = analyze_pump_card(recovered, 1.75, expected_fluid_load_lbf=5000.0)
    assert analysis.card_class == kind
    if kind == "fluid_pound":  # load released half-way through the 3 % unloading ramp after the liquid is hit
        assert analysis.fillage_frac == pytest.approx(kw["fillage"] - 0.015, abs=0.02)
    if kind == "gas_interference":  # isothermal compression: half load at p/p_d = 0.55 -> s = g (1 - 0.1/0.55)
        assert analysis.fillage_frac == pytest.approx(1.0 - 0.4 * (1.0 - 0.1 / 0.55), abs=0.02)
    if kind == "normal":
        assert analysis.fillage_frac > 0.95
        assert analysis.fluid_load_lbf == pytest.approx(5000.0, rel=0.03)


def test_pump_displacement_constant():
    # PD = 1440 min/d * (pi/4) D^2 S N / 9702 in^3/bbl = 0.1166 D^2 S N (API RP 11L)
    assert pump_displacement_bpd(1.0, 1.0, 1.0) == pytest.approx(0.1166, abs=1e-4)
    assert pump_displacement_bpd(1.75, 100.0, 10.0) == pytest.approx(0.11657 * 1.75**2 * 1000.0, rel=1e-4)


def test_goodman_hand_calculation():
    # grade D, T = 115,000 psi: S_A = 115000/4 + 0.5625 * 10000 = 34,375 psi; loading = 20000 / 24375
    assert goodman_allowable_stress_psi(115_000.0, 10_000.0) == pytest.approx(34_375.0)
    assert goodman_loading_pct(30_000.0, 10_000.0, 115_000.0) == pytest.approx(82.051, abs=1e-3)
    assert goodman_loading_pct(30_000.0, 10_000.0, 115_000.0, 0.9) == pytest.approx(100 * 20000 / (30937.5 - 10000), rel=1e-9)
    rods = RodString.uniform(1.0, 1000.0)
    area = np.pi / 4
    loads = np.array([[30_000.0 * area, 10_000.0 * area]])
    assert rod_string_loading(rods, loads)[0].loading_pct == pytest.approx(82.051, abs=1e-3)


def test_rod_fall_limit():
    # free fall of harmonic motion: (S/2) w^2 = g  ->  N = 60/(2 pi) sqrt(2 g / S)
    s_in = 144.0
    expected = 60 / (2 * np.pi) * np.sqrt(2 * 32.2 * 12 / s_in)
    assert free_fall_spm(s_in) == pytest.approx(expected, rel=1e-4)
    assert rod_fall_limit_spm(s_in, 0.5) == pytest.approx(0.5 * expected, rel=1e-4)


def test_wave_speed_of_steel():
    v = RodTaper(0.875, 100.0).wave_speed_ft_s
    assert v == pytest.approx(np.sqrt(30.5e6 * 144 * 32.174 / 490.0), rel=1e-9)
    assert 16_000 < v < 17_500  # Gibbs used 16,300 ft/s for rods with couplings


def _system(j_bpd_psi=0.2, pr=1800.0, **kw):
    p = np.linspace(0.0, pr, 60)
    return SrpSystem(TAPERED, 1.75, 100.0, 2300.0, p, j_bpd_psi * (pr - p), **kw)


def test_scan_keeps_up_with_inflow_and_pumps_off():
    sys = _system()
    s = scan_spm(sys, [4.0, 14.0])
    stretch = 12.0 * sum(t.length_ft / t.ea_lbf for t in TAPERED.tapers)
    # at 4 SPM the pump keeps up: q = Ev * PD(Sp) and the reservoir supplies exactly that at p_in
    fo = (2300.0 - s.intake_pressure_psi[0]) * np.pi * 1.75**2 / 4
    q_pump = 0.85 * pump_displacement_bpd(1.75, 100.0 - stretch * fo, 4.0)
    assert s.q_bpd[0] == pytest.approx(q_pump, rel=1e-3)
    assert s.q_bpd[0] == pytest.approx(0.2 * (1800.0 - s.intake_pressure_psi[0]), rel=1e-3)
    assert s.fillage_frac[0] == 1.0
    # a weak well at 14 SPM pumps off: rate = inflow at the pump-off intake pressure
    weak = scan_spm(_system(j_bpd_psi=0.05), [14.0])
    assert weak.q_bpd[0] == pytest.approx(0.05 * (1800.0 - 50.0), rel=1e-6)
    assert weak.fillage_frac[0] < 0.85


def test_optimizer_stops_before_pump_off():
    rec = optimize_spm(_system(j_bpd_psi=0.1))
    assert rec.fillage_frac >= 0.85
    assert rec.binding_constraint in ("pump_off_fillage", "inflow", "rod_load", "rod_fall")
    faster = scan_spm(_system(j_bpd_psi=0.1), [rec.spm + 0.25])
    assert rec.binding_constraint != "pump_off_fillage" or faster.fillage_frac[0] < 0.85


@settings(max_examples=6, deadline=None)
@given(j=st.floats(0.02, 1.0), stroke=st.floats(54.0, 168.0), lo=st.floats(4.0, 8.0), hi=st.floats(9.0, 14.0))
def test_recommendation_respects_hard_ranges(j, stroke, lo, hi):
    p = np.linspace(0.0, 1800.0, 40)
    sys = SrpSystem(TAPERED, 1.5, stroke, 2300.0, p, j * (1800.0 - p), spm_min=lo, spm_max=hi)
    rec = optimize_spm(sys)
    assert lo - 1e-9 <= rec.spm <= max(lo, min(hi, rod_fall_limit_spm(stroke))) + 1e-9
    assert rec.q_bpd >= 0 and 0 <= rec.fillage_frac <= 1


def test_invalid_inputs_are_rejected():
    with pytest.raises(ValueError, match="courant"):
        downhole_card_fd(Card(np.arange(32.0), np.ones(32), 8.0), TAPERED, courant=1.5)
    with pytest.raises(ValueError, match="kind"):
        PumpCondition("broken")
    with pytest.raises(ValueError, match="SPM window"):
        _system(spm_min=2.0)
    with pytest.raises(ValueError, match="non-finite"):
        Card(np.array([np.nan] * 20), np.ones(20), 8.0)
