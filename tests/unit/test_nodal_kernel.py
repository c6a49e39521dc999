"""The compiled (numba) traverse against the NumPy reference implementation: 1e-9 relative on pressures.

The grid covers every Beggs & Brill flow pattern (checked, not assumed), uphill, horizontal and downhill
segments, Payne on/off, Hagedorn & Brown (bubble and slug, with the kinetic-energy term) and the
no-slip model, top-down and bottom-up marches, the pump and gas-lift hooks and the fleet kernel.
"""
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from engines.nodal import BlackOilFluid, CompositeIpr, GasInjection, PumpBoost, Wellbore, fluid_state, in_situ_flow, traverse
from engines.nodal import kernel as kernel_module
from engines.nodal.beggs_brill import DISTRIBUTED, INTERMITTENT, SEGREGATED, TRANSITION, beggs_brill_gradient
from engines.nodal.fleet import fleet_bottomhole_pressure, solve_fleet
from engines.nodal.hagedorn_brown import BUBBLE, SLUG, hagedorn_brown_gradient

RTOL = 1e-9

FLUIDS = {
    "black_oil": BlackOilFluid(oil_api=35.0, gas_sg=0.75, water_cut_frac=0.3, gor_scf_stb=800.0, bubble_point_psia=2500.0),
    "free_gas": BlackOilFluid(oil_api=35.0, gas_sg=0.65, water_cut_frac=0.3, gor_scf_stb=800.0, water_sg=1.07,
                              bubble_point_psia=2500.0, rsb_scf_stb=500.0),
    "gassy": BlackOilFluid(oil_api=45.0, gas_sg=0.7, water_cut_frac=0.05, gor_scf_stb=20000.0),
    "heavy_wet": BlackOilFluid(oil_api=18.0, gas_sg=0.9, water_cut_frac=0.85, gor_scf_stb=60.0, water_sg=1.15),
    "water": BlackOilFluid(oil_api=35.0, gas_sg=0.75, water_cut_frac=1.0, gor_scf_stb=0.0, water_sg=1.0),
}
WELLS = {
    "vertical": Wellbore.vertical(8000.0, tubing_id_in=2.441),
    # 2000 ft vertical, 60 deg slant, a horizontal stretch, then 300 ft of downhill (toe below heel... drops 300 ft)
    "undulating": Wellbore.from_survey([2000.0, 6000.0, 7000.0, 8000.0], [2000.0, 4000.0, 4000.0, 3700.0], tubing_id_in=3.958),
    "horizontal_pipe": Wellbore(md_ft=(0.0, 5000.0), tvd_ft=(0.0, 0.0), tubing_id_in=4.0),
}
RATES = np.array([0.0, 5.0, 60.0, 400.0, 1500.0, 4000.0, 9000.0])


def _both(q, fluid, well, **kwargs):
    a = traverse(q, fluid, well, **kwargs)
    b = traverse(q, fluid, well, backend="numpy", **kwargs)
    return a, b


def _assert_same(a, b):
    np.testing.assert_array_equal(a.md_ft, b.md_ft)
    np.testing.assert_array_equal(np.isnan(a.pressure_psia), np.isnan(b.pressure_psia))
    np.testing.assert_allclose(a.pressure_psia, b.pressure_psia, rtol=RTOL, atol=0.0, equal_nan=True)
    np.testing.assert_allclose(a.holdup, b.holdup, rtol=1e-8, atol=1e-12, equal_nan=True)


def _bb_patterns(result, fluid, well):
    """Beggs & Brill patterns at the traversed nodes (NumPy reference gradient)."""
    patterns = set()
    angles = np.degrees(np.arcsin(np.clip(np.diff(result.tvd_ft) / np.diff(result.md_ft), -1, 1)))
    for i in range(result.md_ft.size - 1):
        p = result.pressure_psia[i]
        ok = np.isfinite(p)
        if not ok.any():
            continue
        state = fluid_state(fluid, p[ok], result.temperature_f[i])
        flow = in_situ_flow(fluid, state, result.q_bpd[ok], well.area_ft2)
        g = beggs_brill_gradient(flow, well.diameter_ft, well.roughness_in, angles[i], p[ok])
        patterns |= {int(v) for v in np.atleast_1d(g.pattern)}
    return patterns


