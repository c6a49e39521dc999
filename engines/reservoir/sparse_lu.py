"""Straight-line sparse LU for the compiled reservoir kernel, generated for one grid's connection pattern.

The Jacobian of a Cartesian grid has one diagonal entry per cell and two off-diagonal entries per
connection.  The banded LU of :mod:`engines.reservoir.numba_kernel` works on the whole band of the
natural ordering (n w^2 multiply-adds, most of them on entries that start as zeros) and streams every
band entry through memory once per operation.  Here the elimination is planned once, symbolically,
for the pattern in a fill-reducing order (minimum degree: Tinney & Walker 1967, scheme 2; George & Liu
1989), and written out as straight-line Python code -- one statement per multiply-add, the fill entries
as local variables -- which Numba compiles into a loop over the configurations of a block.  LLVM
vectorizes that loop (AVX2: 4 configurations per instruction) and keeps the entries in registers.  For
the 5x5 reference case: 273 multiply-adds in minimum degree order (natural order: 484; the band holds
625); the whole kernel runs 1.5-1.6x the configurations per second of the banded LU
(``python bench/bench_reservoir.py --lu``: 74,100 vs 115,500 random plans/s on 2 cores).

No pivoting, as in the banded solver: the Jacobian is column diagonally dominant (see
:mod:`engines.reservoir.numba_kernel`), a property any symmetric permutation ``P J P^T`` keeps, so
Gaussian elimination in any elimination order needs no pivoting (Golub & Van Loan 2013, Thm 3.4.3).

Storage (shared with the kernel): one array ``J`` (rows, ``JSTRIDE``) per block of configurations, the
configurations along the rows.  Rows ``0..N-1`` hold the diagonal of each cell, ``N + 2c`` and
``N + 2c + 1`` the entries (ci, cj) and (cj, ci) of connection c, then the fill entries, then ``N`` rows
each of the residual (overwritten by the Newton update), pressure, mobility and its derivative.  All rows live in one array so that LLVM can
prove the loads and stores of different rows independent (their distance is a multiple of the row
stride); the stride is the lane count plus 4 so that the rows do not all map to the same few sets of
the L1 cache (a stride of 64 doubles, 512 bytes, kept only 1/4 of it usable and made the solve 2-3x
slower).  The factorization happens in place: diagonal rows become inverse pivots, lower entries the
multipliers, upper entries U.

The generated source -- these two functions, the connection loops (one loop per connection, rows at
constant offsets: :func:`generate_connections`), then the kernel's Newton and block loops, which call
them by name -- is written to a cache directory and imported as a module, so that Numba's on-disk cache
applies (a compiled kernel per pattern, reused by later processes): ``ATILAX_KERNEL_DIR``, else
``<user cache>/atilax/kernels`` (:func:`engines.numba_cache.atilax_cache_dir`: ``$XDG_CACHE_HOME``, default
``~/.cache``), else the temporary directory; Numba's own cache of them is ``NUMBA_CACHE_DIR``
(:func:`engines.numba_cache.configure`).  The first use of a
pattern compiles for about a minute (5x5 case, 2 cores); the file name hashes the kernel's source, so
an edited kernel is recompiled rather than loaded stale.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.numba_cache import atilax_cache_dir

#: patterns whose elimination needs more multiply-adds than this stay on the banded LU (the straight-line
#: code grows with the count; 10x10 in minimum degree order would need 3,940, compile time grows with it)
MAX_SPARSE_FMA = 2000
#: lanes (configurations per block) the generated code is laid out for; the row stride adds 4
SPARSE_LANES = 64
JSTRIDE = SPARSE_LANES + 4
_VERSION = "1"


def minimum_degree_order(n: int, ci: np.ndarray, cj: np.ndarray) -> np.ndarray:
    """Elimination order of the n unknowns of the symmetric pattern {(ci, cj)}: repeatedly the node of
    least degree in the elimination graph (ties: lowest index), its neighbours joined into a clique
    (Tinney & Walker 1967, scheme 2).  Returns ``order`` with ``order[k]`` = the cell eliminated k-th."""
    adj = [set() for _ in range(n)]
    for a, b in zip(np.asarray(ci, dtype=int), np.asarray(cj, dtype=int)):
        if a != b:
            adj[a].add(b)
            adj[b].add(a)
    left = set(range(n))
    order = []
    while left:
        v = min(left, key=lambda x: (len(adj[x]), x))
        order.append(v)
        for u in adj[v]:
            adj[u] |= adj[v] - {u}
            adj[u].discard(v)
        left.remove(v)
    return np.array(order, dtype=np.int64)


@dataclass(frozen=True)
class SymbolicLU:
    """Elimination plan of one pattern: ``order`` (cell eliminated k-th), ``rows`` ((k, j) position in
    the permuted matrix -> row of J), ``lower``/``upper`` (column k: rows below with an entry; row k:
    columns right of it, fill included), ``n_fill`` and ``n_fma`` (multiply-adds of the factorization)."""

    n: int
    order: np.ndarray
    rows: dict
    lower: list
    upper: list
    n_fill: int
    n_fma: int
    n_conn: int

    @property
    def jrows(self) -> int:
        """Rows of J before the residual: diagonal, connections, fill."""
        return self.n + 2 * self.n_conn + self.n_fill


def symbolic_lu(n: int, ci: np.ndarray, cj: np.ndarray, order: np.ndarray | None = None) -> SymbolicLU:
    """Plan the no-pivoting LU of the pattern (diagonal + both entries of each connection) in ``order``
    (default: minimum degree)."""
    ci = np.asarray(ci, dtype=np.int64)
    cj = np.asarray(cj, dtype=np.int64)
    if order is None:
        order = minimum_degree_order(n, ci, cj)
    order = np.asarray(order, dtype=np.int64)
    if sorted(order.tolist()) != list(range(n)):
        raise ValueError("order must be a permutation of the cells")
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    rows: dict = {(int(pos[i]), int(pos[i])): i for i in range(n)}
    for c, (a, b) in enumerate(zip(ci, cj)):
        if (int(pos[a]), int(pos[b])) in rows:
            raise ValueError("duplicate connection between two cells")
        rows[(int(pos[a]), int(pos[b]))] = n + 2 * c
        rows[(int(pos[b]), int(pos[a]))] = n + 2 * c + 1
    next_row = n + 2 * ci.size
    col_entries = [set() for _ in range(n)]     # rows i > k with an entry (i, k)
    row_entries = [set() for _ in range(n)]     # columns j > k with an entry (k, j)
    for (i, j) in rows:
        if i > j:
            col_entries[j].add(i)
        elif j > i:
            row_entries[i].add(j)
    lower, upper = [], []
    fma = 0
    for k in range(n):
        below = sorted(col_entries[k])
        right = sorted(row_entries[k])
        lower.append(below)
        upper.append(right)
        for i in below:
            for j in right:
                fma += 1
                if (i, j) not in rows:
                    rows[(i, j)] = next_row
                    next_row += 1
                    if i > j:
                        col_entries[j].add(i)
                    else:
                        row_entries[i].add(j)
    return SymbolicLU(n=n, order=order, rows=rows, lower=lower, upper=upper,
                      n_fill=next_row - n - 2 * ci.size, n_fma=fma, n_conn=int(ci.size))


def generate_source(plan: SymbolicLU, stride: int = JSTRIDE) -> str:
    """Source of ``_factor_solve(J, r, nl, a, piv, fb, ci, cj, w)`` (factor J in place and solve for the
    residual rows) and ``_lu_apply(J, r, nl, a, w)`` (solve with the stored factors), with the signatures
    of the kernel's banded versions (the extra arguments are unused here)."""
    n = plan.n
    rb = plan.jrows

    def var(i, j):
        return f"d{i}" if i == j else f"a{i}_{j}"

    def at(row):
        return f"Jf[{row * stride} + l]"

    entries = sorted(plan.rows.items(), key=lambda t: t[1])
    original = [(ij, row) for ij, row in entries if row < n + 2 * plan.n_conn]
    body = [f"{var(i, j)} = {at(row)}" for (i, j), row in original]
    seen = {ij for ij, _ in original}
    for k in range(n):
        body.append(f"d{k} = 1.0 / d{k}")
        for i in plan.lower[k]:
            body.append(f"a{i}_{k} = a{i}_{k} * d{k}")
            for j in plan.upper[k]:
                if (i, j) in seen:
                    body.append(f"{var(i, j)} = {var(i, j)} - a{i}_{k} * a{k}_{j}")
                else:
                    seen.add((i, j))
                    body.append(f"{var(i, j)} = -(a{i}_{k} * a{k}_{j})")
    store = [f"{at(row)} = {var(i, j)}" for (i, j), row in entries]
    load = [f"{var(i, j)} = {at(row)}" for (i, j), row in entries]
    solve = [f"y{k} = {at(rb + int(plan.order[k]))}" for k in range(n)]
    for k in range(n):
        solve += [f"y{i} = y{i} - a{i}_{k} * y{k}" for i in plan.lower[k]]
    for k in range(n - 1, -1, -1):
        solve += [f"y{k} = y{k} - a{k}_{j} * y{j}" for j in plan.upper[k]]
        solve += [f"y{k} = y{k} * d{k}", f"{at(rb + int(plan.order[k]))} = y{k}"]
    ind = "        "
    head = '@njit(cache=True, error_model="numpy", fastmath=_FM)\n'
    return (
        f"{head}def _factor_solve(J, r, nl, a, piv, fb, ci, cj, w):\n"
        f'    """Generated: in-place LU of the {n}-cell pattern ({plan.n_fma} multiply-adds, {plan.n_fill} fill\n'
        f'    entries) and the solve of the residual rows, one straight-line body per configuration."""\n'
        f"    Jf = J.reshape(J.size)\n    for l in range(nl):\n"
        + "".join(ind + s + "\n" for s in body + store + solve)
        + f"\n\n{head}def _lu_apply(J, r, nl, a, w):\n"
        f'    """Generated: solve the residual rows with the factors stored by _factor_solve."""\n'
        f"    Jf = J.reshape(J.size)\n    for l in range(nl):\n"
        + "".join(ind + s + "\n" for s in load + solve)
    )


