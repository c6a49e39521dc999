"""The LSTM autoencoder in the service (issue 22: 1, 6): training from a well's context into the model registry, the
5-minute score, the monthly audit (age, PSI drift) and retraining, `atilax ml train-lstm-ae` / `atilax ml list`,
the service without PyTorch, and training from a history whose older part is sparse (daily points before 5-minute
telemetry: the dense part alone; too little of it: a message saying how much). One tiny epoch per training (CI
budget)."""
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


@pytest.fixture()
def mixed(tmp_path):
    """A fresh service with one ESP well and ``history(sparse_days, dense_samples, step_s, buffer)``: a context at the
    newest sample whose ThingsBoard history holds one daily ``flow_rate_bpd`` point for each of the ``sparse_days``
    days before ``dense_samples`` samples of every key every ``step_s`` (also buffered with ``buffer``)."""
    from dataclasses import replace

    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", ml={"model_dir": str(tmp_path / "m")})
    service = Service(settings, RecordingWriteback())
    field = SyntheticField({"esp": 1}, seed=7)
    well = field.wells[0]
    service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, well.name, 0, well.attributes, well_name=well.name,
                             source="test"))

    def history(sparse_days, dense_samples, step_s=300, buffer=False):
        arrays = {k: v[0] for k, v in field.arrays("esp", dense_samples).items()}
        now = field.start_ms + 40 * DAY_MS
        dense_ts = now - step_s * 1000 * np.arange(dense_samples)[::-1]
        sparse_ts = dense_ts[0] - DAY_MS * np.arange(sparse_days, 0, -1)
        data = {k: (dense_ts, v) for k, v in arrays.items()}
        flow = float(np.mean(arrays["flow_rate_bpd"]))
        data["flow_rate_bpd"] = (np.concatenate([sparse_ts, dense_ts]),
                                 np.concatenate([np.full(sparse_days, flow), arrays["flow_rate_bpd"]]))
        for i in range(dense_samples if buffer else 0):
            service.handle(WellEvent(EventKind.TELEMETRY, well.name, int(dense_ts[i]),
                                     {k: float(v[i]) for k, v in arrays.items()}, source="test"))

        def source(entity_id, keys, days):
            since = now - days * DAY_MS
            return {k: (t[t > since], v[t > since]) for k, (t, v) in data.items() if k in keys}

        context = service._well_context("monthly", service.registry.config(well.name), int(now))
        return replace(context, history_source=source), int(dense_ts[0])

    yield service, history
    service.close()


def test_sparse_older_history_trains_on_the_dense_part_only(mixed):
    from tb_bridge.handlers.ml_steps import training_data

    service, history = mixed
    # 25 days of one daily point, then 6 days of 5-minute samples: the 24 h windows every 2 h inside the 6 days
    context, dense_start = history(25, 6 * 288)
    keys, grid, series, exclude, source, _ = training_data(context, 30)
    assert source == "ThingsBoard history" and grid[0] == dense_start and grid.size == 6 * 288 and not exclude.any()
    # the same keys, grid and values as the 6 dense days alone (the existing rule for dense history)
    alone, _ = history(0, 6 * 288)
    keys0, grid0, series0, exclude0, _, _ = training_data(alone, 30)
    assert keys == keys0 and len(keys) == 8
    np.testing.assert_array_equal(grid, grid0)
    np.testing.assert_array_equal(series, series0)
    np.testing.assert_array_equal(exclude, exclude0)
    record, report = train_well(context, service.model_store, epochs=1)
    assert report.windows == 1 + (6 * 288 - 288) // 24 == 61 and report.windows_left_out == 0
    assert record.window_start.timestamp() * 1000 == dense_start and record.metrics["train_samples"] == 6 * 288


def test_too_little_dense_history_fails_saying_how_much_there_is(mixed):
    from tb_bridge.handlers.base import InsufficientData

    service, history = mixed
    # one dense day after the sparse ones is one clean 24 h window: it trains (as the demo's warm-up day does)
    context, _ = history(25, 288)
    assert train_well(context, service.model_store, epochs=1)[1].windows == 1
    # an older low-rate logger: 25 daily points, then 5 days every 15 minutes; no 24 h window fills half its slots
    context, _ = history(25, 5 * 96, step_s=900)
    with pytest.raises(InsufficientData) as failed:
        train_well(context, service.model_store, epochs=1)
    assert str(failed.value) == (
        "too little dense telemetry: the ThingsBoard history holds 0.0 h of dense 5-minute telemetry (0 samples in "
        "24-h windows with data in at least 50% of their slots, outside flagged spans; 505 samples read over 30.0 "
        "days); training needs 24 h: one 288-sample window with at most 10% missing")
    # 21 h of 5-minute samples after the daily points: too few samples in ThingsBoard, so the buffer (the same 21 h)
    context, _ = history(25, 252, buffer=True)
    with pytest.raises(InsufficientData) as failed:
        train_well(context, service.model_store, epochs=1)
    assert str(failed.value) == (
        "no clean 288-sample window in 252 samples of the buffer (flagged spans left out): the buffer holds 21.0 h of "
        "dense 5-minute telemetry (252 samples in 24-h windows with data in at least 50% of their slots, outside "
        "flagged spans; 252 samples read over 0.9 days); training needs 24 h: one 288-sample window with at most "
        "10% missing")
