"""LSTM autoencoder of one well's telemetry: trained on its stable days, scored by reconstruction error.

Architecture (Malhotra et al. 2016, *LSTM-based encoder-decoder for multi-sensor anomaly detection*, ICML anomaly
detection workshop): the encoder is LSTM(n_keys -> 64) then LSTM(64 -> 32), whose last hidden state is the 32-d
latent vector of the window; the decoder feeds that latent vector at every step to LSTM(32 -> 64) and a linear layer
64 -> n_keys that reconstructs the window. Inputs are the window's keys standardized by the training mean and
standard deviation of each key; a missing sample is the training mean (0) and does not count in any error.

Score of a window: the mean squared standardized reconstruction error of its newest ``score_steps`` samples (a fault
shows in the newest hour long before it fills a day); the threshold is the ``threshold_quantile`` of the same error
over the training windows times ``threshold_margin``; ``score / threshold`` >= 1 is an anomaly.

Training needs PyTorch (the ``ml`` extra; a GPU when one is present, else the CPU), deterministic given
``seed``; inference runs on PyTorch or, with the same weights, on NumPy (:func:`reconstruct_numpy`), so a service
without PyTorch scores wells with the models trained elsewhere. A model file is a zip of ``meta.json`` and ``.npy``
arrays written with fixed timestamps: the same weights give the same bytes and the same SHA-256.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from engines.ml.drift import PsiReference, psi_reference

HIDDEN = 64
LATENT = 32
#: Documented upper bounds of every size a user can set.
MAX_WINDOW_STEPS = 2016  # 7 days of 5-minute samples
MAX_EPOCHS = 500
MAX_TRAIN_WINDOWS = 4096
MAX_KEYS = 32
MAX_BATCH = 1024
FORMAT_VERSION = 1
KIND = "lstm_ae"


class TorchUnavailableError(RuntimeError):
    """Training was asked for where PyTorch is not installed."""


TORCH_MISSING = ("training the LSTM autoencoder needs PyTorch, which is not installed: pip install 'atilax[ml]' "
                 "(inference with trained models runs without it, on NumPy)")


def _torch():
    try:
        import torch
    except ImportError as exc:  # also raised when sys.modules["torch"] is None
        raise TorchUnavailableError(TORCH_MISSING) from exc
    return torch


def torch_available() -> bool:
    try:
        _torch()
    except TorchUnavailableError:
        return False
    return True


@dataclass(frozen=True)
class LstmAeSettings:
    """Training and scoring settings (sizes bounded: ``MAX_*``)."""

    window_steps: int = 288  #: samples per window (288 = 24 h at 5 min; at most 2016)
    stride_steps: int = 24  #: spacing of the training windows (24 = 2 h: 349 windows in 30 days)
    epochs: int = 10  #: passes over the training windows (at most 500)
    batch_size: int = 32  #: windows per optimizer step (at most 1024)
    learning_rate: float = 1e-3  #: Adam
    max_windows: int = 512  #: most training windows (the newest kept; at most 4096)
    max_missing_frac: float = 0.1  #: a training window with more missing samples is left out
    score_steps: int = 12  #: newest samples the score averages (12 = 1 h)
    threshold_quantile: float = 0.995
    threshold_margin: float = 1.5
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [(2 <= self.window_steps <= MAX_WINDOW_STEPS, f"window_steps must be in [2, {MAX_WINDOW_STEPS}]"),
                  (1 <= self.stride_steps <= self.window_steps, "stride_steps must be in [1, window_steps]"),
                  (1 <= self.epochs <= MAX_EPOCHS, f"epochs must be in [1, {MAX_EPOCHS}]"),
                  (1 <= self.batch_size <= MAX_BATCH, f"batch_size must be in [1, {MAX_BATCH}]"),
                  (0 < self.learning_rate <= 1, "learning_rate must be in (0, 1]"),
                  (1 <= self.max_windows <= MAX_TRAIN_WINDOWS, f"max_windows must be in [1, {MAX_TRAIN_WINDOWS}]"),
                  (0 <= self.max_missing_frac < 1, "max_missing_frac must be in [0, 1)"),
                  (1 <= self.score_steps <= self.window_steps, "score_steps must be in [1, window_steps]"),
                  (0.5 <= self.threshold_quantile <= 1, "threshold_quantile must be in [0.5, 1]"),
                  (self.threshold_margin >= 1, "threshold_margin must be >= 1")]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"{message}, got {self}")


@dataclass(frozen=True)
class LstmAeModel:
    """A trained autoencoder: its ``keys``, the standardization (``mean``, ``scale`` per key), the weights by
    PyTorch state-dict name, the ``threshold`` of the error, the ``settings`` it was trained with, training
    ``metrics`` and the ``psi`` references of its inputs (the monthly drift audit)."""

    keys: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: Mapping[str, np.ndarray]
    threshold: float
    settings: LstmAeSettings
    metrics: Mapping[str, Any] = field(default_factory=dict)
    psi: Mapping[str, PsiReference] = field(default_factory=dict)

    @property
    def window_steps(self) -> int:
        return self.settings.window_steps


@dataclass(frozen=True)
class TrainReport:
    """What a training run did: ``epochs_run`` (fewer than asked when stopped), the loss of each epoch, windows used."""

    epochs_run: int
    losses: tuple[float, ...]
    windows: int
    windows_left_out: int
    stopped: bool
    device: str


# -- windows ------------------------------------------------------------------------------------------------
def standardize(values: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(z, observed)`` of ``values`` (..., T, K): z with missing samples at 0, and the finite mask."""
    values = np.asarray(values, dtype=float)
    observed = np.isfinite(values)
    z = np.where(observed, (values - mean) / scale, 0.0)
    return z, observed