def generate_connections(plan: SymbolicLU, ci: np.ndarray, cj: np.ndarray, stride: int = JSTRIDE) -> str:
    """Source of ``_connections(p, lam, dlam, r, J, ci, cj, tc, gc, nl, jac)`` for this pattern: the
    kernel's connection loop (:func:`engines.reservoir.numba_kernel._connections`, same arithmetic) written
    as one loop per connection whose rows of J (residual, pressure, mobility, Jacobian) sit at constant
    offsets, so that LLVM vectorizes each loop without runtime aliasing checks (the generic loop, whose rows
    are only known at run time, needs more checks than LLVM allows and runs scalar)."""
    n = plan.n
    rb = plan.jrows

    def at(row):
        return f"Jf[{row * stride} + l]"

    out = []
    for jac in (True, False):
        lines = []
        for c, (i, j) in enumerate(zip(np.asarray(ci, dtype=int), np.asarray(cj, dtype=int))):
            body = [f"dphi = {at(rb + n + j)} - {at(rb + n + i)} - g",
                    "up = dphi > 0.0                      # j upstream",
                    f"lj = {at(rb + 2 * n + j)}", f"li = {at(rb + 2 * n + i)}",
                    "tl = t * (lj if up else li)",
                    "f = tl * dphi                        # flow from j into i, STB/d",
                    f"{at(rb + i)} -= f", f"{at(rb + j)} += f"]
            if jac:
                body += [f"dj = {at(rb + 3 * n + j)}", f"di = {at(rb + 3 * n + i)}",
                         "tdl = t * dphi * (dj if up else di)",
                         "jij = -tl - (tdl if up else 0.0)    # dR_i/dp_j",
                         "jji = (0.0 if up else tdl) - tl     # dR_j/dp_i",
                         f"{at(n + 2 * c)} = jij", f"{at(n + 2 * c + 1)} = jji",
                         f"{at(j)} -= jij", f"{at(i)} -= jji"]
            lines += [f"t = tc[{c}]", f"g = gc[{c}]", "for l in range(nl):"] + ["    " + b for b in body]
        out.append(lines)
    ind = "        "
    return ('@njit(cache=True, error_model="numpy", fastmath=_FM)\n'
            "def _connections(p, lam, dlam, r, J, ci, cj, tc, gc, nl, jac):\n"
            '    """Generated: the fluxes of every connection, one loop per connection (see _connections in\n'
            '    engines.reservoir.numba_kernel); p, lam, dlam and r are rows of J."""\n'
            "    Jf = J.reshape(J.size)\n    if jac:\n"
            + "".join(ind + s + "\n" for s in out[0]) + "    else:\n"
            + "".join(ind + s + "\n" for s in out[1]))


