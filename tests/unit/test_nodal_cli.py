"""`atilax nodal` commands and the WellConfig adapter (in-process)."""
import json

import numpy as np
import pytest

from engines.nodal import CompositeIpr, Wellbore, solve_operating_point
from tb_bridge.adapters.nodal import (correlation_for_well, default_correlation, fluid_from_well, ipr_from_well, solve_well,
                                     wellbore_from_well)
from tb_bridge.cli.main import main
from tb_bridge.wells.model import WellConfigError, parse_well_config

WELL_ATTRS = {
    "lift_type": "esp", "pump_depth_ft": 7000, "reservoir_pressure_psi": 3500, "bubble_point_psi": 2500,
    "productivity_index_bpd_psi": 1.5, "perforation_depth_ft": 8000, "wellhead_pressure_psi": 150, "gor_scf_stb": 800,
    "water_cut_frac": 0.3, "oil_api": 35, "tubing_id_in": 2.992, "reservoir_temperature_f": 180, "surface_temperature_f": 100,
}


def _write(tmp_path, name, obj):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return str(path)


def test_adapter_converts_gauge_to_absolute_and_back():
    well = parse_well_config("w1", "W-1", WELL_ATTRS)
    ipr = ipr_from_well(well)
    assert isinstance(ipr, CompositeIpr)
    assert ipr.reservoir_pressure_psi == pytest.approx(3514.696) and ipr.bubble_point_psi == pytest.approx(2514.696)
    assert fluid_from_well(well).bubble_point_psia == pytest.approx(2514.696)
    result = solve_well(well, n_segments=40)
    direct = solve_operating_point(ipr, fluid_from_well(well), wellbore_from_well(well), 164.696,
                                   correlation="beggs_brill", n_segments=40)  # the default vlp_correlation
    assert result.q_bpd == pytest.approx(direct.q_bpd, rel=1e-12)
    assert result.pwf_psi == pytest.approx(direct.pwf_psi - 14.696, rel=1e-12)
    assert result.ipr_curve[0, 1] == pytest.approx(3500.0)  # curves in the configuration's (gauge) datum


def test_adapter_wellbore_follows_the_survey_to_the_perforations():
    attrs = dict(WELL_ATTRS, perforation_depth_ft=7000, perforation_md_ft=9000,
                 deviation_survey=json.dumps([{"md_ft": 0, "tvd_ft": 0, "inclination_deg": 0},
                                              {"md_ft": 2000, "tvd_ft": 2000, "inclination_deg": 0},
                                              {"md_ft": 8000, "tvd_ft": 6500, "inclination_deg": 60}]))
    well = parse_well_config("w2", "W-2", attrs)
    wb = wellbore_from_well(well)
    assert wb.total_md_ft == 9000.0
    assert wb.total_tvd_ft == pytest.approx(6500.0 + 1000.0 * 0.5)  # extended at the last inclination (cos 60 = 0.5)
    assert default_correlation(wb) == "beggs_brill"
    assert default_correlation(Wellbore.vertical(8000.0)) == "hagedorn_brown"


