"""Batched fully implicit single-phase black-oil simulator (cell-centred finite differences).

For every configuration ``b`` of a batch (which columns hold a producer) and every cell ``i`` the
residual, in STB/d, of the oil mass balance over a time step ``dt`` is (Aziz & Settari 1979, ch. 5;
González Nieves 2018, eq. 3.11-3.34)::

    R_i = [m_i(p^{n+1}) - m_i^n] / dt  -  sum_j T_ij lambda_up (p_j - p_i - gamma (z_j - z_i))  +  q_i

with ``m = PV(p) / (5.6146 Bo(p))`` the oil in place (STB), ``lambda = 1/(mu Bo)`` taken from the
upstream cell, ``T_ij`` the geometric transmissibility and ``q_i = WI_i lambda_i max(p_i - p_wf,i, 0)``
the Peaceman producer term (or a rate target, capped by the BHP limit).  Newton-Raphson solves all
configurations of the batch together; the Jacobian is exact (upstream switches included).
State arrays are laid out (cell, configuration) so every vectorized operation runs along the batch.  Linear solvers: ``"banded"``, the B Jacobians stacked
configuration after configuration form one band matrix with the half-bandwidth of the natural
ordering (nx in 2D, nx*ny in 3D), solved in one LAPACK ``gbsv`` call (banded LU with partial
pivoting, ``scipy.linalg.lapack.dgbsv``), or for large batches by band-limited elimination
vectorized along the batch; ``"dense"``, batched LAPACK LU (NumPy); ``"sparse"``,
SuperLU on the block-diagonal system of the whole batch (SciPy).  The field-wide material balance
``sum_i (m_i^{n+1} - m_i^n) + dt sum_i q_i`` (fluxes cancel exactly) is computed after every step and
returned, relative to the step's production.

Backends (``backend=``): this module's vectorized NumPy/SciPy path; the compiled Numba kernel
(:mod:`engines.reservoir.numba_kernel`, the default on grids of half-bandwidth <= 64: blocks of
configurations with the lanes innermost, banded LU or, for large batches, a sparse LU generated for the
grid's pattern (:mod:`engines.reservoir.sparse_lu`), the blocks split over NUMBA_NUM_THREADS threads);
PyTorch tensors on any device (:mod:`engines.reservoir.torch_backend`, batched banded LU); one CUDA
thread per configuration (:mod:`engines.reservoir.gpu_kernel`).  NumPy and
Torch take the same Newton iterates; the kernel extrapolates its initial guess geometrically and reuses
the factored Jacobian near convergence; all three agree within 1e-9 relative (tests).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.linalg.lapack import dgbsv

from engines.reservoir import sparse_lu
from engines.reservoir.reservoir import FT3_PER_BBL, Reservoir
from engines.reservoir.wells import WellDesign, cell_bhp_psi, cell_well_index

LINEAR_SOLVERS = ("auto", "banded", "dense", "sparse")
#: ``"numba"``: compiled kernel (engines.reservoir.numba_kernel); ``"numpy"``: vectorized NumPy/SciPy;
#: ``"torch"``: PyTorch tensors on any device (engines.reservoir.torch_backend); ``"cuda"``: one CUDA
#: thread per configuration (engines.reservoir.gpu_kernel, numba-cuda); ``"auto"``: numba when
#: the half-bandwidth is at most NUMBA_MAX_BANDWIDTH (and no explicit linear solver is asked for), numpy
#: otherwise.
BACKENDS = ("auto", "numba", "numpy", "torch", "cuda")
NUMBA_MAX_BANDWIDTH = 64
#: with ``linear_solver="auto"`` the Numba backend switches to the generated sparse LU
#: (engines.reservoir.sparse_lu) for batches of at least this many configurations: its first use compiles
#: a kernel for the grid's pattern (about a minute on 2 cores, then cached on disk), which only large
#: batches repay.
SPARSE_MIN_BATCH = 4096


def cell_terms(p, p_old, pv_old, m_old, b, db, mu, dmu, dt, cr, thesis_law, p_ref, pv_ref):
    """Per-cell terms of the residual shared by every array backend (NumPy arrays or torch tensors: only
    arithmetic): mobility ``lam = 1/(mu Bo)`` (1/(cp rb/STB)) and its pressure derivative ``dlam``, the
    accumulation residual ``r = (m - m_old)/dt`` (STB/d) and its diagonal Jacobian ``diag`` (STB/d/psi), with
    ``m = PV/(5.6146 Bo)``. Pore volume: the reference case's ``PV = PV_old [1 + cr (p - p_old)]``
    (``thesis_law``) or Eclipse's ``PV = PV_ref (1 + x + x^2/2)``, ``x = cr (p - p_ref)``."""
    lam = 1.0 / (mu * b)
    dlam = -(dmu * b + mu * db) * lam * lam
    if thesis_law:
        pv = pv_old * (1.0 + cr * (p - p_old))
        dpv = pv_old * cr
    else:
        x = cr * (p - p_ref)
        pv = pv_ref * (1.0 + x + 0.5 * x * x)
        dpv = pv_ref * (cr * (1.0 + x))
    inv = 1.0 / (b * FT3_PER_BBL)
    m = pv * inv
    r = (m - m_old) * (1.0 / dt)
    diag = (dpv - m * FT3_PER_BBL * db) * inv * (1.0 / dt)
    return lam, dlam, r, diag


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Outcome of a batch of ``B`` configurations over ``T`` steps (oilfield units).

    ``oil_rate_stb_d`` (B, T): field oil rate at the end of each step (implicit rate);
    ``cumulative_oil_stb`` (B, T): sum of ``rate * dt``; ``average_pressure_psi`` (B, T): pore-volume
    weighted; ``material_balance_error`` (B, T): |mass-balance residual| / step production (floored at
    1e-9 of the oil in place);
    ``newton_iterations`` (T,): most iterations any configuration needed; ``well_rates_stb_d``
    (B, T, n_columns) when requested; ``final_pressure_psi`` (B, n_cells); ``pressure_psi``
    (B, T, n_cells) when requested."""

    time_days: np.ndarray
    oil_rate_stb_d: np.ndarray
    cumulative_oil_stb: np.ndarray
    average_pressure_psi: np.ndarray
    material_balance_error: np.ndarray
    newton_iterations: np.ndarray
    final_pressure_psi: np.ndarray
    well_rates_stb_d: np.ndarray | None = None
    pressure_psi: np.ndarray | None = None


def _guided_bounds(n_blocks: int, threads: int) -> np.ndarray:
    """Range boundaries 0 = b_0 < b_1 < ... = n_blocks for guided self-scheduling (Polychronopoulos &
    Kuck 1987): each range takes ``ceil(left / (4 threads))`` blocks."""
    bounds = [0]
    while bounds[-1] < n_blocks:
        left = n_blocks - bounds[-1]
        bounds.append(bounds[-1] + max(1, -(-left // (4 * threads))))
    return np.array(bounds)


class BatchSimulator:
    """Advance many well configurations of one reservoir together.

    Parameters
    ----------
    reservoir, design : the reservoir and how every well is completed/operated.
    dt_days : sequence of time-step lengths, days (e.g. 24 x 30).
    linear_solver : ``"banded"``, ``"dense"``, ``"sparse"`` or ``"auto"`` (banded when the
        half-bandwidth is at most 64, sparse otherwise).
    newton_tol_psi : convergence when the largest Newton update is below this (psi).
    mb_tol : configurations whose relative material-balance error exceeds this after convergence
        get further Newton iterations (to a 1e-9 psi update).
    max_newton : iteration cap per step; exceeding it raises ``RuntimeError``.
    backend : ``"auto"`` (default: the compiled Numba kernel when the half-bandwidth is at most 64 and
        ``linear_solver`` is ``"auto"``, NumPy otherwise), ``"numba"``, ``"numpy"``, ``"torch"`` or ``"cuda"``;
        all agree within 1e-9 relative.  Torch uses a banded LU without pivoting; ``"cuda"`` runs one GPU
        thread per configuration (:mod:`engines.reservoir.gpu_kernel`: needs numba-cuda and a CUDA GPU,
        grids whose sparse LU fits ``sparse_lu.MAX_SPARSE_FMA``, no rate targets).  Numba: ``"banded"``, the
        banded LU; ``"sparse"``, a straight-line sparse LU generated for the grid's pattern
        (:mod:`engines.reservoir.sparse_lu`; the banded LU when the pattern needs more than
        ``sparse_lu.MAX_SPARSE_FMA`` multiply-adds); ``"auto"`` (or ``"dense"``), the sparse one for batches
        of at least ``SPARSE_MIN_BATCH`` configurations or once it is loaded, the banded one otherwise.
    device : Torch device (``"cpu"``, ``"cuda"``, ...); None = ``"cuda"`` when available, else CPU.
    """

    def __init__(self, reservoir: Reservoir, design: WellDesign, dt_days, *, linear_solver: str = "auto",
                 newton_tol_psi: float = 1e-2, max_newton: int = 25, mb_tol: float = 1e-10,
                 backend: str = "auto", device: str | None = None) -> None:
        dt = np.atleast_1d(np.asarray(dt_days, dtype=float))
        if dt.ndim != 1 or dt.size == 0 or np.any(~np.isfinite(dt)) or np.any(dt <= 0):
            raise ValueError("dt_days must be a non-empty sequence of positive step lengths")
        if linear_solver not in LINEAR_SOLVERS:
            raise ValueError(f"linear_solver must be one of {LINEAR_SOLVERS}")
        if not newton_tol_psi > 0 or max_newton < 1:
            raise ValueError("newton_tol_psi must be > 0 and max_newton >= 1")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.reservoir = reservoir
        self.design = design
        self.dt_days = dt
        self.newton_tol_psi = float(newton_tol_psi)
        self.max_newton = int(max_newton)
        self.mb_tol = float(mb_tol)
        n = reservoir.n_cells
        self.linear_solver = linear_solver
        self.cell_wi = cell_well_index(reservoir, design)
        self.cell_pwf = cell_bhp_psi(reservoir, design)
        self._pwf = self.cell_pwf[:, None]
        self._col = reservoir.column_of_cell
        self._completed_layers = int(np.count_nonzero(
            np.bincount(reservoir.layer_of_cell, weights=self.cell_wi, minlength=reservoir.nz) > 0))
        self._p0 = reservoir.initial_pressures()
        self._pv0 = reservoir.pore_volume_ft3(self._p0)
        self._pvref = reservoir.ref_pore_volume_ft3[:, None]
        conns = reservoir.connections()
        if conns:
            ci = np.concatenate([c[0] for c in conns])
            cj = np.concatenate([c[1] for c in conns])
            t = np.concatenate([c[2] for c in conns])
            g = reservoir.gravity_psi_ft * np.concatenate([c[3] for c in conns])
        else:
            ci = cj = np.zeros(0, dtype=int)
            t = g = np.zeros(0)
        self._ci, self._cj, self._t, self._g = ci, cj, t[:, None], g[:, None]
        nc = ci.size
        ar = np.arange(nc)
        # scatter matrices: net inflow (N, C) and the diagonal contribution of the off-diagonals (N, 2C)
        net = sp.csr_matrix((np.r_[-np.ones(nc), np.ones(nc)], (np.r_[ci, cj], np.r_[ar, ar])), shape=(n, nc))
        offd = sp.csr_matrix((-np.ones(2 * nc), (np.r_[cj, ci], np.arange(2 * nc))), shape=(n, 2 * nc))
        self._scatter_net = net      # sparse: BLAS matmul of these thin products is slower and threads
        self._scatter_offd = offd
        self._bandwidth = int(np.max(np.abs(cj - ci))) if nc else 0
        # Jacobian pattern, values ordered [diag, upper (ci, cj), lower (cj, ci)]
        self._rows = np.concatenate([np.arange(n), ci, cj])
        self._cols = np.concatenate([np.arange(n), cj, ci])
        self._dense_pos = self._rows * n + self._cols
        self._band_row = 2 * self._bandwidth + self._rows - self._cols   # LAPACK gbsv storage
        order = np.lexsort((self._rows, self._cols))  # CSC: by column, then row
        self._csc_perm = order
        self._csc_rows = self._rows[order]
        self._csc_colptr = np.concatenate([[0], np.cumsum(np.bincount(self._cols, minlength=n))])
        self._sparse_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if backend == "auto":   # an explicit linear_solver asks for the NumPy path
            backend = "numba" if linear_solver == "auto" and self._bandwidth <= NUMBA_MAX_BANDWIDTH else "numpy"
        self.backend = backend
        # most configurations per kernel block: the largest of 8..128 whose banded Jacobians fit in 256 kB
        # (half a core's L2 cache, the rest of the block's state beside it); more lanes amortize the loop
        # overheads of the vectorized inner loops (5x5 case, one thread: ~20 us per plan with 64 lanes,
        # 25-26 us with 32 or 128)
        lane_bytes = n * (2 * max(self._bandwidth, 1) + 1) * 8
        self._numba_lanes = max([8] + [c for c in (16, 32, 64, 128) if c * lane_bytes <= 2**18])
        self._torch = None
        self._cuda = None
        if backend == "cuda":
            from engines.reservoir.gpu_kernel import PlanKernel

            self._cuda = PlanKernel(self, "cuda")
        if backend == "torch":
            from engines.reservoir.torch_backend import TorchSimulator

            self._torch = TorchSimulator(self, device=device)
        self.device = self._torch.device_name if self._torch is not None else ("cuda" if self._cuda else "cpu")

    # ------------------------------------------------------------------------------------------
    def run(self, masks, *, rate_targets_stb_d=None, store_well_rates: bool = False,
            store_pressure: bool = False) -> SimulationResult:
        """Simulate configurations given as boolean column masks, shape (B, n_columns).

        ``rate_targets_stb_d`` (B, n_columns), optional: per-well oil-rate target (NaN = BHP control);
        the BHP limit still applies.  Rate control needs a single completed layer."""
        res = self.reservoir
        masks = np.asarray(masks)
        if masks.ndim == 1:
            masks = masks[None, :]
        if masks.ndim != 2 or masks.shape[1] != res.n_columns:
            raise ValueError(f"masks must have shape (B, {res.n_columns})")
        masks = masks.astype(bool)
        nb, n = masks.shape[0], res.n_cells
        wi = masks.T[self._col] * self.cell_wi[:, None]          # (N, B)
        targets = None
        if rate_targets_stb_d is not None:
            if self._completed_layers != 1:
                raise ValueError("rate control needs wells completed in a single layer")
            tr = np.asarray(rate_targets_stb_d, dtype=float)
            if tr.shape != masks.shape:
                raise ValueError("rate_targets_stb_d must have the shape of masks")
            if np.any(tr[np.isfinite(tr)] < 0):
                raise ValueError("rate targets must be >= 0 STB/d")
            targets = np.where(wi > 0, tr.T[self._col], np.nan)
        if self.backend == "numba":
            return self._run_numba(wi, targets, store_well_rates, store_pressure)
        if self.backend == "torch":
            return self._torch.run(wi, targets, store_well_rates, store_pressure)
        if self.backend == "cuda":
            if targets is not None:
                raise ValueError("rate targets are not supported by backend='cuda' (use 'numba', 'numpy' or 'torch')")
            return self._cuda.run(wi, store_well_rates, store_pressure)
        pvt = res.pvt
        nt = self.dt_days.size
        p = np.repeat(self._p0[:, None], nb, axis=1)
        pv = np.repeat(self._pv0[:, None], nb, axis=1)
        m = pv / (pvt.bo(p) * FT3_PER_BBL)
        rate = np.empty((nb, nt))
        pavg = np.empty((nb, nt))
        mberr = np.empty((nb, nt))
        iters = np.zeros(nt, dtype=int)
        wells = np.empty((nb, nt, res.n_columns)) if store_well_rates else None
        pres = np.empty((nb, nt, n)) if store_pressure else None
        thesis_law = res.rock_law == "thesis"
        floor = 0.5 * self._pwf
        p_prev = p
        for step, dt in enumerate(self.dt_days):
            p_old = p.copy()
            if step > 0:  # linear extrapolation of the previous change as the Newton initial guess
                p = np.maximum(p_old + (p_old - p_prev) * (dt / self.dt_days[step - 1]), floor)
            p_prev = p_old
            iters[step] = self._newton(p, np.arange(nb), p_old, pv, m, wi, targets, dt, thesis_law,
                                       self.newton_tol_psi, step)
            # state update and material balance (polish configurations above mb_tol)
            pv_new, m_new, q, qsum, err = self._step_balance(p, p_old, pv, m, wi, targets, dt, thesis_law)
            bad = np.flatnonzero(err > self.mb_tol)
            if bad.size:
                iters[step] += self._newton(p, bad, p_old, pv, m, wi, targets, dt, thesis_law, 1e-9, step)
                pv_new, m_new, q, qsum, err = self._step_balance(p, p_old, pv, m, wi, targets, dt, thesis_law)
            pv = pv_new
            mberr[:, step] = err
            m = m_new
            rate[:, step] = qsum
            pavg[:, step] = (pv * p).sum(axis=0) / pv.sum(axis=0)
            if wells is not None:
                wells[:, step] = q.T.reshape(nb, res.nz, res.n_columns).sum(axis=1)
            if pres is not None:
                pres[:, step] = p.T
        return SimulationResult(
            time_days=np.cumsum(self.dt_days), oil_rate_stb_d=rate,
            cumulative_oil_stb=np.cumsum(rate * self.dt_days, axis=1), average_pressure_psi=pavg,
            material_balance_error=mberr, newton_iterations=iters, final_pressure_psi=p.T.copy(),
            well_rates_stb_d=wells, pressure_psi=pres)

    # ------------------------------------------------------------------------------------------
    def _run_numba(self, wi, targets, store_well_rates, store_pressure) -> SimulationResult:
        """The same simulation by the compiled kernel (engines.reservoir.numba_kernel)."""
        import numba

        from engines.reservoir import numba_kernel

        res = self.reservoir
        pvt = res.pvt
        n, nb = wi.shape
        nt = self.dt_days.size
        rate, pavg, mberr = (np.empty((nb, nt)) for _ in range(3))
        iters = np.zeros((nb, nt), dtype=np.int64)
        pfinal = np.empty((nb, n))
        pres = np.empty((nb, nt, n)) if store_pressure else np.empty((0, 0, 0))
        qcell = np.empty((nb, nt, n)) if store_well_rates else np.empty((0, 0, 0))
        has_tgt = targets is not None
        tgt = np.ascontiguousarray(targets.T) if has_tgt else np.empty((0, 0))
        g = self._g[:, 0] if self._g.size else np.zeros(0)
        t = self._t[:, 0] if self._t.size else np.zeros(0)
        # lanes per block: the largest of 8..self._numba_lanes that still gives every thread two blocks;
        # the blocks are split over NUMBA_NUM_THREADS threads
        threads = max(1, int(numba.config.NUMBA_NUM_THREADS))
        kernel = self._sparse_kernel(nb)
        max_lanes = min(self._numba_lanes, sparse_lu.SPARSE_LANES) if kernel is not None else self._numba_lanes
        lanes = 8
        for cand in (16, 32, 64, 128):
            if cand <= max_lanes and nb >= 2 * threads * cand:
                lanes = cand
        nblk = -(-nb // lanes)
        if kernel is None:      # banded LU: J holds the nonzeros and the residual, rows padded by 4 lanes
            kernel, banded, jrows, jstride = numba_kernel, True, n + 2 * self._ci.size, lanes + 4
        else:
            banded, jrows, jstride = False, kernel.JROWS, kernel.JSTRIDE
        simulate_blocks = kernel.simulate_blocks
        args = (lanes, np.ascontiguousarray(wi.T), tgt, has_tgt, self._p0, self._pv0,
                np.ascontiguousarray(self._pvref[:, 0]), self.cell_pwf, self._ci.astype(np.int64),
                self._cj.astype(np.int64), np.ascontiguousarray(t), np.ascontiguousarray(g), pvt.pressure_psi,
                pvt.bo_rb_stb, pvt.viscosity_cp, pvt._b_slope, pvt._mu_slope, self.dt_days,
                float(res.rock_compressibility_1_psi), float(res.reference_pressure_psi), res.rock_law == "thesis",
                max(self._bandwidth, 1), banded, jrows, jstride, self.newton_tol_psi, 1e-9, self.mb_tol,
                self.max_newton,
                rate, pavg, mberr, iters, pfinal, pres, qcell, store_pressure, store_well_rates)
        threads = min(threads, nblk)
        if threads <= 1:
            status = np.array([simulate_blocks(0, nblk, *args)])
        else:
            # ranges of blocks taken in turn by whichever thread is free (blocks need different Newton
            # iteration counts: equal static shares would leave a core idle), guided sizes: each range a
            # quarter of what is left per thread, so the last ones are single blocks and the threads
            # finish within about one block of each other
            bounds = _guided_bounds(nblk, threads)
            with ThreadPoolExecutor(max_workers=threads) as pool:
                futures = [pool.submit(simulate_blocks, int(lo), int(hi), *args)
                           for lo, hi in zip(bounds[:-1], bounds[1:])]
                status = np.array([f.result() for f in futures])
        if np.any(status):
            step = int(status[status > 0].min())
            raise RuntimeError(f"Newton did not converge in {self.max_newton} iterations at step {step}")
        wells = qcell.reshape(nb, nt, res.nz, res.n_columns).sum(axis=2) if store_well_rates else None
        return SimulationResult(
            time_days=np.cumsum(self.dt_days), oil_rate_stb_d=rate,
            cumulative_oil_stb=np.cumsum(rate * self.dt_days, axis=1), average_pressure_psi=pavg,
            material_balance_error=mberr, newton_iterations=iters.max(axis=0) if nb else np.zeros(nt, dtype=int),
            final_pressure_psi=pfinal, well_rates_stb_d=wells, pressure_psi=pres if store_pressure else None)

    def _sparse_kernel(self, nb: int):
        """The generated sparse-LU kernel module for this grid when the Numba path should use it, else None."""
        if self.linear_solver == "banded":
            return None
        n = self.reservoir.n_cells
        if self.linear_solver != "sparse" and nb < SPARSE_MIN_BATCH and not sparse_lu.is_loaded(n, self._ci, self._cj):
            return None
        return sparse_lu.sparse_kernel(n, self._ci, self._cj)

    def _newton(self, p, idx, p_old, pv, m, wi, targets, dt, thesis_law, tol, step) -> int:
        """Newton iterations on configurations ``idx`` (updates ``p`` in place) until each one's
        largest update is below ``tol`` psi; returns the iteration count."""
        active = idx
        nb = p.shape[1]
        for it in range(self.max_newton):
            full = active.size == nb
            if full:
                r, vals = self._assemble(p, p_old, pv, m, wi, targets, dt, thesis_law)
                dp = self._solve(vals, r)
                p -= dp
            else:
                pa = p[:, active]
                r, vals = self._assemble(pa, p_old[:, active], pv[:, active], m[:, active], wi[:, active],
                                         None if targets is None else targets[:, active], dt, thesis_law)
                dp = self._solve(vals, r)
                p[:, active] = pa - dp
            active = active[np.max(np.abs(dp), axis=0) >= tol]
            if active.size == 0:
                return it + 1
        raise RuntimeError(f"Newton did not converge in {self.max_newton} iterations at step {step + 1}")

    def _step_balance(self, p, p_old, pv, m, wi, targets, dt, thesis_law):
        """New pore volume, oil in place, well rates, field rate and relative material-balance error:
        |sum(m_new - m_old) + dt sum(q)| / max(dt sum(q), sum|m_new - m_old|, 1e-9 sum(m_old))
        (the floor keeps a step that produces nothing from dividing round-off by zero)."""
        res = self.reservoir
        if thesis_law:
            pv_new = pv * (1.0 + res.rock_compressibility_1_psi * (p - p_old))
        else:
            x = res.rock_compressibility_1_psi * (p - res.reference_pressure_psi)
            pv_new = self._pvref * (1.0 + x + 0.5 * x * x)
        b, _, mu, _ = res.pvt.evaluate(p)
        m_new = pv_new / (b * FT3_PER_BBL)
        q = self._well_rates(p, b, mu, wi, targets)
        qsum = q.sum(axis=0)
        dm = m_new - m
        scale = np.maximum(np.maximum(dt * qsum, np.abs(dm).sum(axis=0)), 1e-9 * m.sum(axis=0))
        return pv_new, m_new, q, qsum, np.abs(dm.sum(axis=0) + dt * qsum) / scale

    def _well_rates(self, p, b, mu, wi, targets):
        q = wi / (mu * b) * np.maximum(p - self._pwf, 0.0)
        if targets is not None:
            q = np.where(np.isfinite(targets), np.minimum(q, np.nan_to_num(targets, nan=np.inf)), q)
        return q

    def _assemble(self, p, p_old, pv_old, m_old, wi, targets, dt, thesis_law):
        """Residual (N, B) in STB/d and Jacobian values (nnz, B) in the pattern order."""
        res = self.reservoir
        b, db, mu, dmu = res.pvt.evaluate(p)
        lam, dlam, r, diag = cell_terms(p, p_old, pv_old, m_old, b, db, mu, dmu, dt,
                                        res.rock_compressibility_1_psi, thesis_law,
                                        res.reference_pressure_psi, self._pvref)
        # wells: q = WI lam max(p - pwf, 0)
        dd = np.maximum(p - self._pwf, 0.0)
        wl = wi * lam
        q = wl * dd
        dq = np.where(dd > 0.0, wi * dlam * dd + wl, 0.0)
        if targets is not None:
            capped = np.isfinite(targets) & (q > targets)
            q = np.where(capped, targets, q)
            dq = np.where(capped, 0.0, dq)
        r += q
        diag += dq
        if self._ci.size == 0:
            return r, diag
        n = p.shape[0]
        ci, cj, t = self._ci, self._cj, self._t
        pi = p[ci]
        pj = p[cj]
        dphi = pj - pi - self._g
        up_j = dphi > 0.0
        lam_i, lam_j = lam[ci], lam[cj]
        tl = t * np.where(up_j, lam_j, lam_i)
        tdl = (t * dphi) * np.where(up_j, dlam[cj], dlam[ci])
        f = tl * dphi                              # flow from j into i, STB/d
        nc = ci.size
        vals = np.empty((n + 2 * nc, p.shape[1]))
        offd = vals[n:]
        np.subtract(np.where(up_j, -tdl, 0.0), tl, out=offd[:nc])   # J[ci, cj] = -dF/dpj
        np.subtract(np.where(up_j, 0.0, tdl), tl, out=offd[nc:])    # J[cj, ci] = +dF/dpi
        r += self._scatter_net @ f
        vals[:n] = diag + self._scatter_offd @ offd
        return r, vals

    def _solve(self, vals: np.ndarray, r: np.ndarray) -> np.ndarray:
        n, nb = r.shape
        solver = self.linear_solver
        if solver == "auto":
            solver = "banded" if self._bandwidth <= 64 else "sparse"
        if solver == "banded" and nb >= 192 and n * n * nb <= 2**25:
            return batched_band_solve(vals, r, self._dense_pos, self._bandwidth)
        if solver == "banded":
            # the B systems stacked config-major form one banded matrix of the same bandwidth
            w = self._bandwidth
            ab = np.zeros((3 * w + 1, nb, n))
            ab[self._band_row, :, self._cols] = vals
            _, _, x, info = dgbsv(w, w, ab.reshape(3 * w + 1, nb * n), r.T.ravel(), overwrite_ab=1, overwrite_b=1)
            if info != 0:
                raise np.linalg.LinAlgError(f"singular Jacobian (LAPACK dgbsv info={info})")
            return x.reshape(nb, n).T
        if solver == "dense":
            jac = np.zeros((n * n, nb))
            jac[self._dense_pos] = vals
            jac = np.ascontiguousarray(jac.reshape(n, n, nb).transpose(2, 0, 1))
            return np.linalg.solve(jac, r.T[:, :, None])[:, :, 0].T
        indices, indptr = self._sparse_structure(nb)
        data = vals[self._csc_perm].T.ravel()
        mat = sp.csc_matrix((data, indices, indptr), shape=(nb * n, nb * n))
        return spla.splu(mat, permc_spec="COLAMD").solve(r.T.ravel()).reshape(nb, n).T

    def _sparse_structure(self, nb: int) -> tuple[np.ndarray, np.ndarray]:
        cached = self._sparse_cache.get(nb)
        if cached is None:
            n = self.reservoir.n_cells
            nnz = self._csc_rows.size
            indices = (self._csc_rows[None, :] + n * np.arange(nb)[:, None]).ravel().astype(np.int32)
            indptr = (self._csc_colptr[None, :-1] + nnz * np.arange(nb)[:, None]).ravel()
            indptr = np.concatenate([indptr, [nnz * nb]]).astype(np.int32)
            cached = (indices, indptr)
            if len(self._sparse_cache) > 8:
                self._sparse_cache.clear()
            self._sparse_cache[nb] = cached
        return cached


def batched_band_solve(vals: np.ndarray, rhs: np.ndarray, dense_pos: np.ndarray, bandwidth: int) -> np.ndarray:
    """Solve ``B`` systems ``A_b x_b = rhs_b`` at once: Gaussian elimination restricted to the band,
    vectorized along the batch (the fastest path for large batches of small grids).

    ``vals`` (nnz, B) are the entries at flat positions ``dense_pos`` (row * N + col); ``rhs`` is (N, B).
    No pivoting: the Jacobian is diagonally dominant (an M-matrix up to the small upstream-mobility
    derivative terms).  Work: N * bandwidth^2 * B multiply-adds; memory N^2 B."""
    n, nb = rhs.shape
    a = np.zeros((n * n, nb))
    a[dense_pos] = vals
    a = a.reshape(n, n, nb)
    x = rhs.copy()
    w = max(int(bandwidth), 1)
    for k in range(n - 1):
        e = min(k + w + 1, n)
        l = a[k + 1:e, k] * (1.0 / a[k, k])
        a[k + 1:e, k + 1:e] -= l[:, None, :] * a[k, None, k + 1:e]
        x[k + 1:e] -= l * x[k]
    for k in range(n - 1, -1, -1):
        e = min(k + w + 1, n)
        if e > k + 1:
            x[k] -= np.einsum("jb,jb->b", a[k, k + 1:e], x[k + 1:e])
        x[k] /= a[k, k]
    return x
