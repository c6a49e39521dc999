"""The one-thread-per-plan kernel (engines.reservoir.gpu_kernel) against the NumPy simulator.

The generated per-plan code is compiled for the CPU (the same source as the CUDA build, only the
decorators differ) and must reproduce the NumPy path's rates, pressures and material balance to 1e-9
relative, in 2D with the thesis rock law and in 3D with gravity and the Eclipse rock law.  Its discounted
volumes must give the NPV of the economics of the full rate profile, and the brute force driven by it the
same optimum as the brute force on the Numba kernel.  The CUDA build itself runs under Numba's CUDA
simulator (no GPU needed): the kernel launch, thread indexing and device arrays, against the CPU build.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engines.reservoir import gpu_kernel, sparse_lu
from engines.reservoir.case import case_from_dict
from engines.reservoir.certify import exhaustive_search, plan_codes_to_masks
from engines.reservoir.economics import (EconomicParameters, discount_factors, npv_breakdown,
                                         npv_from_discounted_volume)
from engines.reservoir.planner import build_problem
from engines.reservoir.pvt import PvtTable
from engines.reservoir.reservoir import Reservoir
from engines.reservoir.simulator import BatchSimulator
from engines.reservoir.wells import WellDesign

from tests.unit.test_reservoir_backends import _small_doc, assert_same_simulation

ROOT = Path(__file__).resolve().parents[2]


def _res_3d():
    rng = np.random.default_rng(5)
    n = 3 * 2 * 2
    k = np.exp(rng.normal(np.log(60.0), 0.7, n))
    pvt = PvtTable(np.array([1000.0, 2500.0, 4000.0, 6000.0]), np.array([1.30, 1.26, 1.24, 1.21]),
                   np.array([0.9, 1.0, 1.15, 1.4]))
    return Reservoir(nx=3, ny=2, nz=2, dx_ft=300.0, dy_ft=250.0, dz_ft=np.array([30.0, 45.0]), kx_md=k,
                     ky_md=0.6 * k, kz_md=0.1 * k, porosity=rng.uniform(0.12, 0.28, n), pvt=pvt,
                     initial_pressure_psi=4200.0, rock_compressibility_1_psi=5e-6, top_depth_ft=7000.0,
                     oil_density_lbm_ft3=50.0, rock_law="eclipse")


def _wi(sim, masks):
    return masks.T[sim._col] * sim.cell_wi[:, None]


def test_plan_kernel_matches_numpy_in_3d_with_gravity_and_eclipse_rock_law():
    res = _res_3d()
    sim = BatchSimulator(res, WellDesign(bhp_psi=1500.0, rw_ft=0.3, skin=1.0), [5.0, 10.0, 20.0, 40.0, 40.0, 40.0],
                         backend="numpy")
    masks = plan_codes_to_masks(np.arange(2**res.n_columns), res.n_columns)    # every plan of the 6 columns
    ref = sim.run(masks, store_pressure=True, store_well_rates=True)
    out = gpu_kernel.PlanKernel(sim, "cpu").run(_wi(sim, masks), store_well_rates=True, store_pressure=True)
    assert_same_simulation(out, ref, pressures=True)
    assert out.material_balance_error[1:].max() < 1e-8
    # no wells: the hydrostatic initial state is an exact steady state
    np.testing.assert_allclose(out.pressure_psi[0, -1], res.initial_pressures(), rtol=0, atol=1e-8)


def test_plan_kernel_matches_numpy_on_a_4x4_thesis_grid_and_gives_the_npv():
    problem = build_problem(case_from_dict(_small_doc(4)), backend="numpy")
    sim = problem.simulator
    kern = gpu_kernel.PlanKernel(sim, "cpu")
    codes = np.random.default_rng(11).choice(2**16, 300, replace=False).astype(np.int64)
    masks = plan_codes_to_masks(codes, 16)
    ref = sim.run(masks)
    out = kern.run(_wi(sim, masks))
    assert_same_simulation(out, ref)
    assert np.all(out.material_balance_error <= 1e-8)
    # the discounted volume of each plan, decoded from its code in the kernel, gives the NPV of the economics
    # of its rate profile; by explicit codes and by a contiguous code range
    weights = sim.dt_days * discount_factors(np.cumsum(sim.dt_days), problem.economics)
    want = problem.economics_of(masks, ref).npv_usd
    dv, err, status = kern.discounted_volumes(weights, offsets=codes)
    assert not status.any() and err.max() <= 1e-8
    np.testing.assert_allclose(npv_from_discounted_volume(dv, masks.sum(axis=1), problem.economics), want,
                               rtol=1e-9, atol=1e-3)
    dv2, _, _ = kern.discounted_volumes(weights, code_base=1000, count=50)
    m2 = plan_codes_to_masks(np.arange(1000, 1050), 16)
    np.testing.assert_allclose(npv_from_discounted_volume(dv2, m2.sum(axis=1), problem.economics),
                               problem.simulate_npv(m2), rtol=1e-9, atol=1e-3)


def test_npv_from_discounted_volume_equals_the_breakdown_including_the_tax_floor():
    rng = np.random.default_rng(2)
    t = np.arange(1, 25) * 30.0
    v = rng.uniform(0, 5e4, (50, 24))
    v[0] = 0.0
    n = rng.integers(0, 8, 50)
    for price in (60.0, 8.0):          # 8 $/bbl: negative margin, the tax floor at zero applies
        params = EconomicParameters(oil_price_usd_bbl=price)
        want = npv_breakdown(v, t, n, params).npv_usd
        dv = (v * discount_factors(t, params)).sum(axis=1)
        np.testing.assert_allclose(npv_from_discounted_volume(dv, n, params), want, rtol=1e-12, atol=1e-6)


def test_brute_force_on_the_plan_kernel_equals_the_numba_brute_force():
    case = case_from_dict(_small_doc(4))
    want = exhaustive_search(build_problem(case), chunk=2**14)
    problem = build_problem(case, backend="numpy")
    problem.simulator._cuda = gpu_kernel.PlanKernel(problem.simulator, "cpu")     # the GPU path's driver, on the CPU
    problem.simulator.backend = "cuda"
    got = exhaustive_search(problem, chunk=2**12)
    assert got.n_simulated == got.n_covered == 2**16
    assert got.best_npv_usd == pytest.approx(want.best_npv_usd, rel=1e-9)
    assert np.array_equal(got.best_mask, want.best_mask)
    assert problem.n_simulated == 2**16
    part = exhaustive_search(problem, np.array([0, 3, 2**16 - 1], dtype=np.int64))
    assert part.n_simulated == 3
    assert part.best_npv_usd == pytest.approx(problem.simulate_npv(plan_codes_to_masks(np.array([0, 3, 2**16 - 1]),
                                                                                      16)).max(), rel=1e-9)


def test_cuda_build_runs_under_the_cuda_simulator_and_equals_the_cpu_build():
    script = textwrap.dedent("""
        import numpy as np
        from engines.reservoir import gpu_kernel
        from engines.reservoir.certify import plan_codes_to_masks
        from engines.reservoir.simulator import BatchSimulator
        from engines.reservoir.wells import WellDesign
        from tests.unit.test_reservoir_gpu_kernel import _res_3d
        assert gpu_kernel.cuda_available()
        sim = BatchSimulator(_res_3d(), WellDesign(bhp_psi=1500.0, rw_ft=0.3, skin=1.0), [5.0, 10.0, 20.0],
                             backend="cuda")
        masks = plan_codes_to_masks(np.array([0, 5, 63]), 6)
        out = sim.run(masks, store_well_rates=True)
        ref = gpu_kernel.PlanKernel(sim, "cpu").run(masks.T[sim._col] * sim.cell_wi[:, None], store_well_rates=True)
        assert np.abs(out.oil_rate_stb_d - ref.oil_rate_stb_d).max() <= 1e-12 * ref.oil_rate_stb_d.max()
        assert np.abs(out.well_rates_stb_d - ref.well_rates_stb_d).max() <= 1e-12 * ref.oil_rate_stb_d.max()
        w = np.ones(3)
        dv, err, st = (gpu_kernel.to_host(a) for a in sim._cuda.discounted_volumes(w, code_base=4, count=2))
        assert st.tolist() == [0, 0]
        r45 = sim.run(plan_codes_to_masks(np.array([4, 5]), 6)).oil_rate_stb_d.sum(axis=1)
        assert np.allclose(dv, r45, rtol=1e-12)
        print("ok")
    """)
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")


def test_cuda_backend_errors_are_clear(monkeypatch):
    res = _res_3d()
    design = WellDesign(bhp_psi=1500.0, rw_ft=0.3, skin=1.0)
    monkeypatch.setattr(gpu_kernel, "cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        BatchSimulator(res, design, [10.0], backend="cuda")
    with pytest.raises(ValueError, match="target"):
        gpu_kernel.PlanKernel(BatchSimulator(res, design, [10.0], backend="numpy"), "tpu")
    # a pattern whose elimination exceeds the straight-line limit is refused, not compiled
    one = np.ones(100)
    big = Reservoir(nx=10, ny=10, nz=1, dx_ft=100.0, dy_ft=100.0, dz_ft=np.array([50.0]), kx_md=50.0 * one,
                    ky_md=50.0 * one, kz_md=5.0 * one, porosity=0.2 * one, pvt=res.pvt, initial_pressure_psi=4000.0)
    sim = BatchSimulator(big, design, [10.0], backend="numpy")
    assert sparse_lu.symbolic_lu(100, sim._ci, sim._cj).n_fma > sparse_lu.MAX_SPARSE_FMA
    with pytest.raises(ValueError, match="multiply-adds"):
        gpu_kernel.PlanKernel(sim, "cpu")


@pytest.mark.parametrize("solver", ["banded", "sparse"])
def test_chord_steps_are_not_taken_near_a_wells_kink(solver):
    """Plan 31 of the 3D case alone: a well cell converges to 0.002 psi above its bottom-hole pressure,
    where the rate's kink once made chord steps land in a Newton cycle ("did not converge")."""
    res = _res_3d()
    design = WellDesign(bhp_psi=1500.0, rw_ft=0.3, skin=1.0)
    dt = [5.0, 10.0, 20.0, 40.0, 40.0, 40.0]
    masks = plan_codes_to_masks(np.array([31]), 6)
    ref = BatchSimulator(res, design, dt, backend="numpy").run(masks, store_pressure=True)
    assert 0 < ref.pressure_psi[0, 4].min() - 1500.0 < 0.01
    out = BatchSimulator(res, design, dt, backend="numba", linear_solver=solver).run(masks, store_pressure=True)
    assert_same_simulation(out, ref, pressures=True)


def test_feasibility_of_codes_equals_the_problems_on_masks():
    from engines.reservoir.certify import _codes_feasible, _popcount
    from engines.reservoir.problem import PlacementConstraints, PlacementProblem

    case = case_from_dict(_small_doc(4))
    sim = BatchSimulator(case.reservoir, case.wells, case.dt_days, backend="numpy")
    codes = np.arange(2**16, dtype=np.int64)
    masks = plan_codes_to_masks(codes, 16)
    for cons in (PlacementConstraints(), PlacementConstraints(max_wells=3, forbidden_columns=(0, 5)),
                 PlacementConstraints(min_spacing_ft=1.5 * case.reservoir.dx_ft, forbidden_columns=(15,))):
        problem = PlacementProblem(sim, case.economics, cons)
        want = problem.is_feasible(masks)
        assert np.array_equal(_codes_feasible(problem, codes, _popcount(codes)), want)
        assert 0 < want.sum() <= 2**16
