"""Adaptive per-well robust baselines: median and scaled MAD per key, vectorized over wells.

sigma_robust = 1.4826 MAD is consistent for the Gaussian standard deviation (Rousseeuw & Croux
1993, JASA 88:1273). ``fit`` uses a history window (e.g. 30 days) excluding masked samples
(simulated data, alarm periods); ``update`` moves median and MAD incrementally by the
stochastic-approximation quantile rule m <- m + eta sign(x - m) (Robbins & Monro 1951), which
tracks slow drift between monthly refits without storing the history.

Spread floor: ``sigma`` and ``scale`` are floored at the sensor's absolute resolution for the key
(:mod:`engines.anomaly.sensors`, configurable per well), since a historian's deadband-compressed record of a
steady pressure has a MAD of 0 or one least count. Per-key sample counts (``key_counts``) tell which keys
have a usable history (at least ``MIN_KEY_SAMPLES`` finite samples): a key with none, or too few, is not
charted and the diagnosis says so (``insufficient_data``) instead of answering "healthy".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.anomaly.sensors import resolutions

MAD_TO_SIGMA = 1.4826
#: Finite samples a key needs in the baseline history to be charted (one day of 5-minute samples).
MIN_KEY_SAMPLES = 288


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
    ``n_samples`` (n_wells,) counts the samples used (0 = no baseline yet -> Isolation-Forest fallback): those
    where every key with a usable history (else every key with any finite sample) is finite; ``key_counts``
    (n_wells, n_keys) the finite samples of each key (None: as many as ``n_samples``)."""

    keys: tuple[str, ...]
    median: np.ndarray
    sigma: np.ndarray
    n_samples: np.ndarray
    loc: np.ndarray
    scale: np.ndarray
    key_counts: np.ndarray | None = None
    #: (n_wells, n_keys) spread floor [key units] (the sensor resolution) that updates keep; None: no floor
    floor: np.ndarray | None = None

    def counts(self) -> np.ndarray:
        """Finite history samples per well and key, (n_wells, n_keys)."""
        if self.key_counts is not None:
            return self.key_counts
        return np.repeat(np.asarray(self.n_samples)[:, None], len(self.keys), axis=1)

    @property
    def key_ready(self) -> np.ndarray:
        """(n_wells, n_keys): keys with a usable history (at least ``MIN_KEY_SAMPLES`` finite samples and a
        finite median and spread)."""
        return (self.counts() >= MIN_KEY_SAMPLES) & np.isfinite(self.median) & np.isfinite(self.sigma)

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
                              self.scale[rows], None if self.key_counts is None else self.key_counts[rows],
                              None if self.floor is None else self.floor[rows])

    @staticmethod
    def stack(baselines: "list[RobustBaseline]") -> "RobustBaseline":
        """One baseline for many wells from per-well (or per-group) baselines over the same keys."""
        keys = baselines[0].keys
        if any(b.keys != keys for b in baselines):
            raise ValueError("baselines to stack must have the same keys in the same order")
        cat = lambda name: np.concatenate([getattr(b, name) for b in baselines], axis=0)  # noqa: E731
        counts = None if all(b.key_counts is None for b in baselines) else np.concatenate([b.counts() for b in baselines])
        floor = None if any(b.floor is None for b in baselines) else cat("floor")
        return RobustBaseline(keys, cat("median"), cat("sigma"), cat("n_samples"), cat("loc"), cat("scale"), counts, floor)


def fit_baseline(history: dict[str, np.ndarray], keys=None, exclude: np.ndarray | None = None,
                 min_rel_sigma: float = 1e-3, resolution=None) -> RobustBaseline:
    """Baseline from ``history[key]`` (n_wells, n_steps); ``exclude`` (n_wells, n_steps) bool masks samples out.

    ``sigma`` and ``scale`` are floored at the sensor resolution of each key [key units]
    (:func:`engines.anomaly.sensors.resolutions`; ``resolution`` overrides it: one ``{key or family: value}`` for all
    wells or one per well); keys of no documented family at ``min_rel_sigma`` x |median| (a constant signal has
    MAD 0)."""
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
    res = resolutions(keys, resolution, shape[0])
    floor = np.where(np.isfinite(res), res, min_rel_sigma * np.abs(med))
    sigma = np.maximum(MAD_TO_SIGMA * mad, floor)
    sigma = np.where(sigma > 0, sigma, min_rel_sigma)
    loc = np.where(np.isfinite(loc), loc, med)
    scale = np.maximum(np.nan_to_num(tsd, nan=0.0), floor)
    scale = np.where(scale > 0, scale, sigma)
    usable = counts >= MIN_KEY_SAMPLES
    considered = np.where(usable.any(axis=1, keepdims=True), usable, counts > 0)  # (n, K)
    n = (valid | ~considered[:, :, None]).all(axis=1).sum(axis=1) * considered.any(axis=1)
    return RobustBaseline(keys, med, sigma, n.astype(int), loc, scale, counts.astype(int), floor)


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
    counts = base.counts() + ok.sum(axis=2)
    scale = np.sqrt(var)
    if base.floor is not None:  # a flat record shrinks the MAD rule's sigma geometrically: keep the sensor's floor
        sig = np.maximum(sig, np.nan_to_num(base.floor, nan=0.0))
        scale = np.maximum(scale, np.nan_to_num(base.floor, nan=0.0))
    return RobustBaseline(base.keys, med, sig, n_new, loc, scale, counts, base.floor)