def training_windows(series: np.ndarray, exclude: np.ndarray | None, settings: LstmAeSettings
                     ) -> tuple[np.ndarray, int]:
    """Windows ``(n, window_steps, K)`` of ``series`` (T, K) every ``stride_steps`` ending at its last sample, the
    newest ``max_windows`` kept; a window that overlaps an ``exclude`` sample (T,) or misses more than
    ``max_missing_frac`` of its values is left out. Returns ``(windows, left out)``."""
    series = np.asarray(series, dtype=float)
    T, W = series.shape[0], settings.window_steps
    if T < W:
        raise ValueError(f"{T} samples; one {W}-sample window needs {W}")
    ends = np.arange(T, W - 1, -settings.stride_steps)[::-1]  # window [end - W, end)
    bad = np.zeros(T, bool) if exclude is None else np.asarray(exclude, bool)
    cum_bad = np.concatenate([[0], np.cumsum(bad)])
    missing = np.concatenate([[0], np.cumsum((~np.isfinite(series)).sum(axis=1))])
    ok = (cum_bad[ends] - cum_bad[ends - W] == 0) & \
         (missing[ends] - missing[ends - W] <= settings.max_missing_frac * W * series.shape[1])
    kept = ends[ok][-settings.max_windows:]
    if kept.size == 0:
        return np.zeros((0, W, series.shape[1])), int(ends.size)
    idx = kept[:, None] - W + np.arange(W)[None, :]
    return series[idx], int(ends.size - kept.size)


# -- PyTorch network ----------------------------------------------------------------------------------------
def _network(n_keys: int):
    torch = _torch()
    nn = torch.nn

    class LstmAutoencoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc1 = nn.LSTM(n_keys, HIDDEN, batch_first=True)
            self.enc2 = nn.LSTM(HIDDEN, LATENT, batch_first=True)
            self.dec = nn.LSTM(LATENT, HIDDEN, batch_first=True)
            self.out = nn.Linear(HIDDEN, n_keys)

        def forward(self, x):
            h1, _ = self.enc1(x)
            _, (latent, _) = self.enc2(h1)
            rep = latent[-1][:, None, :].expand(-1, x.shape[1], -1)
            h3, _ = self.dec(rep)
            return self.out(h3)

    return LstmAutoencoder()


