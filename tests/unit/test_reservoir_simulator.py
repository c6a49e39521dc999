"""Built-in reservoir simulator: PVT, well index, material balance, analytic radial flow, symmetry.

References: González Nieves (2018) thesis (5x5 case, eq. 3.35-3.36); Peaceman (1983) equivalent
radius; line-source solution p = p_i - q B mu / (4 pi k h) E1(r^2 / (4 eta t)) (Matthews & Russell
1967, eq. 2.4; Lee 1982, eq. 1.7) with the Peaceman well model relating cell and well pressure.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.special import exp1

from engines.reservoir.case import load_case
from engines.reservoir.pvt import PvtTable
from engines.reservoir.reservoir import DARCY_FIELD, FT3_PER_BBL, Reservoir, square_symmetries
from engines.reservoir.simulator import BatchSimulator
from engines.reservoir.wells import WellDesign, cell_well_index, peaceman_r0_ft, thesis_re_ft
from engines.reservoir.planner import build_problem


@pytest.fixture(scope="module")
def thesis():
    return load_case("thesis_5x5")


def test_pvt_is_piecewise_linear_with_linear_extrapolation(thesis):
    pvt = thesis.reservoir.pvt
    # midpoint of the 4676-5597.7 psi interval: the average of the two rows (Table 4.2)
    p = 0.5 * (4676.0 + 5597.7)
    assert pvt.bo(p) == pytest.approx(0.5 * (1.4991 + 1.4874), rel=1e-12)
    assert pvt.viscosity(p) == pytest.approx(0.5 * (0.5359 + 0.5440), rel=1e-12)
    # beyond the last row the last slope continues
    slope = (1.4874 - 1.4991) / (5597.7 - 4676.0)
    assert pvt.bo(6000.0) == pytest.approx(1.4874 + slope * (6000.0 - 5597.7), rel=1e-12)
    with pytest.raises(ValueError, match="strictly increasing"):
        PvtTable(np.array([1.0, 1.0]), np.array([1.0, 1.1]), np.array([1.0, 1.0]))


def test_thesis_well_index_by_hand(thesis):
    # q = 7.08 k[D] h / (mu B (ln(re/rw) + s)) dp with re = 0.14 sqrt(dx^2 + dy^2): eq. 3.35-3.36
    re = 0.14 * np.sqrt(700.0**2 + 700.0**2)
    expected = 7.08 * 0.1 * 30.0 / (np.log(re / (5.0 / 12.0)) + 1.0)
    wi = cell_well_index(thesis.reservoir, thesis.wells)
    np.testing.assert_allclose(wi, expected, rtol=1e-12)
    assert thesis_re_ft(700, 700) == pytest.approx(re)


def test_peaceman_radius_isotropic_and_anisotropic():
    # isotropic square cell: r0 = 0.198 dx (Peaceman 1978), identical to the thesis' 0.14 sqrt(2) dx
    assert peaceman_r0_ft(100.0, 100.0, 50.0, 50.0) == pytest.approx(0.28 / np.sqrt(2) * 100.0, rel=1e-12)
    # anisotropic: equals the isotropic radius of the cell stretched to an isotropic medium
    # (x' = x (k/kx)^1/2, y' = y (k/ky)^1/2, k = sqrt(kx ky)): r0 = 0.14 sqrt(dx'^2 + dy'^2) / ... (Peaceman 1983 eq. 25)
    kx, ky, dx, dy = 400.0, 25.0, 100.0, 50.0
    r0 = 0.28 * np.sqrt(np.sqrt(ky / kx) * dx**2 + np.sqrt(kx / ky) * dy**2) / ((ky / kx) ** 0.25 + (kx / ky) ** 0.25)
    assert peaceman_r0_ft(dx, dy, kx, ky) == pytest.approx(r0, rel=1e-12)
    assert peaceman_r0_ft(dx, dy, kx, ky) != pytest.approx(peaceman_r0_ft(dx, dy, 100.0, 100.0), rel=1e-3)


def test_material_balance_every_step_thesis_batch(thesis):
    rng = np.random.default_rng(7)
    masks = rng.random((40, 25)) < 0.25
    masks[0] = False  # the no-well plan must stay at rest
    sim = BatchSimulator(thesis.reservoir, thesis.wells, thesis.dt_days)
    out = sim.run(masks, store_pressure=True)
    assert out.material_balance_error[1:].max() < 1e-8
    np.testing.assert_allclose(out.oil_rate_stb_d[0], 0.0, atol=0.0)
    np.testing.assert_allclose(out.final_pressure_psi[0], 5000.0, rtol=0, atol=1e-9)
    # independent bookkeeping: replay the thesis porosity law on the reported pressures; the oil in
    # place lost after every step equals the cumulative production (closed reservoir)
    res = thesis.reservoir
    p_prev = np.full((40, 25), 5000.0)
    pv = np.broadcast_to(res.ref_pore_volume_ft3, (40, 25)).copy()
    n0 = (pv / (res.pvt.bo(p_prev) * 5.614583)).sum(axis=1)
    for step in range(24):
        p = out.pressure_psi[:, step]
        pv = pv * (1 + 5e-6 * (p - p_prev))
        n_t = (pv / (res.pvt.bo(p) * 5.614583)).sum(axis=1)
        np.testing.assert_allclose(n0[1:] - n_t[1:], out.cumulative_oil_stb[1:, step], rtol=1e-8)
        p_prev = p
    # producers only: the average pressure never rises and stays above the wells' 2500 psi
    assert np.all(np.diff(out.average_pressure_psi, axis=1) <= 1e-9)
    assert out.average_pressure_psi.min() > 2500.0


def _hetero_3d(rock_law="eclipse"):
    rng = np.random.default_rng(3)
    n = 4 * 3 * 3
    k = np.exp(rng.normal(np.log(80.0), 0.8, n))
    pvt = PvtTable(np.array([1000.0, 3000.0, 6000.0]), np.array([1.30, 1.25, 1.21]), np.array([0.9, 1.1, 1.4]))
    return Reservoir(nx=4, ny=3, nz=3, dx_ft=300.0, dy_ft=250.0, dz_ft=np.array([20.0, 35.0, 25.0]), kx_md=k,
                     ky_md=0.7 * k, kz_md=0.1 * k, porosity=rng.uniform(0.12, 0.28, n), pvt=pvt,
                     initial_pressure_psi=4000.0, rock_compressibility_1_psi=4e-6, top_depth_ft=7000.0,
                     oil_density_lbm_ft3=50.0, rock_law=rock_law)


def test_gravity_equilibrium_and_3d_material_balance():
    res = _hetero_3d()
    design = WellDesign(bhp_psi=1500.0, rw_ft=0.3, skin=2.0)
    sim = BatchSimulator(res, design, [5.0, 10.0, 20.0, 40.0], linear_solver="sparse")
    masks = np.zeros((3, res.n_columns), dtype=bool)
    masks[1, [0, 7]] = True
    masks[2, 5] = True
    out = sim.run(masks, store_pressure=True)
    # no wells: the hydrostatic initial state is an exact steady state (gamma = 50/144 psi/ft)
    np.testing.assert_allclose(out.pressure_psi[0, -1], res.initial_pressures(), rtol=0, atol=1e-8)
    z = res.cell_depth_ft
    assert res.initial_pressures()[-1] - res.initial_pressures()[0] == pytest.approx(50.0 / 144.0 * (z[-1] - z[0]))
    # producing plans: mass balance per step relative to the step's production
    assert out.material_balance_error[1:].max() < 1e-8
    assert np.all(out.oil_rate_stb_d[1:] > 0)


def test_linear_solvers_agree(thesis):
    rng = np.random.default_rng(11)
    masks = rng.random((130, 25)) < 0.2
    ref = BatchSimulator(thesis.reservoir, thesis.wells, thesis.dt_days[:8], linear_solver="sparse",
                         newton_tol_psi=1e-9).run(masks)
    for solver in ("banded", "dense", "auto"):
        out = BatchSimulator(thesis.reservoir, thesis.wells, thesis.dt_days[:8], linear_solver=solver,
                             newton_tol_psi=1e-9).run(masks)
        np.testing.assert_allclose(out.oil_rate_stb_d, ref.oil_rate_stb_d, rtol=1e-9)


def test_jacobian_matches_finite_differences():
    res = _hetero_3d()
    sim = BatchSimulator(res, WellDesign(bhp_psi=1500.0, rw_ft=0.3), [10.0], linear_solver="sparse")
    n = res.n_cells
    mask = np.zeros((1, res.n_columns), dtype=bool)
    mask[0, [2, 9]] = True
    wi = mask.T[sim._col] * sim.cell_wi[:, None]
    rng = np.random.default_rng(5)
    p_old = res.initial_pressures()[:, None]
    p = p_old - rng.uniform(50.0, 400.0, (n, 1))
    pv = res.pore_volume_ft3(p_old)
    m = pv / (res.pvt.bo(p_old) * FT3_PER_BBL)
    r, vals = sim._assemble(p, p_old, pv, m, wi, None, 10.0, False)
    jac = np.zeros(n * n)
    jac[sim._dense_pos] = vals[:, 0]
    jac = jac.reshape(n, n)
    fd = np.zeros((n, n))
    h = 1e-4
    for j in range(n):
        dp = np.zeros((n, 1))
        dp[j] = h
        fd[:, j] = (sim._assemble(p + dp, p_old, pv, m, wi, None, 10.0, False)[0]
                    - sim._assemble(p - dp, p_old, pv, m, wi, None, 10.0, False)[0])[:, 0] / (2 * h)
    np.testing.assert_allclose(jac, fd, rtol=1e-5, atol=1e-6 * np.abs(jac).max())


def test_single_well_matches_line_source_with_peaceman():
    """Constant-rate well in a large homogeneous grid: the well pressure from the Peaceman model
    follows the line-source solution within 1% of the drawdown while the boundary is not felt."""
    n, dx, h, k, phi, mu, b0, co, cr, pi, rw, q = 41, 40.0, 50.0, 100.0, 0.2, 1.0, 1.2, 5e-6, 5e-6, 5000.0, 0.3, 500.0
    pk = np.array([3000.0, 7000.0])
    pvt = PvtTable(pk, b0 * (1 - co * (pk - pi)), np.array([mu, mu]))
    res = Reservoir(nx=n, ny=n, nz=1, dx_ft=dx, dy_ft=dx, dz_ft=h, kx_md=k, ky_md=k, kz_md=k, porosity=phi,
                    pvt=pvt, initial_pressure_psi=pi, rock_compressibility_1_psi=cr, rock_law="eclipse")
    design = WellDesign(bhp_psi=100.0, rw_ft=rw, skin=0.0)
    dt = np.full(30, 0.004)
    sim = BatchSimulator(res, design, dt, newton_tol_psi=1e-8)
    c = (n // 2) * n + n // 2
    mask = np.zeros((1, n * n), dtype=bool)
    mask[0, c] = True
    targets = np.full((1, n * n), np.nan)
    targets[0, c] = q
    out = sim.run(mask, rate_targets_stb_d=targets, store_pressure=True)
    np.testing.assert_allclose(out.oil_rate_stb_d[0], q, rtol=1e-12)
    p_cell = out.pressure_psi[0, :, c]
    pwf = p_cell - q * mu * pvt.bo(p_cell) / cell_well_index(res, design)[c]
    eta = DARCY_FIELD * FT3_PER_BBL * k / (phi * mu * (co + cr))      # ft2/day
    t = out.time_days
    pwf_exact = pi - q * b0 * mu / (4 * np.pi * DARCY_FIELD * k * h) * exp1(rw**2 / (4 * eta * t))
    late = t >= 0.06
    assert ((n // 2) * dx) ** 2 / (4 * eta * t[-1]) > 4      # boundary not reached (E1 < 4e-3)
    rel = np.abs(pwf - pwf_exact)[late] / (pi - pwf_exact)[late]
    assert rel.max() < 0.01
    assert out.material_balance_error.max() < 1e-8


def test_symmetric_placements_give_identical_npv(thesis):
    problem = build_problem(thesis)
    assert thesis.reservoir.is_square_symmetric()
    plan = np.zeros(25, dtype=bool)
    plan[[0, 7, 13, 19]] = True                      # no symmetry of its own
    images = np.array([plan[q] for q in square_symmetries(5)])
    assert len({m.tobytes() for m in images}) == 8
    npv = problem.simulate_npv(images)
    np.testing.assert_allclose(npv, npv[0], rtol=1e-10)
    # the cache maps every image to one canonical plan: one simulation serves all eight
    before = problem.n_simulated
    np.testing.assert_allclose(problem.evaluate(images), npv[0], rtol=1e-10)
    assert problem.n_simulated - before == 1


def test_rock_laws_agree_to_second_order(thesis):
    """The thesis' compounding porosity law and the Eclipse law differ by O((cr dp)^2) per step."""
    mask = np.zeros((1, 25), dtype=bool)
    mask[0, [6, 18]] = True
    a = BatchSimulator(thesis.reservoir, thesis.wells, thesis.dt_days).run(mask)
    ecl = dataclasses.replace(thesis.reservoir, rock_law="eclipse")
    b = BatchSimulator(ecl, thesis.wells, thesis.dt_days).run(mask)
    rel = np.abs(a.cumulative_oil_stb / b.cumulative_oil_stb - 1)
    assert rel.max() < 1e-3
    assert rel.max() > 0  # the laws are different
