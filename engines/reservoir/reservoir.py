"""Cartesian reservoir description: grid, rock, fluid and initial state, plus derived geometry.

Cells are ordered ``cell = i + nx * (j + ny * k)`` (column ``i`` fastest, then row ``j``, then layer
``k``), so in 2D ``cell = 5 * row + col`` as in González Nieves (2018).  Transmissibility between two
neighbours uses the two half-cell conductances in series (harmonic mean), in field units:
``T = 0.001127 * A_ft2 / (d_i/k_i + d_j/k_j)`` with ``d`` the half-cell lengths (ft) and ``k`` in md,
giving STB/d per psi per (1/(cp rb/STB)) (Aziz & Settari 1979, eq. 5.49; thesis eq. 3.17).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engines.reservoir.pvt import PvtTable

#: Darcy constant in field units: q[rb/d] = 0.001127 k[md] A[ft2] dp[psi] / (mu[cp] L[ft]).
DARCY_FIELD = 0.001127
#: Cubic feet per reservoir barrel.
FT3_PER_BBL = 5.614583
#: Conversion of a density in lbm/ft3 into a pressure gradient in psi/ft (g/gc = 1).
PSI_PER_FT_PER_LBM_FT3 = 1.0 / 144.0

ROCK_LAWS = ("thesis", "eclipse")


@dataclass(frozen=True, eq=False)
class Reservoir:
    """A single-phase black-oil reservoir on an ``nx x ny x nz`` Cartesian grid.

    Per-cell arrays (length ``nx*ny*nz``): ``kx_md``, ``ky_md``, ``kz_md``, ``porosity``.
    ``dz_ft`` is one thickness per layer; ``top_depth_ft`` the depth of the top of layer 0.
    ``initial_pressure_psi`` holds at ``datum_depth_ft``; other depths are hydrostatic with
    ``oil_density_lbm_ft3`` (a constant reservoir density, also used in the flux gravity term).
    ``rock_law`` selects the pore-volume law: ``"thesis"`` is phi^{n+1} = phi^n [1 + cr (p^{n+1} - p^n)]
    (González Nieves 2018, eq. 3.9), ``"eclipse"`` is phi = phi_ref [1 + X + X^2/2], X = cr (p - p_ref)
    (ROCK keyword, OPM Flow manual 2022, sec. 12.3), with ``p_ref = reference_pressure_psi``.
    """

    nx: int
    ny: int
    nz: int
    dx_ft: float
    dy_ft: float
    dz_ft: np.ndarray
    kx_md: np.ndarray
    ky_md: np.ndarray
    kz_md: np.ndarray
    porosity: np.ndarray
    pvt: PvtTable
    initial_pressure_psi: float
    rock_compressibility_1_psi: float = 0.0
    reference_pressure_psi: float | None = None
    top_depth_ft: float = 0.0
    datum_depth_ft: float | None = None
    oil_density_lbm_ft3: float = 0.0
    rock_law: str = "thesis"
    n_cells: int = field(init=False)

    def __post_init__(self) -> None:
        for name in ("nx", "ny", "nz"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v}")
            object.__setattr__(self, name, int(v))
        n = self.nx * self.ny * self.nz
        object.__setattr__(self, "n_cells", n)
        if not (self.dx_ft > 0 and self.dy_ft > 0):
            raise ValueError("dx_ft and dy_ft must be positive")
        dz = np.broadcast_to(np.asarray(self.dz_ft, dtype=float), (self.nz,)).copy()
        if np.any(~np.isfinite(dz)) or np.any(dz <= 0):
            raise ValueError("dz_ft must be positive (one value, or one per layer)")
        object.__setattr__(self, "dz_ft", dz)
        for name in ("kx_md", "ky_md", "kz_md", "porosity"):
            arr = np.asarray(getattr(self, name), dtype=float)
            arr = np.broadcast_to(arr.reshape(-1) if arr.ndim else arr, (n,)).copy()
            if np.any(~np.isfinite(arr)) or np.any(arr <= 0):
                raise ValueError(f"{name} must be positive and finite in every cell ({n} values)")
            object.__setattr__(self, name, arr)
        if np.any(self.porosity >= 1):
            raise ValueError("porosity must be below 1")
        if not np.isfinite(self.initial_pressure_psi) or self.initial_pressure_psi <= 0:
            raise ValueError("initial_pressure_psi must be positive")
        if self.rock_compressibility_1_psi < 0:
            raise ValueError("rock_compressibility_1_psi must be >= 0")
        if self.oil_density_lbm_ft3 < 0:
            raise ValueError("oil_density_lbm_ft3 must be >= 0")
        if self.rock_law not in ROCK_LAWS:
            raise ValueError(f"rock_law must be one of {ROCK_LAWS}, got {self.rock_law!r}")
        if self.reference_pressure_psi is None:
            object.__setattr__(self, "reference_pressure_psi", float(self.initial_pressure_psi))
        if self.datum_depth_ft is None:
            object.__setattr__(self, "datum_depth_ft", float(self.cell_depth_ft[0]))

    # ----- geometry ---------------------------------------------------------------------------
    @property
    def n_columns(self) -> int:
        """Number of (i, j) columns, i.e. candidate vertical-well locations."""
        return self.nx * self.ny

    @property
    def layer_of_cell(self) -> np.ndarray:
        return np.arange(self.n_cells) // self.n_columns

    @property
    def column_of_cell(self) -> np.ndarray:
        return np.arange(self.n_cells) % self.n_columns

    @property
    def cell_thickness_ft(self) -> np.ndarray:
        return self.dz_ft[self.layer_of_cell]

    @property
    def cell_depth_ft(self) -> np.ndarray:
        """Depth of each cell centre, ft."""
        centres = self.top_depth_ft + np.cumsum(self.dz_ft) - 0.5 * self.dz_ft
        return centres[self.layer_of_cell]

    @property
    def bulk_volume_ft3(self) -> np.ndarray:
        return self.dx_ft * self.dy_ft * self.cell_thickness_ft

    @property
    def ref_pore_volume_ft3(self) -> np.ndarray:
        """Pore volume at ``reference_pressure_psi``, ft3."""
        return self.bulk_volume_ft3 * self.porosity

    @property
    def gravity_psi_ft(self) -> float:
        return self.oil_density_lbm_ft3 * PSI_PER_FT_PER_LBM_FT3

    def initial_pressures(self) -> np.ndarray:
        """Hydrostatic initial pressure of every cell, psi."""
        return self.initial_pressure_psi + self.gravity_psi_ft * (self.cell_depth_ft - self.datum_depth_ft)

    def pore_volume_ft3(self, p_psi: np.ndarray) -> np.ndarray:
        """Pore volume for the ``"eclipse"`` law (and the initial state of the ``"thesis"`` law)."""
        x = self.rock_compressibility_1_psi * (np.asarray(p_psi) - self.reference_pressure_psi)
        return self.ref_pore_volume_ft3 * (1.0 + x + 0.5 * x * x)

    def connections(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Neighbour pairs by direction: ``(cell_i, cell_j, T, dz_ft)`` with ``cell_j`` the +x/+y/+z
        neighbour, ``T`` the geometric transmissibility (md ft, times 0.001127) and ``dz`` the depth
        of ``j`` minus the depth of ``i``."""
        idx = np.arange(self.n_cells).reshape(self.nz, self.ny, self.nx)
        dz_cell = self.cell_thickness_ft.reshape(self.nz, self.ny, self.nx)
        depth = self.cell_depth_ft.reshape(self.nz, self.ny, self.nx)
        out = []
        for axis, k_arr, half_len, area in (
            (2, self.kx_md, None, None),
            (1, self.ky_md, None, None),
            (0, self.kz_md, None, None),
        ):
            if idx.shape[axis] < 2:
                continue
            k3 = k_arr.reshape(self.nz, self.ny, self.nx)
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[axis] = slice(None, -1)
            hi[axis] = slice(1, None)
            lo, hi = tuple(lo), tuple(hi)
            if axis == 2:
                area_ = self.dy_ft * dz_cell[lo]
                d_i = np.full(area_.shape, 0.5 * self.dx_ft)
                d_j = d_i
            elif axis == 1:
                area_ = self.dx_ft * dz_cell[lo]
                d_i = np.full(area_.shape, 0.5 * self.dy_ft)
                d_j = d_i
            else:
                area_ = np.full(dz_cell[lo].shape, self.dx_ft * self.dy_ft)
                d_i = 0.5 * dz_cell[lo]
                d_j = 0.5 * dz_cell[hi]
            trans = DARCY_FIELD * area_ / (d_i / k3[lo] + d_j / k3[hi])
            out.append((idx[lo].ravel(), idx[hi].ravel(), trans.ravel(), (depth[hi] - depth[lo]).ravel()))
        return out

    def is_square_symmetric(self) -> bool:
        """True when the 8 symmetries of the square map the reservoir onto itself (nx == ny, dx == dy,
        and every property map invariant), so symmetric placements have identical outcomes."""
        if self.nx != self.ny or self.dx_ft != self.dy_ft:
            return False
        shape = (self.nz, self.ny, self.nx)
        for name in ("kx_md", "ky_md", "kz_md", "porosity"):
            a = getattr(self, name).reshape(shape)
            for t in range(8):
                b = _transform_maps(a, t)
                other = {"kx_md": "ky_md", "ky_md": "kx_md"}.get(name, name) if t % 2 == 1 else name
                ref = getattr(self, other).reshape(shape)
                if not np.allclose(b, ref, rtol=1e-12, atol=0.0):
                    return False
        return True


def square_symmetries(n: int) -> np.ndarray:
    """The 8 permutations of an ``n x n`` column grid under the dihedral group D4, shape (8, n*n).

    Row ``t`` maps column index ``c`` to ``perm[t, c]``: a placement ``mask`` becomes ``mask[perm[t]]``."""
    base = np.arange(n * n).reshape(n, n)
    return np.stack([_transform_maps(base[None], t)[0].ravel() for t in range(8)])


def _transform_maps(a: np.ndarray, t: int) -> np.ndarray:
    """Apply dihedral transform ``t`` (0..7) to the last two axes of ``a``."""
    b = np.rot90(a, k=t % 4, axes=(-2, -1))
    if t >= 4:
        b = np.flip(b, axis=-1)
    return b