def _device(torch, device: str | None):
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_lstm_ae(series: np.ndarray, keys: Sequence[str], settings: LstmAeSettings = LstmAeSettings(),
                  exclude: np.ndarray | None = None, progress: Callable[[int, int, float], None] | None = None,
                  should_stop: Callable[[], bool] | None = None, device: str | None = None,
                  threads: int | None = None) -> tuple[LstmAeModel, TrainReport]:
    """Train one well's autoencoder on ``series`` (T, K) of ``keys`` (5-minute samples, oldest first; NaN where
    missing), leaving out the samples ``exclude`` (T,) marks (spans the detector flagged).

    ``progress(epoch, epochs, loss)`` is called after each epoch; ``should_stop()`` is asked before each epoch and
    ends training early (the model trained so far is returned, ``TrainReport.stopped``). Deterministic given
    ``settings.seed`` on one device. ``threads``: PyTorch's CPU threads during the call (None: unchanged; 1 is the
    fastest on a loaded 2-core machine, where two spinning threads per process contend). Raises :class:`TorchUnavailableError` without PyTorch, ``ValueError`` when no
    usable window remains."""
    torch = _torch()
    series = np.asarray(series, dtype=float)
    keys = tuple(keys)
    if series.ndim != 2 or series.shape[1] != len(keys):
        raise ValueError(f"series must be (n_steps, {len(keys)}), got {series.shape}")
    if not 1 <= len(keys) <= MAX_KEYS:
        raise ValueError(f"1 to {MAX_KEYS} keys, got {len(keys)}")
    windows, left_out = training_windows(series, exclude, settings)
    if windows.shape[0] == 0:
        raise ValueError(f"no usable {settings.window_steps}-sample window: {left_out} overlap flagged spans or miss "
                         f"more than {settings.max_missing_frac:.0%} of their values")
    # standardization from the samples of the kept windows (each sample once)
    usable = np.ones(series.shape[0], bool) if exclude is None else ~np.asarray(exclude, bool)
    train_values = series[usable]
    mean = np.nanmean(train_values, axis=0)
    sd = np.nanstd(train_values, axis=0)
    scale = np.where(np.isfinite(sd) & (sd > 1e-6 * np.maximum(np.abs(mean), 1.0)), sd,
                     np.maximum(1e-3 * np.abs(np.nan_to_num(mean)), 1e-6))
    mean = np.nan_to_num(mean)
    z, observed = standardize(windows, mean, scale)

    dev = _device(torch, device)
    previous = torch.are_deterministic_algorithms_enabled()
    previous_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))
    try:
        torch.manual_seed(settings.seed)
        generator = torch.Generator().manual_seed(settings.seed)
        net = _network(len(keys)).to(dev)
        optimizer = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)
        x_all = torch.as_tensor(z, dtype=torch.float32)
        m_all = torch.as_tensor(observed, dtype=torch.float32)
        losses: list[float] = []
        stopped = False
        for epoch in range(settings.epochs):
            if should_stop is not None and should_stop():
                stopped = True
                break
            net.train()
            order = torch.randperm(x_all.shape[0], generator=generator)
            total, count = 0.0, 0
            for start in range(0, order.numel(), settings.batch_size):
                idx = order[start:start + settings.batch_size]
                x, m = x_all[idx].to(dev), m_all[idx].to(dev)
                optimizer.zero_grad()
                err = (net(x) - x) ** 2 * m
                loss = err.sum() / m.sum().clamp(min=1.0)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * idx.numel()
                count += idx.numel()
            losses.append(total / count)
            if progress is not None:
                progress(epoch + 1, settings.epochs, losses[-1])
        weights = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.set_num_threads(previous_threads)
    model = LstmAeModel(keys, mean, scale, weights, threshold=1.0, settings=settings)
    errors = window_errors(model, windows, backend="torch" if dev.type == "cpu" else "numpy")
    threshold = float(np.quantile(errors, settings.threshold_quantile) * settings.threshold_margin)
    psi = {}
    for j, k in enumerate(keys):
        try:
            psi[k] = psi_reference(train_values[:, j])
        except ValueError:
            continue
    metrics = {"train_windows": int(windows.shape[0]), "windows_left_out": left_out,
               "train_samples": int(np.count_nonzero(usable)), "epochs": len(losses),
               "final_loss": losses[-1] if losses else None, "error_mean": float(errors.mean()),
               "error_p50": float(np.quantile(errors, 0.5)), "error_p99": float(np.quantile(errors, 0.99)),
               "error_max": float(errors.max()), "threshold": threshold, "stopped": stopped}
    model = replace(model, threshold=max(threshold, 1e-12), metrics=metrics, psi=psi)
    return model, TrainReport(len(losses), tuple(losses), int(windows.shape[0]), left_out, stopped, str(dev))


# -- inference ----------------------------------------------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # exact identity, no overflow


