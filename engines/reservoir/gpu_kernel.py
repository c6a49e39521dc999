"""One-configuration-per-thread kernel of the single-phase simulator, generated for one grid's pattern and
compiled for a CUDA GPU (numba-cuda) or, with the same source, for the CPU (Numba; the reference the
tests check the generated code against).

Same physics and Newton iterates as :mod:`engines.reservoir.numba_kernel` (Aziz & Settari 1979, ch. 5;
González Nieves 2018, eq. 3.11-3.37): upstream mobility ``1/(mu Bo)`` with its exact derivative, the
thesis or Eclipse rock law, the piecewise-linear PVT table (extrapolated beyond its end knots),
Peaceman/thesis well indices, producers under BHP control with rates floored at zero, the geometric
Newton predictor, chord steps below ``CHORD_PSI`` with the kernel's two safeguards (none while a well cell
is within twice the last update of its bottom-hole pressure; a chord step must halve the update), the
material-balance polish and the same outputs.  The difference is the layout.  The CPU kernel runs a block of configurations in the lanes of SIMD
loops; here one thread simulates one configuration from the first step to the last, and every
quantity of a cell -- pressure, previous pressure, pore volume, oil in place, mobility, residual --
and every Jacobian entry is a named scalar of straight-line generated code (the cells unrolled, the
elimination of :mod:`engines.reservoir.sparse_lu` in minimum-degree order written out: 273
multiply-adds for the 5x5 case).  The compiler keeps them in registers (what does not fit spills to
the per-thread local memory, cached in L1), so a Newton iteration reads global memory only for the
tables shared by all threads (PVT knots, transmissibilities), which every thread of a warp reads at
the same address.  (Not yet measured on a GPU: no GPU was lent to the session that wrote it;
``bench/bench_reservoir_gpu.py`` checks and times it where one is.)  A GPU runs tens of thousands of such threads at once; there are no per-step kernel
launches and no batch-wide synchronization (each configuration converges on its own, as in the NumPy
path's active set, with no block coupling: results do not depend on the other plans of the batch).

PVT: the segment of the table holding ``p`` is found by counting the inner knots at or below it (a
branch-free scan of ~10 knots), then the segment's line -- the same function as the CPU kernel's hinge
sum, up to round-off.

Inputs are either well indices per cell and configuration (``wi_all``, (N, B)) or, for enumerations
such as the brute force, plan codes: configuration ``t`` has a well in column ``c`` when bit ``c`` of
``code_base + offsets[t]`` is set (``offsets`` = ``t`` when not given), so no mask array crosses the
bus.  Outputs per step are optional (``store``); always written: the discounted volume
``sum_t weights[t] q_t`` (``weights = dt_t x discount_t`` gives NPV through
:func:`engines.reservoir.economics.npv_from_discounted_volume`), the largest material-balance error and
the status (0, or the 1-based step where Newton failed).

Generated source lives in the kernel directory of :mod:`engines.reservoir.sparse_lu` (file name =
hash of the source, which is self-contained, and of Numba's version) and is imported from there, so
Numba's on-disk cache applies.  The CPU build of the 5x5 pattern compiles in about 95 s (2 cores).
Rate targets are not supported by this kernel (the NumPy and Numba paths have them).
"""
from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from engines.reservoir import sparse_lu
from engines.reservoir.numba_kernel import CHORD_PSI
from engines.reservoir.reservoir import FT3_PER_BBL

_VERSION = "1"
TARGETS = ("cpu", "cuda")
#: threads per CUDA block
THREADS_PER_BLOCK = 128


def cuda_available() -> bool:
    """Whether numba-cuda is installed and sees a CUDA GPU."""
    try:
        from numba import cuda
    except ImportError:
        return False
    try:
        return bool(cuda.is_available())
    except Exception:   # noqa: BLE001 - a broken driver is "not available"
        return False


def to_host(a) -> np.ndarray:
    """A kernel output as a NumPy array (device arrays are copied; waits for the kernel)."""
    return a if isinstance(a, np.ndarray) else a.copy_to_host()


