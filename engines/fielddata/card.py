"""Idealized surface dynamometer card (polished-rod load vs position), vectorized.

Position follows simple harmonic motion x = S/2 (1 - cos theta). On the upstroke the load rises
from the minimum to the peak over the rod stretch delta = F_o L / (E A) (Hooke; Gibbs 2012,
Sucker-Rod Pumping Handbook ch. 4), then may bleed off (traveling-valve leak, ``up_loss`` fraction of
the load range). On the downstroke the load stays up until the plunger meets liquid at
``fill * S`` (fluid pound / apparent fillage) and falls back over ``delta_dn``. Loads lbf, positions in.
"""
from __future__ import annotations

import numpy as np

N_POINTS = 40


def build(stroke_in, f_min_lbf, f_max_lbf, stretch_in, fill_frac, up_loss_frac, delta_dn_in, n_points: int = N_POINTS):
    """Return ``(position_in, load_lbf)`` with a trailing axis of ``n_points`` (half up, half down)."""
    half = n_points // 2
    u = np.linspace(0.0, 1.0, half)
    args = [np.asarray(a, dtype=float)[..., None] for a in (stroke_in, f_min_lbf, f_max_lbf, stretch_in, fill_frac, up_loss_frac, delta_dn_in)]
    s, fmin, fmax, dlt, fill, loss, ddn = args
    rng_ = fmax - fmin
    x_up = s / 2.0 * (1.0 - np.cos(np.pi * u))
    dlt = np.maximum(dlt, 1e-3)
    load_up = fmin + rng_ * np.clip(x_up / dlt, 0.0, 1.0) - loss * rng_ * np.clip((x_up - dlt) / np.maximum(s - dlt, 1e-3), 0.0, 1.0)
    top = load_up[..., -1:]
    x_dn = s / 2.0 * (1.0 + np.cos(np.pi * u))
    x_unload = fill * s
    load_dn = top - (top - fmin) * np.clip((x_unload - x_dn) / np.maximum(ddn, 1e-3), 0.0, 1.0)
    return np.concatenate([x_up, x_dn], axis=-1), np.concatenate([load_up, load_dn], axis=-1)


def area_inlbf(position_in, load_lbf):
    """Enclosed card area (work per stroke, in*lbf) by the shoelace formula over the closed loop."""
    x, y = np.asarray(position_in), np.asarray(load_lbf)
    xn, yn = np.roll(x, -1, axis=-1), np.roll(y, -1, axis=-1)
    return 0.5 * np.abs(np.sum(x * yn - xn * y, axis=-1))


def polished_rod_power_kw(area_inlbf_, spm):
    """Polished-rod power from card work: W * N / (12 * 33000) hp, times 0.7457 kW/hp."""
    return np.asarray(area_inlbf_) * np.asarray(spm) / (12.0 * 33000.0) * 0.7457
