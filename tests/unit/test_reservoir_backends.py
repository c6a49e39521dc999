"""Simulator backends: the compiled Numba kernel and the PyTorch path against the NumPy simulator.

The three implement the same discrete equations (González Nieves 2018, eq. 3.11-3.37; Peaceman wells)
and converge each time step's Newton iteration to the same tolerance (NumPy and Torch along the same
iterates, the kernel with a geometric predictor and chord steps), so they must agree to within 1e-9
relative in rates (against each plan's peak rate) and in cumulative oil, on the 5x5 reference case
(plans with 0..25 wells) and the 20x20 channelized case, with material balance <= 1e-8 per step.  The
brute force (every plan code, no pruning) must find the certified optimum of exhaustive search with
symmetry and bounds.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from engines.reservoir.case import CASES_DIR, case_from_dict, load_case
from engines.reservoir.certify import _popcount, canonical_codes, certify, exhaustive_search, plan_codes_to_masks
from engines.reservoir.planner import build_problem
from engines.reservoir.pvt import PvtTable
from engines.reservoir.reservoir import Reservoir
from engines.reservoir import sparse_lu
from engines.reservoir.simulator import SPARSE_MIN_BATCH, BatchSimulator
from engines.reservoir.wells import WellDesign

RTOL = 1e-9


@pytest.fixture(scope="module")
def thesis():
    return load_case("thesis_5x5")


def _plans_every_count(rng, n_cols, per_count):
    """``per_count`` random plans for every well count 0..n_cols."""
    out = []
    for k in range(n_cols + 1):
        for _ in range(per_count if 0 < k < n_cols else 1):
            m = np.zeros(n_cols, dtype=bool)
            m[rng.choice(n_cols, k, replace=False)] = True
            out.append(m)
    return np.array(out)


def assert_same_simulation(out, ref, *, pressures=False):
    peak = np.abs(ref.oil_rate_stb_d).max(axis=1, keepdims=True)
    assert np.all(np.abs(out.oil_rate_stb_d - ref.oil_rate_stb_d) <= RTOL * peak)
    np.testing.assert_allclose(out.cumulative_oil_stb, ref.cumulative_oil_stb, rtol=RTOL, atol=0)
    np.testing.assert_allclose(out.average_pressure_psi, ref.average_pressure_psi, rtol=RTOL, atol=0)
    np.testing.assert_allclose(out.final_pressure_psi, ref.final_pressure_psi, rtol=RTOL, atol=0)
    if ref.well_rates_stb_d is not None:
        assert np.all(np.abs(out.well_rates_stb_d - ref.well_rates_stb_d) <= RTOL * peak[:, :, None])
    if pressures:
        np.testing.assert_allclose(out.pressure_psi, ref.pressure_psi, rtol=RTOL, atol=0)


def assert_material_balance(out, masks, sim):
    """Relative material-balance error <= 1e-8 per step, except where a depleted plan's step production
    is so small that the imbalance is the round-off of summing the oil in place (<= 1e-15 of it)."""
    ooip = float(np.sum(sim._pv0 / (sim.reservoir.pvt.bo(sim._p0) * 5.614583)))
    prod = out.oil_rate_stb_d * sim.dt_days
    producing = masks.any(axis=1)
    err, prod = out.material_balance_error[producing], prod[producing]
    assert np.all((err <= 1e-8) | (err * prod <= 1e-15 * ooip))
    assert (err <= 1e-8).mean() > 0.98


@pytest.mark.parametrize("solver", ["auto", "sparse"])
def test_numba_matches_numpy_on_thesis_case_for_every_well_count(thesis, solver):
    masks = _plans_every_count(np.random.default_rng(21), 25, 6)       # 0..25 wells, 140 plans
    ref = BatchSimulator(thesis.reservoir, thesis.wells, thesis.dt_days, backend="numpy").run(masks, store_well_rates=True)
    if solver == "auto":        # 140 plans: the banded LU (the generated one is for large batches)
        sim = BatchSimulator(thesis.reservoir, thesis.wells, thesis.dt_days)
        assert sim._sparse_kernel(masks.shape[0]) is None or sparse_lu.is_loaded(25, sim._ci, sim._cj)
    else:                       # the straight-line sparse LU generated for the 5x5 pattern
        sim = BatchSimulator(thesis.reservoir, thesis.wells, thesis.dt_days, backend="numba", linear_solver="sparse")
        assert sim._sparse_kernel(masks.shape[0]) is not None
    assert sim.backend == "numba"
    out = sim.run(masks, store_well_rates=True)
    assert_same_simulation(out, ref)
    producing = masks.any(axis=1)
    assert_material_balance(out, masks, sim)
    # the no-well plan stays at rest; well rates add up to the field rate
    assert np.all(out.oil_rate_stb_d[~producing] == 0.0)
    np.testing.assert_allclose(out.well_rates_stb_d.sum(axis=2), out.oil_rate_stb_d, rtol=1e-12)
    # the same batch gives bit-identical results; batches of another size and order give the same plans'
    # results up to round-off (a block's lanes share the PVT knots visited and the chord decision, which
    # changes the last bits only)
    np.testing.assert_array_equal(sim.run(masks).oil_rate_stb_d, out.oil_rate_stb_d)
    part = sim.run(masks[::-1][:37])
    peak = np.abs(out.oil_rate_stb_d[::-1][:37]).max(axis=1, keepdims=True)
    assert np.all(np.abs(part.oil_rate_stb_d - out.oil_rate_stb_d[::-1][:37]) <= 1e-12 * peak)


def test_numba_matches_numpy_on_channel_case():
    case = load_case("channel_20x20")
    rng = np.random.default_rng(5)
    masks = np.zeros((6, 400), dtype=bool)
    for b, k in enumerate((1, 2, 4, 6, 8, 10)):
        masks[b, rng.choice(400, k, replace=False)] = True
    dt = case.dt_days[:12]
    ref = BatchSimulator(case.reservoir, case.wells, dt, backend="numpy").run(masks)
    out = BatchSimulator(case.reservoir, case.wells, dt, backend="numba").run(masks)
    assert_same_simulation(out, ref)
    assert out.material_balance_error.max() <= 1e-8


def _hetero_3d(rock_law="eclipse"):
    rng = np.random.default_rng(3)
    n = 4 * 3 * 3
    k = np.exp(rng.normal(np.log(80.0), 0.8, n))
    pvt = PvtTable(np.array([1000.0, 3000.0, 6000.0]), np.array([1.30, 1.25, 1.21]), np.array([0.9, 1.1, 1.4]))
    return Reservoir(nx=4, ny=3, nz=3, dx_ft=300.0, dy_ft=250.0, dz_ft=np.array([20.0, 35.0, 25.0]), kx_md=k,
                     ky_md=0.7 * k, kz_md=0.1 * k, porosity=rng.uniform(0.12, 0.28, n), pvt=pvt,
                     initial_pressure_psi=4000.0, rock_compressibility_1_psi=4e-6, top_depth_ft=7000.0,
                     oil_density_lbm_ft3=50.0, rock_law=rock_law)


@pytest.mark.parametrize("backend", ["numba", "numba-sparse", "torch"])
def test_backends_match_numpy_in_3d_with_gravity_and_eclipse_rock_law(backend):
    pytest.importorskip("torch") if backend == "torch" else None
    res = _hetero_3d()
    design = WellDesign(bhp_psi=1500.0, rw_ft=0.3, skin=2.0)
    dt = [5.0, 10.0, 20.0, 40.0]
    masks = np.zeros((4, res.n_columns), dtype=bool)
    masks[1, [0, 7]] = True
    masks[2, 5] = True
    masks[3, :] = True
    ref = BatchSimulator(res, design, dt, backend="numpy").run(masks, store_pressure=True, store_well_rates=True)
    kw = {"backend": "numba", "linear_solver": "sparse"} if backend == "numba-sparse" else {"backend": backend}
    sim = BatchSimulator(res, design, dt, device="cpu", **kw)
    if backend == "numba-sparse":       # 36 cells with vertical connections: a pattern of its own
        assert sim._sparse_kernel(4) is not None
    out = sim.run(masks, store_pressure=True, store_well_rates=True)
    assert_same_simulation(out, ref, pressures=True)
    # no wells: the hydrostatic initial state is an exact steady state
    np.testing.assert_allclose(out.pressure_psi[0, -1], res.initial_pressures(), rtol=0, atol=1e-8)
    assert out.material_balance_error[1:].max() < 1e-8


@pytest.mark.parametrize("backend", ["numba", "numba-sparse", "torch"])
def test_backends_match_numpy_under_rate_control(thesis, backend):
    pytest.importorskip("torch") if backend == "torch" else None
    rng = np.random.default_rng(8)
    masks = rng.random((24, 25)) < 0.25
    targets = np.where(rng.random((24, 25)) < 0.5, rng.uniform(500.0, 8000.0, (24, 25)), np.nan)
    dt = thesis.dt_days[:10]
    ref = BatchSimulator(thesis.reservoir, thesis.wells, dt, backend="numpy").run(
        masks, rate_targets_stb_d=targets, store_well_rates=True)
    kw = {"backend": "numba", "linear_solver": "sparse"} if backend == "numba-sparse" else {"backend": backend}
    out = BatchSimulator(thesis.reservoir, thesis.wells, dt, device="cpu", **kw).run(
        masks, rate_targets_stb_d=targets, store_well_rates=True)
    assert_same_simulation(out, ref)
    # a capped well produces exactly its target
    capped = np.isfinite(targets) & masks
    b, c = np.argwhere(capped)[0]
    if ref.well_rates_stb_d[b, 0, c] < targets[b, c] * (1 - 1e-12):
        pytest.fail("test plan should start on rate control")
    assert out.well_rates_stb_d[b, 0, c] == pytest.approx(targets[b, c], rel=1e-12)


def test_torch_matches_numpy_on_thesis_case(thesis):
    pytest.importorskip("torch")
    masks = _plans_every_count(np.random.default_rng(4), 25, 2)
    dt = thesis.dt_days
    ref = BatchSimulator(thesis.reservoir, thesis.wells, dt, backend="numpy").run(masks)
    sim = BatchSimulator(thesis.reservoir, thesis.wells, dt, backend="torch", device="cpu")
    assert sim.device == "cpu"
    out = sim.run(masks)
    assert_same_simulation(out, ref)
    assert_material_balance(out, masks, sim)


def test_torch_matches_numpy_on_channel_case():
    pytest.importorskip("torch")
    case = load_case("channel_20x20")
    masks = np.zeros((3, 400), dtype=bool)
    masks[0, [45, 210]] = True
    masks[1, [12, 97, 188, 250, 333, 390]] = True
    dt = case.dt_days[:6]
    ref = BatchSimulator(case.reservoir, case.wells, dt, backend="numpy").run(masks)
    out = BatchSimulator(case.reservoir, case.wells, dt, backend="torch", device="cpu").run(masks)
    assert_same_simulation(out, ref)


def test_backend_selection_and_errors(thesis, monkeypatch):
    r, w, dt = thesis.reservoir, thesis.wells, thesis.dt_days
    assert BatchSimulator(r, w, dt).backend == "numba"
    assert BatchSimulator(r, w, dt, linear_solver="sparse").backend == "numpy"   # explicit solver: NumPy path
    wide = Reservoir(nx=9, ny=9, nz=2, dx_ft=700.0, dy_ft=700.0, dz_ft=np.array([300.0, 350.0]), kx_md=100.0,
                     ky_md=100.0, kz_md=10.0, porosity=0.2, pvt=r.pvt, initial_pressure_psi=5000.0)  # bandwidth 81
    assert BatchSimulator(wide, w, dt).backend == "numpy"
    # the generated sparse LU: for batches of SPARSE_MIN_BATCH plans or more with linear_solver="auto",
    # always with "sparse", never with "banded", nor where the elimination is too long (20x20: 42,000+
    # multiply-adds in minimum degree order)
    auto = BatchSimulator(r, w, dt)
    assert auto._sparse_kernel(SPARSE_MIN_BATCH) is not None
    assert auto._sparse_kernel(10) is not None          # once loaded, small batches use it too
    assert BatchSimulator(r, w, dt, backend="numba", linear_solver="banded")._sparse_kernel(10**6) is None
    channel = load_case("channel_20x20")
    big = BatchSimulator(channel.reservoir, channel.wells, dt, backend="numba", linear_solver="sparse")
    assert sparse_lu.symbolic_lu(400, big._ci, big._cj).n_fma > sparse_lu.MAX_SPARSE_FMA
    assert big._sparse_kernel(10**6) is None
    with pytest.raises(ValueError, match="backend"):
        BatchSimulator(r, w, dt, backend="tpu")
    # Newton failure is reported, not returned as garbage
    mask = np.zeros((1, 25), dtype=bool)
    mask[0, 12] = True
    with pytest.raises(RuntimeError, match="did not converge"):
        BatchSimulator(r, w, dt, max_newton=1).run(mask)
    # torch is imported lazily, with a clear message when it is missing
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="needs PyTorch"):
        BatchSimulator(r, w, dt, backend="torch")


def test_placement_problem_uses_the_compiled_kernel_and_backends_give_equal_npv(thesis):
    problem = build_problem(thesis)
    assert problem.simulator.backend == "numba"
    masks = _plans_every_count(np.random.default_rng(2), 25, 1)
    npv = problem.simulate_npv(masks)
    ref = build_problem(thesis, backend="numpy").simulate_npv(masks)
    np.testing.assert_allclose(npv, ref, rtol=RTOL, atol=1e-9 * np.abs(ref).max())
    with pytest.raises(ValueError, match="backend"):
        build_problem(thesis, backend="fortran")


def _small_doc(n):
    doc = json.loads((CASES_DIR / "thesis_5x5.json").read_text())
    doc["grid"].update(nx=n, ny=n)
    doc["schedule"]["n_steps"] = 12
    return doc


def test_brute_force_finds_the_certified_optimum_on_4x4():
    problem = build_problem(case_from_dict(_small_doc(4)))
    cert = certify(problem)
    brute = exhaustive_search(problem, chunk=20000)
    assert brute.n_simulated == brute.n_covered == 2**16
    assert brute.best_npv_usd == pytest.approx(cert.best_npv_usd, rel=1e-9)
    syms = problem.symmetries
    assert canonical_codes(np.array([_code(brute.best_mask)]), syms)[0] == canonical_codes(
        np.array([_code(cert.best_mask)]), syms)[0]
    # one plan per orbit: Burnside's count of orbits of the 2^16 plans under the square's 8 symmetries
    sym = exhaustive_search(problem, symmetric=True)
    assert sym.n_simulated == 8548 and sym.n_covered == 2**16
    assert sym.best_npv_usd == pytest.approx(cert.best_npv_usd, rel=1e-9)
    # explicit codes and the mask encoding
    codes = np.array([0, 1, 2**15, 2**16 - 1])
    masks = plan_codes_to_masks(codes, 16)
    assert masks.sum(axis=1).tolist() == [0, 1, 1, 16] and masks[2, 15]
    part = exhaustive_search(problem, codes)
    assert part.n_simulated == 4 and part.best_npv_usd == pytest.approx(problem.simulate_npv(masks).max(), rel=1e-12)


def _code(mask):
    return int(np.sum(np.asarray(mask, dtype=np.int64) << np.arange(mask.size)))


def test_pvt_hinges_restricted_to_the_blocks_pressure_range_equal_the_table(thesis):
    """The kernel's PVT visits only the knots inside a cell's pressure range over its block: the line of
    the segment below the range plus the hinges inside it must be the piecewise-linear table itself."""
    from engines.reservoir.numba_kernel import _knot_range

    pvt = thesis.reservoir.pvt
    kp, kb, km, sb, sm = pvt.pressure_psi, pvt.bo_rb_stb, pvt.viscosity_cp, pvt._b_slope, pvt._mu_slope
    rng = np.random.default_rng(11)
    ranges = [(2500.0, 5000.0), (4700.0, 4990.0), (-200.0, 7000.0), (3554.2, 4265.1), (100.0, 300.0), (5600.0, 9000.0),
              (-500.0, -100.0)]
    for lo, hi in ranges:
        p = np.concatenate([rng.uniform(lo, hi, 61), [lo, hi, np.clip(3554.2, lo, hi)]])[None, :]
        q0, q1 = _knot_range(p, 0, kp, p.shape[1])
        inner = kp[1:-1]
        assert q1 - q0 - 1 == np.count_nonzero((inner > p.min()) & (inner <= p.max()))
        b = kb[q0] + sb[q0] * (p[0] - kp[q0])
        mu = km[q0] + sm[q0] * (p[0] - kp[q0])
        db = np.full(p.shape[1], sb[q0])
        for q in range(q0 + 1, q1):
            b += (sb[q] - sb[q - 1]) * np.maximum(p[0] - kp[q], 0.0)
            mu += (sm[q] - sm[q - 1]) * np.maximum(p[0] - kp[q], 0.0)
            db += np.where(p[0] >= kp[q], sb[q] - sb[q - 1], 0.0)
        ref_b, ref_db, ref_mu, _ = pvt.evaluate(p[0])
        np.testing.assert_allclose(b, ref_b, rtol=1e-14, atol=0)
        np.testing.assert_allclose(mu, ref_mu, rtol=1e-14, atol=0)
        np.testing.assert_allclose(db, ref_db, rtol=1e-9, atol=1e-18)


def test_exhaustive_search_does_not_depend_on_the_order_of_the_codes():
    problem = build_problem(case_from_dict(_small_doc(4)))
    codes = np.random.default_rng(3).permutation(2**16)[:3000]
    a = exhaustive_search(problem, codes, chunk=1024)
    b = exhaustive_search(problem, np.sort(codes), chunk=700)
    # the same plan (or, should two images of one plan be in the sample, the same orbit: their NPVs differ
    # in the last bits only) and the same NPV
    syms = problem.symmetries
    assert canonical_codes(np.array([_code(a.best_mask)]), syms)[0] == canonical_codes(
        np.array([_code(b.best_mask)]), syms)[0]
    # (NPV = discounted revenue - 100 M$ capital here: the revenue's last bits weigh ~1e-12 of it)
    assert a.best_npv_usd == pytest.approx(b.best_npv_usd, rel=1e-10)
    npv = problem.simulate_npv(plan_codes_to_masks(codes, 16))
    assert a.best_npv_usd == pytest.approx(npv.max(), rel=1e-10)
    assert _code(a.best_mask) in set(codes[npv >= npv.max() - 1e-10 * abs(npv.max())].tolist())
    # the well count used to order each chunk's plans
    c = np.array([0, 1, 2**16 - 1, 0b1011, 2**40 + 5])
    assert _popcount(c).tolist() == [0, 1, 16, 3, 3]
