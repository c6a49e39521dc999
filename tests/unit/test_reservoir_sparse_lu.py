"""Generated sparse LU of the compiled reservoir kernel (engines.reservoir.sparse_lu).

The elimination plan is checked against an independent symbolic elimination on a dense boolean matrix
(fill entries and multiply-adds for the same order), the generated code against LAPACK
(numpy.linalg.solve) on column diagonally dominant systems like the simulator's Jacobians, and the
generated connection loops against the kernel's generic loop.  The kernel with the generated solver is
compared with the NumPy simulator in tests/unit/test_reservoir_backends.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from engines.reservoir import numba_kernel, sparse_lu
from engines.reservoir.pvt import PvtTable
from engines.reservoir.simulator import _guided_bounds


def grid_connections(nx, ny, nz=1):
    """Connections (ci < cj) of a Cartesian grid in natural order (x fastest), as the simulator lists them."""
    ci, cj = [], []
    idx = np.arange(nx * ny * nz).reshape(nz, ny, nx)
    for a, b in ((idx[:, :, :-1], idx[:, :, 1:]), (idx[:, :-1, :], idx[:, 1:, :]), (idx[:-1], idx[1:])):
        ci += a.ravel().tolist()
        cj += b.ravel().tolist()
    return nx * ny * nz, np.array(ci, dtype=np.int64), np.array(cj, dtype=np.int64)


def dense_symbolic(n, ci, cj, order):
    """Fill entries and multiply-adds of no-pivoting Gaussian elimination of the pattern in ``order``,
    by eliminating a dense boolean matrix (independent of SymbolicLU's bookkeeping)."""
    pos = np.empty(n, dtype=int)
    pos[order] = np.arange(n)
    a = np.eye(n, dtype=bool)
    a[pos[ci], pos[cj]] = True
    a[pos[cj], pos[ci]] = True
    start = a.sum()
    fma = 0
    for k in range(n):
        rows = np.flatnonzero(a[k + 1:, k]) + k + 1
        cols = np.flatnonzero(a[k, k + 1:]) + k + 1
        fma += rows.size * cols.size
        a[np.ix_(rows, cols)] = True
    return int(a.sum() - start), fma


@pytest.mark.parametrize("shape", [(5, 5), (4, 3, 2), (6, 1), (7, 7)])
def test_elimination_plan_matches_an_independent_symbolic_elimination(shape):
    n, ci, cj = grid_connections(*shape)
    plan = sparse_lu.symbolic_lu(n, ci, cj)
    assert sorted(plan.order.tolist()) == list(range(n))
    assert (plan.n_fill, plan.n_fma) == dense_symbolic(n, ci, cj, plan.order)
    natural = sparse_lu.symbolic_lu(n, ci, cj, order=np.arange(n))
    assert (natural.n_fill, natural.n_fma) == dense_symbolic(n, ci, cj, np.arange(n))
    assert plan.n_fma <= natural.n_fma
    assert plan.jrows == n + 2 * ci.size + plan.n_fill


def test_minimum_degree_on_the_reference_grid():
    n, ci, cj = grid_connections(5, 5)
    plan = sparse_lu.symbolic_lu(n, ci, cj)
    # the corners (degree 2) go first; 273 multiply-adds and 74 fill entries, against 484 and 128 in the
    # natural order (whose band holds n w^2 = 625 multiply-adds)
    assert plan.order[0] == 0
    assert (plan.n_fma, plan.n_fill) == (273, 74)
    natural = sparse_lu.symbolic_lu(n, ci, cj, order=np.arange(n))
    assert (natural.n_fma, natural.n_fill) == (484, 128)
    # a line is eliminated from its ends without fill
    n1, ci1, cj1 = grid_connections(6, 1)
    assert sparse_lu.symbolic_lu(n1, ci1, cj1).n_fill == 0
    with pytest.raises(ValueError, match="permutation"):
        sparse_lu.symbolic_lu(n, ci, cj, order=np.zeros(n, dtype=int))
    with pytest.raises(ValueError, match="duplicate"):
        sparse_lu.symbolic_lu(n, np.r_[ci, 0], np.r_[cj, 1])


def _compile_solver(plan):
    ns = {"njit": njit, "_FM": numba_kernel._FM}
    exec(sparse_lu.generate_source(plan).replace("cache=True, ", ""), ns)
    return ns["_factor_solve"], ns["_lu_apply"]


def _column_dominant_systems(rng, n, ci, cj, lanes):
    """Random Jacobian-like systems per lane: off-diagonals -c (c > 0) on the pattern, diagonal = the
    column sum of the off-diagonal magnitudes plus a positive accumulation term (column dominant)."""
    off = rng.uniform(0.1, 10.0, (2 * ci.size, lanes))
    diag = rng.uniform(0.01, 1.0, (n, lanes))
    dense = np.zeros((lanes, n, n))
    dense[:, ci, cj] = -off[0::2].T
    dense[:, cj, ci] = -off[1::2].T
    dense[:, np.arange(n), np.arange(n)] = diag.T - dense.sum(axis=1)
    rows = np.empty((n + 2 * ci.size, lanes))
    rows[:n] = dense[:, np.arange(n), np.arange(n)].T
    rows[n::2] = dense[:, ci, cj].T
    rows[n + 1::2] = dense[:, cj, ci].T
    return dense, rows


@pytest.mark.parametrize("shape", [(3, 3), (2, 2, 2), (5, 1)])
def test_generated_lu_solves_column_dominant_systems_like_lapack(shape):
    n, ci, cj = grid_connections(*shape)
    rng = np.random.default_rng(sum(shape))
    lanes = 64
    dense, rows = _column_dominant_systems(rng, n, ci, cj, lanes)
    rhs = rng.normal(size=(n, lanes))
    expected = np.linalg.solve(dense, rhs.T[:, :, None])[:, :, 0].T
    for order in (None, np.arange(n)):
        plan = sparse_lu.symbolic_lu(n, ci, cj, order=order)
        factor_solve, lu_apply = _compile_solver(plan)
        J = np.full((plan.jrows + 4 * n, sparse_lu.JSTRIDE), np.nan)   # unused lanes and fill rows: NaN
        J[:n + 2 * ci.size, :lanes] = rows
        r = J[plan.jrows:plan.jrows + n]
        r[:, :lanes] = rhs
        factor_solve(J, r, lanes, np.empty((0, 0, lanes)), np.empty(lanes), np.empty(lanes), ci, cj, 0)
        np.testing.assert_allclose(r[:, :lanes], expected, rtol=1e-11, atol=1e-11 * np.abs(expected).max())
        # the stored factors solve another right-hand side
        rhs2 = rng.normal(size=(n, lanes))
        r[:, :lanes] = rhs2
        lu_apply(J, r, lanes, np.empty((0, 0, lanes)), 0)
        expected2 = np.linalg.solve(dense, rhs2.T[:, :, None])[:, :, 0].T
        np.testing.assert_allclose(r[:, :lanes], expected2, rtol=1e-11, atol=1e-11 * np.abs(expected2).max())


def test_generated_connection_loops_equal_the_generic_loop():
    n, ci, cj = grid_connections(3, 3)
    plan = sparse_lu.symbolic_lu(n, ci, cj)
    ns = {"njit": njit, "_FM": numba_kernel._FM}
    exec(sparse_lu.generate_connections(plan, ci, cj).replace("cache=True, ", ""), ns)
    rng = np.random.default_rng(7)
    lanes = 64
    tc = rng.uniform(1.0, 5.0, ci.size)
    gc = rng.uniform(-3.0, 3.0, ci.size)
    for jac in (True, False):
        out = []
        for fn in (ns["_connections"], numba_kernel._connections):
            J = np.zeros((plan.jrows + 4 * n, sparse_lu.JSTRIDE))
            r, p, lam, dlam = (J[plan.jrows + k * n:plan.jrows + (k + 1) * n] for k in range(4))
            p[:] = rng.uniform(2000.0, 2010.0, p.shape) if not out else out[0][1]
            lam[:] = rng.uniform(1.0, 2.0, p.shape) if not out else out[0][2]
            dlam[:] = rng.normal(size=p.shape) if not out else out[0][3]
            J[:n] = 0.5
            r[:] = 1.0
            fn(p, lam, dlam, r, J, ci, cj, tc, gc, lanes, jac)
            out.append((J.copy(), p.copy(), lam.copy(), dlam.copy()))
        rows = slice(0, n + 2 * ci.size) if jac else slice(plan.jrows, plan.jrows + n)
        np.testing.assert_allclose(out[0][0][rows, :lanes], out[1][0][rows, :lanes], rtol=1e-14, atol=1e-12)
        r_rows = slice(plan.jrows, plan.jrows + n)
        np.testing.assert_allclose(out[0][0][r_rows, :lanes], out[1][0][r_rows, :lanes], rtol=1e-14, atol=1e-12)
    # fluxes conserve: the residual rows' sum is unchanged by the connections
    assert abs(out[0][0][r_rows, :lanes].sum(axis=0) - n).max() < 1e-9


def test_guided_block_ranges_cover_every_block_once_and_end_with_single_blocks():
    for n_blocks, threads in ((1, 2), (7, 2), (1024, 2), (513, 4)):
        b = _guided_bounds(n_blocks, threads)
        assert b[0] == 0 and b[-1] == n_blocks and np.all(np.diff(b) >= 1)
        sizes = np.diff(b)
        assert np.all(np.diff(sizes) <= 0)                   # non-increasing sizes
        assert sizes[-1] == 1
        assert sizes[0] == -(-n_blocks // (4 * threads))


def test_pvt_table_needs_absolute_pressures():
    with pytest.raises(ValueError, match="absolute"):
        PvtTable(np.array([-10.0, 3000.0]), np.array([1.3, 1.2]), np.array([1.0, 1.1]))


def test_generated_newton_update_equals_the_generic_loop():
    n, ci, cj = grid_connections(3, 3)
    plan = sparse_lu.symbolic_lu(n, ci, cj)
    ns = {"njit": njit, "_FM": numba_kernel._FM}
    exec(sparse_lu.generate_update(plan).replace("cache=True, ", ""), ns)
    rng = np.random.default_rng(3)
    lanes = 64
    active = rng.random(lanes) < 0.7
    base = np.zeros((plan.jrows + 4 * n, sparse_lu.JSTRIDE))
    base[plan.jrows:plan.jrows + n] = rng.normal(0.0, 5.0, (n, sparse_lu.JSTRIDE))       # the solved update
    base[plan.jrows + n:plan.jrows + 2 * n] = rng.uniform(1000.0, 5000.0, (n, sparse_lu.JSTRIDE))
    base[plan.jrows + 2, 5] = np.nan                                                      # a breakdown in lane 5
    out = []
    for fn in (ns["_update"], numba_kernel._update):
        J = base.copy()
        r, p = J[plan.jrows:plan.jrows + n], J[plan.jrows + n:plan.jrows + 2 * n]
        big = np.empty(lanes)
        fn(J, p, r, active, big, lanes)
        out.append((p.copy(), big))
    np.testing.assert_array_equal(out[0][0][:, :lanes], out[1][0][:, :lanes])
    ok = np.arange(lanes) != 5
    np.testing.assert_array_equal(out[0][1][ok], out[1][1][ok])
    assert np.isnan(out[0][1][5]) and np.isnan(out[1][1][5])
    # inactive lanes keep their pressure; active ones moved by the update; big = the largest |update|
    p0 = base[plan.jrows + n:plan.jrows + 2 * n, :lanes]
    d = base[plan.jrows:plan.jrows + n, :lanes]
    np.testing.assert_array_equal(out[0][0][:, :lanes][:, ~active], p0[:, ~active])
    np.testing.assert_array_equal(out[0][0][:, :lanes][:, active & ok], (p0 - d)[:, active & ok])
    np.testing.assert_array_equal(out[0][1][ok], np.abs(d).max(axis=0)[ok])
