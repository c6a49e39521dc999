"""GPU benchmark of the reservoir simulator: the one-thread-per-plan CUDA kernel (engines.reservoir.gpu_kernel)
and the Torch backend on CUDA, on the 5x5 reference case (and the 20x20 case for Torch).

Run: python bench/bench_reservoir_gpu.py [--full] [--target cuda|cpu] [--slice-size N]

Checks first, then times: (1) the kernel against the NumPy backend on random plans (rates, average
pressure, material balance), (2) the NPV from the kernel's discounted volumes against the economics of the
full rate profile, then (3) the throughput on the fixed slice of consecutive codes 21 << 20 .. 22 << 20
(the slice ``bench_reservoir_bruteforce.py --slice 22020096`` times on the CPU), with the kernel variants
(chord steps on/off, threads per block), (4) Torch on CUDA (5x5, 20x20) and (5) with ``--full`` the brute
force over all 2^25 plans (exhaustive_search on the GPU), whose argmax is checked against the certified
optimum (certify, also run on the GPU kernel).  ``--target cpu`` runs the same steps with the kernel
compiled for the CPU (a dry run of this script; slow).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from engines.reservoir import gpu_kernel
from engines.reservoir.case import load_case
from engines.reservoir.certify import _popcount, certify, exhaustive_search, plan_codes_to_masks
from engines.reservoir.economics import discount_factors, npv_from_discounted_volume
from engines.reservoir.planner import build_problem
from engines.reservoir.simulator import BatchSimulator


def _sync(target):
    if target == "cuda":
        from numba import cuda

        cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="brute force over all 2^25 plans")
    ap.add_argument("--target", default="cuda", choices=gpu_kernel.TARGETS)
    ap.add_argument("--slice-size", type=int, default=2**20)
    ap.add_argument("--check", type=int, default=256, help="random plans checked against the NumPy backend")
    ap.add_argument("--variants", action="store_true", help="also time chord=False and other block sizes")
    args = ap.parse_args()
    target = args.target
    if target == "cuda":
        import numba
        from numba import cuda

        dev = cuda.get_current_device()
        print(f"GPU: {dev.name.decode() if isinstance(dev.name, bytes) else dev.name}; numba {numba.__version__}",
              flush=True)
    case = load_case("thesis_5x5")
    ref_problem = build_problem(case, backend="numpy")
    sim_ref = ref_problem.simulator
    t0 = time.perf_counter()
    kern = gpu_kernel.PlanKernel(sim_ref, target)
    rng = np.random.default_rng(7)
    masks = rng.random((args.check, 25)) < rng.random((args.check, 1))
    wi = masks.T[sim_ref._col] * sim_ref.cell_wi[:, None]
    out = kern.run(wi)
    print(f"kernel load/compile + first run: {time.perf_counter() - t0:.1f} s", flush=True)
    mod = kern.module
    if target == "cuda":
        try:
            print(f"registers per thread: {mod.kernel.get_regs_per_thread()}; local memory per thread: "
                  f"{mod.kernel.get_local_mem_per_thread()} B", flush=True)
        except Exception as exc:  # noqa: BLE001 - informational only
            print(f"(register count not available: {exc})")
    ref = sim_ref.run(masks)
    peak = np.abs(ref.oil_rate_stb_d).max()
    print(f"check vs NumPy backend ({args.check} random plans): max |rate diff|/peak "
          f"{np.abs(out.oil_rate_stb_d - ref.oil_rate_stb_d).max() / peak:.2e}, max |pavg diff| "
          f"{np.abs(out.average_pressure_psi - ref.average_pressure_psi).max():.2e} psi, max material-balance "
          f"error {out.material_balance_error.max():.2e}", flush=True)
    # NPV through the discounted volume vs the economics of the rate profile
    codes = np.sort(rng.choice(2**25, 4096, replace=False)).astype(np.int64)
    weights = sim_ref.dt_days * discount_factors(np.cumsum(sim_ref.dt_days), case.economics)
    dv, err, st = (gpu_kernel.to_host(a) for a in kern.discounted_volumes(weights, offsets=codes))
    cm = plan_codes_to_masks(codes, 25)
    full = kern.run(cm.T[sim_ref._col] * sim_ref.cell_wi[:, None])
    npv_a = npv_from_discounted_volume(dv, cm.sum(axis=1), case.economics)
    npv_b = ref_problem.economics_of(cm, full).npv_usd
    print(f"NPV from discounted volume vs economics of the profile (4096 plans): max rel diff "
          f"{np.max(np.abs(npv_a - npv_b) / np.maximum(np.abs(npv_b), 1.0)):.2e}; status nonzero: {int(np.count_nonzero(st))}",
          flush=True)

    # throughput on the fixed slice
    size = args.slice_size
    low = np.arange(size, dtype=np.int64)
    offsets = low[np.argsort(_popcount(low), kind="stable")]
    base = 21 << 20

    def time_slice(k, label, reps=2):
        offs = k._to(offsets)
        k.discounted_volumes(weights, code_base=base, offsets=offs)   # warm-up (and first launch)
        _sync(target)
        best = np.inf
        for _ in range(reps):
            t = time.perf_counter()
            res = k.discounted_volumes(weights, code_base=base, offsets=offs)
            st = gpu_kernel.to_host(res[2])
            _sync(target)
            best = min(best, time.perf_counter() - t)
        rate = size / best
        print(f"{label}: {size} plans in {best:.3f} s = {rate:,.0f} plans/s; 2^25 projected {2**25 / rate:.2f} s; "
              f"failures {int(np.count_nonzero(st))}", flush=True)
        return rate

    time_slice(kern, f"plan kernel ({target}, chord, {gpu_kernel.THREADS_PER_BLOCK} threads/block)")
    if args.variants and target == "cuda":
        for tpb in (64, 256):
            gpu_kernel.THREADS_PER_BLOCK = tpb
            time_slice(kern, f"plan kernel (cuda, chord, {tpb} threads/block)")
        gpu_kernel.THREADS_PER_BLOCK = 128
        t = time.perf_counter()
        k2 = gpu_kernel.PlanKernel(sim_ref, target, chord=False)
        k2.run(wi[:, :8])
        print(f"chord=False compile: {time.perf_counter() - t:.1f} s", flush=True)
        time_slice(k2, "plan kernel (cuda, no chord steps, 128 threads/block)")

    if target == "cuda":
        try:
            import torch

            for name, nplans in (("thesis_5x5", 2**16), ("channelized_20x20", 2**12)):
                c = load_case(name)
                s = BatchSimulator(c.reservoir, c.wells, c.dt_days, backend="torch", device="cuda")
                r = np.random.default_rng(3)
                m = r.random((nplans, c.reservoir.n_columns)) < 0.2
                s.run(m[:16])
                torch.cuda.synchronize()
                t = time.perf_counter()
                s.run(m)
                torch.cuda.synchronize()
                dt = time.perf_counter() - t
                print(f"torch (cuda) {name}: {nplans} plans in {dt:.2f} s = {nplans / dt:,.0f} plans/s", flush=True)
        except Exception as exc:  # noqa: BLE001
            print(f"torch on cuda not measured: {exc}")

    if args.full:
        problem = build_problem(case, backend=target if target == "cuda" else "numba")
        if target == "cpu":
            problem.simulator._cuda = kern
            problem.simulator.backend = "cuda"
        t = time.perf_counter()
        cert = certify(problem)
        print(f"certify on the kernel: {time.perf_counter() - t:.2f} s, NPV {cert.best_npv_usd / 1e6:.4f} M$, "
              f"wells {np.flatnonzero(cert.best_mask).tolist()}", flush=True)
        t = time.perf_counter()
        ex = exhaustive_search(problem, chunk=2**22)
        wall = time.perf_counter() - t
        cpu = os.times()
        print(f"brute force 2^25: {wall:.2f} s wall ({2**25 / wall:,.0f} plans/s), NPV {ex.best_npv_usd / 1e6:.4f} M$, "
              f"wells {np.flatnonzero(ex.best_mask).tolist()}, simulated {ex.n_simulated}; process CPU "
              f"{cpu.user + cpu.system:.1f} s", flush=True)
        same = abs(ex.best_npv_usd - cert.best_npv_usd) <= 1e-9 * abs(cert.best_npv_usd)
        print(f"argmax NPV equals the certified optimum: {same} (rel diff "
              f"{abs(ex.best_npv_usd - cert.best_npv_usd) / abs(cert.best_npv_usd):.1e})", flush=True)


if __name__ == "__main__":
    main()