@pytest.fixture(scope="module")
def grid_results():
    out = {}
    for fname, fluid in FLUIDS.items():
        for wname, well in WELLS.items():
            for corr in ("beggs_brill", "beggs_brill_original", "hagedorn_brown", "no_slip"):
                out[fname, wname, corr] = _both(RATES, fluid, well, wellhead_pressure_psia=150.0, correlation=corr, n_segments=40)
    return out


def test_compiled_matches_numpy_on_the_grid(grid_results):
    for (fname, wname, corr), (a, b) in grid_results.items():
        try:
            _assert_same(a, b)
        except AssertionError as exc:  # name the case
            raise AssertionError(f"{fname} / {wname} / {corr}: {exc}") from None


def test_grid_visits_every_flow_pattern_and_inclination(grid_results):
    seen = set()
    for (fname, wname, corr), (_, b) in grid_results.items():
        if corr == "beggs_brill":
            seen |= _bb_patterns(b, FLUIDS[fname], WELLS[wname])
    assert seen == {SEGREGATED, INTERMITTENT, DISTRIBUTED, TRANSITION}
    angles = np.concatenate([np.diff(w._tvd) / np.diff(w._md) for w in WELLS.values()])
    assert (angles > 0).any() and (angles == 0).any() and (angles < 0).any()
    # Payne makes a difference where it should (uphill two-phase), so the on/off comparison is not vacuous
    a = grid_results["black_oil", "vertical", "beggs_brill"][1].pressure_psia[-1, 3]
    b = grid_results["black_oil", "vertical", "beggs_brill_original"][1].pressure_psia[-1, 3]
    assert abs(a / b - 1) > 0.01


def test_hagedorn_brown_grid_covers_bubble_and_slug(grid_results):
    seen = set()
    b = grid_results["black_oil", "vertical", "hagedorn_brown"][1]
    for i in range(0, b.md_ft.size, 5):
        p = b.pressure_psia[i]
        state = fluid_state(FLUIDS["black_oil"], p, b.temperature_f[i])
        flow = in_situ_flow(FLUIDS["black_oil"], state, b.q_bpd, WELLS["vertical"].area_ft2)
        seen |= {int(v) for v in hagedorn_brown_gradient(flow, WELLS["vertical"].diameter_ft, 0.0006, 90.0, p).pattern}
    assert seen == {BUBBLE, SLUG}


@pytest.mark.parametrize("corr", ["beggs_brill", "hagedorn_brown"])
def test_bottom_up_pump_and_gas_lift_hooks(corr):
    well = WELLS["vertical"]
    fluid = FLUIDS["black_oil"]
    _assert_same(*_both(RATES[1:], fluid, well, bottomhole_pressure_psia=2600.0, correlation=corr, n_segments=50))
    pump = PumpBoost(6000.0, lambda q: 1800.0 - 0.2 * q)
    _assert_same(*_both(RATES, fluid, well, wellhead_pressure_psia=120.0, correlation=corr, pump=pump))
    _assert_same(*_both(RATES, fluid, well, bottomhole_pressure_psia=900.0, correlation=corr, pump=pump))
    _assert_same(*_both(RATES, fluid, well, wellhead_pressure_psia=120.0, correlation=corr, pump=PumpBoost(8000.0, 500.0)))
    _assert_same(*_both(RATES, fluid, well, wellhead_pressure_psia=120.0, correlation=corr,
                        gas_lift=GasInjection(5500.0, 700.0)))


@settings(max_examples=25, deadline=None)
@given(api=st.floats(15.0, 50.0), gsg=st.floats(0.58, 1.2), wc=st.floats(0.0, 1.0), gor=st.floats(0.0, 5000.0),
       rsb_frac=st.floats(0.3, 1.0), pb_frac=st.floats(0.2, 1.0), incl=st.floats(-9.0, 90.0), tid=st.floats(1.5, 6.0),
       pwh=st.floats(20.0, 1500.0), q=st.floats(1.0, 15000.0),
       corr=st.sampled_from(["beggs_brill", "beggs_brill_original", "hagedorn_brown", "no_slip"]))
def test_compiled_matches_numpy_random_cases(api, gsg, wc, gor, rsb_frac, pb_frac, incl, tid, pwh, q, corr):
    fluid = BlackOilFluid(oil_api=api, gas_sg=gsg, water_cut_frac=wc, gor_scf_stb=gor, rsb_scf_stb=rsb_frac * gor,
                          bubble_point_psia=max(pb_frac * 5000.0, 20.0))
    # inclination from the horizontal: negative is a downhill section after 1000 ft of vertical hole
    drop = 6000.0 * np.sin(np.radians(incl))
    well = Wellbore(md_ft=(0.0, 1000.0, 7000.0), tvd_ft=(0.0, 1000.0, 1000.0 + drop), tubing_id_in=tid)
    _assert_same(*_both([0.5 * q, q], fluid, well, wellhead_pressure_psia=pwh, correlation=corr, n_segments=30))