def _lstm_numpy(x_proj: np.ndarray, w_hh: np.ndarray, hidden: int, steps: int, constant: bool) -> tuple[np.ndarray,
                                                                                                      np.ndarray]:
    """One LSTM layer (PyTorch gate order i, f, g, o) from its projected input ``x_proj`` = x W_ih^T + b_ih + b_hh:
    (B, T, 4H), or (B, 4H) when ``constant`` (the same input at every step). Returns ``(h (B, T, H), h_T)``."""
    b = x_proj.shape[0]
    h = np.zeros((b, hidden), dtype=x_proj.dtype)
    c = np.zeros((b, hidden), dtype=x_proj.dtype)
    out = np.empty((b, steps, hidden), dtype=x_proj.dtype)
    w = np.ascontiguousarray(w_hh.T)
    for t in range(steps):
        gates = (x_proj if constant else x_proj[:, t]) + h @ w
        i = _sigmoid(gates[:, :hidden])
        f = _sigmoid(gates[:, hidden:2 * hidden])
        g = np.tanh(gates[:, 2 * hidden:3 * hidden])
        o = _sigmoid(gates[:, 3 * hidden:])
        c = f * c + i * g
        h = o * np.tanh(c)
        out[:, t] = h
    return out, h


def reconstruct_numpy(weights: Mapping[str, np.ndarray], z: np.ndarray, dtype=np.float64) -> np.ndarray:
    """The autoencoder's reconstruction of standardized windows ``z`` (B, T, K) in NumPy, from PyTorch weights."""
    w = {k: np.asarray(v, dtype=dtype) for k, v in weights.items()}
    z = np.asarray(z, dtype=dtype)
    steps = z.shape[1]

    def proj(layer: str, x: np.ndarray) -> np.ndarray:
        return x @ w[f"{layer}.weight_ih_l0"].T + (w[f"{layer}.bias_ih_l0"] + w[f"{layer}.bias_hh_l0"])

    h1, _ = _lstm_numpy(proj("enc1", z), w["enc1.weight_hh_l0"], HIDDEN, steps, False)
    _, latent = _lstm_numpy(proj("enc2", h1), w["enc2.weight_hh_l0"], LATENT, steps, False)
    h3, _ = _lstm_numpy(proj("dec", latent), w["dec.weight_hh_l0"], HIDDEN, steps, True)
    return h3 @ w["out.weight"].T + w["out.bias"]


def _reconstruct_torch(model: LstmAeModel, z: np.ndarray, dtype: str, device: str | None, batch: int) -> np.ndarray:
    torch = _torch()
    dev = _device(torch, device)
    tdtype = torch.float64 if dtype == "float64" else torch.float32
    net = _network(len(model.keys))
    net.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in model.weights.items()})
    net = net.to(device=dev, dtype=tdtype).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, z.shape[0], batch):
            x = torch.as_tensor(z[start:start + batch], dtype=tdtype, device=dev)
            out.append(net(x).cpu().numpy())
    return np.concatenate(out) if out else np.zeros_like(z)


def reconstruct(model: LstmAeModel, z: np.ndarray, backend: str = "auto", dtype: str = "float32",
                device: str | None = None, batch: int = 4096) -> np.ndarray:
    """Reconstruction of standardized windows ``z`` (B, T, K): ``backend`` ``torch``, ``numpy``, or ``auto``
    (PyTorch when installed, else NumPy); ``dtype`` ``float32`` or ``float64``."""
    if backend not in ("auto", "torch", "numpy"):
        raise ValueError(f"backend must be auto, torch or numpy, got {backend!r}")
    if backend == "auto":
        backend = "torch" if torch_available() else "numpy"
    if backend == "torch":
        return _reconstruct_torch(model, z, dtype, device, batch)
    return reconstruct_numpy(model.weights, z, np.float64 if dtype == "float64" else np.float32)


def window_errors(model: LstmAeModel, windows: np.ndarray, backend: str = "auto", dtype: str = "float32",
                  device: str | None = None) -> np.ndarray:
    """Mean squared standardized reconstruction error of each window's newest ``score_steps`` observed values,
    (B,); NaN where none of them is observed. ``windows`` (B, window_steps, K) in telemetry units."""
    windows = np.asarray(windows, dtype=float)
    if windows.ndim != 3 or windows.shape[1:] != (model.window_steps, len(model.keys)):
        raise ValueError(f"windows must be (n, {model.window_steps}, {len(model.keys)}), got {windows.shape}")
    z, observed = standardize(windows, model.mean, model.scale)
    rec = reconstruct(model, z, backend, dtype, device)
    s = model.settings.score_steps
    err = (rec[:, -s:] - z[:, -s:]) ** 2 * observed[:, -s:]
    n = observed[:, -s:].sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, err.sum(axis=(1, 2)) / np.maximum(n, 1), np.nan)


def anomaly_scores(model: LstmAeModel, windows: np.ndarray, backend: str = "auto", dtype: str = "float32",
                   device: str | None = None) -> np.ndarray:
    """``window_errors / threshold`` (B,): 1 or more is an anomaly."""
    return window_errors(model, windows, backend, dtype, device) / model.threshold


