"""Benchmark of the lift optimizers (not run by CI).

1. Gibbs diagnostic transform of a 360-point card: the vectorized finite-difference scheme
   (engines.lift.srp_wave.downhole_card_fd) against a pure-Python loop of the same scheme, plus the
   Fourier solution; the two implementations must agree.
2. Hourly tier: ``optimize_well`` over synthetic wells of mixed lift types (25 % each), on a process
   pool (2 workers by default), reporting wells/s and the projected time for 10,000 wells, cold (every
   nodal curve built) and warm (a per-worker ``LiftCache`` holding the configuration-only curves).

    python bench/bench_lift.py [--wells 200] [--workers 2] [--seed 1]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from engines.lift.rod_string import RodString, RodTaper  # noqa: E402
from engines.lift.srp_predictive import PumpCondition, predict_cards  # noqa: E402
from engines.lift.srp_wave import downhole_card_fd, downhole_card_fourier  # noqa: E402


def fd_pure_python(position_in, load_lbf, spm, rods: RodString, damping_factor, fluid_sg):
    """The same Everitt-Jennings space-marching scheme as downhole_card_fd, written with Python loops."""
    m = len(position_in)
    dt = 60.0 / spm / m
    c = rods.damping_coefficient_1_s(damping_factor)
    w_rf = rods.buoyant_weight_lbf(fluid_sg)
    u = [p / 12.0 for p in position_in]
    f = [l - w_rf for l in load_lbf]

    def rhs(x):
        return [(x[(j + 1) % m] - 2 * x[j] + x[j - 1]) / dt**2 + c * (x[(j + 1) % m] - x[j - 1]) / (2 * dt) for j in range(m)]

    for taper in rods.tapers:
        v, ea = taper.wave_speed_ft_s, taper.ea_lbf
        n = max(2, math.ceil(taper.length_ft / (v * dt)))
        dx = taper.length_ft / n
        r = dx * dx / (v * v)
        d = rhs(u)
        prev, cur = u, [u[j] - dx * f[j] / ea + 0.5 * r * d[j] for j in range(m)]
        for _ in range(n - 1):
            d = rhs(cur)
            prev, cur = cur, [2 * cur[j] - prev[j] + r * d[j] for j in range(m)]
        d = rhs(cur)
        f = [-ea * ((cur[j] - prev[j]) / dx + 0.5 * dx * d[j] / (v * v)) for j in range(m)]
        u = cur
    return [x * 12.0 for x in u], f


def bench_gibbs(repeats: int = 50) -> None:
    rods = RodString((RodTaper(1.0, 2500.0), RodTaper(0.875, 2500.0), RodTaper(0.75, 3000.0)))
    pred = predict_cards(rods, 9.0, 144.0, PumpCondition("fluid_pound", 7000.0, fillage=0.7), damping_factor=0.1)
    s = pred.surface
    t0 = time.perf_counter()
    for _ in range(repeats):
        fd = downhole_card_fd(s, rods, 0.1, 1.0)
    t_np = (time.perf_counter() - t0) / repeats
    t0 = time.perf_counter()
    for _ in range(repeats):
        fo = downhole_card_fourier(s, rods, 0.1, 1.0)
    t_fourier = (time.perf_counter() - t0) / repeats
    t0 = time.perf_counter()
    pos_py, load_py = fd_pure_python(s.position_in.tolist(), s.load_lbf.tolist(), s.spm, rods, 0.1, 1.0)
    t_py = time.perf_counter() - t0
    diff = np.max(np.abs(np.asarray(load_py) - fd.card.load_lbf))
    print("Gibbs diagnostic transform, 360-point card, 8,000 ft 3-taper string")
    print(f"  FD vectorized (NumPy)   {t_np * 1e3:8.3f} ms")
    print(f"  FD pure-Python loop     {t_py * 1e3:8.3f} ms   ratio {t_py / t_np:6.1f}x   max |dF| {diff:.2e} lbf")
    print(f"  Fourier (Gibbs series)  {t_fourier * 1e3:8.3f} ms   RMS FD-Fourier "
          f"{np.sqrt(np.mean((fd.card.load_lbf - fo.card.load_lbf) ** 2)):.1f} lbf of Fo 7000")


def synthetic_attributes(rng: np.random.Generator, i: int) -> dict:
    lift = ("esp", "srp", "pcp", "gas_lift")[i % 4]
    depth = float(rng.uniform(4000, 9000))
    base = dict(lift_type=lift, reservoir_pressure_psi=float(0.43 * depth * rng.uniform(0.7, 1.0)),
                bubble_point_psi=float(rng.uniform(500, 2000)), productivity_index_bpd_psi=float(rng.uniform(0.3, 2.0)),
                perforation_depth_ft=depth, water_cut_frac=float(rng.uniform(0.1, 0.9)), gor_scf_stb=float(rng.uniform(100, 800)),
                oil_api=float(rng.uniform(25, 40)))
    if lift == "esp":
        base.update(pump_model=str(rng.choice(["DN1750", "SN2600"])), pump_stages=int(rng.integers(120, 260)),
                    pump_depth_ft=depth - 300, motor_hp=float(rng.uniform(100, 300)), casing_id_in=6.276)
    elif lift == "srp":
        d = depth * 0.8
        base.update(productivity_index_bpd_psi=float(rng.uniform(0.05, 0.3)), pump_depth_ft=d,
                    rod_string=[dict(diameter_in=0.875, length_ft=0.4 * d), dict(diameter_in=0.75, length_ft=0.6 * d)],
                    stroke_length_in=float(rng.choice([86.0, 100.0, 120.0, 144.0])))
    elif lift == "pcp":
        base.update(perforation_depth_ft=min(depth, 5000.0), reservoir_pressure_psi=float(0.43 * min(depth, 5000.0) * 0.8),
                    pump_depth_ft=min(depth, 5000.0) - 200, productivity_index_bpd_psi=float(rng.uniform(0.2, 1.0)),
                    displacement_bpd_per_rpm=float(rng.uniform(0.5, 2.0)), elastomer=str(rng.choice(["NBR", "HNBR"])))
    else:
        base.update(injection_depth_ft=depth - 500, injection_max_mscfd=float(rng.uniform(800, 2500)))
    return base


_CACHE = None  # one LiftCache per worker process, as the service would hold


def _run(args):
    global _CACHE
    from tb_bridge.adapters.lift import LiftCache, optimize_well
    from tb_bridge.writeback.keys import lift_attributes
    from tb_bridge.wells.model import parse_well_config

    if _CACHE is None:
        _CACHE = LiftCache()
    i, attrs = args
    t0 = time.perf_counter()
    try:
        well = parse_well_config(f"w{i}", f"W{i}", attrs)
        lift_attributes(optimize_well(well, {"flow_rate_bpd": 100.0 + i % 7}, _CACHE))
        ok = True
    except ValueError:
        ok = False
    return attrs["lift_type"], time.perf_counter() - t0, ok


def bench_hourly(n_wells: int, workers: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    jobs = [(i, synthetic_attributes(rng, i)) for i in range(n_wells)]
    print(f"\nHourly tier: {n_wells} synthetic wells (25 % of each lift type), {workers} worker(s)")
    # chunks pin each well to the same worker in both passes, so the second pass finds its cache entries
    chunk = max(1, n_wells // max(workers, 1))
    with ProcessPoolExecutor(workers) as pool:
        for label in ("cold (first hour: nodal curves built)", "warm (later hours: configuration curves cached)"):
            t0 = time.perf_counter()
            results = list(pool.map(_run, jobs, chunksize=chunk))
            wall = time.perf_counter() - t0
            rate = n_wells / wall
            print(f"  {label}")
            print(f"    wall {wall:.1f} s   -> {rate:.2f} wells/s   projected 10,000 wells: {10000 / rate / 60:.1f} min")
            for lift in ("esp", "srp", "pcp", "gas_lift"):
                times = [t for lt, t, _ in results if lt == lift]
                fails = sum(1 for lt, _, ok in results if lt == lift and not ok)
                print(f"    {lift:9s} mean {np.mean(times) * 1e3:8.1f} ms/well (per worker)   rejected {fails}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    bench_gibbs()
    bench_hourly(args.wells, args.workers, args.seed)


if __name__ == "__main__":
    main()
