"""The built-in simulator against OPM Flow on the same Eclipse deck (reference 5x5 case of
González Nieves 2018): cumulative oil within 0.1 % and rate within 0.5 % at every 30-day step.

Runs when ``/usr/bin/flow`` is installed (Debian: ``apt-get install -y libopm-simulators-bin``);
skipped otherwise, with that reason."""
from __future__ import annotations

import os

import numpy as np
import pytest

from engines.reservoir.case import load_case
from engines.reservoir.opm import add_wells_to_deck, read_eclipse_binary, run_flow, write_deck
from engines.reservoir.opm_compare import compare_with_flow

# Outside CI a developer without OPM Flow gets a skip with the install line; CI (.ci/run installs it)
# must run these comparisons, so a missing `flow` there is a failure, never a silent skip.
_FLOW_MISSING = "OPM Flow is not installed (/usr/bin/flow absent; apt-get install -y libopm-simulators-bin)"
if not os.path.exists("/usr/bin/flow") and os.environ.get("CI"):
    raise RuntimeError(_FLOW_MISSING)
pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/flow"), reason=_FLOW_MISSING)


@pytest.fixture(scope="module")
def case():
    return load_case("thesis_5x5")


@pytest.mark.parametrize("plan", [[12], [0, 7, 13, 19], [1, 3, 6, 8, 16, 18], list(range(25))])
def test_thesis_case_agrees_with_opm_flow(case, plan):
    cmp = compare_with_flow(case, plan)
    assert cmp.time_days.size == 24
    assert np.all(np.abs(cmp.builtin_cum_stb / cmp.flow_cum_stb - 1) < 1e-3)
    assert np.all(np.abs(cmp.builtin_rate_stb_d / cmp.flow_rate_stb_d - 1) < 5e-3)
    # OPM's own bookkeeping: FOPT is the sum of FOPR * 30 d (float32 summary precision)
    np.testing.assert_allclose(np.cumsum(cmp.flow_rate_stb_d * 30.0), cmp.flow_cum_stb, rtol=2e-6)


def test_user_deck_gets_wells_and_schedule(case, tmp_path):
    plain = write_deck(case, [])
    deck = add_wells_to_deck(plain, case, [6, 18])
    ours = run_flow(deck, workdir=tmp_path / "user")
    ref = run_flow(write_deck(case, [6, 18]), workdir=tmp_path / "ref")
    np.testing.assert_allclose(ours.get("FOPT"), ref.get("FOPT"), rtol=1e-9)
    np.testing.assert_allclose(ours.get("WOPR", "P6") + ours.get("WOPR", "P18"), ours.get("FOPR"), rtol=1e-5)
    keys = dict(read_eclipse_binary(tmp_path / "user" / "CASE.SMSPEC"))["KEYWORDS"]
    assert "FOPT" in keys.tolist()


def test_opm_backend_drives_the_optimizer(case):
    """OPM Flow as the optimizer's simulator (one process per plan, two in parallel): a short GA on
    a 3x3 version of the case reaches the same NPVs as the built-in simulator for the plans it finds."""
    import dataclasses

    from engines.reservoir.planner import build_problem, run_placement
    from engines.reservoir.reservoir import Reservoir

    r = case.reservoir
    small = dataclasses.replace(case, reservoir=dataclasses.replace(r, nx=3, ny=3, kx_md=r.kx_md[:9], ky_md=r.ky_md[:9],
                                                                   kz_md=r.kz_md[:9], porosity=r.porosity[:9],
                                                                   rock_law="eclipse"),
                                dt_days=case.dt_days[:6],
                                optimizer=dataclasses.replace(case.optimizer, pop_size=6, n_generations=2))
    assert isinstance(small.reservoir, Reservoir)
    opm_problem = build_problem(small, backend="opm", max_workers=2)
    res = run_placement(small, 0, problem=opm_problem, algorithm="simple")
    builtin = build_problem(small).simulate_npv(np.isin(np.arange(9), res.well_columns)[None])[0]
    assert res.npv_usd == pytest.approx(builtin, rel=1e-3)
    assert opm_problem.n_simulated >= 6


def test_cli_opm_backend_with_user_deck(tmp_path, capsys):
    import json

    from engines.reservoir.case import CASES_DIR, case_from_dict
    from engines.reservoir.planner import build_problem
    from tb_bridge.cli.main import main

    doc = json.loads((CASES_DIR / "thesis_5x5.json").read_text())
    doc["grid"].update(nx=3, ny=3)
    doc["rock"]["law"] = "eclipse"
    doc["schedule"]["n_steps"] = 6
    doc["optimizer"].update(pop_size=4, n_generations=1)
    (tmp_path / "case.json").write_text(json.dumps(doc))
    small = case_from_dict(doc)
    (tmp_path / "USER.DATA").write_text(write_deck(small, []))
    rc = main(["placement", "run", str(tmp_path / "case.json"), "--backend", "opm", "--deck", str(tmp_path / "USER.DATA"),
               "--algorithm", "simple", "--json", "--no-png", "--seed", "3"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    builtin = build_problem(small).simulate_npv(np.isin(np.arange(9), out["well_columns"])[None])[0]
    assert out["npv_usd"] == pytest.approx(builtin, rel=1e-3)