def score_wells(models: Sequence[LstmAeModel], windows: np.ndarray, backend: str = "auto",
                dtype: str = "float32", device: str | None = None) -> np.ndarray:
    """Scores of many wells' windows (B, T, K), one model per well, in one batched pass when the models share
    their architecture input (same keys count and window): the weights differ per well, so the batch is run as
    B independent autoencoders by stacking weights (NumPy) -- see :func:`reconstruct_many_numpy`."""
    windows = np.asarray(windows, dtype=float)
    if len(models) != windows.shape[0]:
        raise ValueError(f"{len(models)} models for {windows.shape[0]} windows")
    if not models:
        return np.zeros(0)
    z = np.empty_like(windows)
    observed = np.isfinite(windows)
    for i, m in enumerate(models):
        z[i] = np.where(observed[i], (windows[i] - m.mean) / m.scale, 0.0)
    rec = reconstruct_many(models, z, backend, dtype, device)
    out = np.empty(len(models))
    for i, m in enumerate(models):
        s = m.settings.score_steps
        n = observed[i, -s:].sum()
        err = ((rec[i, -s:] - z[i, -s:]) ** 2 * observed[i, -s:]).sum()
        out[i] = err / n / m.threshold if n else np.nan
    return out


def _stacked(models: Sequence[LstmAeModel], dtype) -> dict[str, np.ndarray]:
    return {k: np.stack([np.asarray(m.weights[k], dtype=dtype) for m in models]) for k in models[0].weights}


def _lstm_many_numpy(x_proj: np.ndarray, w_hh_t: np.ndarray, hidden: int, steps: int, constant: bool):
    """:func:`_lstm_numpy` with one weight matrix per row: ``w_hh_t`` (B, H, 4H) already transposed."""
    b = x_proj.shape[0]
    h = np.zeros((b, 1, hidden), dtype=x_proj.dtype)
    c = np.zeros((b, hidden), dtype=x_proj.dtype)
    out = np.empty((b, steps, hidden), dtype=x_proj.dtype)
    for t in range(steps):
        gates = (x_proj if constant else x_proj[:, t]) + np.matmul(h, w_hh_t)[:, 0]
        i = _sigmoid(gates[:, :hidden])
        f = _sigmoid(gates[:, hidden:2 * hidden])
        g = np.tanh(gates[:, 2 * hidden:3 * hidden])
        o = _sigmoid(gates[:, 3 * hidden:])
        c = f * c + i * g
        hh = o * np.tanh(c)
        out[:, t] = hh
        h = hh[:, None, :]
    return out, h[:, 0]


