"""The learned forecast and the ESP failure probability belong to the `ml` extra: without XGBoost (the README's
demo install, `pip install -e .`) their daily steps write nothing and say why once; every other step runs."""
from __future__ import annotations

import importlib.util
import logging

from tb_bridge.handlers import ml_forecast_steps


def test_without_xgboost_the_learned_steps_are_off_with_one_log_line(monkeypatch, caplog):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "xgboost" else real(name, *a))
    monkeypatch.setattr(ml_forecast_steps, "_WARNED_MISSING", set())
    with caplog.at_level(logging.WARNING, logger=ml_forecast_steps.__name__):
        for _ in range(3):
            assert ml_forecast_steps.ml_forecast_field_step([object()], None) == {}
            assert ml_forecast_steps.esp_failure_field_step([object()], None) == {}
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["the learned production forecast is off: XGBoost is not installed (pip install 'atilax[ml]')",
                     "the ESP failure prediction is off: XGBoost is not installed (pip install 'atilax[ml]')"]


def test_without_torch_the_demo_trains_no_lstm_ae_and_says_once_that_its_widgets_stay_empty(monkeypatch, caplog):
    """The demo's LSTM-AE training (what POST /train-lstm-ae runs) needs PyTorch; without it the demo goes on and one
    warning names the widgets that stay empty."""
    import sys
    from types import SimpleNamespace

    from tb_bridge import demo

    monkeypatch.setitem(sys.modules, "torch", None)
    service = SimpleNamespace(registry=SimpleNamespace(valid_wells=lambda: [SimpleNamespace(entity_id="esp-01")]))
    with caplog.at_level(logging.INFO):
        out = demo._train_lstm_ae(service, {"ESP-01": "esp-01"}, 1_780_000_000_000)
    assert out == {"status": "torch_missing", "detail": demo.LSTM_AE_NO_TORCH}
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("tb_bridge.demo", "WARNING", "PyTorch is not installed: the demo trains no LSTM autoencoder, so the "
         "well-detail dashboards' 'LSTM autoencoder anomaly score' widgets stay empty (pip install 'atilax[ml]')")]