def generate_update(plan: SymbolicLU, stride: int = JSTRIDE) -> str:
    """Source of ``_update(J, p, r, active, big, nl)`` (see :func:`engines.reservoir.numba_kernel._update`)
    as one loop over the lanes whose body visits every cell, the pressure and update rows at constant
    offsets of J: the largest update stays in a register and LLVM vectorizes the loop (the generic loop
    nest, which reads and writes rows only known at run time, is left scalar by its cost model).  A NaN
    update makes ``big`` NaN through ``v * 0``."""
    n, rb = plan.n, plan.jrows
    body = ["a = active[l]", "m = 0.0", "z = 0.0"]
    for i in range(n):
        body += [f"d = Jf[{(rb + i) * stride} + l]",
                 f"Jf[{(rb + n + i) * stride} + l] = Jf[{(rb + n + i) * stride} + l] - (d if a else 0.0)",
                 "v = abs(d)", "m = v if v > m else m", "z += v * 0.0"]
    body.append("big[l] = m + z")
    return ('@njit(cache=True, error_model="numpy", fastmath=_FM)\n'
            "def _update(J, p, r, active, big, nl):\n"
            '    """Generated: the Newton update of the active lanes and the largest update per lane."""\n'
            "    Jf = J.reshape(J.size)\n    for l in range(nl):\n"
            + "".join("        " + b + "\n" for b in body))


