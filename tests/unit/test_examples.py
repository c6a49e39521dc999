"""The shipped example inputs stay valid and give the engines' own answers through the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tb_bridge.adapters.nodal import solve_well
from tb_bridge.cli.main import main
from tb_bridge.wells.model import parse_well_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WELLS = sorted(EXAMPLES.glob("well_*.json"))


def test_every_lift_type_has_an_example():
    assert {p.stem.removeprefix("well_") for p in WELLS} == {"esp", "srp", "pcp", "gas_lift"}


@pytest.mark.parametrize("path", WELLS, ids=lambda p: p.stem)
def test_example_wells_validate_and_solve(path, capsys):
    assert main(["wells", "validate", str(path), "--json"]) == 0
    (valid,) = json.loads(capsys.readouterr().out)["valid"]
    assert main(["nodal", "solve", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = solve_well(parse_well_config(valid["entity_id"], valid["name"], json.loads(path.read_text())))
    assert out["aof_bpd"] == pytest.approx(expected.aof_bpd, rel=1e-9)
    assert main(["lift", "optimize", str(path), "--json"]) == 0


def test_example_history_fits(capsys):
    assert main(["dca", "fit", str(EXAMPLES / "history.csv"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["opt_dca_eur_p90"] <= out["opt_dca_eur_p50"] <= out["opt_dca_eur_p10"]
    # The example was generated with 5 % lognormal noise: the log-residual RMS must recover it.
    assert out["quality"]["n_used"] >= 175 and 0.04 < out["quality"]["rmse_log"] < 0.06
    # Cumulative of the history = the sum of 180 daily rates (1-day steps) within the end-step error.
    rates = [float(line.split(",")[1]) for line in (EXAMPLES / "history.csv").read_text().splitlines()[1:]]
    assert out["history_cum_bbl"] == pytest.approx(sum(rates), rel=0.01)