@pytest.mark.parametrize("corr", ["beggs_brill", "hagedorn_brown", "no_slip"])
def test_fleet_kernel_matches_numpy_fleet(corr):
    fluids = list(FLUIDS.values())[:4]
    wells = [WELLS["vertical"], WELLS["undulating"], Wellbore.vertical(5000.0, tubing_id_in=1.995), WELLS["vertical"]]
    q = np.outer([1.0, 0.5, 2.0, 0.1], [50.0, 700.0, 3000.0])
    pwh = np.array([150.0, 300.0, 80.0, 500.0])
    a = fleet_bottomhole_pressure(q, fluids, wells, pwh, correlation=corr, n_segments=30)
    b = fleet_bottomhole_pressure(q, fluids, wells, pwh, correlation=corr, n_segments=30, backend="numpy")
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=0.0)


def test_fleet_result_does_not_depend_on_the_thread_count(monkeypatch):
    fluids = list(FLUIDS.values())
    wells = [WELLS["vertical"], WELLS["undulating"], Wellbore.vertical(5000.0, tubing_id_in=1.995), WELLS["vertical"],
             WELLS["horizontal_pipe"]]
    q = np.outer([1.0, 0.5, 2.0, 0.1, 1.0], [50.0, 700.0, 3000.0])
    pwh = np.array([150.0, 300.0, 80.0, 500.0, 200.0])
    out = []
    for threads in (1, 2, 3):
        monkeypatch.setattr(kernel_module.numba.config, "NUMBA_NUM_THREADS", threads)
        out.append(fleet_bottomhole_pressure(q, fluids, wells, pwh, n_segments=30))
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])


def test_the_compiled_kernel_is_the_default_everywhere(monkeypatch):
    """solve, curves, fleet and the service's nodal step all run the kernel unless told otherwise."""
    from engines.nodal import bottomhole_pressure, solve_operating_point
    from tb_bridge.buffer.base import BufferWindow
    from tb_bridge.handlers.engine_steps import nodal_step
    from tb_bridge.wells.model import parse_well_config

    calls = []
    real_run, real_fleet = kernel_module.run_march, kernel_module.run_march_fleet
    monkeypatch.setattr(sys.modules["engines.nodal.traverse"], "run_march",
                        lambda *a, **k: calls.append("curve") or real_run(*a, **k))
    monkeypatch.setattr(sys.modules["engines.nodal.fleet"], "run_march_fleet", lambda *a: calls.append("fleet") or real_fleet(*a))
    fluid, well = FLUIDS["black_oil"], WELLS["vertical"]

    def new_calls(fn):
        n = len(calls)
        fn()
        return set(calls[n:])

    assert new_calls(lambda: bottomhole_pressure([500.0], fluid, well, 150.0)) == {"curve"}
    assert new_calls(lambda: solve_operating_point(CompositeIpr(4000.0, 2500.0, 1.0), fluid, well, 150.0, n_segments=20)) == {"curve"}
    assert new_calls(lambda: solve_fleet([CompositeIpr(4000.0, 2500.0, 1.0)], [fluid], [well], [150.0], n_segments=20)) == {"fleet"}
    attrs = {"lift_type": "esp", "pump_depth_ft": 7000, "reservoir_pressure_psi": 3500, "bubble_point_psi": 2500,
             "productivity_index_bpd_psi": 1.5, "perforation_depth_ft": 8000, "vlp_correlation": "hagedorn_brown"}
    context = SimpleNamespace(config=parse_well_config("w", "W", attrs), state={}, latest_text={},
                              window=BufferWindow(np.zeros(0, dtype=np.int64), {}))
    assert new_calls(lambda: nodal_step(context)) == {"curve"}
    assert new_calls(lambda: traverse([500.0], fluid, well, wellhead_pressure_psia=150.0, backend="numpy")) == set()


def test_invalid_backend():
    with pytest.raises(ValueError, match="backend"):
        traverse([100.0], FLUIDS["black_oil"], WELLS["vertical"], wellhead_pressure_psia=150.0, backend="cuda")
