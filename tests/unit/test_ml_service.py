"""The LSTM autoencoder in the service (issue 22: 1, 6): training from a well's context into the model registry, the
5-minute score, the monthly audit (age, PSI drift) and retraining, `atilax ml train-lstm-ae` / `atilax ml list`,
and the service without PyTorch. One tiny epoch per training (CI budget)."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from engines.fielddata import SyntheticField
from tb_bridge.config import load_settings
from tb_bridge.events import EventKind, WellEvent
from tb_bridge.handlers.ml_steps import on_grid, train_well
from tb_bridge.history import model_registry
from tb_bridge.service import Service
from tests.doubles import RecordingWriteback

pytest.importorskip("torch")
DAY_MS = 86_400_000
ONSET = 330


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ml")
    settings = load_settings(database_url=f"sqlite:///{tmp / 'h.db'}", ml={"model_dir": str(tmp / "models"), "lstm_ae_score_every_ticks": 1},
                             limits={"buffer_points": 400, "buffer_window_s": 400 * 86_400})
    service = Service(settings, RecordingWriteback())
    field = SyntheticField({"esp": 2}, seed=5, faults={"ESP-01": ("pump_wear", ONSET)})
    for w in field.wells:
        service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, w.name, 0, w.attributes, well_name=w.name,
                                 source="test"))
    yield service, field, tmp
    service.close()


def _feed(service, field, n, start):
    for name, ts, values in field.samples(n, start):
        service.handle(WellEvent(EventKind.TELEMETRY, name, ts, values, source="test"))
    return field.start_ms + (start + n - 1) * 300_000


def test_score_registry_audit_and_retraining(rig):
    service, field, tmp = rig
    now = _feed(service, field, 320, 0)
    context = service._well_context("monthly", service.registry.config("ESP-01"), now)
    record, report = train_well(context, service.model_store, epochs=1)
    assert (record.kind, record.well_id, record.version) == ("lstm_ae", "ESP-01", 1)
    assert report.windows == 2 and record.metrics["source"] == "buffer" and len(record.file_hash) == 64
    assert record.window_end.timestamp() * 1000 == now

    service.run_tier("fast", now)
    latest = service.writeback.latest
    assert latest["ESP-01"]["opt_lstm_ae_anomaly_score"] < 1.0 and latest["ESP-01"]["opt_lstm_ae_anomaly"] is False
    assert latest["ESP-01"]["opt_lstm_ae_model_version"] == 1
    assert "opt_lstm_ae_anomaly_score" not in latest["ESP-02"]  # no model: the statistical layer alone
    context2 = service._well_context("monthly", service.registry.config("ESP-02"), now)
    assert train_well(context2, service.model_store, epochs=1)[0].version == 1
    # pump wear from step 330 (flow -30 % over 24 samples): the score crosses 1 within the ramp
    now = _feed(service, field, 24, 320)
    service.run_tier("fast", now)
    assert latest["ESP-01"]["opt_lstm_ae_anomaly_score"] > 1.0 and latest["ESP-01"]["opt_lstm_ae_anomaly"] is True

    # a month later: the audit row (age; PSI of the newest 7 days read, here the buffer: mostly the training samples,
    # 14 faulty ones) and the retraining (31 days old)
    later = now + 31 * DAY_MS
    service.run_tier("monthly", later)
    row = next(r for r in latest["ESP-01"]["opt_model_audit"] if r["model"] == "lstm_ae")
    assert row["version"] == 1 and row["age_days"] == pytest.approx((later - record.trained_at.timestamp() * 1000)
                                                                     / DAY_MS)
    assert 0 < row["max_psi"] < 0.1 and row["max_psi_input"] in record.metrics["keys"]
    assert set(row["psi"]) == set(record.metrics["keys"]) and row["drift_source"] == "buffer"
    # ESP-01's day holds the flagged fault span: every 24 h window overlaps it, no retraining; ESP-02 is retrained
    assert "days old" in row["retrain_reason"] and "retrained_version" not in row
    assert "no clean 288-sample window" in latest["ESP-01"]["opt_status_detail"]
    row2 = next(r for r in latest["ESP-02"]["opt_model_audit"] if r["model"] == "lstm_ae")
    assert row2["retrained_version"] == 2
    versions = [(r.well_id, r.version) for r in model_registry.models(service.history, "lstm_ae")]
    assert versions == [("ESP-01", 1), ("ESP-02", 1), ("ESP-02", 2)]


def test_on_grid_places_samples_in_5_minute_slots():
    ts = np.array([0, 300_000, 900_000, 1_190_000, 1_200_000])
    grid, values = on_grid(ts, {"a": np.array([1.0, 2.0, 3.0, 4.0, 5.0])}, ("a",), 300)
    assert grid.tolist() == [0, 300_000, 600_000, 900_000, 1_200_000]
    np.testing.assert_array_equal(values[:, 0], [1.0, 2.0, np.nan, 3.0, 5.0])  # 1_190_000 shares 5's slot


def test_cli_train_and_list(tmp_path, monkeypatch, capsys):
    from tb_bridge.cli.main import main

    monkeypatch.setenv("ATILAX_DATABASE_URL", f"sqlite:///{tmp_path / 'h.db'}")
    monkeypatch.setenv("ATILAX_ML__MODEL_DIR", str(tmp_path / "models"))
    field = SyntheticField({"pcp": 1}, seed=2)
    arrays = field.arrays("pcp", 300)
    doc = {"well_id": "PCP-X", "lift_type": "pcp", "ts_ms": [field.start_ms + i * 300_000 for i in range(300)],
           "values": {k: v[0].tolist() for k, v in arrays.items()}}
    (tmp_path / "in.json").write_text(json.dumps(doc))
    assert main(["ml", "train-lstm-ae", "--input", str(tmp_path / "in.json"), "--epochs", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["well_id"] == "PCP-X" and out["version"] == 1 and out["metrics"]["train_windows"] == 1
    assert main(["ml", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r["well_id"], r["version"], r["file_hash"]) for r in listed] == \
        [("lstm_ae", "PCP-X", 1, out["file_hash"])]
    assert main(["ml", "list"]) == 0 and "PCP-X" in capsys.readouterr().out
    assert main(["ml", "train-lstm-ae", "--input", str(tmp_path / "in.json"), "--epochs", "501"]) == 2
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main(["ml", "train-lstm-ae", "--input", str(tmp_path / "in.json"), "--epochs", "1"]) == 2
    assert "needs PyTorch" in capsys.readouterr().err