def reconstruct_many_numpy(models: Sequence[LstmAeModel], z: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Reconstruction of ``z`` (B, T, K) with model ``models[b]`` for row b (per-row weights, batched matmuls)."""
    w = _stacked(models, dtype)
    z = np.asarray(z, dtype=dtype)
    steps = z.shape[1]

    def proj(layer: str, x: np.ndarray) -> np.ndarray:
        bias = (w[f"{layer}.bias_ih_l0"] + w[f"{layer}.bias_hh_l0"])
        if x.ndim == 2:
            return np.matmul(x[:, None, :], np.swapaxes(w[f"{layer}.weight_ih_l0"], 1, 2))[:, 0] + bias
        return np.matmul(x, np.swapaxes(w[f"{layer}.weight_ih_l0"], 1, 2)) + bias[:, None, :]

    def hh(layer: str) -> np.ndarray:
        return np.ascontiguousarray(np.swapaxes(w[f"{layer}.weight_hh_l0"], 1, 2))

    h1, _ = _lstm_many_numpy(proj("enc1", z), hh("enc1"), HIDDEN, steps, False)
    _, latent = _lstm_many_numpy(proj("enc2", h1), hh("enc2"), LATENT, steps, False)
    h3, _ = _lstm_many_numpy(proj("dec", latent), hh("dec"), HIDDEN, steps, True)
    return np.matmul(h3, np.swapaxes(w["out.weight"], 1, 2)) + w["out.bias"][:, None, :]


def _reconstruct_many_torch(models: Sequence[LstmAeModel], z: np.ndarray, dtype: str, device: str | None
                            ) -> np.ndarray:
    torch = _torch()
    dev = _device(torch, device)
    tdtype = torch.float64 if dtype == "float64" else torch.float32
    w = {k: torch.as_tensor(v, dtype=tdtype, device=dev) for k, v in _stacked(models, np.float64).items()}
    x = torch.as_tensor(z, dtype=tdtype, device=dev)
    steps = x.shape[1]

    def layer(name: str, inp, hidden: int, constant: bool):
        bias = w[f"{name}.bias_ih_l0"] + w[f"{name}.bias_hh_l0"]
        wih = w[f"{name}.weight_ih_l0"].transpose(1, 2)
        whh = w[f"{name}.weight_hh_l0"].transpose(1, 2).contiguous()
        xp = torch.bmm(inp[:, None, :], wih)[:, 0] + bias if constant else torch.bmm(inp, wih) + bias[:, None, :]
        b = inp.shape[0]
        h = torch.zeros((b, 1, hidden), dtype=tdtype, device=dev)
        c = torch.zeros((b, hidden), dtype=tdtype, device=dev)
        outs = []
        for t in range(steps):
            gates = (xp if constant else xp[:, t]) + torch.bmm(h, whh)[:, 0]
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            hh = torch.sigmoid(o) * torch.tanh(c)
            outs.append(hh)
            h = hh[:, None, :]
        return torch.stack(outs, dim=1), h[:, 0]

    with torch.inference_mode():
        h1, _ = layer("enc1", x, HIDDEN, False)
        _, latent = layer("enc2", h1, LATENT, False)
        h3, _ = layer("dec", latent, HIDDEN, True)
        rec = torch.bmm(h3, w["out.weight"].transpose(1, 2)) + w["out.bias"][:, None, :]
    return rec.cpu().numpy()


def reconstruct_many(models: Sequence[LstmAeModel], z: np.ndarray, backend: str = "auto", dtype: str = "float32",
                     device: str | None = None) -> np.ndarray:
    """Row ``b`` of ``z`` (B, T, K) reconstructed by ``models[b]`` (same keys count and window for all)."""
    if backend not in ("auto", "torch", "numpy"):
        raise ValueError(f"backend must be auto, torch or numpy, got {backend!r}")
    if backend == "auto":
        backend = "torch" if torch_available() else "numpy"
    if backend == "torch":
        return _reconstruct_many_torch(models, z, dtype, device)
    return reconstruct_many_numpy(models, z, np.float64 if dtype == "float64" else np.float32)


# -- files --------------------------------------------------------------------------------------------------
def model_bytes(model: LstmAeModel) -> bytes:
    """The model file's bytes (deterministic: fixed zip timestamps, sorted entries)."""
    meta = {"format": FORMAT_VERSION, "kind": KIND, "keys": list(model.keys), "threshold": model.threshold,
            "settings": asdict(model.settings), "metrics": model.metrics,
            "psi": {k: v.to_list() for k, v in model.psi.items()}}
    arrays = {"mean": np.asarray(model.mean, dtype=np.float64), "scale": np.asarray(model.scale, dtype=np.float64)}
    arrays.update({f"w/{k}": np.asarray(v, dtype=np.float32) for k, v in model.weights.items()})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        def put(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)

        put("meta.json", json.dumps(meta, sort_keys=True, default=float).encode())
        for name in sorted(arrays):
            a = io.BytesIO()
            np.lib.format.write_array(a, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            put(name + ".npy", a.getvalue())
    return buf.getvalue()


def save_model(model: LstmAeModel, path: str | Path) -> str:
    """Write the model to ``path`` (atomically: a temporary file renamed); returns its SHA-256 (hex)."""
    data = model_bytes(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_model(path: str | Path, expected_sha256: str | None = None) -> LstmAeModel:
    """Read a model file (no PyTorch needed); ``expected_sha256`` (the registry's hash) is checked when given."""
    data = Path(path).read_bytes()
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise ValueError(f"{path}: SHA-256 differs from the registry's (the file was changed or replaced)")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        meta = json.loads(zf.read("meta.json"))
        if meta.get("kind") != KIND or meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: not an LSTM-AE model of format {FORMAT_VERSION}")
        arrays = {n[:-4]: np.lib.format.read_array(io.BytesIO(zf.read(n)), allow_pickle=False)
                  for n in zf.namelist() if n.endswith(".npy")}
    weights = {k[2:]: v for k, v in arrays.items() if k.startswith("w/")}
    return LstmAeModel(tuple(meta["keys"]), arrays["mean"], arrays["scale"], weights, float(meta["threshold"]),
                       LstmAeSettings(**meta["settings"]), meta.get("metrics", {}),
                       {k: PsiReference.from_list(v) for k, v in meta.get("psi", {}).items()})
