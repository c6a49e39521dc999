"""Vertical producers: the Peaceman well index and the reference case's equivalent radius.

Rate of a completed cell, STB/d:  ``q = WI / (mu B) * max(p_cell - p_wf, 0)`` (a producer never
injects), with ``WI = 0.00708 k h_perf / (ln(r0 / rw) + s)`` in rb cp/(d psi) (k in md, lengths in ft;
0.00708 = 2 pi 0.001127).  ``r0`` is Peaceman's (1983, eq. 25) equivalent radius for an anisotropic
cell, ``r0 = 0.28 [ (ky/kx)^1/2 dx^2 + (kx/ky)^1/2 dy^2 ]^1/2 / [ (ky/kx)^1/4 + (kx/ky)^1/4 ]`` with
``k = sqrt(kx ky)``, or the reference case's ``r_e = 0.14 sqrt(dx^2 + dy^2)`` (González Nieves 2018,
eq. 3.35-3.36) with ``k = kx``.  Both agree for isotropic square cells.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.reservoir.reservoir import Reservoir

#: 2 pi times the Darcy constant in field units.
WELL_CONSTANT_FIELD = 0.00708
RADIUS_MODELS = ("peaceman", "thesis")


@dataclass(frozen=True)
class WellDesign:
    """How every candidate well is completed and operated.

    ``bhp_psi``: flowing bottom-hole pressure at the top completed cell's centre (psi);
    ``rw_ft``: wellbore radius (ft); ``skin``: dimensionless skin; ``perforated_thickness_ft``: open
    interval per completed layer (ft; None = the full layer); ``radius_model``: ``"peaceman"`` or
    ``"thesis"``; ``completed_layers``: layer indices open to flow (None = all layers).
    """

    bhp_psi: float
    rw_ft: float
    skin: float = 0.0
    perforated_thickness_ft: float | None = None
    radius_model: str = "peaceman"
    completed_layers: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.bhp_psi) and self.bhp_psi > 0):
            raise ValueError("bhp_psi must be positive")
        if not (self.rw_ft > 0):
            raise ValueError("rw_ft must be positive")
        if self.perforated_thickness_ft is not None and not self.perforated_thickness_ft > 0:
            raise ValueError("perforated_thickness_ft must be positive or None")
        if self.radius_model not in RADIUS_MODELS:
            raise ValueError(f"radius_model must be one of {RADIUS_MODELS}, got {self.radius_model!r}")


def peaceman_r0_ft(dx_ft: float, dy_ft: float, kx_md, ky_md) -> np.ndarray:
    """Peaceman (1983, eq. 25) equivalent well-block radius for an anisotropic cell, ft."""
    kx = np.asarray(kx_md, dtype=float)
    ky = np.asarray(ky_md, dtype=float)
    ryx = np.sqrt(ky / kx)
    rxy = np.sqrt(kx / ky)
    return 0.28 * np.sqrt(ryx * dx_ft**2 + rxy * dy_ft**2) / (ryx**0.5 + rxy**0.5)


def thesis_re_ft(dx_ft: float, dy_ft: float) -> float:
    """Equivalent radius of the reference case, ``0.14 sqrt(dx^2 + dy^2)`` ft (González Nieves 2018, eq. 3.36)."""
    return 0.14 * float(np.hypot(dx_ft, dy_ft))


def cell_well_index(reservoir: Reservoir, design: WellDesign) -> np.ndarray:
    """Well index of every cell if completed, rb cp/(d psi); 0 in layers not completed."""
    if design.radius_model == "thesis":
        r0 = np.full(reservoir.n_cells, thesis_re_ft(reservoir.dx_ft, reservoir.dy_ft))
        k = reservoir.kx_md
    else:
        r0 = peaceman_r0_ft(reservoir.dx_ft, reservoir.dy_ft, reservoir.kx_md, reservoir.ky_md)
        k = np.sqrt(reservoir.kx_md * reservoir.ky_md)
    denom = np.log(r0 / design.rw_ft) + design.skin
    if np.any(denom <= 0):
        raise ValueError("ln(r0/rw) + skin must be positive: the cell is too small for this wellbore")
    h = reservoir.cell_thickness_ft
    if design.perforated_thickness_ft is not None:
        h = np.minimum(h, design.perforated_thickness_ft)
    wi = WELL_CONSTANT_FIELD * k * h / denom
    if design.completed_layers is not None:
        layers = np.asarray(design.completed_layers, dtype=int)
        if layers.size == 0 or np.any(layers < 0) or np.any(layers >= reservoir.nz):
            raise ValueError(f"completed_layers must be within 0..{reservoir.nz - 1}")
        wi = np.where(np.isin(reservoir.layer_of_cell, layers), wi, 0.0)
    return wi


def cell_bhp_psi(reservoir: Reservoir, design: WellDesign) -> np.ndarray:
    """Wellbore pressure opposite each cell: BHP at the top completed layer plus the oil head, psi."""
    wi = cell_well_index(reservoir, design)
    layers = np.flatnonzero(np.bincount(reservoir.layer_of_cell, weights=wi, minlength=reservoir.nz) > 0)
    top = int(layers[0]) if layers.size else 0
    depth = reservoir.cell_depth_ft
    ref_depth = depth[top * reservoir.n_columns]
    return design.bhp_psi + reservoir.gravity_psi_ft * (depth - ref_depth)
