"""PyTorch backend of the batched simulator: the same physics and Newton iterates as ``BatchSimulator``,
on tensors (float64) on any device (``"cuda"`` when available, else the CPU).

State tensors are laid out (configuration, cell), so every operation runs over the whole batch at once.
The residual and exact Jacobian are those of :mod:`engines.reservoir.simulator` (upstream mobility,
rock law, PVT table, Peaceman/thesis wells floored at zero, BHP and rate control).  The Jacobians of the
batch are assembled directly in band storage (row ``i`` keeps columns ``i - w .. i + w``, ``w`` the
half-bandwidth of the natural ordering) and factored by batched banded Gaussian elimination without
pivoting (the Jacobian is column diagonally dominant; see :mod:`engines.reservoir.numba_kernel`): for each
pivot the ``w x w`` block below it is a strided view of the band, updated for the whole batch with one
tensor operation, so the work per configuration is ``N w^2`` (not the dense ``N^3``) and the Python loop
has ``2 N`` iterations per Newton step whatever the batch size.  Converged configurations are frozen
while the others iterate, exactly as the NumPy path's active set.

Torch is imported lazily: ``engines.reservoir`` never needs it unless ``backend="torch"`` is asked for.
"""
from __future__ import annotations

import numpy as np

from engines.reservoir.reservoir import FT3_PER_BBL
from engines.reservoir.simulator import cell_terms


def _import_torch():
    try:
        import torch
    except ImportError as exc:   # pragma: no cover - torch is installed wherever the tests run
        raise ImportError("backend='torch' needs PyTorch: pip install 'atilax[ml]' (or pip install torch)") from exc
    return torch


