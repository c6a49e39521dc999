"""Composite (straight-line + Vogel) inflow used by the synthetic field, with its exact inverse.

Above the bubble point q = J (Pr - pwf); below it Vogel (1968, JPT 20(1) 83-92, eq. 7) scaled to
the bubble-point rate: q = qb + (J Pb / 1.8) [1 - 0.2 (pwf/Pb) - 0.8 (pwf/Pb)^2], qb = J (Pr - Pb)
(Brown 1984, The Technology of Artificial Lift Methods vol. 4, composite IPR). Rates in STB/d
(liquid), pressures in psia-equivalent psi, J in bbl/d/psi. All functions broadcast.
"""
from __future__ import annotations

import numpy as np


def rate_bpd(pwf_psi, pr_psi, pb_psi, j_bpd_psi):
    """Liquid rate (bbl/d) at flowing bottomhole pressure ``pwf_psi`` (clipped to [0, Pr])."""
    pwf = np.clip(pwf_psi, 0.0, pr_psi)
    pb = np.minimum(pb_psi, pr_psi)
    qb = j_bpd_psi * (pr_psi - pb)
    x = np.where(pb > 0, pwf / np.where(pb > 0, pb, 1.0), 1.0)
    vogel = qb + j_bpd_psi * pb / 1.8 * (1.0 - 0.2 * x - 0.8 * x * x)
    return np.where(pwf >= pb, j_bpd_psi * (pr_psi - pwf), vogel)


def max_rate_bpd(pr_psi, pb_psi, j_bpd_psi):
    """Absolute open flow (pwf = 0), bbl/d."""
    pb = np.minimum(pb_psi, pr_psi)
    return j_bpd_psi * (pr_psi - pb) + j_bpd_psi * pb / 1.8


def pwf_psi(q_bpd, pr_psi, pb_psi, j_bpd_psi):
    """Inverse of :func:`rate_bpd`: the pwf (psi) that delivers ``q_bpd`` (clipped to [0, AOF])."""
    pb = np.minimum(pb_psi, pr_psi)
    q = np.clip(q_bpd, 0.0, max_rate_bpd(pr_psi, pb, j_bpd_psi))
    qb = j_bpd_psi * (pr_psi - pb)
    above = pr_psi - q / j_bpd_psi
    # 0.8 x^2 + 0.2 x - (1 - 1.8 (q - qb) / (J Pb)) = 0, positive root.
    c = 1.0 - 1.8 * (q - qb) / (j_bpd_psi * np.where(pb > 0, pb, 1.0))
    x = (-0.2 + np.sqrt(np.maximum(0.04 + 3.2 * c, 0.0))) / 1.6
    return np.where(q <= qb, above, np.clip(x, 0.0, 1.0) * pb)
