"""`atilax ml forecast | evaluate-forecast | train-esp-failure | esp-failure` (issue 22: 2, 3)."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("xgboost")

from engines.fielddata.degradation import run_to_failure
from engines.ml.esp_failure import SIGNALS, EspDailySeries, FailureModel, failure_features
from engines.ml.forecasting import ForecastModel, WellSeries, forecast_well
from tb_bridge.cli.main import main


def test_forecast_fits_writes_and_reuses_its_model(tmp_path, capsys):
    h = run_to_failure(3, 260, seed=8)
    v = h.values
    wells = [{"name": f"W{w}", "rate_bpd": v["flow_rate_bpd"][w].tolist(), "pressure_psi": v["intake_pressure_psi"][w].tolist(),
              "setpoint": v["frequency_hz"][w].tolist(), "anomaly_score": v["anomaly_score"][w].tolist()} for w in range(3)]
    src, model_path = tmp_path / "wells.json", tmp_path / "model.json"
    src.write_text(json.dumps({"wells": wells}))
    assert main(["ml", "forecast", str(src), "--json", "--trees", "30", "--out", str(model_path)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["ml", "forecast", str(src), "--json", "--model", str(model_path)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert first["wells"] == again["wells"]
    model = ForecastModel.from_bytes(model_path.read_bytes())
    for w, out in zip(range(3), again["wells"]):
        if "error" in out:  # the well is in its workover: fewer than 30 producing days
            assert not np.all(v["flow_rate_bpd"][w, -30:] > 0)
            continue
        direct = forecast_well(model, WellSeries(v["flow_rate_bpd"][w], v["intake_pressure_psi"][w], v["frequency_hz"][w],
                                                 v["anomaly_score"][w]))
        np.testing.assert_allclose(out["rate_bpd"], np.round(direct.rate_bpd, 2), atol=0.011)
        assert len(out["p10_bpd"]) == 30


def test_forecast_refuses_bad_input(tmp_path, capsys):
    src = tmp_path / "bad.json"
    src.write_text(json.dumps({"wells": [{"rate_bpd": [100.0] * 40 + [-5.0]}]}))
    assert main(["ml", "forecast", str(src)]) == 2
    assert "negative rate" in capsys.readouterr().err


def test_train_esp_failure_then_score_a_well(tmp_path, capsys):
    model_path = tmp_path / "f.json"
    assert main(["ml", "train-esp-failure", "--wells", "12", "--days", "800", "--trees", "20", "--out", str(model_path),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["figures"]
    assert 0.5 < report["roc_auc"] <= 1.0 and 0.0 < report["brier"] < 0.25
    h = run_to_failure(1, 120, seed=9)
    well = {k: h.values[k][0].tolist() for k in SIGNALS} | {"running": h.running[0].tolist()}
    src = tmp_path / "well.json"
    src.write_text(json.dumps(well))
    assert main(["ml", "esp-failure", str(src), "--model", str(model_path), "--json"]) == 0
    p = json.loads(capsys.readouterr().out)["esp_failure_prob_30d"]
    model = FailureModel.from_bytes(model_path.read_bytes())
    X = failure_features(EspDailySeries({k: h.values[k][0] for k in SIGNALS}, h.running[0]))
    assert p == pytest.approx(float(model.probability(X[-1:])[0]))
