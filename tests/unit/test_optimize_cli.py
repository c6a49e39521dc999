"""``atilax optimize pareto`` (issue 21: 6): JSON in, the opt_pareto_* attributes or a table out, sizes bounded."""
from __future__ import annotations

import json

import pytest

import tb_bridge.cli.main as cli_main
from tb_bridge.writeback.keys import check_attributes


def _write(tmp_path, lift_type, **extra):
    with open(f"examples/well_{lift_type}.json", encoding="utf-8") as fh:
        data = json.load(fh)
    data.update(extra)
    path = tmp_path / f"{lift_type}.json"
    path.write_text(json.dumps(data))
    return path


def test_pareto_json_nsga2_with_weights(tmp_path, capsys):
    path = _write(tmp_path, "pcp", telemetry={"rpm": 150.0})
    assert cli_main.main(["optimize", "pareto", str(path), "--weights", "1,0,0", "--generations", "40", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    attrs = check_attributes(out["attributes"])
    assert out["generations"] == 40 and out["evaluations"] == 4000 and out["stopped"] is False
    pts = attrs["opt_pareto_front"]["points"]
    assert attrs["opt_pareto_choice"]["oil_bpd"] == max(p["oil_bpd"] for p in pts)
    assert attrs["opt_pareto_front"]["current"]["rpm"] == 150.0
    assert attrs["opt_pareto_choice"]["safety"]["reasons"] or attrs["opt_pareto_choice"]["safety"]["allowed"]


def test_pareto_table_grid_and_nsga3(tmp_path, capsys):
    path = _write(tmp_path, "gas_lift")
    assert cli_main.main(["optimize", "pareto", str(path), "--algorithm", "grid"]) == 0
    text = capsys.readouterr().out
    assert "knee" in text and "hypervolume" in text and "Pareto front (gas_lift)" in text
    assert cli_main.main(["optimize", "pareto", str(path), "--algorithm", "nsga3", "--generations", "10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["attributes"]["opt_pareto_front"]["algorithm"] == "nsga3"


@pytest.mark.parametrize("argv", [["--weights", "1,2"], ["--weights", "0,0,0"], ["--population", "1001"],
                                  ["--generations", "2001"], ["--algorithm", "moead"]])
def test_pareto_bad_options(tmp_path, capsys, argv):
    path = _write(tmp_path, "pcp")
    with pytest.raises(SystemExit) if argv[0] in ("--population", "--generations", "--algorithm") else _nullcontext():
        rc = cli_main.main(["optimize", "pareto", str(path), *argv])
        assert rc == 2


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
