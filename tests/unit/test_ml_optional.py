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
