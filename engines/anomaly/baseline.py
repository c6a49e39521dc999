"""Adaptive per-well robust baselines: median and scaled MAD per key, vectorized over wells.

sigma_robust = 1.4826 MAD is consistent for the Gaussian standard deviation (Rousseeuw & Croux
1993, JASA 88:1273). ``fit`` uses a history window (e.g. 30 days) excluding masked samples
(simulated data, alarm periods); ``update`` moves median and MAD incrementally by the
stochastic-approximation quantile rule m <- m + eta sign(x - m) (Robbins & Monro 1951), which
tracks slow drift between monthly refits without storing the history.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAD_TO_SIGMA = 1.4826


#: Standard deviation of a standard normal truncated to its 1st-99th percentiles (+/-2.3263):
#: sqrt(1 - 2 z phi(z) / 0.98) = 0.93457, used to de-bias the trimmed standard deviation.
TRIMMED_SD_FACTOR = 0.93457


@dataclass(frozen=True)
class RobustBaseline:
    """Per-well, per-key location/scale, each (n_wells, n_keys); ``keys`` names columns.

    ``median``/``sigma`` (1.4826 MAD) serve the rules and evidence; ``loc``/``scale`` (1%-99% trimmed
    mean and de-biased trimmed standard deviation, floored at ``sigma``) standardize samples for the
    CUSUM, EWMA and PCA charts, whose ARL tables assume a zero-mean unit-variance input (a median
    is a biased centre for skewed or clipped signals such as pump fillage at 100%).
    ``n_samples`` (n_wells,) counts the samples used (0 = no baseline yet -> Isolation-Forest fallback)."""

    keys: tuple[str, ...]
    median: np.ndarray
    sigma: np.ndarray
    n_samples: np.ndarray
    loc: np.ndarray
    scale: np.ndarray

    @property
    def ready(self) -> np.ndarray:
        """Wells with a usable baseline (at least one day of 5-minute samples)."""
        return self.n_samples >= 288

    def column(self, key: str) -> int:
        return self.keys.index(key)

    def med(self, key: str) -> np.ndarray:
        """Median of ``key`` per well, (n_wells,)."""
        return self.median[:, self.keys.index(key)]

    def sd(self, key: str) -> np.ndarray:
        """Robust sigma of ``key`` per well, (n_wells,)."""
        return self.sigma[:, self.keys.index(key)]

    def take(self, rows) -> "RobustBaseline":
        """The baseline of the wells ``rows`` (an index, slice or index array), rows kept 2-D."""
        rows = [rows] if isinstance(rows, (int, np.integer)) else rows
        return RobustBaseline(self.keys, self.median[rows], self.sigma[rows], self.n_samples[rows], self.loc[rows],
                              self.scale[rows])

    @staticmethod
    def stack(baselines: "list[RobustBaseline]") -> "RobustBaseline":
        """One baseline for many wells from per-well (or per-group) baselines over the same keys."""
        keys = baselines[0].keys
        if any(b.keys != keys for b in baselines):
            raise ValueError("baselines to stack must have the same keys in the same order")
        cat = lambda name: np.concatenate([getattr(b, name) for b in baselines], axis=0)  # noqa: E731
        return RobustBaseline(keys, cat("median"), cat("sigma"), cat("n_samples"), cat("loc"), cat("scale"))


def fit_baseline(history: dict[str, np.ndarray], keys=None, exclude: np.ndarray | None = None,
                 min_rel_sigma: float = 1e-3) -> RobustBaseline:
    """Baseline from ``history[key]`` (n_wells, n_steps); ``exclude`` (n_wells, n_steps) bool masks samples out.

    ``min_rel_sigma`` floors sigma at that fraction of |median| (a constant signal has MAD 0)."""
    keys = tuple(keys or history)
    if not keys:
        raise ValueError("history has no keys")
    shape = np.shape(history[keys[0]])
    if len(shape) != 2:
        raise ValueError(f"history arrays must be (n_wells, n_steps), got {shape}")
    data = np.stack([np.asarray(history[k], dtype=float) for k in keys], axis=1)  # (n, K, T)
    valid = np.isfinite(data)
    if exclude is not None:
        if np.shape(exclude) != shape:
            raise ValueError(f"exclude must be {shape}, got {np.shape(exclude)}")
        valid &= ~np.asarray(exclude, bool)[:, None, :]
    masked = np.where(valid, data, np.nan)
    counts = valid.sum(axis=2)
    ordered = np.sort(masked, axis=2)  # NaN sort last
    med = _sorted_quantile(ordered, counts, 0.5)
    mad = _sorted_quantile(np.sort(np.abs(masked - med[:, :, None]), axis=2), counts, 0.5)
    lo = _sorted_quantile(ordered, counts, 0.01)[:, :, None]
    hi = _sorted_quantile(ordered, counts, 0.99)[:, :, None]
    trimmed = np.where((masked >= lo) & (masked <= hi), masked, 0.0)
    n_trim = np.sum((masked >= lo) & (masked <= hi), axis=2)
    with np.errstate(all="ignore"):
        loc = trimmed.sum(axis=2) / n_trim
        dev = np.where((masked >= lo) & (masked <= hi), masked - loc[:, :, None], 0.0)
        tsd = np.sqrt((dev**2).sum(axis=2) / (n_trim - 1)) / TRIMMED_SD_FACTOR
    sigma = np.maximum(MAD_TO_SIGMA * mad, min_rel_sigma * np.abs(med))
    sigma = np.where(sigma > 0, sigma, min_rel_sigma)
    loc = np.where(np.isfinite(loc), loc, med)
    scale = np.maximum(np.nan_to_num(tsd, nan=0.0), min_rel_sigma * np.abs(med))
    scale = np.where(scale > 0, scale, sigma)
    n = valid.all(axis=1).sum(axis=1)
    return RobustBaseline(keys, med, sigma, n.astype(int), loc, scale)


def _sorted_quantile(ordered: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """Quantile along the last axis of NaN-last sorted data with ``counts`` valid values, numpy's
    default linear interpolation (Hyndman & Fan 1996, definition 7); NaN where counts == 0."""
    pos = q * np.maximum(counts - 1, 0)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, np.maximum(counts - 1, 0))
    v0 = np.take_along_axis(ordered, i0[..., None], axis=-1)[..., 0]
    v1 = np.take_along_axis(ordered, i1[..., None], axis=-1)[..., 0]
    out = v0 + (pos - i0) * (v1 - v0)
    return np.where(counts > 0, out, np.nan)


def update_baseline(base: RobustBaseline, window: dict[str, np.ndarray], eta: float = 0.01,
                    exclude: np.ndarray | None = None) -> RobustBaseline:
    """Incremental update with new samples ``window[key]`` (n_wells, n_steps), excluding ``exclude``.

    Each sample moves the median by eta sigma sign(x - m) and sigma by eta sigma (|x - m| / (0.6745 sigma) - 1)
    scaled so that E[|x - m|] = 0.6745 sigma at the fixed point (the MAD of a Gaussian); ``loc`` and
    ``scale`` follow exponentially weighted mean and variance with the same eta."""
    if not 0 < eta < 1:
        raise ValueError(f"eta must be in (0, 1), got {eta}")
    med, sig = base.median.copy(), base.sigma.copy()
    loc, var = base.loc.copy(), base.scale.copy() ** 2
    data = np.stack([np.asarray(window[k], dtype=float) for k in base.keys], axis=1)
    ok = np.isfinite(data)
    if exclude is not None:
        ok &= ~np.asarray(exclude, bool)[:, None, :]
    for t in range(data.shape[2]):
        x, m = data[:, :, t], ok[:, :, t]
        d = np.where(m, x - med, 0.0)
        med = med + eta * sig * np.sign(d)
        sig = sig * (1.0 + eta * np.where(m, np.sign(np.abs(d) - 0.6745 * sig), 0.0))
        e = np.where(m, x - loc, 0.0)
        loc = loc + eta * e
        var = var + eta * np.where(m, e * e - var, 0.0)
    n_new = base.n_samples + ok.all(axis=1).sum(axis=1)
    return RobustBaseline(base.keys, med, sig, n_new, loc, np.sqrt(var))
