"""Well attributes reaching the nodal engine: ``rsb_scf_stb`` (solution GOR at the bubble point) and the well's
``vlp_correlation`` in every lift-optimizer traverse (tb_bridge.adapters.nodal.correlation_for_well)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tb_bridge.adapters.lift as lift_adapter
from engines.nodal import fluid_state, in_situ_flow
from engines.nodal.pvt import standing_rs
from tb_bridge.adapters.nodal import correlation_for_well, fluid_from_well, solve_well
from tb_bridge.wells.model import WellConfigError, parse_well_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _well(name="well_esp.json", **changes):
    attrs = json.loads((EXAMPLES / name).read_text())
    attrs.update(changes)
    return parse_well_config("w", attrs["name"], attrs)


def test_rsb_defaults_to_the_producing_gor_and_must_not_exceed_it():
    well = _well()
    assert well.rsb_scf_stb is None and fluid_from_well(well).rsb == well.gor_scf_stb
    with pytest.raises(WellConfigError, match="rsb_scf_stb"):
        _well(rsb_scf_stb=well.gor_scf_stb + 1.0)
    with pytest.raises(WellConfigError):
        _well(rsb_scf_stb=-1.0)


def test_rsb_calibrates_rs_at_pb_and_leaves_the_rest_as_free_gas():
    """Rs(Pb, T_res) = Rsb (Standing's Rs scaled at the reservoir temperature); above Pb the oil holds Rsb and the
    free gas is exactly (GOR - Rsb) q_o Bg (gas-volume balance, independent of the correlation)."""
    well = _well(rsb_scf_stb=400.0)
    fluid = fluid_from_well(well)
    pb_abs = well.bubble_point_psi + 14.696
    scaled = fluid.rs_scale * standing_rs(pb_abs, well.reservoir_temperature_f, well.oil_api, well.gas_specific_gravity)
    assert float(scaled) == pytest.approx(400.0, rel=1e-12)
    p, t, q = 2500.0, well.reservoir_temperature_f, 1000.0  # above Pb
    state = fluid_state(fluid, p, t)
    assert float(state.rs) == pytest.approx(400.0, rel=1e-12)
    area = np.pi / 4 * (well.tubing_id_in / 12) ** 2
    flow = in_situ_flow(fluid, state, q, area)
    q_oil = q * (1 - well.water_cut_frac)
    assert float(flow.vsg) == pytest.approx((well.gor_scf_stb - 400.0) * q_oil * float(state.bg) / 86400 / area, rel=1e-12)
    # free gas lightens the column: the well flows more than with all its gas in solution at Pb
    assert solve_well(well).q_bpd > solve_well(_well()).q_bpd


@pytest.mark.parametrize("corr", ["no_slip", "hagedorn_brown_guo"])
def test_lift_traverses_follow_the_well_vlp_correlation(monkeypatch, corr):
    """ESP/SRP/PCP pump curves, the gas-lift GLPC and the tubing pressure at the valve all use the well's
    vlp_correlation (before: an inclination-based default that ignored the attribute)."""
    seen = []

    class Seen(Exception):
        pass

    def spy(*args, correlation, **kwargs):
        seen.append(correlation)
        raise Seen

    monkeypatch.setattr(lift_adapter, "pump_curves", spy)
    monkeypatch.setattr(lift_adapter, "glpc_from_nodal", spy)
    esp, gl = _well(vlp_correlation=corr), _well("well_gas_lift.json", vlp_correlation=corr)
    with pytest.raises(Seen):
        lift_adapter._inflow_grid(esp, 7000.0)
    with pytest.raises(Seen):
        lift_adapter.gas_lift_glpc(gl)
    assert seen == [corr, corr] == [correlation_for_well(esp), correlation_for_well(gl)]
    assert correlation_for_well(_well(payne_correction=False)) == "beggs_brill_original"
