"""engines.ml.lstm_ae and engines.ml.drift: NumPy inference equals PyTorch, determinism, files, scores on the
synthetic field's faults, the PSI against hand-derived values, PyTorch absent. Tiny windows/epochs (CI budget)."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from engines.fielddata import SyntheticField
from engines.ml.drift import EPS, population_stability_index, psi_reference
from engines.ml.lstm_ae import (LstmAeSettings, TorchUnavailableError, anomaly_scores, file_sha256, load_model,
                                model_bytes, reconstruct, reconstruct_many, save_model, score_wells, train_lstm_ae,
                                training_windows)

torch = pytest.importorskip("torch")

KEYS = ("flow_rate_bpd", "motor_current_a", "intake_pressure_psi", "motor_temperature_f", "vibration_g")
SMALL = LstmAeSettings(window_steps=36, stride_steps=12, epochs=2, batch_size=16, max_windows=24, score_steps=6,
                       seed=3)


def _series(field: SyntheticField, row: int, n: int, start: int = 0) -> np.ndarray:
    arrays = field.arrays("esp", n, start_step=start)
    return np.stack([arrays[k][row] for k in KEYS], axis=1)


@pytest.fixture(scope="module")
def trained():
    field = SyntheticField(wells_per_lift_type=2, seed=11, faults={"ESP-02": "pump_wear"}, )
    series = _series(field, 0, 36 + 12 * 23)
    model, report = train_lstm_ae(series, KEYS, SMALL, threads=1)
    return field, series, model, report


def test_numpy_inference_equals_torch(trained):
    _, series, model, _ = trained
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, SMALL.window_steps, len(KEYS)))
    ref = reconstruct(model, z, backend="torch", dtype="float64")
    got = reconstruct(model, z, backend="numpy", dtype="float64")
    assert np.max(np.abs(got - ref)) < 1e-6
    # float32 (the service's dtype): same within float32 rounding after 3 x 36 recurrent steps
    assert np.max(np.abs(reconstruct(model, z, backend="numpy") - reconstruct(model, z, backend="torch"))) < 1e-5
    # per-row weights (many wells in one pass), NumPy and PyTorch, equal the single-model reconstruction
    many = [model] * 5
    assert np.max(np.abs(reconstruct_many(many, z, backend="numpy", dtype="float64") - ref)) < 1e-6
    assert np.max(np.abs(reconstruct_many(many, z, backend="torch", dtype="float64") - ref)) < 1e-6


def test_training_is_deterministic_and_files_round_trip(trained, tmp_path):
    _, series, model, report = trained
    again, _ = train_lstm_ae(series, KEYS, SMALL, threads=1)
    assert model_bytes(again) == model_bytes(model)
    assert report.epochs_run == 2 and len(report.losses) == 2 and report.windows == 24 and not report.stopped
    digest = save_model(model, tmp_path / "m.npz")
    assert digest == file_sha256(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz", expected_sha256=digest)
    assert loaded.keys == KEYS and loaded.threshold == model.threshold and loaded.settings == SMALL
    for k, v in model.weights.items():
        np.testing.assert_array_equal(loaded.weights[k], v)
    (tmp_path / "m.npz").write_bytes(model_bytes(model)[:-1] + b"x")
    with pytest.raises(ValueError, match="SHA-256"):
        load_model(tmp_path / "m.npz", expected_sha256=digest)


def test_threshold_comes_from_the_training_errors(trained):
    _, series, model, _ = trained
    windows, _ = training_windows(series, None, SMALL)
    errors = anomaly_scores(model, windows) * model.threshold
    expected = np.quantile(errors, SMALL.threshold_quantile) * SMALL.threshold_margin
    assert model.threshold == pytest.approx(expected, rel=1e-5)
    assert model.metrics["train_windows"] == 24 and np.all(anomaly_scores(model, windows) < 1.0)


def test_score_above_threshold_on_a_fault_below_on_healthy_data(trained):
    field, _, model, _ = trained
    # later healthy windows of the same well
    healthy = _series(field, 0, 36 * 4, start=2000)
    h_windows = np.stack([healthy[i:i + 36] for i in range(0, 36 * 3, 12)])
    assert np.all(anomaly_scores(model, h_windows) < 1.0)
    # ESP-02 with pump wear (flow -30 %): its own model from its healthy start, then windows after the onset
    wear = field.well("ESP-02")
    series = _series(field, 1, wear.fault_onset_step)
    model2, _ = train_lstm_ae(series[-(36 + 12 * 23):], KEYS, SMALL, threads=1)
    faulty = _series(field, 1, 36, start=wear.fault_onset_step + 24)
    assert anomaly_scores(model2, faulty[None])[0] > 3.0
    # batched over wells, one model each: the same scores
    both = np.stack([h_windows[0], faulty])
    np.testing.assert_allclose(score_wells([model, model2], both),
                               [anomaly_scores(model, h_windows[:1])[0], anomaly_scores(model2, faulty[None])[0]],
                               rtol=1e-4)


def test_flagged_spans_are_left_out_of_training_windows():
    series = np.arange(100.0)[:, None]
    exclude = np.zeros(100, bool)
    exclude[50] = True
    s = LstmAeSettings(window_steps=20, stride_steps=10, score_steps=5)
    windows, left_out = training_windows(series, exclude, s)
    ends = windows[:, -1, 0] + 1  # windows end at 100, 90, ..., 20
    assert left_out == 2 and sorted(ends.tolist()) == [20, 30, 40, 50, 80, 90, 100]


def test_sizes_have_upper_bounds():
    for bad in (dict(epochs=501), dict(window_steps=2017), dict(max_windows=4097), dict(batch_size=0)):
        with pytest.raises(ValueError):
            LstmAeSettings(**bad)


def test_stop_ends_training_early(trained):
    _, series, _, _ = trained
    seen = []
    model, report = train_lstm_ae(series, KEYS, SMALL, threads=1, progress=lambda e, n, loss: seen.append(e),
                                  should_stop=lambda: len(seen) >= 1)
    assert report.stopped and report.epochs_run == 1 and seen == [1] and model.metrics["stopped"]


def test_without_torch_training_refuses_and_numpy_scores(trained, monkeypatch):
    _, series, model, _ = trained
    windows, _ = training_windows(series, None, SMALL)
    expected = anomaly_scores(model, windows[:3], backend="numpy")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(TorchUnavailableError, match="pip install 'atilax\\[ml\\]'"):
        train_lstm_ae(series, KEYS, SMALL)
    np.testing.assert_array_equal(anomaly_scores(model, windows[:3]), expected)  # auto -> NumPy


def test_psi_against_hand_derived_values():
    rng = np.random.default_rng(1)
    train = rng.standard_normal(20_000)
    ref = psi_reference(train)
    assert len(ref.edges) == 9 and np.allclose(ref.fractions, 0.1, atol=1e-4)
    assert population_stability_index(ref, rng.standard_normal(20_000)) < 0.01
    # every recent value above the top decile edge: (1 - 0.1) ln(1 / 0.1) + 9 (EPS - 0.1) ln(EPS / 0.1)
    expected = 0.9 * math.log(10.0) + 9 * (EPS - 0.1) * math.log(EPS / 0.1)
    assert population_stability_index(ref, np.full(100, 10.0)) == pytest.approx(expected, rel=1e-3)
    # a one-sd mean shift of a normal: sum over deciles, by the normal CDF
    from scipy.stats import norm

    q = norm.ppf(np.arange(1, 10) / 10)
    a = np.diff(np.concatenate([[0.0], norm.cdf(q - 1.0), [1.0]]))
    assert population_stability_index(ref, rng.standard_normal(200_000) + 1.0) == pytest.approx(
        float(np.sum((a - 0.1) * np.log(a / 0.1))), rel=0.05)
