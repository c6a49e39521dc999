"""Drift of a model's inputs: the standardized mean shift of each input since the model's training window.

z_k = (mean of input k over the recent period - its mean over the training window) / its standard deviation over
the training window: the distance of the recent mean from the training mean in training standard deviations
(Cohen's d with the training spread as the reference). |z| well below 1 means the model still sees the data it was
trained on; |z| of a few means the inputs have left the training distribution (a refit, or a fault).
"""
from __future__ import annotations

import numpy as np


def standardized_mean_shift(recent_mean, train_mean, train_sd) -> np.ndarray:
    """``(recent_mean - train_mean) / train_sd`` elementwise; NaN where any input is not finite or ``train_sd`` is
    not positive."""
    recent = np.asarray(recent_mean, dtype=float)
    mean = np.asarray(train_mean, dtype=float)
    sd = np.asarray(train_sd, dtype=float)
    ok = np.isfinite(recent) & np.isfinite(mean) & np.isfinite(sd) & (sd > 0)
    with np.errstate(all="ignore"):
        return np.where(ok, (recent - mean) / np.where(ok, sd, 1.0), np.nan)