def generate_plan_source(plan: sparse_lu.SymbolicLU, ci, cj, column_of_cell, *, thesis: bool,
                         chord: bool = True) -> str:
    """Source of ``_plan(t, ...)``: the whole simulation of configuration ``t`` (see the module docstring)."""
    n = plan.n
    ci = np.asarray(ci, dtype=int)
    cj = np.asarray(cj, dtype=int)
    col = np.asarray(column_of_cell, dtype=int)
    pos = np.empty(n, dtype=int)
    pos[plan.order] = np.arange(n)

    def ent(a, b):          # Jacobian entry dR_a/dp_b (cells a, b) as the LU variable of its position
        i, j = int(pos[a]), int(pos[b])
        return f"d{i}" if i == j else f"a{i}_{j}"

    lu_vars = sorted({(f"d{i}" if i == j else f"a{i}_{j}") for (i, j) in plan.rows})
    L = []          # lines at indentation 1

    def emit(lines, depth):
        L.extend("    " * depth + s for s in lines)

    emit(["if use_codes:",
          "    code = code_base + (offsets[t] if use_offsets else t)"], 1)
    emit([f"    w{i} = cell_wi[{i}] if (code >> {col[i]}) & 1 else 0.0" for i in range(n)], 1)
    emit(["else:"] + [f"    w{i} = wi_all[{i}, t]" for i in range(n)], 1)
    init = []
    for i in range(n):
        init += [f"p{i} = p_init[{i}]", f"pv{i} = pv_init[{i}]", f"b, db, mu, dmu = _pvt(p{i}, kp, kb, km, sb, sm)",
                 f"m{i} = pv{i} / (b * FT3)", f"pp{i} = p{i}", f"dq{i} = 0.0", f"po{i} = p{i}",
                 f"pn{i} = pv{i}", f"mn{i} = m{i}", f"q{i} = 0.0"]
    init += [f"{v} = 0.0" for v in lu_vars]
    init += ["dvsum = 0.0", "errmax = 0.0", "nt = dt_days.size"]
    emit(init, 1)
    emit(["for step in range(nt):",
          "    dt = dt_days[step]",
          "    geometric = step > 1 and dt == dt_days[step - 1] and dt == dt_days[step - 2]",
          "    ratio = dt / dt_days[step - 1] if step > 0 else 0.0"], 1)
    pred = []
    for i in range(n):
        pred += [f"po{i} = p{i}", f"chg = po{i} - pp{i}",
                 "if geometric:", f"    g = chg / dq{i} if dq{i} != 0.0 else 1.0", "    g = min(max(g, 0.0), 1.0)",
                 "else:", "    g = ratio",
                 "if step > 0:", f"    p{i} = max(po{i} + chg * g, 0.5 * pwf[{i}])",
                 f"dq{i} = chg", f"pp{i} = po{i}"]
    emit(pred, 2)
    emit(["inv_dt = 1.0 / dt", "its = 0", "it = 0", "use_chord = False", "polish = False", "tol_now = tol",
          "prev_big = np.inf",
          "err = 0.0", "qsum = 0.0", "while True:"], 2)

    def rock(i):
        if thesis:
            return [f"pvx = pv{i} * (1.0 + cr * (p{i} - po{i}))", f"dpv = pv{i} * cr"]
        return [f"x = cr * (p{i} - pref)", f"pvx = pvref[{i}] * (1.0 + x + 0.5 * x * x)",
                f"dpv = pvref[{i}] * (cr * (1.0 + x))"]

    def assembly(jac):
        out = []
        for i in range(n):
            out += [f"b, db, mu, dmu = _pvt(p{i}, kp, kb, km, sb, sm)", "lm = 1.0 / (mu * b)"]
            if jac:
                out.append("dlm = -(dmu * b + mu * db) * lm * lm")
            out += rock(i)
            out += ["inv = lm * mu * INV_FT3", "mm = pvx * inv", f"dd = p{i} - pwf[{i}]", f"wl = w{i} * lm",
                    f"r{i} = (mm - m{i}) * inv_dt + wl * max(dd, 0.0)", f"l{i} = lm"]
            if jac:
                out += [f"dqq = w{i} * dlm * dd + wl if dd > 0.0 else 0.0",
                        f"{ent(i, i)} = (dpv - mm * FT3 * db) * inv * inv_dt + dqq", f"dl{i} = dlm"]
        for c, (i, j) in enumerate(zip(ci, cj)):
            out += [f"dphi = p{j} - p{i} - gc[{c}]", "up = dphi > 0.0",
                    f"tl = tc[{c}] * (l{j} if up else l{i})", "f = tl * dphi", f"r{i} -= f", f"r{j} += f"]
            if jac:
                out += [f"tdl = tc[{c}] * dphi * (dl{j} if up else dl{i})",
                        "jij = -tl - (tdl if up else 0.0)", "jji = (0.0 if up else tdl) - tl",
                        f"{ent(i, j)} = jij", f"{ent(j, i)} = jji", f"{ent(j, j)} -= jij", f"{ent(i, i)} -= jji"]
        if jac:     # in-place LU in minimum-degree order (diagonal entries become inverse pivots)
            seen = {ij for ij, row in plan.rows.items() if row < n + 2 * plan.n_conn}
            for k in range(n):
                out.append(f"d{k} = 1.0 / d{k}")
                for i in plan.lower[k]:
                    out.append(f"a{i}_{k} = a{i}_{k} * d{k}")
                    for j in plan.upper[k]:
                        v = f"d{i}" if i == j else f"a{i}_{j}"
                        if (i, j) in seen:
                            out.append(f"{v} = {v} - a{i}_{k} * a{k}_{j}")
                        else:
                            seen.add((i, j))
                            out.append(f"{v} = -(a{i}_{k} * a{k}_{j})")
        return out

    if chord:
        emit(["if use_chord:"], 3)
        emit(assembly(False), 4)
        emit(["else:"], 3)
        emit(assembly(True), 4)
    else:
        emit(assembly(True), 3)
    solve = [f"y{k} = r{int(plan.order[k])}" for k in range(n)]
    for k in range(n):
        solve += [f"y{i} = y{i} - a{i}_{k} * y{k}" for i in plan.lower[k]]
    for k in range(n - 1, -1, -1):
        solve += [f"y{k} = y{k} - a{k}_{j} * y{j}" for j in plan.upper[k]]
        solve.append(f"y{k} = y{k} * d{k}")
    upd = ["big = 0.0", "z = 0.0", "near = np.inf"]
    for i in range(n):
        upd += [f"u = y{int(pos[i])}", f"p{i} = p{i} - u", "v = abs(u)", "big = v if v > big else big", "z += v * 0.0",
                f"e = abs(p{i} - pwf[{i}])", f"near = e if (w{i} > 0.0 and e < near) else near"]
    upd += ["big = big + z", "its += 1", "it += 1"]
    emit(solve + upd, 3)
    bal = ["qsum = 0.0", "dms = 0.0", "adm = 0.0", "ms = 0.0"]
    for i in range(n):
        bal += [f"b, db, mu, dmu = _pvt(p{i}, kp, kb, km, sb, sm)"]
        bal += ([f"pn{i} = pv{i} * (1.0 + cr * (p{i} - po{i}))"] if thesis else
                [f"x = cr * (p{i} - pref)", f"pn{i} = pvref[{i}] * (1.0 + x + 0.5 * x * x)"])
        bal += ["lm = 1.0 / (mu * b)", f"mn{i} = pn{i} * (lm * mu * INV_FT3)",
                f"q{i} = w{i} * lm * max(p{i} - pwf[{i}], 0.0)", f"qsum += q{i}",
                f"dm = mn{i} - m{i}", "dms += dm", "adm += abs(dm)", f"ms += m{i}"]
    bal += ["scale = max(max(dt * qsum, adm), 1e-9 * ms)", "err = abs(dms + dt * qsum) / scale",
            "if polish or not (err > mb_tol):", "    break",
            "polish = True", "tol_now = polish_tol", "use_chord = True", "it = 0", "prev_big = np.inf", "continue"]
    emit(["if big < tol_now:    # False for NaN: a breakdown fails the step"], 3)
    emit(bal, 4)
    emit(["if it >= max_newton:", "    status[t] = step + 1", "    return",
          # a chord step must at least halve the update, else the next step refactors (numba_kernel._newton)
          ("use_chord = big < CHORD_PSI and near > 2.0 * big and (not use_chord or big < 0.5 * prev_big)" if chord else
           "use_chord = False"), "prev_big = big"], 3)
    acc = [f"pv{i} = pn{i}" for i in range(n)] + [f"m{i} = mn{i}" for i in range(n)]
    acc += ["dvsum += weights[step] * qsum", "errmax = max(errmax, err)", "if store:"]
    spv = " + ".join(f"pv{i} * p{i}" for i in range(n))
    sv = " + ".join(f"pv{i}" for i in range(n))
    acc += ["    rate[step, t] = qsum", f"    pavg[step, t] = ({spv}) / ({sv})", "    mberr[step, t] = err",
            "    iters[step, t] = its"]
    acc += ["if store_q:"] + [f"    qstore[step, {i}, t] = q{i}" for i in range(n)]
    acc += ["if store_p:"] + [f"    pstore[step, {i}, t] = p{i}" for i in range(n)]
    emit(acc, 2)
    emit(["if store:"] + [f"    pfinal[{i}, t] = p{i}" for i in range(n)], 1)
    emit(["dv[t] = dvsum", "maxerr[t] = errmax", "status[t] = 0"], 1)
    return ("def _plan(t, code_base, offsets, use_offsets, use_codes, wi_all, cell_wi, p_init, pv_init, pvref, pwf, tc, gc,\n"
            "          kp, kb, km, sb, sm, dt_days, weights, cr, pref, tol, polish_tol, mb_tol, max_newton, store,\n"
            "          store_q, store_p, rate, pavg, mberr, iters, pfinal, qstore, pstore, dv, maxerr, status):\n"
            f'    """Generated: simulate configuration t ({n} cells, {plan.n_conn} connections, LU of '
            f'{plan.n_fma} multiply-adds)."""\n'
            + "\n".join(L) + "\n")


