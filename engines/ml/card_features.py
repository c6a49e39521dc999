"""Dynamometer-card features for the learned card classifier (surface or downhole cards, any sampling).

A field card is a list of (position, load) samples over one stroke, in time order, of any length, as a
controller stores it: it may start anywhere in the stroke, carry trailing padding (the last sample
repeated or zeros up to a fixed buffer length), a position or load offset, load-cell drift and noise.
:func:`clean_card` strips the padding; :func:`card_features` turns the card into a fixed-length vector
that does not depend on the point count, the sampling scheme (uniform in time or in position), the
starting sample or the load offset:

* the shape: loads normalised between the card's low and high loads (1st / 99th percentiles), on
  ``N_PROFILE`` positions uniform over the stroke, upstroke and downstroke (the stroke runs from the
  lowest to the highest position in time order), and their difference (the card's width);
* scalars: the load range over the peak load, the low load over the peak load, the area fill
  (card work / (range x stroke)), the geometric classifier's crossings and near-end loads
  (:func:`engines.lift.srp_card.analyze_pump_card`), and its class (one-hot): the geometric classifier
  is a feature;
* scale: peak and low load (lbf), stroke (in) and SPM (NaN when unknown: the model handles a gap).

Pure NumPy; positions in inches, loads in lbf.
"""
from __future__ import annotations

import numpy as np

from engines.lift.srp_card import CARD_CLASSES, analyze_pump_card
from engines.lift.srp_wave import Card

#: Positions per branch of the resampled profile.
N_PROFILE = 24
#: Smallest usable card after the padding is stripped.
MIN_POINTS = 16
#: Largest accepted card (points): a controller's card buffer is at most a few thousand samples.
MAX_POINTS = 20_000

_GEOM = ("x_up_10", "x_up_50", "x_up_90", "x_down_90", "x_down_50", "x_down_10", "up_load_near_top",
         "down_load_near_bottom", "unloading_width", "pickup_width")
_SCALARS = ("range_over_peak", "low_over_peak", "area_fill", "up_mean", "down_mean", "up_min_late", "down_max_late")
_SCALE = ("peak_load_lbf", "low_load_lbf", "stroke_in", "spm")


def feature_names() -> list[str]:
    """Names of the entries of :func:`card_features`, in order."""
    return ([f"up_{i}" for i in range(N_PROFILE)] + [f"down_{i}" for i in range(N_PROFILE)]
            + [f"width_{i}" for i in range(N_PROFILE)] + list(_SCALARS) + [f"geom_{k}" for k in _GEOM]
            + [f"geom_is_{c}" for c in CARD_CLASSES] + list(_SCALE))


def clean_card(position_in, load_lbf) -> tuple[np.ndarray, np.ndarray]:
    """Finite samples with trailing padding removed (the last sample repeated, or (0, 0) pairs).

    Raises ``ValueError`` when fewer than :data:`MIN_POINTS` distinct samples remain or the stroke is zero.
    """
    pos = np.asarray(position_in, dtype=float).ravel()
    load = np.asarray(load_lbf, dtype=float).ravel()
    if pos.shape != load.shape:
        raise ValueError("position and load must have the same number of samples")
    if pos.size > MAX_POINTS:
        raise ValueError(f"a card has at most {MAX_POINTS} points, got {pos.size}")
    ok = np.isfinite(pos) & np.isfinite(load)
    pos, load = pos[ok], load[ok]
    n = pos.size
    while n > 1 and pos[n - 1] == 0.0 and load[n - 1] == 0.0:  # zero padding
        n -= 1
    while n > 1 and pos[n - 1] == pos[n - 2] and load[n - 1] == load[n - 2]:  # repeated last sample
        n -= 1
    pos, load = pos[:n], load[:n]
    if pos.size < MIN_POINTS:
        raise ValueError(f"a card needs at least {MIN_POINTS} samples after padding is stripped, got {pos.size}")
    if not np.ptp(pos) > 0:
        raise ValueError("card has zero stroke")
    return pos, load


def _branch_profile(x: np.ndarray, y: np.ndarray, grid: np.ndarray, rising: bool) -> np.ndarray:
    """Load of one branch at ``grid`` positions; the branch's position made monotonic (running extreme)."""
    if rising:
        xm = np.maximum.accumulate(x)
        return np.interp(grid, xm, y)
    xm = np.minimum.accumulate(x)
    return np.interp(grid, xm[::-1], y[::-1])


def card_features(position_in, load_lbf, spm: float | None = None) -> np.ndarray:
    """The feature vector of one card (see the module docstring); input is cleaned by :func:`clean_card`."""
    pos, load = clean_card(position_in, load_lbf)
    i0 = int(np.argmin(pos))
    pos, load = np.roll(pos, -i0), np.roll(load, -i0)  # start at the bottom of the stroke
    i_top = int(np.argmax(pos))
    stroke = float(pos[i_top] - pos[0])
    x = (pos - pos[0]) / stroke
    lo, hi = np.percentile(load, [1.0, 99.0])
    rng = max(float(hi - lo), 1e-9)
    y = (load - lo) / rng
    grid = (np.arange(N_PROFILE) + 0.5) / N_PROFILE
    xu, yu = x[: i_top + 1], y[: i_top + 1]
    xd, yd = np.append(x[i_top:], x[0]), np.append(y[i_top:], y[0])
    up = _branch_profile(xu, yu, grid, True)
    down = _branch_profile(xd, yd, grid, False)
    closed_x, closed_y = np.append(x, x[0]), np.append(y, y[0])
    area = float(np.sum(0.5 * (closed_y[1:] + closed_y[:-1]) * np.diff(closed_x)))  # clockwise card > 0
    peak = float(hi) if abs(hi) > 1e-9 else 1e-9
    scalars = [rng / abs(peak), float(lo) / peak, area, float(up.mean()), float(down.mean()),
               float(up[N_PROFILE // 2:].min()), float(down[: N_PROFILE // 2].max())]
    try:
        geo = analyze_pump_card(Card(pos, load, spm if spm and 0 < spm <= 40 else 10.0), 1.5)
        geom = [float(geo.features[k]) for k in _GEOM]
        onehot = [1.0 if geo.card_class == c else 0.0 for c in CARD_CLASSES]
    except ValueError:
        geom, onehot = [np.nan] * len(_GEOM), [0.0] * len(CARD_CLASSES)
    scale = [float(hi), float(lo), stroke, float(spm) if spm else np.nan]
    return np.concatenate([up, down, up - down, scalars, geom, onehot, scale]).astype(float)