def test_cli_solve_json(tmp_path, capsys):
    rc = main(["nodal", "solve", _write(tmp_path, "well.json", dict(WELL_ATTRS, n_segments=30)), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["flowing"] is True and out["status"] == "flowing"
    assert len(out["ipr_curve"]) == 100 and len(out["vlp_curve"][0]) == 2
    assert 0 < out["q_bpd"] < out["aof_bpd"]
    assert out["drawdown_psi"] == pytest.approx(3500.0 - out["pwf_psi"], rel=1e-9)


def test_cli_solve_table_and_bad_input(tmp_path, capsys):
    assert main(["nodal", "solve", _write(tmp_path, "w.json", dict(WELL_ATTRS, n_segments=20))]) == 0
    assert "q_bpd" in capsys.readouterr().out
    bad = dict(WELL_ATTRS, reservoir_pressure_psi=-5)
    assert main(["nodal", "solve", _write(tmp_path, "bad.json", bad)]) == 2
    assert "reservoir_pressure_psi" in capsys.readouterr().err


def test_cli_traverse(tmp_path, capsys):
    spec = {"rates_bpd": [0.0, 1500.0], "wellhead_pressure_psia": 100.0, "oil_api": 35, "water_cut_frac": 1.0,
            "gor_scf_stb": 0.0, "water_specific_gravity": 1.0, "depth_ft": 5000, "n_segments": 20,
            "correlation": "no_slip"}
    assert main(["nodal", "traverse", _write(tmp_path, "t.json", spec), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    p = np.array(out["pressure_psia"])
    assert p.shape == (2, 21)
    # fresh water at the mean 140 degF: 61.38 lbm/ft3 (steam tables) -> 0.4263 psi/ft; friction adds at 1500 STB/d
    assert (p[0, -1] - 100.0) / 5000.0 == pytest.approx(61.38 / 144.0, rel=0.005)
    assert p[1, -1] > p[0, -1]
    spec.pop("depth_ft")
    assert main(["nodal", "traverse", _write(tmp_path, "bad.json", spec)]) == 2


def test_cli_ipr_fit(tmp_path, capsys):
    pr, c, n = 3000.0, 2.5e-4, 0.82
    pwf = [2700.0, 2000.0, 1200.0]
    spec = {"model": "fetkovich", "reservoir_pressure_psi": pr,
            "test_points": [{"q_bpd": c * (pr**2 - p**2) ** n, "pwf_psi": p} for p in pwf]}
    assert main(["nodal", "ipr", _write(tmp_path, "ipr.json", spec), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["parameters"]["n"] == pytest.approx(n, rel=1e-9)
    assert out["aof_bpd"] == pytest.approx(c * pr ** (2 * n), rel=1e-8)
    assert len(out["curve"]) == 100
    spec["test_points"] = spec["test_points"][:1]
    assert main(["nodal", "ipr", _write(tmp_path, "one.json", spec)]) == 2


def test_solve_wells_matches_solve_well():
    from tb_bridge.adapters.nodal import solve_wells

    wells = [parse_well_config("a", "A", WELL_ATTRS),
             parse_well_config("b", "B", dict(WELL_ATTRS, reservoir_pressure_psi=1200, ipr_model="vogel"))]
    fleet = solve_wells(wells, n_segments=30)
    for well, res in zip(wells, fleet):
        single = solve_well(well, n_segments=30)
        assert res.status == single.status and res.flowing == single.flowing
        if single.flowing:
            assert res.q_bpd == pytest.approx(single.q_bpd, rel=2e-3)
            assert res.pwf_psi == pytest.approx(single.pwf_psi, rel=2e-3)


@pytest.mark.parametrize("extra,expected", [
    ({}, "beggs_brill"),
    ({"payne_correction": True}, "beggs_brill"),
    ({"payne_correction": "false"}, "beggs_brill_original"),  # ThingsBoard may send booleans as text
    ({"vlp_correlation": "hagedorn_brown"}, "hagedorn_brown"),
    ({"vlp_correlation": "no_slip"}, "no_slip"),
])
def test_per_well_vlp_correlation_drives_the_solve(extra, expected):
    well = parse_well_config("w", "W", dict(WELL_ATTRS, **extra))
    assert correlation_for_well(well) == expected
    result = solve_well(well, n_segments=30)
    direct = solve_operating_point(ipr_from_well(well), fluid_from_well(well), wellbore_from_well(well), 164.696,
                                   correlation=expected, n_segments=30)
    assert result.correlation == expected
    assert result.q_bpd == pytest.approx(direct.q_bpd, rel=1e-12)


def test_vlp_correlation_attributes_are_validated():
    with pytest.raises(WellConfigError, match="vlp_correlation"):
        parse_well_config("w", "W", dict(WELL_ATTRS, vlp_correlation="duns_ros"))
    with pytest.raises(WellConfigError, match="payne_correction applies to vlp_correlation beggs_brill only"):
        parse_well_config("w", "W", dict(WELL_ATTRS, vlp_correlation="hagedorn_brown", payne_correction=True))


def test_solve_wells_groups_by_each_wells_correlation():
    from tb_bridge.adapters.nodal import solve_wells

    wells = [parse_well_config("a", "A", dict(WELL_ATTRS, vlp_correlation="hagedorn_brown")),
             parse_well_config("b", "B", dict(WELL_ATTRS, payne_correction=False)), parse_well_config("c", "C", WELL_ATTRS)]
    results = solve_wells(wells, n_segments=30)
    assert [r.correlation for r in results] == ["hagedorn_brown", "beggs_brill_original", "beggs_brill"]
    assert len({round(r.q_bpd, 6) for r in results}) == 3


def test_cli_traverse_adaptive_segments(tmp_path, capsys):
    spec = {"rates_bpd": [500.0, 2000.0], "wellhead_pressure_psia": 150.0, "oil_api": 35, "water_cut_frac": 0.3,
            "gor_scf_stb": 800.0, "rsb_scf_stb": 500.0, "bubble_point_psia": 2500.0, "depth_ft": 8000, "n_segments": 5,
            "max_dp_psi": 40.0, "correlation": "beggs_brill"}
    assert main(["nodal", "traverse", _write(tmp_path, "t.json", spec), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    p = np.array(out["pressure_psia"])
    assert len(out["md_ft"]) > 6 and np.all(np.abs(np.diff(p, axis=1)) <= 40.0 * 1.02)
