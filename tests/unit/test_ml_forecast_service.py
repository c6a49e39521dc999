"""The learned forecast and the ESP failure probability in the service (issue 22: 2, 3): the daily tier reads the
wells' history from the ThingsBoard stand-in over REST, trains the forecast model into the registry, writes
opt_ml_forecast (future timestamps) with its band and opt_esp_failure_prob_30d back to the stand-in."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("xgboost")

from engines.fielddata import SyntheticField
from engines.fielddata.degradation import run_to_failure
from tb_bridge.config import load_settings
from tb_bridge.events import EventKind, WellEvent
from tb_bridge.handlers.ml_forecast_steps import register_esp_failure_model, train_esp_failure_model
from tb_bridge.history import model_registry
from tb_bridge.service import Service
from tb_bridge.standin import StandIn
from tb_bridge.tb_history import ThingsBoardHistory
from tb_bridge.writeback.rest import RestWriteback

DAY_MS = 86_400_000
T0 = 1_700_006_400_000 // DAY_MS * DAY_MS  # a UTC midnight
DAYS = 200
KEYS = ("flow_rate_bpd", "intake_pressure_psi", "frequency_hz", "motor_current_a", "motor_temperature_f", "vibration_g",
        "anomaly_score")


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlf")
    tb = StandIn()
    url = tb.start_http()
    hist = run_to_failure(3, DAYS, seed=21)
    field = SyntheticField({"esp": 3}, seed=21)
    ids = {}
    for w in field.wells:
        device, _ = tb.create_device(w.name, "ESP")
        ids[w.name] = device
        v = {k: hist.values[k][w.index] for k in KEYS}
        tb.save_timeseries(device, [(T0 + d * DAY_MS, {("opt_anomaly_score" if k == "anomaly_score" else k): float(v[k][d])
                                                       for k in KEYS}) for d in range(DAYS)])
    settings = load_settings(database_url=f"sqlite:///{tmp / 'h.db'}", ml={"model_dir": str(tmp / "models")})
    service = Service(settings, RestWriteback(url, "tenant@thingsboard.org", "tenant"),
                      history_reader=ThingsBoardHistory(url, "tenant@thingsboard.org", "tenant"))
    for w in field.wells:
        service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, ids[w.name], 0, w.attributes, well_name=w.name,
                                 source="test"))
    now = T0 + (DAYS - 1) * DAY_MS + 6 * 3_600_000
    # the failure model as `atilax ml train-esp-failure` leaves it (small: CI budget)
    model, report = train_esp_failure_model(wells=20, days=900, trees=40)
    register_esp_failure_model(service.model_store, model, now)
    service.run_tier("daily", now)
    service.writeback.flush()
    yield tb, service, ids, hist, now, report
    service.close()
    tb.stop()


def test_forecast_is_trained_registered_and_written_at_future_days(rig):
    tb, service, ids, hist, now, _ = rig
    record = model_registry.latest_model(service.history, "ml_forecast", "field:esp")
    assert record is not None and record.version == 1
    assert hashlib.sha256(Path(record.path).read_bytes()).hexdigest() == record.file_hash
    for name, device in ids.items():
        w = int(name[-2:]) - 1
        ts = tb.get_timeseries(device, ["opt_ml_forecast", "opt_ml_forecast_p10", "opt_ml_forecast_p90"],
                               now, now + 40 * DAY_MS)
        if not np.all(hist.values["flow_rate_bpd"][w, -30:] > 0):  # a well in its workover: no forecast
            assert not ts.get("opt_ml_forecast")
            continue
        points = sorted(ts["opt_ml_forecast"])
        assert len(points) == 30 and points[0][0] == (now // DAY_MS + 1) * DAY_MS
        assert all(b[0] - a[0] == DAY_MS for a, b in zip(points, points[1:]))
        q = np.array([float(v) for _, v in points])
        hi = np.array([float(v) for _, v in sorted(ts["opt_ml_forecast_p10"])])
        lo = np.array([float(v) for _, v in sorted(ts["opt_ml_forecast_p90"])])
        assert np.all(lo <= q) and np.all(q <= hi)
        last_week = hist.values["flow_rate_bpd"][w, -7:].mean()
        assert 0.5 * last_week < q[0] < 1.5 * last_week
        attrs = tb.get_attributes(device, "SERVER_SCOPE")
        assert attrs["opt_ml_forecast_model"]["version"] == 1 and attrs["opt_ml_forecast_model"]["sha256"] == record.file_hash


def test_failure_probability_is_written_from_the_registered_model(rig):
    tb, service, ids, hist, now, report = rig
    record = model_registry.latest_model(service.history, "esp_failure", "field:esp")
    assert record.metrics["roc_auc"] == pytest.approx(report["roc_auc"])
    written = 0
    for name, device in ids.items():
        w = int(name[-2:]) - 1
        attrs = tb.get_attributes(device, "SERVER_SCOPE")
        if hist.values["flow_rate_bpd"][w, -1] <= 0:
            continue
        p = attrs["opt_esp_failure_prob_30d"]
        assert 0.0 <= p <= 1.0 and attrs["opt_esp_failure_model"]["version"] == 1
        assert attrs["opt_esp_failure_signal_days"] >= 150
        written += 1
    assert written >= 2


def test_the_dashboards_chart_what_the_daily_tier_writes(rig):
    import json

    tb, service, ids, hist, now, _ = rig
    root = Path(__file__).resolve().parents[2] / "dashboards"
    charted = set()
    for lift in ("esp", "srp", "pcp", "gaslift"):
        d = json.loads((root / f"well_detail_{lift}.json").read_text())
        names = {k["name"] for w in d["configuration"]["widgets"].values()
                 for ds in (w["config"].get("datasources") or []) for k in ds.get("dataKeys", [])}
        assert {"opt_ml_forecast", "opt_ml_forecast_p10", "opt_ml_forecast_p90"} <= names, lift
        charted |= {n for n in names if n.startswith(("opt_ml_", "opt_esp_failure"))}
    device = ids["ESP-01"]
    written = set(tb.get_timeseries(device, sorted(charted), now - DAY_MS, now + 40 * DAY_MS)) | set(
        tb.get_attributes(device, "SERVER_SCOPE"))
    assert "opt_esp_failure_prob_30d" in charted and charted <= written
