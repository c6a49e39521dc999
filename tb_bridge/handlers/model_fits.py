"""Provenance of the models the steps learn or fit, read by the monthly model audit
(:func:`tb_bridge.handlers.review_steps.model_audit_step`).

Each fit site records a :class:`ModelFit`: when the model was fitted (the tier's time), on which samples (first and
last timestamp, how many, from where) and, for a model that does not keep them itself, the mean and standard
deviation of each input over those samples (the reference its inputs' drift is measured against). A well's models
are kept in its state under ``"model_fits"`` (:func:`well_fits`); a lift type's field models beside them in the
field state (``field_state["diagnostics"]["fits"]``, :meth:`tb_bridge.handlers.engine_steps.DiagnosticsStep.field_models`).

Model names: ``baseline`` (the robust per-well baseline: first fit on the first buffered day, refitted monthly,
updated daily), ``own_pca`` (the well's own-history PCA monitor, fitted with the baseline), ``decline`` (the daily
decline-curve fit), ``isolation_forest`` and ``field_pca`` (the lift type's field models, fitted daily).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class ModelFit:
    """One fit: ``fitted_ms`` (epoch ms, the tier's time), the training window ``[window_start_ms, window_end_ms]``
    (timestamps of its first and last sample), ``samples`` used, ``source`` (buffer, ThingsBoard history, ...);
    ``updated_ms`` the last incremental update (the daily baseline refresh folds new samples in: the window then
    ends later); ``inputs`` with their training ``train_mean`` / ``train_sd`` where the model does not keep them."""

    model: str
    fitted_ms: int
    window_start_ms: int
    window_end_ms: int
    samples: int
    source: str
    updated_ms: int | None = None
    inputs: tuple[str, ...] = ()
    train_mean: tuple[float, ...] = ()
    train_sd: tuple[float, ...] = ()


def well_fits(state: dict[str, Any]) -> dict[str, ModelFit]:
    """The fits of one well's models, in its per-well state (created on first use)."""
    return state.setdefault("model_fits", {})


def note_fit(fits: dict[str, ModelFit], model: str, ts_ms: np.ndarray | Sequence[int], now_ms: int, source: str, *,
             samples: int | None = None, train: Mapping[str, np.ndarray] | None = None) -> ModelFit:
    """Record that ``model`` was fitted at ``now_ms`` on samples stamped ``ts_ms`` (``samples`` used; default all of
    them); ``train``: ``{input: training values}`` whose mean and sample standard deviation are kept."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    if ts.size == 0:
        raise ValueError(f"{model}: no training samples")
    inputs = tuple(train) if train else ()
    values = [np.asarray(train[k], dtype=float).ravel() for k in inputs] if train else []
    values = [v[np.isfinite(v)] for v in values]
    fit = ModelFit(model, int(now_ms), int(ts.min()), int(ts.max()), int(ts.size if samples is None else samples),
                   source, None, inputs, tuple(float(v.mean()) if v.size else float("nan") for v in values),
                   tuple(float(v.std(ddof=1)) if v.size > 1 else float("nan") for v in values))
    fits[model] = fit
    return fit


def note_update(fits: dict[str, ModelFit], model: str, now_ms: int, window_end_ms: int, added: int) -> None:
    """Record an incremental update of ``model`` at ``now_ms`` with ``added`` samples up to ``window_end_ms``."""
    fit = fits.get(model)
    if fit is not None:
        fits[model] = dataclasses.replace(fit, updated_ms=int(now_ms), window_end_ms=max(fit.window_end_ms,
                                                                                          int(window_end_ms)),
                                          samples=fit.samples + int(added))