class TorchSimulator:
    """Tensor implementation behind ``BatchSimulator(..., backend="torch", device=...)``."""

    def __init__(self, sim, device: str | None = None) -> None:
        torch = _import_torch()
        self.torch = torch
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.device_name = str(self.device)
        self.sim = sim
        res = sim.reservoir
        f64 = dict(dtype=torch.float64, device=self.device)
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a, dtype=float), **f64)  # noqa: E731
        n = res.n_cells
        w = max(sim._bandwidth, 1)
        self.n, self.w = n, w
        pvt = res.pvt
        self.kp, self.kb, self.km = t(pvt.pressure_psi), t(pvt.bo_rb_stb), t(pvt.viscosity_cp)
        self.sb, self.sm, self.inner = t(pvt._b_slope), t(pvt._mu_slope), t(pvt._inner)
        self.p0, self.pv0, self.pvref, self.pwf = t(sim._p0), t(sim._pv0), t(sim._pvref[:, 0]), t(sim.cell_pwf)
        idx = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64), device=self.device)  # noqa: E731
        ci, cj = np.asarray(sim._ci, dtype=np.int64), np.asarray(sim._cj, dtype=np.int64)
        self.ci, self.cj = idx(ci), idx(cj)
        self.tc = t(sim._t[:, 0]) if sim._t.size else t(np.zeros(0))
        self.gc = t(sim._g[:, 0]) if sim._g.size else t(np.zeros(0))
        wd = 2 * w + 1
        self.wd = wd
        self.band_size = (n + w) * wd          # w zero rows of padding below the last cell
        self.f_diag = idx(np.arange(n) * wd + w)
        # scatter targets of the connection terms: J[i,j], J[j,i], and their diagonal counterparts
        self.f_conn = idx(np.concatenate([ci * wd + w + (cj - ci), cj * wd + w + (ci - cj), cj * wd + w, ci * wd + w]))
        self.cr = float(res.rock_compressibility_1_psi)
        self.pref = float(res.reference_pressure_psi)
        self.thesis = res.rock_law == "thesis"

    # ------------------------------------------------------------------------------------------
    def _pvt(self, p):
        torch = self.torch
        k = torch.searchsorted(self.inner, p.contiguous(), right=True)
        d = p - self.kp[k]
        sb, sm = self.sb[k], self.sm[k]
        return self.kb[k] + sb * d, sb, self.km[k] + sm * d, sm

    def _well_rate(self, p, b, mu, wi, tgt):
        q = wi / (mu * b) * (p - self.pwf).clamp_min(0.0)
        if tgt is not None:
            q = self.torch.where(q > tgt, tgt, q)     # NaN target: comparison False (BHP control)
        return q

    def _assemble(self, p, p_old, pv_old, m_old, wi, tgt, dt):
        """Residual (B, N) STB/d and the Jacobians in band storage (B, (N + w) (2w + 1))."""
        torch = self.torch
        b, db, mu, dmu = self._pvt(p)
        lam, dlam, r, diag = cell_terms(p, p_old, pv_old, m_old, b, db, mu, dmu, dt, self.cr, self.thesis,
                                        self.pref, self.pvref)
        dd = p - self.pwf
        wl = wi * lam
        q = wl * dd.clamp_min(0.0)
        dq = torch.where(dd > 0.0, wi * dlam * dd + wl, torch.zeros_like(dd))
        if tgt is not None:
            capped = q > tgt
            q = torch.where(capped, tgt, q)
            dq = torch.where(capped, torch.zeros_like(dq), dq)
        r = r + q
        diag = diag + dq
        band = torch.zeros((p.shape[0], self.band_size), dtype=p.dtype, device=p.device)
        band[:, self.f_diag] = diag
        if self.ci.numel():
            ci, cj, tc = self.ci, self.cj, self.tc
            dphi = p[:, cj] - p[:, ci] - self.gc
            up = dphi > 0.0
            tl = tc * torch.where(up, lam[:, cj], lam[:, ci])
            tdl = tc * dphi * torch.where(up, dlam[:, cj], dlam[:, ci])
            zero = torch.zeros_like(tdl)
            jij = -tl - torch.where(up, tdl, zero)       # dR_i/dp_j
            jji = torch.where(up, zero, tdl) - tl        # dR_j/dp_i
            f = tl * dphi                                # flow from j into i, STB/d
            r = r.index_add(1, ci, -f).index_add(1, cj, f)
            band.index_add_(1, self.f_conn, torch.cat([jij, jji, -jij, -jji], dim=1))
        return r, band

    def _band_solve(self, band, r):
        """Solve every configuration's banded system (band destroyed); returns (B, N)."""
        torch = self.torch
        n, w, wd, size = self.n, self.w, self.wd, self.band_size
        nb = r.shape[0]
        x = torch.zeros((nb, n + w), dtype=r.dtype, device=r.device)
        x[:, :n] = r
        base = band.storage_offset()
        for k in range(n - 1):
            o = k * wd + w
            piv = band[:, o]
            # rows k+1..k+w, columns k..k+w: a strided view of the band (row stride 2w)
            blk = band.as_strided((nb, w, w + 1), (size, 2 * w, 1), base + o + 2 * w)
            lk = blk[:, :, 0] / piv[:, None]
            blk[:, :, 1:] -= lk[:, :, None] * band[:, None, o + 1:o + w + 1]
            x[:, k + 1:k + w + 1] -= lk * x[:, k:k + 1]
        for k in range(n - 1, -1, -1):
            o = k * wd + w
            x[:, k] = (x[:, k] - (band[:, o + 1:o + w + 1] * x[:, k + 1:k + w + 1]).sum(dim=1)) / band[:, o]
        return x[:, :n]

    def _newton(self, p, active, p_old, pv, m, wi, tgt, dt, tol, iters, step):
        torch = self.torch
        for _ in range(self.sim.max_newton):
            r, band = self._assemble(p, p_old, pv, m, wi, tgt, dt)
            dp = self._band_solve(band, r)
            p = torch.where(active[:, None], p - dp, p)
            big = dp.abs().amax(dim=1)
            big = torch.where(torch.isnan(big), torch.full_like(big, float("inf")), big)
            iters += active.long()
            active = active & ~(big < tol)
            if not bool(active.any()):
                return p
        raise RuntimeError(f"Newton did not converge in {self.sim.max_newton} iterations at step {step + 1}")

    def _balance(self, p, p_old, pv, m, wi, tgt, dt):
        if self.thesis:
            pv_new = pv * (1.0 + self.cr * (p - p_old))
        else:
            x = self.cr * (p - self.pref)
            pv_new = self.pvref * (1.0 + x + 0.5 * x * x)
        b, _, mu, _ = self._pvt(p)
        m_new = pv_new / (b * FT3_PER_BBL)
        q = self._well_rate(p, b, mu, wi, tgt)
        qsum = q.sum(dim=1)
        dm = m_new - m
        scale = (dt * qsum).maximum(dm.abs().sum(dim=1)).maximum(1e-9 * m.sum(dim=1))
        return pv_new, m_new, q, qsum, (dm.sum(dim=1) + dt * qsum).abs() / scale

    def run(self, wi_np, targets_np, store_well_rates: bool, store_pressure: bool):
        """``wi_np`` (N, B) well index per cell and configuration; ``targets_np`` (N, B) or None."""
        from engines.reservoir.simulator import SimulationResult

        torch = self.torch
        sim = self.sim
        res = sim.reservoir
        f64 = dict(dtype=torch.float64, device=self.device)
        nb = wi_np.shape[1]
        nt = sim.dt_days.size
        wi = torch.as_tensor(np.ascontiguousarray(wi_np.T), **f64)
        tgt = None if targets_np is None else torch.as_tensor(np.ascontiguousarray(targets_np.T), **f64)
        p = self.p0.expand(nb, -1).clone()
        pv = self.pv0.expand(nb, -1).clone()
        m = pv / (self._pvt(p)[0] * FT3_PER_BBL)
        floor = 0.5 * self.pwf
        p_prev = p
        rates, pavgs, errs, qs, ps = [], [], [], [], []
        iters = torch.zeros(nb, dtype=torch.int64, device=self.device)
        iters_step = []
        for step, dt in enumerate(sim.dt_days):
            dt = float(dt)
            p_old = p.clone()
            if step > 0:  # linear extrapolation of the previous change as the Newton initial guess
                p = torch.maximum(p_old + (p_old - p_prev) * (dt / float(sim.dt_days[step - 1])), floor)
            p_prev = p_old
            iters.zero_()
            active = torch.ones(nb, dtype=torch.bool, device=self.device)
            p = self._newton(p, active, p_old, pv, m, wi, tgt, dt, sim.newton_tol_psi, iters, step)
            pv_new, m_new, q, qsum, err = self._balance(p, p_old, pv, m, wi, tgt, dt)
            bad = err > sim.mb_tol
            if bool(bad.any()):
                p = self._newton(p, bad, p_old, pv, m, wi, tgt, dt, 1e-9, iters, step)
                pv_new, m_new, q, qsum, err = self._balance(p, p_old, pv, m, wi, tgt, dt)
            pv, m = pv_new, m_new
            rates.append(qsum)
            pavgs.append((pv * p).sum(dim=1) / pv.sum(dim=1))
            errs.append(err)
            iters_step.append(int(iters.max()) if nb else 0)
            if store_well_rates:
                qs.append(q)
            if store_pressure:
                ps.append(p)
        npy = lambda lst: torch.stack(lst, dim=1).cpu().numpy()  # noqa: E731
        rate = npy(rates)
        wells = None
        if store_well_rates:
            wells = npy(qs).reshape(nb, nt, res.nz, res.n_columns).sum(axis=2)
        return SimulationResult(
            time_days=np.cumsum(sim.dt_days), oil_rate_stb_d=rate,
            cumulative_oil_stb=np.cumsum(rate * sim.dt_days, axis=1), average_pressure_psi=npy(pavgs),
            material_balance_error=npy(errs), newton_iterations=np.asarray(iters_step, dtype=int),
            final_pressure_psi=p.cpu().numpy(), well_rates_stb_d=wells,
            pressure_psi=npy(ps) if store_pressure else None)
