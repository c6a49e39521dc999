"""Shipped placement cases (data of González Nieves 2018, Tables 4.1-4.5; the generated channelized
20x20 field) and the `atilax placement` command family."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engines.reservoir.case import CASE_LIMITS, CASES_DIR, CaseLimitError, case_from_dict, load_case, shipped_cases
from engines.reservoir.channels import channel_case_dict, channelized_permeability_md
from engines.reservoir.planner import build_problem
from tb_bridge.cli.main import main



def small_case_doc(n=3, **over):
    """The thesis case shrunk to an n x n grid and 12 steps (fast CLI runs)."""
    doc = json.loads((CASES_DIR / "thesis_5x5.json").read_text())
    doc["name"] = f"thesis_{n}x{n}"
    doc["grid"].update(nx=n, ny=n)
    doc["schedule"]["n_steps"] = 12
    doc["optimizer"].update(pop_size=12, n_generations=8)
    for k, v in over.items():
        doc[k].update(v)
    return doc


def test_thesis_case_carries_the_reference_data():
    c = load_case("thesis_5x5")
    r = c.reservoir
    assert (r.nx, r.ny, r.nz, r.dx_ft, r.dy_ft, float(r.dz_ft[0])) == (5, 5, 1, 700.0, 700.0, 650.0)
    assert float(r.kx_md[0]) == 100.0 and float(r.porosity[0]) == 0.2 and r.rock_compressibility_1_psi == 5e-6
    assert r.pvt.pressure_psi.size == 10 and r.pvt.bo(5597.7) == pytest.approx(1.4874)
    assert (c.wells.bhp_psi, c.wells.rw_ft * 12, c.wells.skin, c.wells.perforated_thickness_ft) == (2500.0, 5.0, 1.0, 30.0)
    assert c.dt_days.tolist() == [30.0] * 24
    e = c.economics
    assert (e.oil_price_usd_bbl, e.opex_usd_bbl, e.royalty_frac, e.tax_frac, e.discount_rate_per_year) == (69, 30, 0.12, 0.24, 0.12)
    assert set(shipped_cases()) >= {"thesis_5x5", "channel_20x20"}


def test_thesis_single_well_initial_rate_is_near_9700_bpd():
    # the case notes: with the thesis' tables one well alone starts near 9,700 STB/d
    # (WI / (mu B) (5000 - 2500) at initial conditions; the implicit end-of-step rate is a little lower)
    c = load_case("thesis_5x5")
    problem = build_problem(c)
    b, _, mu, _ = c.reservoir.pvt.evaluate(np.array([5000.0]))
    q0 = problem.simulator.cell_wi[12] / (mu[0] * b[0]) * 2500.0
    assert q0 == pytest.approx(9700, rel=0.01)
    sim, _ = problem.details(np.isin(np.arange(25), [12])[None])
    assert 0.9 * q0 < sim.oil_rate_stb_d[0, 0] < q0


def test_channel_case_is_reproducible_from_its_generator():
    shipped = json.loads((CASES_DIR / "channel_20x20.json").read_text())
    assert shipped == json.loads(json.dumps(channel_case_dict(shipped["generator"]["seed"])))
    k = channelized_permeability_md(20, 20, seed=20)
    assert k.max() / k.min() > 10       # channels and background differ by more than a decade
    c = load_case("channel_20x20")
    assert c.reservoir.n_cells == 400 and not c.reservoir.is_square_symmetric()


def test_invalid_cases_name_the_field():
    doc = small_case_doc(3)
    del doc["grid"]
    with pytest.raises(ValueError, match="grid"):
        case_from_dict(doc)
    doc = small_case_doc(3)
    doc["fluid"]["pvt"]["bo_rb_stb"] = doc["fluid"]["pvt"]["bo_rb_stb"][:3]
    with pytest.raises(ValueError, match="PVT"):
        case_from_dict(doc)
    doc = small_case_doc(3)
    doc["economics"]["discounting"] = "weekly"
    with pytest.raises(ValueError, match="discounting"):
        case_from_dict(doc)
    with pytest.raises(ValueError, match="case not found"):
        load_case("no_such_case")


def _set(section, **values):
    def edit(doc):
        doc[section].update(values)
    return edit


@pytest.mark.parametrize("edit, field, value, limit", [
    (_set("optimizer", pop_size=20000, n_generations=100000), "optimizer.pop_size", 20000, 1000),
    (_set("optimizer", n_generations=100000), "optimizer.n_generations", 100000, 10000),
    (_set("grid", nx=100000, ny=100000), "grid.nx * grid.ny (columns)", 10**10, 2500),
    (_set("grid", nz=51, dz_ft=[10.0] * 51), "grid.nz (layers)", 51, 50),
    (_set("grid", nx=50, ny=50, nz=9, dz_ft=[10.0] * 9), "grid.nx * grid.ny * grid.nz (cells)", 22500, 20000),
    (_set("schedule", n_steps=10**12), "schedule.n_steps", 10**12, 1200),
    (_set("schedule", dt_days=[30.0] * 1201), "schedule.dt_days (entries)", 1201, 1200),
    (lambda d: d["fluid"]["pvt"].update(pressure_psi=list(range(201))), "fluid.pvt.pressure_psi (entries)", 201, 200),
    (_set("optimizer", initial_plans=[[0]] * 1001), "optimizer.initial_plans (entries)", 1001, 1000),
    (_set("optimizer", initial_plans=[[0], list(range(10))]), "optimizer.initial_plans[1] (entries)", 10, 9),
    (_set("constraints", max_wells=10**9), "constraints.max_wells", 10**9, 2500),
    (_set("constraints", forbidden_columns=list(range(10))), "constraints.forbidden_columns (entries)", 10, 9),
    (_set("wells", completed_layers=[0, 0]), "wells.completed_layers (entries)", 2, 1),
    # 50 x 50 columns, 24 steps: the local search's batch of 2500 plans x 2500 cells x 24 steps
    (_set("grid", nx=50, ny=50), "max(optimizer.pop_size, grid columns) * grid cells * schedule steps "
                                 "(cell-steps simulated per batch)", 2500 * 2500 * 24, 100_000_000),
])
def test_case_sizes_beyond_their_limits_are_refused_naming_field_value_and_limit(edit, field, value, limit):
    doc = json.loads((CASES_DIR / "thesis_5x5.json").read_text())
    doc["grid"].update(nx=3, ny=3)
    edit(doc)
    with pytest.raises(CaseLimitError) as err:
        case_from_dict(doc)        # refused before any array is allocated (10**12 steps would not fit)
    assert (err.value.field, err.value.value, err.value.limit) == (field, value, limit)
    assert str(err.value) == f"{field} = {value} exceeds the limit of {limit}"


def test_sizes_at_their_limits_are_accepted_and_counts_must_be_integers():
    doc = small_case_doc(3, optimizer={"pop_size": 1000, "n_generations": 10000})
    doc["schedule"]["n_steps"] = 1200
    doc["constraints"]["max_wells"] = 2500
    case = case_from_dict(doc)
    assert (case.optimizer.pop_size, case.optimizer.n_generations, case.dt_days.size) == (1000, 10000, 1200)
    for section, key, bad in (("optimizer", "pop_size", 2.5), ("optimizer", "n_generations", True),
                              ("grid", "nx", "3"), ("schedule", "n_steps", float("inf"))):
        doc = small_case_doc(3)
        doc[section][key] = bad
        with pytest.raises(ValueError, match=rf"{section}.{key} must be an integer"):
            case_from_dict(doc)
    with pytest.raises(ValueError, match="optimizer.pop_size must be >= 2"):
        case_from_dict(small_case_doc(3, optimizer={"pop_size": 1}))


def test_every_case_limit_is_documented_in_the_cases_readme():
    readme = (CASES_DIR / "README.md").read_text()
    limits = readme[readme.index("## Limits"):]
    for field, limit in CASE_LIMITS.items():
        assert f"| {limit:,} " in limits, f"{field}: limit {limit:,} is not in cases/README.md"
    assert len(CASE_LIMITS) == 10


def test_cli_refuses_a_case_beyond_a_limit_and_bad_worker_counts(tmp_path, capsys):
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(small_case_doc(3, optimizer={"pop_size": 20000, "n_generations": 100000})))
    assert main(["placement", "run", str(path), "--no-png", "--no-progress"]) == 2
    assert "optimizer.pop_size = 20000 exceeds the limit of 1000" in capsys.readouterr().err
    for workers in ("0", "65", "many"):
        with pytest.raises(SystemExit) as exit_:
            main(["placement", "certify", "thesis_5x5", "--workers", workers])
        assert exit_.value.code == 2
        assert "--workers" in capsys.readouterr().err


def test_cli_run_json_and_png(tmp_path, capsys):
    path = tmp_path / "case.json"
    path.write_text(json.dumps(small_case_doc(3)))
    png = tmp_path / "plan.png"
    rc = main(["placement", "run", str(path), "--json", "--seed", "2", "--png", str(png)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    case = case_from_dict(small_case_doc(3))
    npv = build_problem(case).simulate_npv(np.isin(np.arange(9), out["well_columns"])[None])[0]
    assert out["npv_usd"] == pytest.approx(npv, rel=1e-9)
    assert len(out["oil_rate_stb_d"]) == 12 and out["well_count"] == len(out["well_cells"])
    rc = main(["placement", "run", str(path), "--no-png", "--no-progress"])
    assert rc == 0 and "best plan" in capsys.readouterr().out


def test_cli_certify_matches_enumeration(tmp_path, capsys):
    path = tmp_path / "case.json"
    path.write_text(json.dumps(small_case_doc(3)))
    assert main(["placement", "certify", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    problem = build_problem(case_from_dict(small_case_doc(3)))
    masks = (np.arange(512)[:, None] >> np.arange(9)) & 1
    assert out["certified_npv_usd"] == pytest.approx(problem.simulate_npv(masks.astype(bool)).max(), rel=1e-9)
    assert out["ga_gap_frac"] >= -1e-9


def test_cli_certify_exhaustive_and_backends(tmp_path, capsys):
    path = tmp_path / "case.json"
    path.write_text(json.dumps(small_case_doc(3)))
    assert main(["placement", "certify", str(path), "--json"]) == 0
    cert = json.loads(capsys.readouterr().out)
    assert main(["placement", "certify", str(path), "--exhaustive", "--json"]) == 0
    brute = json.loads(capsys.readouterr().out)
    assert brute["n_simulated"] == brute["n_plans_total"] == 512
    assert brute["best_npv_usd"] == pytest.approx(cert["certified_npv_usd"], rel=1e-9)
    # one plan per orbit of the square's 8 symmetries: Burnside's 102 orbits of the 512 plans of 3x3
    assert main(["placement", "certify", str(path), "--exhaustive", "--symmetric", "--backend", "numpy", "--json"]) == 0
    sym = json.loads(capsys.readouterr().out)
    assert sym["n_simulated"] == 102 and sym["n_plans_covered"] == 512
    assert sym["best_npv_usd"] == pytest.approx(cert["certified_npv_usd"], rel=1e-9)
    assert main(["placement", "certify", str(path), "--symmetric"]) == 2
    assert "--symmetric needs --exhaustive" in capsys.readouterr().err
    assert main(["placement", "run", str(path), "--backend", "numpy", "--no-png", "--no-progress", "--json"]) == 0
    run_numpy = json.loads(capsys.readouterr().out)
    assert main(["placement", "run", str(path), "--no-png", "--no-progress", "--json"]) == 0
    run_default = json.loads(capsys.readouterr().out)
    assert run_numpy["npv_usd"] == pytest.approx(run_default["npv_usd"], rel=1e-9)


def test_cli_errors(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"grid": {"nx": 2}}))
    assert main(["placement", "run", str(bad), "--no-png"]) == 2
    assert "invalid placement case" in capsys.readouterr().err
    import engines.reservoir.opm as opm

    monkeypatch.setattr(opm, "find_flow", lambda: None)
    assert main(["placement", "compare-opm", "thesis_5x5", "--wells", "12"]) == 3
    assert "OPM Flow is not installed" in capsys.readouterr().err
    monkeypatch.undo()
    expected = 2 if opm.find_flow() else 3   # bad --wells is an input error once flow is found
    assert main(["placement", "compare-opm", "thesis_5x5", "--wells", "x"]) == expected
