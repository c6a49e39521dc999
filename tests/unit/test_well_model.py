"""Well model: typed validation, lift-type dispatch, clear errors per field."""
from __future__ import annotations

import json

import pytest

from tb_bridge.cli.main import main
from tb_bridge.wells.model import EspWellConfig, SrpWellConfig, WellConfigError, parse_well_config

BASE = {
    "reservoir_pressure_psi": 3000.0,
    "bubble_point_psi": 2000.0,
    "productivity_index_bpd_psi": 1.2,
    "perforation_depth_ft": 8000.0,
}


def test_device_profile_names_map_to_lift_types():
    esp = parse_well_config("id-1", "ESP-01", {**BASE, "lift_type": "ESP", "pump_depth_ft": 7500})
    assert isinstance(esp, EspWellConfig) and esp.lift_type == "esp"
    gl = parse_well_config("id-2", "GL-01", {**BASE, "device_type": "GasLift", "injection_depth_ft": 6000})
    assert gl.lift_type == "gas_lift"


def test_json_string_attributes_are_parsed():
    rods = [{"diameter_in": 1.0, "length_ft": 2000}, {"diameter_in": 0.875, "length_ft": 2500},
            {"diameter_in": 0.75, "length_ft": 2500}]
    srp = parse_well_config("id-3", "SRP-01", {**BASE, "lift_type": "srp", "pump_depth_ft": 7000,
                                               "rod_string": json.dumps(rods)})
    assert isinstance(srp, SrpWellConfig)
    assert [r.diameter_in for r in srp.rod_string] == [1.0, 0.875, 0.75]


def test_unknown_lift_type_is_a_clear_error():
    with pytest.raises(WellConfigError, match="unknown lift type 'jet_pump'") as err:
        parse_well_config("id-4", "X", {**BASE, "lift_type": "jet_pump"})
    assert str(err.value) == ("well X (id id-4): unknown lift type 'jet_pump' (expected one of esp, srp, pcp, gas_lift, "
                              "natural_flow)")
    with pytest.raises(WellConfigError) as err:
        parse_well_config("id-4", "X", {k: v for k, v in BASE.items() if k != "lift_type"})
    assert str(err.value) == "well X (id id-4): lift_type is missing (expected one of esp, srp, pcp, gas_lift, natural_flow)"


def test_every_problem_is_named():
    with pytest.raises(WellConfigError) as info:
        parse_well_config("id-5", "ESP-09", {"lift_type": "esp", "reservoir_pressure_psi": -5,
                                              "perforation_depth_ft": 8000, "pump_depth_ft": 9000,
                                              "productivity_index_bpd_psi": 1})
    text = str(info.value)
    assert "reservoir_pressure_psi" in text and "bubble_point_psi" in text
    assert info.value.entity_id == "id-5"


def test_physical_consistency_checks():
    with pytest.raises(WellConfigError, match="pump_depth_ft must not be below the perforations"):
        parse_well_config("a", "a", {**BASE, "lift_type": "esp", "pump_depth_ft": 9000})
    with pytest.raises(WellConfigError, match="rod string length"):
        parse_well_config("b", "b", {**BASE, "lift_type": "srp", "pump_depth_ft": 7000,
                                     "rod_string": [{"diameter_in": 0.875, "length_ft": 3000}]})
    with pytest.raises(WellConfigError, match="test_pwf_psi must be below"):
        parse_well_config("c", "c", {**BASE, "productivity_index_bpd_psi": None, "test_rate_bpd": 100,
                                     "test_pwf_psi": 3500, "lift_type": "pcp", "pump_depth_ft": 7000})
    with pytest.raises(WellConfigError, match="not a finite number"):
        parse_well_config("d", "d", {**BASE, "lift_type": "pcp", "pump_depth_ft": 7000, "oil_api": float("nan")})


def test_wells_validate_command(tmp_path, capsys):
    good = {**BASE, "name": "PCP-01", "lift_type": "pcp", "pump_depth_ft": 7000}
    bad = {**BASE, "name": "PCP-02", "lift_type": "pcp"}
    path = tmp_path / "wells.json"
    path.write_text(json.dumps([good, bad]), encoding="utf-8")
    assert main(["wells", "validate", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert [w["name"] for w in out["valid"]] == ["PCP-01"]
    assert out["invalid"][0]["entity_id"] == "PCP-02"
    assert any("pump_depth_ft" in p for p in out["invalid"][0]["problems"])
    malformed = tmp_path / "broken.json"
    malformed.write_text("{not json", encoding="utf-8")
    assert main(["wells", "validate", str(malformed)]) == 2
    assert "malformed JSON" in capsys.readouterr().err
