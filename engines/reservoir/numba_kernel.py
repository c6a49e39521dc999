"""Compiled batched kernel of the single-phase simulator (Numba), same physics as ``BatchSimulator``.

The residual, Jacobian, convergence tests, material-balance polish and outputs are those of
:mod:`engines.reservoir.simulator` (Aziz & Settari 1979, ch. 5; González Nieves 2018,
eq. 3.11-3.37): upstream mobility ``1/(mu Bo)`` with its exact derivative, the thesis or Eclipse rock
law, the piecewise-linear PVT table extrapolated beyond its ends, Peaceman/thesis well indices, well
rates floored at zero, BHP control and (optionally) rate targets capped by the BHP limit.

Layout: configurations are processed in blocks of ``lanes`` (8 to 128; 64 for the 5x5 case) and every
array of a block is stored (cell, ..., lane), so the innermost loops of the assembly and of the banded LU
run along the configurations of the block (contiguous; branches written as selects).  The functions are
compiled with ``error_model="numpy"``: with Python's error model every float division carries a
zero-divisor check and exception branch, which kept LLVM from vectorizing the loops that divide (AVX2:
4 lanes per instruction; this alone cut the 5x5 brute force's CPU time per plan by ~25 %).  The PVT
hinge sum of each cell visits only the table knots inside that cell's pressure range over the block
(``_knot_range``), which is the same function up to round-off.  The kernel releases the GIL and the
caller spreads the blocks over plain threads, in ranges of blocks taken by whichever thread is free (no
Numba threading layer: one serial compilation, safe to call from several threads and after a fork).
Each configuration keeps its own Newton convergence test (a converged lane is frozen while the others
iterate, as in the NumPy path's active set).  Two changes of the iteration, not of the
equations, save work: the initial guess extrapolates each cell's last pressure change geometrically
(ratio to the change before, clipped to [0, 1]; pressures decline roughly exponentially) instead of
linearly, and once every lane's update is below ``CHORD_PSI`` the factored Jacobian is reused (chord
steps).  Converged results agree with the NumPy path to ~1e-11 relative (tests: <= 1e-9).  A block's
lanes share the knots visited and the chord decision, so a plan's results depend on the other plans of
its block in the last bits only (<= 1e-12 of its peak rate; the same batch gives identical results).

Linear solver: banded LU without pivoting on the half-bandwidth ``w`` of the natural ordering (nx in
2D, nx*ny in 3D), which produces no fill outside the band.  No pivoting is safe because the Jacobian
is column diagonally dominant: every connection adds ``+c`` to the diagonal and ``-c`` off it in the
same column (``c = T lambda_up + T dphi dlambda_up/dp`` in the upstream cell's column, ``c = T
lambda_up`` in the other), so the flux part has zero column sums, and ``c > 0`` while ``|dphi|
|dlambda/dp| < lambda`` (for the shipped cases' fluid the relative slope of ``1/(mu Bo)`` is at most
8.1e-5/psi: any neighbour pressure difference below ~12,000 psi); the accumulation term
``(dPV/dp - m dBo/dp 5.6146)/(5.6146 Bo dt)`` and the well term ``WI (lambda + dlambda/dp (p - p_wf))`` add positive amounts to the diagonal only
(Bo decreasing in p, the same slope condition).  Gaussian elimination on a column diagonally dominant
matrix needs no pivoting (Golub & Van Loan 2013, Theorem 3.4.3).  A breakdown shows up as a
non-finite update, which the caller reports as a Newton failure.  The generated kernels of
:mod:`engines.reservoir.sparse_lu` replace the banded LU (``_factor_solve``, ``_lu_apply``) and the
connection loop (``_connections``) by straight-line code for one grid's pattern; the Newton and block
loops below are compiled again in each generated module (their source is copied there).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from engines import numba_cache
from engines.reservoir.reservoir import FT3_PER_BBL

numba_cache.configure()  # Numba's disk cache in the user cache directory, before the cache=True kernels

#: flags for LLVM: fused multiply-add and reciprocal multiplication (no NaN/Inf assumptions, so the
#: Newton failure test still sees non-finite updates).
_FM = {"contract", "arcp", "nsz"}
#: updates (psi) below which Newton reuses the factored Jacobian (chord steps), see ``_newton``.
CHORD_PSI = 5.0
_INV_FT3 = 1.0 / FT3_PER_BBL


@njit(cache=True, error_model="numpy", fastmath=_FM, inline="always")
def _pvt(p, kp, kb, km, sb, sm):
    """Piecewise-linear Bo and mu, extrapolated beyond the end knots: returns b, db/dp, mu, dmu/dp.

    Written as a sum of hinges, ``b = kb0 + sb0 (p - kp0) + sum_q (sb_q - sb_(q-1)) max(p - kp_q, 0)``
    over the inner knots (the same function as the table lookup, branch-free so it vectorizes)."""
    d0 = p - kp[0]
    b = kb[0] + sb[0] * d0
    mu = km[0] + sm[0] * d0
    db = sb[0]
    dmu = sm[0]
    for q in range(1, kp.size - 1):
        h = p - kp[q]
        on = h >= 0.0
        hb = sb[q] - sb[q - 1]
        hm = sm[q] - sm[q - 1]
        b += hb * max(h, 0.0)
        mu += hm * max(h, 0.0)
        db += hb if on else 0.0
        dmu += hm if on else 0.0
    return b, db, mu, dmu


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _knot_range(p, i, kp, nl):
    """PVT knots that matter for cell ``i`` of a block: ``(q0, q1)`` such that, for every lane, the
    table equals the line of segment ``q0`` plus the hinges of the inner knots ``q0 + 1 .. q1 - 1``.

    ``q0`` is the last inner knot at or below the block's lowest pressure in the cell (0 if none): every
    hinge up to it is active in all lanes, and the sum of a segment's line and the active hinges
    before it is that segment's line (the table is continuous); ``q1 - 1`` is the last inner knot at or
    below the highest pressure: the hinges beyond it are zero in every lane (value and slope).  The
    result equals the full hinge sum up to round-off (~1e-16 relative); for the 5x5 case at most 4 of
    the 8 inner knots are visited.

    The lowest and highest pressure are taken on the IEEE-754 bit patterns as int64, which order like
    the values for non-negative doubles (the knots are, ``PvtTable`` requires it): LLVM vectorizes
    integer min/max reductions but not floating-point ones written in Numba (the scalar loop cost ~25 ns
    per lane and call).  A negative or NaN pressure only widens the range (to knot 0 or to the last
    knot), so the other lanes stay exact."""
    row = p[i].view(np.int64)
    kbits = kp.view(np.int64)
    lo = row[0]
    hi = row[0]
    for l in range(1, nl):
        v = row[l]
        lo = min(lo, v)
        hi = max(hi, v)
    nk = kp.size
    q0 = 0
    q1 = 1
    for q in range(1, nk - 1):
        if kbits[q] <= lo:
            q0 = q
        if kbits[q] <= hi:
            q1 = q + 1
    return q0, max(q1, q0 + 1)


@njit(cache=True, error_model="numpy", fastmath=_FM, inline="always")
def _cell_lane(pp, b, db, mu, dmu, p_old, pv_old, m_old, wi, tg, pwf_i, pvref_i, inv_dt, cr, pref, thesis, has_tgt):
    """One cell of one lane: mobility ``1/(mu Bo)`` and its derivative, the residual's accumulation and
    well terms (STB/d) and their derivative (the Jacobian's diagonal before the fluxes)."""
    lm = 1.0 / (mu * b)
    dlm = -(dmu * b + mu * db) * lm * lm
    if thesis:
        pv = pv_old * (1.0 + cr * (pp - p_old))
        dpv = pv_old * cr
    else:
        x = cr * (pp - pref)
        pv = pvref_i * (1.0 + x + 0.5 * x * x)
        dpv = pvref_i * (cr * (1.0 + x))
    inv = lm * mu * _INV_FT3      # 1/(5.6146 Bo) from the one division above (divisions are slow)
    m = pv * inv
    # producer: q = WI lambda max(p - pwf, 0), never injecting
    dd = pp - pwf_i
    wl = wi * lm
    q = wl * max(dd, 0.0)
    dq = wi * dlm * dd + wl if dd > 0.0 else 0.0
    if has_tgt:
        capped = q > tg           # False for NaN (BHP control)
        q = tg if capped else q
        dq = 0.0 if capped else dq
    return lm, dlm, (m - m_old) * inv_dt + q, (dpv - m * FT3_PER_BBL * db) * inv * inv_dt + dq


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _assemble(p, p_old, pv_old, m_old, wi, tgt, has_tgt, pwf, pvref, kp, kb, km, sb, sm,
              dt, cr, pref, thesis, r, J, lam, dlam, buf, nl, jac):
    """Cell terms of the residual r[N, :nl] (STB/d: accumulation and wells), the mobility ``lam`` and
    its derivative ``dlam`` and, when ``jac``, the diagonal of the Jacobian ``J[i] = dR_i/dp_i`` (assigned,
    no zeroing); ``_connections`` adds the fluxes.  Branches are written as selects so the loops along
    the lanes vectorize.  PVT as a sum of hinges (see _pvt), visiting only the knots inside the cell's
    pressure range over the block (see _knot_range); when that range lies on one segment of the table
    (the usual case) the line is evaluated inside the lane loop (one loop per cell, no work rows)."""
    n = p.shape[0]
    inv_dt = 1.0 / dt
    bb = buf[0]
    dbb = buf[1]
    mm = buf[2]
    dmm = buf[3]
    for i in range(n):
        pwf_i = pwf[i]
        pvref_i = pvref[i]
        q0, q1 = _knot_range(p, i, kp, nl)
        k0 = kp[q0]
        b0 = kb[q0]
        sb0 = sb[q0]
        m0 = km[q0]
        sm0 = sm[q0]
        if q1 == q0 + 1:
            for l1 in range(nl):     # names used in no other loop (see the note in _assemble)
                p1 = p[i, l1]
                e1 = p1 - k0
                lm1, dlm1, res1, dg1 = _cell_lane(p1, b0 + sb0 * e1, sb0, m0 + sm0 * e1, sm0, p_old[i, l1],
                                                  pv_old[i, l1], m_old[i, l1], wi[i, l1], tgt[i, l1], pwf_i, pvref_i,
                                                  inv_dt, cr, pref, thesis, has_tgt)
                lam[i, l1] = lm1
                dlam[i, l1] = dlm1
                r[i, l1] = res1
                if jac:
                    J[i, l1] = dg1
            continue
        for l in range(nl):
            d0 = p[i, l] - k0
            bb[l] = b0 + sb0 * d0
            mm[l] = m0 + sm0 * d0
            dbb[l] = sb0
            dmm[l] = sm0
        for q in range(q0 + 1, q1):
            kq = kp[q]
            hb = sb[q] - sb[q - 1]
            hm = sm[q] - sm[q - 1]
            for l in range(nl):
                h = p[i, l] - kq
                hp = max(h, 0.0)
                bb[l] += hb * hp
                mm[l] += hm * hp
                dbb[l] += hb if h >= 0.0 else 0.0
                dmm[l] += hm if h >= 0.0 else 0.0
        for l in range(nl):
            pp = p[i, l]
            lm, dlm, res, dg = _cell_lane(pp, bb[l], dbb[l], mm[l], dmm[l], p_old[i, l], pv_old[i, l], m_old[i, l],
                                          wi[i, l], tgt[i, l], pwf_i, pvref_i, inv_dt, cr, pref, thesis, has_tgt)
            lam[i, l] = lm
            dlam[i, l] = dlm
            r[i, l] = res
            if jac:
                J[i, l] = dg


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _connections(p, lam, dlam, r, J, ci, cj, tc, gc, nl, jac):
    """Fluxes ``T lambda_up (p_j - p_i - g)`` of every connection into r and, when ``jac``, the
    off-diagonal Jacobian rows ``J[N + 2c] = dR_ci/dp_cj``, ``J[N + 2c + 1] = dR_cj/dp_ci`` (assigned) and
    their share of the diagonal.  The generated kernels (:mod:`engines.reservoir.sparse_lu`) replace this
    loop by one loop per connection with constant row offsets (vectorized without aliasing checks)."""
    n = p.shape[0]
    for c in range(ci.size):
        i = ci[c]
        j = cj[c]
        t = tc[c]
        g = gc[c]
        eij = n + 2 * c
        for l in range(nl):
            dphi = p[j, l] - p[i, l] - g
            up = dphi > 0.0                              # j upstream
            tl = t * (lam[j, l] if up else lam[i, l])
            tdl = t * dphi * (dlam[j, l] if up else dlam[i, l])
            jij = -tl - (tdl if up else 0.0)             # dR_i/dp_j
            jji = (0.0 if up else tdl) - tl              # dR_j/dp_i
            f = tl * dphi                                # flow from j into i, STB/d
            r[i, l] -= f
            r[j, l] += f
            if jac:
                J[eij, l] = jij
                J[eij + 1, l] = jji
                J[j, l] -= jij
                J[i, l] -= jji


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _band_solve(a, r, w, piv, fb):
    """Solve a x = r in place (r becomes x) for every lane; banded LU without pivoting (``piv``, ``fb``:
    work rows of length L)."""
    n, _, nl = a.shape
    for k in range(n - 1):
        e = min(w, n - 1 - k)
        for l in range(nl):
            piv[l] = 1.0 / a[k, w, l]
        for d in range(1, e + 1):
            i = k + d
            o = w - d
            for l in range(nl):
                f = a[i, o, l] * piv[l]
                a[i, o, l] = f
                fb[l] = f
                r[i, l] -= f * r[k, l]
            # row i -= f row k over the band, two columns per pass (half the loop set-ups)
            c = 1
            while c < e:
                for l in range(nl):
                    f = fb[l]
                    a[i, o + c, l] -= f * a[k, w + c, l]
                    a[i, o + c + 1, l] -= f * a[k, w + c + 1, l]
                c += 2
            if c == e:
                for l in range(nl):
                    a[i, o + c, l] -= fb[l] * a[k, w + c, l]
    for k in range(n - 1, -1, -1):
        e = min(w, n - 1 - k)
        for c in range(1, e + 1):
            for l in range(nl):
                r[k, l] -= a[k, w + c, l] * r[k + c, l]
        for l in range(nl):
            r[k, l] /= a[k, w, l]


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _lu_solve(a, r, w):
    """Solve with the factors ``_band_solve`` left in ``a`` (unit lower multipliers below the diagonal,
    U on and above it); r becomes x."""
    n, _, nl = a.shape
    for k in range(n - 1):
        e = min(w, n - 1 - k)
        for d in range(1, e + 1):
            i = k + d
            for l in range(nl):
                r[i, l] -= a[i, w - d, l] * r[k, l]
    for k in range(n - 1, -1, -1):
        e = min(w, n - 1 - k)
        for c in range(1, e + 1):
            for l in range(nl):
                r[k, l] -= a[k, w + c, l] * r[k + c, l]
        for l in range(nl):
            r[k, l] /= a[k, w, l]


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _factor_solve(J, r, nl, a, piv, fb, ci, cj, w):
    """Banded path: scatter the nonzeros of J (see ``_assemble``) into the band a[N, 2w+1, L]
    (a[i, w + j - i] = dR_i/dp_j), factor it and solve for the residual r (in place).  The generated
    sparse kernels (:mod:`engines.reservoir.sparse_lu`) replace this function and ``_lu_apply``."""
    n = r.shape[0]
    a[:] = 0.0
    for i in range(n):
        for l in range(nl):
            a[i, w, l] = J[i, l]
    for c in range(ci.size):
        i = ci[c]
        j = cj[c]
        e = n + 2 * c
        for l in range(nl):
            a[i, w + j - i, l] += J[e, l]
            a[j, w + i - j, l] += J[e + 1, l]
    _band_solve(a, r, w, piv, fb)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _lu_apply(J, r, nl, a, w):
    """Banded path: solve for r with the factors ``_factor_solve`` left in a."""
    _lu_solve(a, r, w)


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _update(J, p, r, active, big, nl):
    """Newton update ``p -= r`` (r holds the solved update) on the active lanes, and ``big[l]``, the
    largest ``|r|`` of lane l over the cells (NaN when any is NaN).  The generated kernels
    (:mod:`engines.reservoir.sparse_lu`) replace this loop nest by one straight-line loop over the lanes
    (the rows at constant offsets of J)."""
    n = p.shape[0]
    for l in range(nl):
        big[l] = 0.0
    for i in range(n):
        for l in range(nl):
            act = active[l]
            d = r[i, l]
            p[i, l] = p[i, l] - d if act else p[i, l]
            v = abs(d)
            big[l] = v if (v > big[l] or v != v) else big[l]


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _newton(p, active, p_old, pv_old, m_old, wi, tgt, has_tgt, pwf, pvref, ci, cj, tc, gc, kp, kb, km, sb, sm,
            dt, cr, pref, thesis, w, tol, max_newton, r, J, a, lam, dlam, piv, buf, iters, nl, factored):
    """Newton iterations on the active lanes until each one's largest update is below ``tol`` psi;
    ``iters[l]`` += iterations of lane l.  Returns False when some lane needs more than ``max_newton``.

    Once every active lane's last update is below ``CHORD_PSI``, the next iterations reuse the factored
    Jacobian (chord steps: a residual and two triangular solves).  The Jacobian then differs from the
    current one by ``|dJ/J| <~ CHORD_PSI |dlambda/dp| / lambda`` (~4e-4 here), so a chord step's error is
    that fraction of an update already below ``tol``: converged plans agree with full Newton (the
    NumPy path) to < 1e-9 relative, at about a third less work per time step.  Two safeguards keep chord
    steps where that estimate holds: none while a well cell is within twice the last update of its
    bottom-hole pressure (the kink of its rate, see ``_far_from_kinks``), and a chord step that does not halve some
    lane's update is followed by a full Newton step.  ``factored``: J already
    holds the factors of this step's Jacobian (the material-balance polish right after convergence), so
    the iterations start as chord steps."""
    n = p.shape[0]
    big = buf[4]
    prev = buf[9]
    for l in range(nl):
        prev[l] = np.inf
    chord = factored
    for it in range(max_newton):
        if chord:   # every active lane moved less than CHORD_PSI: reuse the factored Jacobian
            _assemble(p, p_old, pv_old, m_old, wi, tgt, has_tgt, pwf, pvref, kp, kb, km, sb, sm,
                      dt, cr, pref, thesis, r, J, lam, dlam, buf, nl, False)
            _connections(p, lam, dlam, r, J, ci, cj, tc, gc, nl, False)
            _lu_apply(J, r, nl, a, w)
        else:
            _assemble(p, p_old, pv_old, m_old, wi, tgt, has_tgt, pwf, pvref, kp, kb, km, sb, sm,
                      dt, cr, pref, thesis, r, J, lam, dlam, buf, nl, True)
            _connections(p, lam, dlam, r, J, ci, cj, tc, gc, nl, True)
            _factor_solve(J, r, nl, a, piv, buf[8], ci, cj, w)
        _update(J, p, r, active, big, nl)
        left = 0
        was_chord = chord
        chord = True
        for l in range(nl):
            if active[l]:
                iters[l] += 1
                if big[l] < tol:          # False for NaN: a breakdown fails the step
                    active[l] = False
                else:
                    left += 1
                    # a chord step must at least halve the update, else the next step refactors
                    chord = chord and big[l] < CHORD_PSI and (not was_chord or big[l] < 0.5 * prev[l])
                prev[l] = big[l]
        if left == 0:
            return True
        if chord:
            chord = _far_from_kinks(p, wi, pwf, active, big, nl)
    return False


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _far_from_kinks(p, wi, pwf, active, big, nl):
    """Whether every well cell of every active lane is farther from its bottom-hole pressure than twice
    the lane's last update ``big`` (psi), i.e. out of reach of the next steps.  At ``p = p_wf`` a
    producer's rate ``WI lambda max(p - p_wf, 0)`` has a kink (its derivative jumps from ``WI lambda`` to
    0); an iterate that may cross it must refactor, because chord steps against the other side's
    Jacobian can land where Newton cycles across the kink (seen in a 3D case with a well cell converging
    to 0.002 psi above p_wf)."""
    n = p.shape[0]
    for i in range(n):
        w = pwf[i]
        for l in range(nl):
            if active[l] and wi[i, l] > 0.0 and abs(p[i, l] - w) <= 2.0 * big[l]:
                return False
    return True


@njit(cache=True, error_model="numpy", fastmath=_FM, inline="always")
def _balance_lane(pp, b, mu, p_old, pv, wi, tg, pwf_i, pvref_i, cr, pref, thesis, has_tgt):
    """One cell of one lane at the converged pressure: new pore volume, oil in place and well rate."""
    if thesis:
        pvn = pv * (1.0 + cr * (pp - p_old))
    else:
        x = cr * (pp - pref)
        pvn = pvref_i * (1.0 + x + 0.5 * x * x)
    lm = 1.0 / (mu * b)        # one division per cell and lane (they dominate the loop)
    qq = wi * lm * max(pp - pwf_i, 0.0)
    if has_tgt:
        qq = tg if qq > tg else qq        # NaN target: BHP control
    return pvn, pvn * (lm * mu * _INV_FT3), qq


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _balance(p, p_old, pv, m, wi, tgt, has_tgt, pwf, pvref, kp, kb, km, sb, sm, dt, cr, pref, thesis,
             pv_new, m_new, q, qsum, err, buf, nl):
    """New pore volume, oil in place and well rates, field rate and relative material-balance error
    (the same definition as ``BatchSimulator._step_balance``); lanes innermost, PVT as in _assemble."""
    n = p.shape[0]
    bb = buf[0]
    mm = buf[2]
    dms = buf[5]
    adm = buf[6]
    ms = buf[7]
    for l in range(nl):
        qsum[l] = 0.0
        dms[l] = 0.0
        adm[l] = 0.0
        ms[l] = 0.0
    for i in range(n):
        pwf_i = pwf[i]
        pvref_i = pvref[i]
        q0, q1 = _knot_range(p, i, kp, nl)
        k0 = kp[q0]
        b0 = kb[q0]
        sb0 = sb[q0]
        m0 = km[q0]
        sm0 = sm[q0]
        one_segment = q1 == q0 + 1
        if not one_segment:
            for l in range(nl):
                d0 = p[i, l] - k0
                bb[l] = b0 + sb0 * d0
                mm[l] = m0 + sm0 * d0
            for k in range(q0 + 1, q1):
                kq = kp[k]
                hb = sb[k] - sb[k - 1]
                hm = sm[k] - sm[k - 1]
                for l in range(nl):
                    hp = max(p[i, l] - kq, 0.0)
                    bb[l] += hb * hp
                    mm[l] += hm * hp
        for l in range(nl):
            pp = p[i, l]
            d0 = pp - k0
            b = b0 + sb0 * d0 if one_segment else bb[l]
            mu = m0 + sm0 * d0 if one_segment else mm[l]
            pvn, mn, qq = _balance_lane(pp, b, mu, p_old[i, l], pv[i, l], wi[i, l], tgt[i, l], pwf_i, pvref_i, cr,
                                        pref, thesis, has_tgt)
            pv_new[i, l] = pvn
            m_new[i, l] = mn
            q[i, l] = qq
            qsum[l] += qq
            dm = mn - m[i, l]
            dms[l] += dm
            adm[l] += abs(dm)
            ms[l] += m[i, l]
    for l in range(nl):
        scale = max(max(dt * qsum[l], adm[l]), 1e-9 * ms[l])
        err[l] = abs(dms[l] + dt * qsum[l]) / scale


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _predict(J, p, p_old, p_prev, dprev, floor, started, geometric, ratio, nl):
    """Start of a time step: ``p_old = p`` and the Newton initial guess in ``p``: the last change
    extrapolated geometrically (its ratio to the change before, clipped to [0, 1]: exponential decline)
    for equal steps (``geometric``), linearly (``ratio`` of the step lengths) otherwise, floored at
    ``floor``; the first step starts from the initial state."""
    n = p.shape[0]
    for i in range(n):
        for l in range(nl):
            p_old[i, l] = p[i, l]
    for i in range(n):
        for l in range(nl):
            d1 = p_old[i, l] - p_prev[i, l]
            if geometric:
                d0 = dprev[i, l]
                g = d1 / d0 if d0 != 0.0 else 1.0
                g = min(max(g, 0.0), 1.0)
            else:
                g = ratio
            p[i, l] = max(p_old[i, l] + d1 * g, floor[i]) if started else p[i, l]
            dprev[i, l] = d1
            p_prev[i, l] = p_old[i, l]


@njit(cache=True, error_model="numpy", fastmath=_FM)
def _run_block(b0, nb, nl, wi_all, tgt_all, has_tgt, p0, pv0, pvref, pwf, ci, cj, tc, gc, kp, kb, km, sb, sm,
               dt_days, cr, pref, thesis, w, banded, jrows, jstride, tol, polish_tol, mb_tol, max_newton,
               rate, pavg, mberr, iters_out, pfinal, pstore, qstore, store_p, store_q):
    """Simulate configurations b0 .. b0 + nb - 1 (nb <= nl lanes) over all steps.  Returns the 1-based
    step at which Newton failed, 0 on success."""
    n = p0.size
    wi = np.zeros((n, nl))
    tgt = np.full((n, nl), np.nan)
    for l in range(nb):
        for i in range(n):
            wi[i, l] = wi_all[b0 + l, i]
            if has_tgt:
                tgt[i, l] = tgt_all[b0 + l, i]
    # one array per block, rows of jstride >= nl lanes: the Jacobian's nonzeros (diagonal, connections, the
    # fill of generated kernels), then the residual, pressure, mobility and its derivative (see
    # engines.reservoir.sparse_lu: generated code addresses them at constant offsets)
    J = np.empty((jrows + 7 * n, jstride))
    r = J[jrows:jrows + n]
    p = J[jrows + n:jrows + 2 * n]
    lam = J[jrows + 2 * n:jrows + 3 * n]
    dlam = J[jrows + 3 * n:jrows + 4 * n]
    p_old = J[jrows + 4 * n:jrows + 5 * n]
    p_prev = J[jrows + 5 * n:jrows + 6 * n]
    dprev = J[jrows + 6 * n:jrows + 7 * n]
    a = np.empty((n, 2 * w + 1, nl)) if banded else np.empty((0, 0, nl))
    pv = np.empty((n, nl))
    m = np.empty((n, nl))
    for i in range(n):
        b, _, _, _ = _pvt(p0[i], kp, kb, km, sb, sm)
        for l in range(nl):
            p[i, l] = p0[i]
            pv[i, l] = pv0[i]
            m[i, l] = pv0[i] / (b * FT3_PER_BBL)
    for i in range(n):
        for l in range(nl):
            p_prev[i, l] = p[i, l]
            dprev[i, l] = 0.0
    floor = 0.5 * pwf
    pv_new = np.empty((n, nl))
    m_new = np.empty((n, nl))
    q = np.empty((n, nl))
    qsum = np.empty(nl)
    err = np.empty(nl)
    piv = np.empty(nl)
    buf = np.empty((10, nl))
    active = np.empty(nl, dtype=np.bool_)
    its = np.zeros(nl, dtype=np.int64)
    spv = np.empty(nl)
    sv = np.empty(nl)
    for step in range(dt_days.size):
        dt = dt_days[step]
        geometric = step > 1 and dt == dt_days[step - 1] and dt == dt_days[step - 2]
        ratio = dt / dt_days[step - 1] if step > 0 else 0.0
        _predict(J, p, p_old, p_prev, dprev, floor, step > 0, geometric, ratio, nl)
        for l in range(nl):
            active[l] = l < nb
            its[l] = 0
        if not _newton(p, active, p_old, pv, m, wi, tgt, has_tgt, pwf, pvref, ci, cj, tc, gc, kp, kb, km, sb, sm,
                       dt, cr, pref, thesis, w, tol, max_newton, r, J, a, lam, dlam, piv, buf, its, nl, False):
            return step + 1
        _balance(p, p_old, pv, m, wi, tgt, has_tgt, pwf, pvref, kp, kb, km, sb, sm, dt, cr, pref, thesis,
                 pv_new, m_new, q, qsum, err, buf, nl)
        polish = False
        for l in range(nb):
            active[l] = err[l] > mb_tol
            polish = polish or active[l]
        if polish:
            if not _newton(p, active, p_old, pv, m, wi, tgt, has_tgt, pwf, pvref, ci, cj, tc, gc, kp, kb, km, sb,
                           sm, dt, cr, pref, thesis, w, polish_tol, max_newton, r, J, a, lam, dlam, piv, buf, its, nl,
                           True):
                return step + 1
            _balance(p, p_old, pv, m, wi, tgt, has_tgt, pwf, pvref, kp, kb, km, sb, sm, dt, cr, pref, thesis,
                     pv_new, m_new, q, qsum, err, buf, nl)
        pv, pv_new = pv_new, pv         # the new state becomes the old one (swap, no copy)
        m, m_new = m_new, m
        for l in range(nl):
            spv[l] = 0.0
            sv[l] = 0.0
        for i in range(n):              # pore-volume weighted pressure, lanes innermost
            for l in range(nl):
                spv[l] += pv[i, l] * p[i, l]
                sv[l] += pv[i, l]
        for l in range(nb):
            b = b0 + l
            rate[b, step] = qsum[l]
            pavg[b, step] = spv[l] / sv[l]
            mberr[b, step] = err[l]
            iters_out[b, step] = its[l]
            if store_p:
                for i in range(n):
                    pstore[b, step, i] = p[i, l]
            if store_q:
                for i in range(n):
                    qstore[b, step, i] = q[i, l]
    for l in range(nb):
        for i in range(n):
            pfinal[b0 + l, i] = p[i, l]
    return 0


@njit(cache=True, error_model="numpy", fastmath=_FM, nogil=True)
def simulate_blocks(blk_lo, blk_hi, lanes, wi_all, tgt_all, has_tgt, p0, pv0, pvref, pwf, ci, cj, tc, gc, kp, kb, km,
                    sb, sm, dt_days, cr, pref, thesis, w, banded, jrows, jstride, tol, polish_tol, mb_tol, max_newton,
                    rate, pavg, mberr, iters_out, pfinal, pstore, qstore, store_p, store_q):
    """Simulate the configurations of blocks ``blk_lo .. blk_hi - 1`` (``lanes`` configurations each).

    ``wi_all`` (B, N): well index of every completed cell of each configuration (0 = no well);
    ``tgt_all`` (B, N): oil-rate target per cell (NaN = BHP control; read only when ``has_tgt``).
    Outputs (preallocated, each call writes only its blocks' rows): ``rate``, ``pavg``, ``mberr``,
    ``iters_out`` (B, T); ``pfinal`` (B, N); ``pstore``/``qstore`` (B, T, N) when ``store_p``/``store_q``.
    Returns the 1-based step where some configuration's Newton exceeded ``max_newton`` iterations, 0
    when all converged.  Releases the GIL: callers run disjoint block ranges in parallel threads."""
    nbat = wi_all.shape[0]
    for k in range(blk_lo, blk_hi):
        b0 = k * lanes
        nb = min(lanes, nbat - b0)
        st = _run_block(b0, nb, lanes, wi_all, tgt_all, has_tgt, p0, pv0, pvref, pwf, ci, cj, tc, gc, kp, kb, km,
                        sb, sm, dt_days, cr, pref, thesis, w, banded, jrows, jstride, tol, polish_tol, mb_tol,
                        max_newton, rate, pavg, mberr, iters_out, pfinal, pstore, qstore, store_p, store_q)
        if st:
            return st
    return 0