_ARGS = ("code_base, offsets, use_offsets, use_codes, wi_all, cell_wi, p_init, pv_init, pvref, pwf, tc, gc, kp, kb, km, "
         "sb, sm, dt_days, weights, cr, pref, tol, polish_tol, mb_tol, max_newton, store, store_q, store_p, rate, "
         "pavg, mberr, iters, pfinal, qstore, pstore, dv, maxerr, status")

_PVT = '''def _pvt(p, kp, kb, km, sb, sm):
    """Piecewise-linear Bo and mu and their slopes: the segment of the inner knots at or below p, its line
    (extrapolated beyond the end knots)."""
    q = 0
    for k in range(1, kp.size - 1):
        q = k if p >= kp[k] else q
    d = p - kp[q]
    return kb[q] + sb[q] * d, sb[q], km[q] + sm[q] * d, sm[q]
'''


def module_source(plan, ci, cj, column_of_cell, *, thesis: bool, target: str, chord: bool = True) -> str:
    """The generated module for ``target`` (``"cpu"``: ``run_range(lo, hi, ...)``; ``"cuda"``:
    ``kernel[grid, block](nb, ...)``)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}")
    head = ("# Generated by engines.reservoir.gpu_kernel for one connection pattern; do not edit.\n"
            "import numpy as np\n")
    if target == "cuda":
        head += "from numba import cuda\n\n"
        dev = "@cuda.jit(device=True)\n"
        entry = (f"@cuda.jit\ndef kernel(nb, {_ARGS}):\n    t = cuda.grid(1)\n    if t < nb:\n"
                 f"        _plan(t, {_ARGS})\n")
    else:
        head += "from numba import njit\n\n"
        dev = '@njit(cache=True, error_model="numpy")\n'
        entry = (f'@njit(cache=True, error_model="numpy", nogil=True)\ndef run_range(lo, hi, {_ARGS}):\n'
                 f"    for t in range(lo, hi):\n        _plan(t, {_ARGS})\n")
    consts = f"FT3 = {FT3_PER_BBL!r}\nINV_FT3 = 1.0 / FT3\nCHORD_PSI = {CHORD_PSI!r}\n\n\n"
    return (head + consts + dev + _PVT + "\n\n" + dev
            + generate_plan_source(plan, ci, cj, column_of_cell, thesis=thesis, chord=chord) + "\n\n" + entry)


_modules: dict = {}
_lock = threading.Lock()


def load_module(n: int, ci, cj, column_of_cell, *, thesis: bool, target: str, chord: bool = True):
    """The compiled module of this pattern for ``target`` (generated and imported on first use).
    Raises ValueError when the pattern's elimination needs more than ``sparse_lu.MAX_SPARSE_FMA``
    multiply-adds (the straight-line code would be too large)."""
    ci = np.asarray(ci, dtype=np.int64)
    cj = np.asarray(cj, dtype=np.int64)
    col = np.asarray(column_of_cell, dtype=np.int64)
    key = (n, ci.tobytes(), cj.tobytes(), col.tobytes(), bool(thesis), target, bool(chord))
    with _lock:
        if key in _modules:
            return _modules[key]
        plan = sparse_lu.symbolic_lu(n, ci, cj)
        if plan.n_fma > sparse_lu.MAX_SPARSE_FMA:
            raise ValueError(f"the one-thread-per-plan kernel needs a sparse LU of at most "
                             f"{sparse_lu.MAX_SPARSE_FMA} multiply-adds; this grid's needs {plan.n_fma} "
                             "(use backend='torch' or 'numba')")
        import numba

        src = module_source(plan, ci, cj, col, thesis=thesis, target=target, chord=chord)
        # the generated module is self-contained (it imports only numpy and numba): its source and numba's
        # version determine the compiled code
        digest = hashlib.sha256(f"{_VERSION}|{numba.__version__}|{src}".encode()).hexdigest()[:20]
        module = sparse_lu.import_generated(f"atilax_plan_kernel_{target}_{digest}", src)
        _modules[key] = module
        return module


class PlanKernel:
    """The generated kernel bound to one :class:`~engines.reservoir.simulator.BatchSimulator`'s
    reservoir, wells and time steps, on ``target`` ``"cuda"`` (one GPU thread per configuration) or
    ``"cpu"`` (the same code, configurations spread over threads)."""

    def __init__(self, sim, target: str = "cuda", *, chord: bool = True) -> None:
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}")
        if target == "cuda" and not cuda_available():
            raise RuntimeError("backend='cuda' needs a CUDA GPU and numba-cuda (pip install numba-cuda); "
                               "none was found: use backend='numba' (CPU) or 'torch'")
        res = sim.reservoir
        self.sim = sim
        self.target = target
        self.n = res.n_cells
        self.nt = sim.dt_days.size
        self.module = load_module(self.n, sim._ci, sim._cj, res.column_of_cell,
                                  thesis=res.rock_law == "thesis", target=target, chord=chord)
        pvt = res.pvt
        f = lambda a: np.ascontiguousarray(a, dtype=float)  # noqa: E731
        t = sim._t[:, 0] if sim._t.size else np.zeros(1)
        g = sim._g[:, 0] if sim._g.size else np.zeros(1)
        self._consts = [f(sim.cell_wi), f(sim._p0), f(sim._pv0), f(sim._pvref[:, 0]), f(sim.cell_pwf), f(t), f(g),
                        f(pvt.pressure_psi), f(pvt.bo_rb_stb), f(pvt.viscosity_cp), f(pvt._b_slope),
                        f(pvt._mu_slope), f(sim.dt_days)]
        self._scalars = (float(res.rock_compressibility_1_psi), float(res.reference_pressure_psi),
                         sim.newton_tol_psi, 1e-9, sim.mb_tol, sim.max_newton)
        if target == "cuda":
            from numba import cuda

            self._cuda = cuda
            self._consts = [cuda.to_device(a) for a in self._consts]
        self._unused_arguments = {}

    # ------------------------------------------------------------------------------------------
    def _empty(self, shape, dtype=float):
        if self.target == "cuda":
            return self._cuda.device_array(shape, dtype=dtype)
        return np.empty(shape, dtype=dtype)

    def _unused_argument(self, ndim, dtype=float):
        """A one-element array of ``ndim`` dimensions for a kernel argument this launch does not read or fill."""
        key = (ndim, np.dtype(dtype).str)
        if key not in self._unused_arguments:
            self._unused_arguments[key] = self._empty((1,) * ndim, dtype)
        return self._unused_arguments[key]

    def _to(self, a):
        return self._cuda.to_device(np.ascontiguousarray(a)) if self.target == "cuda" else np.ascontiguousarray(a)

    def _launch(self, nb, code_base, offsets, use_offsets, use_codes, wi_all, weights, store, store_q, store_p,
                outs):
        cell_wi, p0, pv0, pvref, pwf, tc, gc, kp, kb, km, sb, sm, dts = self._consts
        cr, pref, tol, ptol, mbt, maxn = self._scalars
        args = (np.int64(code_base), offsets, use_offsets, use_codes, wi_all, cell_wi, p0, pv0, pvref, pwf, tc,
                gc, kp, kb, km, sb, sm, dts, weights, cr, pref, tol, ptol, mbt, np.int64(maxn), store, store_q,
                store_p, *outs)
        if nb == 0:
            return
        if self.target == "cuda":
            grid = -(-nb // THREADS_PER_BLOCK)
            self.module.kernel[grid, THREADS_PER_BLOCK](np.int64(nb), *args)
            return
        threads = max(1, min(int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1)), nb))
        bounds = np.linspace(0, nb, threads + 1).astype(np.int64)
        if threads == 1:
            self.module.run_range(0, nb, *args)
            return
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda k: self.module.run_range(int(bounds[k]), int(bounds[k + 1]), *args),
                          range(threads)))

    def run(self, wi: np.ndarray, store_well_rates: bool = False, store_pressure: bool = False):
        """Simulate configurations with well indices ``wi`` (N, B); returns a
        :class:`~engines.reservoir.simulator.SimulationResult` (as ``BatchSimulator.run``)."""
        from engines.reservoir.simulator import SimulationResult

        n, nb = wi.shape
        nt = self.nt
        res = self.sim.reservoir
        outs = [self._empty((nt, nb)), self._empty((nt, nb)), self._empty((nt, nb)),
                self._empty((nt, nb), np.int64), self._empty((n, nb)),
                self._empty((nt, n, nb)) if store_well_rates else self._unused_argument(3),
                self._empty((nt, n, nb)) if store_pressure else self._unused_argument(3),
                self._empty(nb), self._empty(nb), self._empty(nb, np.int64)]
        weights = self._to(np.zeros(nt))
        self._launch(nb, 0, self._unused_argument(1, np.int64), False, False, self._to(np.asarray(wi, dtype=float)),
                     weights, True, store_well_rates, store_pressure, outs)
        host = [to_host(o) for o in outs]
        rate, pavg, mberr, iters, pfinal, qst, pst, _, _, status = host
        if np.any(status):
            step = int(status[status > 0].min())
            raise RuntimeError(f"Newton did not converge in {self.sim.max_newton} iterations at step {step}")
        dt = self.sim.dt_days
        rate = np.ascontiguousarray(rate.T)
        wells = None
        if store_well_rates:
            wells = qst.transpose(2, 0, 1).reshape(nb, nt, res.nz, res.n_columns).sum(axis=2)
        return SimulationResult(
            time_days=np.cumsum(dt), oil_rate_stb_d=rate, cumulative_oil_stb=np.cumsum(rate * dt, axis=1),
            average_pressure_psi=np.ascontiguousarray(pavg.T), material_balance_error=np.ascontiguousarray(mberr.T),
            newton_iterations=iters.max(axis=1) if nb else np.zeros(nt, dtype=int),
            final_pressure_psi=np.ascontiguousarray(pfinal.T), well_rates_stb_d=wells,
            pressure_psi=np.ascontiguousarray(pst.transpose(2, 0, 1)) if store_pressure else None)

    def discounted_volumes(self, weights, *, code_base: int = 0, count: int | None = None, offsets=None):
        """Simulate the plans ``code_base + offsets[t]`` (or ``code_base + t`` for ``t < count``; bit ``c`` of
        a code = a well in column ``c``) and return, per plan, ``sum_t weights[t] q_t`` (q: field rate,
        STB/d; with ``weights = dt x discount`` the discounted volume, STB), the largest material-balance
        error over the steps and the status (0 or the 1-based failing step).  With ``target="cuda"``,
        ``offsets`` may be a device array (numba or torch) and the outputs stay on the device."""
        use_offsets = offsets is not None
        nb = int(len(offsets)) if use_offsets else int(count)
        if use_offsets and self.target == "cuda" and not hasattr(offsets, "__cuda_array_interface__"):
            offsets = self._to(np.asarray(offsets, dtype=np.int64))
        if not use_offsets:
            offsets = self._unused_argument(1, np.int64)
        w = self._to(np.asarray(weights, dtype=float))
        ph2, ph3 = self._unused_argument(2), self._unused_argument(3)
        outs = [ph2, ph2, ph2, self._unused_argument(2, np.int64), ph2, ph3, ph3,
                self._empty(nb), self._empty(nb), self._empty(nb, np.int64)]
        self._launch(nb, code_base, offsets, use_offsets, True, ph2, w, False, False, False, outs)
        return outs[7], outs[8], outs[9]