def kernel_dir() -> Path:
    """Directory for generated kernel modules (see the module docstring)."""
    env = os.environ.get("ATILAX_KERNEL_DIR")
    candidates = [Path(env)] if env else []
    candidates += [atilax_cache_dir() / "kernels",
                   Path(tempfile.gettempdir()) / f"atilax-kernels-{os.getuid() if hasattr(os, 'getuid') else 0}"]
    for d in candidates:
        try:
            d.mkdir(parents=True, exist_ok=True)
            if os.access(d, os.W_OK):
                return d
        except OSError:
            continue
    raise RuntimeError("no writable directory for generated kernels (set ATILAX_KERNEL_DIR)")


_modules: dict = {}
_lock = threading.Lock()


def module_source(plan: SymbolicLU, ci: np.ndarray, cj: np.ndarray) -> str:
    """The generated module: imports from the kernel, the two solver functions and the connection loops,
    then the kernel's Newton loop, block loop and entry point (their source), which call them by name."""
    from engines.reservoir import numba_kernel as k

    template = "\n\n".join(inspect.getsource(f.py_func) for f in (k._newton, k._run_block, k.simulate_blocks))
    return ("# Generated by engines.reservoir.sparse_lu for one connection pattern; do not edit.\n"
            "import numpy as np\nfrom numba import njit\n\n"
            "from engines.reservoir.numba_kernel import (CHORD_PSI, FT3_PER_BBL, _FM, _assemble, _balance,\n"
            "                                            _far_from_kinks, _predict, _pvt)\n\n"
            f"JSTRIDE = {JSTRIDE}\nJROWS = {plan.jrows}\n\n\n"
            + generate_source(plan) + "\n\n" + generate_connections(plan, ci, cj) + "\n\n" + generate_update(plan)
            + "\n\n" + template + "\n")


def is_loaded(n: int, ci: np.ndarray, cj: np.ndarray) -> bool:
    """Whether the kernel of this pattern is already loaded in this process."""
    return _key(n, ci, cj) in _modules


def _key(n, ci, cj):
    return (n, np.asarray(ci, dtype=np.int64).tobytes(), np.asarray(cj, dtype=np.int64).tobytes())


def sparse_kernel(n: int, ci: np.ndarray, cj: np.ndarray):
    """The compiled kernel module of this pattern (generated, written and imported on first use), or
    None when the elimination needs more than ``MAX_SPARSE_FMA`` multiply-adds.  The module exposes
    ``simulate_blocks`` (the signature of :func:`engines.reservoir.numba_kernel.simulate_blocks`),
    ``JSTRIDE`` and ``JROWS``."""
    key = _key(n, ci, cj)
    with _lock:
        if key in _modules:
            return _modules[key]
        plan = symbolic_lu(n, ci, cj)
        if plan.n_fma > MAX_SPARSE_FMA:
            _modules[key] = None
            return None
        import numba

        src = module_source(plan, ci, cj)
        # Numba's cache checks only the generated file itself, not the functions it imports (whose code is
        # compiled into it): the name therefore also hashes the kernel's and this module's source
        from engines.reservoir import numba_kernel

        deps = "".join(Path(m.__file__).read_text() for m in (numba_kernel, sys.modules[__name__]))
        digest = hashlib.sha256(f"{_VERSION}|{numba.__version__}|{deps}|{src}".encode()).hexdigest()[:20]
        module = import_generated(f"atilax_sparse_kernel_{digest}", src)
        _modules[key] = module
        return module


def import_generated(name: str, src: str):
    """Write the generated module ``src`` to :func:`kernel_dir` as ``name.py`` (unless that file already
    holds it) and import it (Numba's disk cache then keys its compiled functions to that file)."""
    path = kernel_dir() / f"{name}.py"
    if not path.exists() or path.read_text() != src:
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(src)
        os.replace(tmp, path)      # atomic: concurrent processes see a whole file
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
