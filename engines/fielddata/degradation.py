"""Run-to-failure histories of ESP wells: daily telemetry with production decline, operator setpoint
changes and four degradation modes, each with a precursor of realistic length and noise.

Each well lives through consecutive runs (installation -> failure -> workover shut-in -> next run). A
run's time to failure is Weibull (shape 1.6, scale 420 days: ESP mean run lives of 1-2 years, e.g.
Alhanati et al. 2001, SPE 71554, ESP-RIFTS); its failure mode is drawn with field-typical shares;
the precursor (the days before failure over which the mode's signature grows, severity
``s = a ((t - t_onset) / L) ** shape``) has a lognormal length ``L`` around the mode's median, and an
amplitude ``a`` uniform in [0.1, 1] per run (some failures announce themselves loudly, others barely
rise above the day-to-day noise):

================  =========  ==========================================================================
mode              median L   signature (at s = 1)
================  =========  ==========================================================================
bearing_wear      25 d       vibration x (1 + 5 s^2) with intermittent spikes, current +4 %, motor +6 degF
motor_insulation  15 d       motor temperature +45 s^1.5 degF, current +6 % (leakage), current noise +3 %
scale             40 d       liquid rate -25 %, intake pressure up (less drawdown), current +8 %,
                             motor temperature +12 degF (scale insulates the motor)
gas               10 d       intake pressure -35 % (toward the bubble point), rate -20 %, current -12 %
                             with 6 % day-to-day scatter, motor temperature +15 degF (poor cooling)
================  =========  ==========================================================================

Production: the liquid rate the pump delivers at frequency f is ``q60 f / 60`` times the well's
inflow factor, an Arps hyperbolic decline (b 0.3-0.9, D_i 0.0008-0.0025 1/d) that restarts at 0.85-1.1 x
its previous level after each workover. The operator raises the frequency 1-2 Hz (up to 65 Hz) when
the rate has fallen 8 % since the last change; intake pressure follows the composite IPR at the
declining reservoir pressure. Current, power and motor temperature follow :mod:`engines.fielddata.esp`
(power from hydraulic power over pump efficiency, I = P / (sqrt(3) V pf), V/Hz, copper loss over
cooling flow). Day-to-day process noise is AR(1) (phi 0.7) on every channel: rate 1.5 %, current and intake pressure 3 %, vibration 10 %,
motor temperature 3 degF.
``anomaly_score`` is a stand-in for the service's detector output (``opt_anomaly_score`` daily mean):
0.05 + 0.8 x the precursor severity plus noise, clipped to [0, 1].

Shut-in days (workover) have zero rate, current and frequency. Deterministic given the seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.fielddata import fluids, inflow
from engines.fielddata.esp import MOTOR_EFFICIENCY, POWER_FACTOR, PUMP_EFFICIENCY, SQRT3
from engines.fielddata.reservoir import draw_common

#: failure mode -> (share of failures, median precursor days, lognormal sigma, severity shape)
FAILURE_MODES: dict[str, tuple[float, float, float, float]] = {
    "bearing_wear": (0.30, 25.0, 0.35, 2.0),
    "motor_insulation": (0.25, 15.0, 0.40, 1.5),
    "scale": (0.25, 40.0, 0.30, 1.0),
    "gas": (0.20, 10.0, 0.45, 1.0),
}
DAILY_KEYS: tuple[str, ...] = ("flow_rate_bpd", "oil_rate_bpd", "frequency_hz", "motor_current_a", "motor_temperature_f",
                               "vibration_g", "intake_pressure_psi", "anomaly_score")
MAX_WELLS, MAX_DAYS = 2_000, 20_000
WEIBULL_SHAPE, WEIBULL_SCALE_DAYS = 1.6, 420.0
MIN_RUN_DAYS = 60


@dataclass(frozen=True)
class RunToFailureHistory:
    """Daily histories of ``n_wells`` ESP wells over ``n_days``.

    ``values[key]``: (n_wells, n_days) daily means; ``running``: pump on; ``run_start_day``: first day of
    the run each day belongs to (-1 on shut-in days); ``failures``: ``(well, day, mode)`` (the day the pump
    failed; the following days are the workover shut-in); ``severity``: (n_wells, n_days) precursor
    severity (0 outside precursors); ``mode``: (n_wells, n_days) failure mode of the current run's
    precursor ('' outside)."""

    values: dict
    running: np.ndarray
    run_start_day: np.ndarray
    failures: tuple
    severity: np.ndarray
    mode: np.ndarray

    @property
    def n_wells(self) -> int:
        return int(self.running.shape[0])

    @property
    def n_days(self) -> int:
        return int(self.running.shape[1])

    def days_to_failure(self) -> np.ndarray:
        """(n_wells, n_days): days until the run's failure (inf when the run is censored or on shut-in days)."""
        out = np.full(self.running.shape, np.inf)
        for w, day, _ in self.failures:
            start = self.run_start_day[w, day]
            idx = np.arange(start, day + 1)
            out[w, idx] = day - idx
        return out


def _ar1(rng: np.random.Generator, shape: tuple[int, int], phi: float = 0.7) -> np.ndarray:
    e = rng.standard_normal(shape) * np.sqrt(1.0 - phi * phi)
    x = np.empty(shape)
    x[:, 0] = rng.standard_normal(shape[0])
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def run_to_failure(n_wells: int, n_days: int, seed: int = 0) -> RunToFailureHistory:
    """Simulate ``n_wells`` ESP wells for ``n_days`` days (see the module docstring)."""
    if not (1 <= n_wells <= MAX_WELLS) or not (2 <= n_days <= MAX_DAYS):
        raise ValueError(f"need 1 <= n_wells <= {MAX_WELLS} and 2 <= n_days <= {MAX_DAYS}, got {n_wells}, {n_days}")
    rng = np.random.default_rng([seed, 7001])
    c = draw_common(rng, n_wells)
    pr0, pb, j = c["reservoir_pressure_psi"], c["bubble_point_psi"], rng.uniform(0.7, 1.5, n_wells)
    depth = c["perforation_depth_ft"]
    pump_depth = depth - rng.uniform(200.0, 600.0, n_wells)
    grad = fluids.WATER_GRADIENT_PSI_FT * c["liquid_sg"]
    f0 = np.round(rng.uniform(48.0, 54.0, n_wells), 1)
    q60 = inflow.rate_bpd(0.45 * pr0, pr0, pb, j) * 60.0 / f0
    volts_np = 2300.0
    vib0 = rng.uniform(0.10, 0.18, n_wells)
    t_intake = c["reservoir_temperature_f"] - 0.012 * (depth - pump_depth)
    modes = tuple(FAILURE_MODES)
    shares = np.array([FAILURE_MODES[m][0] for m in modes])

    running = np.zeros((n_wells, n_days), dtype=bool)
    run_start = np.full((n_wells, n_days), -1, dtype=np.int64)
    severity = np.zeros((n_wells, n_days))
    mode_of = np.full((n_wells, n_days), "", dtype=object)
    inflow_factor = np.ones((n_wells, n_days))
    freq = np.zeros((n_wells, n_days))
    failures = []
    s_mode = {m: np.zeros((n_wells, n_days)) for m in modes}
    for w in range(n_wells):
        b, di = rng.uniform(0.3, 0.9), rng.uniform(0.0008, 0.0025)
        level, day = 1.0, int(rng.integers(0, 200)) * -1  # the first run started before the record
        while day < n_days:
            life = max(MIN_RUN_DAYS, int(WEIBULL_SCALE_DAYS * rng.weibull(WEIBULL_SHAPE)))
            mode = modes[int(rng.choice(len(modes), p=shares))]
            _, median, sigma, shape = FAILURE_MODES[mode]
            precursor = float(np.clip(median * np.exp(sigma * rng.standard_normal()), 3.0, life - 5))
            fail_day = day + life
            lo, hi = max(day, 0), min(fail_day + 1, n_days)
            if hi > lo:
                idx = np.arange(lo, hi)
                running[w, idx] = True
                run_start[w, idx] = day
                t_run = idx - day
                inflow_factor[w, idx] = level / (1.0 + b * di * t_run) ** (1.0 / b)
                amplitude = rng.uniform(0.1, 1.0)  # how loudly this failure announces itself
                s = amplitude * np.clip((idx - (fail_day - precursor)) / precursor, 0.0, 1.0) ** shape
                severity[w, idx] = s
                s_mode[mode][w, idx] = s
                mode_of[w, idx[s > 0]] = mode
                # operator: +1-2 Hz when the rate fell 8 % since the last change (max 65 Hz)
                f, ref = f0[w], None
                for k, d in enumerate(idx):
                    rate = f * inflow_factor[w, d]
                    ref = rate if ref is None else ref
                    if rate < 0.92 * ref and f < 65.0:
                        f = min(65.0, f + float(rng.integers(1, 3)))
                        ref = f * inflow_factor[w, d]
                    freq[w, d] = f
                if fail_day < n_days:
                    failures.append((w, fail_day, mode))
            level = float(np.clip(level / (1.0 + b * di * life) ** (1.0 / b) * rng.uniform(0.85, 1.1) / 0.9, 0.5, 1.2))
            day = fail_day + 1 + int(rng.integers(3, 11))  # workover shut-in

    z = {k: _ar1(rng, (n_wells, n_days)) for k in ("q", "i", "t", "v", "p", "a")}
    col = lambda x: np.asarray(x)[:, None]  # noqa: E731
    s_b, s_m, s_s, s_g = (s_mode[m] for m in modes)
    q_factor = (1.0 - 0.25 * s_s) * (1.0 - 0.20 * s_g)
    q = col(q60) * freq / 60.0 * inflow_factor * q_factor * (1.0 + 0.015 * z["q"])
    pr = col(pr0) * (0.80 + 0.20 * inflow_factor)
    pwf = inflow.pwf_psi(np.maximum(q, 1e-6), pr, col(pb), col(j))
    pwf = np.where(s_s > 0, pwf + 0.10 * col(pr0) * s_s, pwf)
    intake = (pwf - col(grad) * col(depth - pump_depth)) * (1.0 - 0.35 * s_g) * (1.0 + 0.03 * z["p"])
    intake = np.maximum(intake, 20.0)
    discharge = col(c["wellhead_pressure_psi"]) + col(grad) * col(pump_depth)
    hyd_kw = fluids.hydraulic_power_kw(q, np.maximum(discharge - intake, 0.0))
    loss60 = 0.08 * fluids.hydraulic_power_kw(col(q60), discharge - intake[:, :1]) / PUMP_EFFICIENCY
    power = (hyd_kw / PUMP_EFFICIENCY + loss60 * (freq / 60.0) ** 3) / MOTOR_EFFICIENCY
    volts = volts_np * freq / 60.0
    current = power * 1000.0 / (SQRT3 * np.maximum(volts, 1.0) * POWER_FACTOR)
    current = current * (1.0 + 0.04 * s_b + 0.06 * s_m + 0.08 * s_s - 0.12 * s_g)
    current = current * (1.0 + 0.03 * z["i"] + rng.standard_normal(q.shape) * (0.03 * s_m + 0.06 * s_g))
    i_np = np.nanmax(np.where(running, current, np.nan), axis=1, initial=1.0) * 1.25
    cooling = np.sqrt(np.clip(q_factor, 0.15, None))
    t_motor = col(t_intake) + 35.0 * (current / col(i_np)) ** 2 / cooling
    t_motor = t_motor + 6.0 * s_b + 45.0 * s_m + 12.0 * s_s + 15.0 * s_g + 3.0 * z["t"]
    spikes = (rng.random(q.shape) < 0.15 * s_b) * rng.uniform(0.5, 1.5, q.shape)
    vib = col(vib0) * (1.0 + 5.0 * s_b**2 + spikes * s_b) * (1.0 + 0.10 * z["v"])
    wc = np.clip(col(c["water_cut_frac"]) + 0.00005 * np.arange(n_days)[None, :], 0.0, 0.98)
    anomaly = np.clip(0.05 + 0.8 * severity + 0.04 * z["a"], 0.0, 1.0)
    off = ~running
    values = {
        "flow_rate_bpd": q, "oil_rate_bpd": q * (1.0 - wc), "frequency_hz": freq, "motor_current_a": current,
        "motor_temperature_f": t_motor, "vibration_g": vib, "intake_pressure_psi": intake, "anomaly_score": anomaly,
    }
    for key, arr in values.items():
        if key in ("flow_rate_bpd", "oil_rate_bpd", "frequency_hz", "motor_current_a"):
            arr[off] = 0.0
        elif key == "motor_temperature_f":
            arr[off] = np.broadcast_to(col(t_intake), arr.shape)[off]
        elif key == "intake_pressure_psi":
            arr[off] = np.broadcast_to(col(pr0 - grad * (depth - pump_depth)) * 0.98, arr.shape)[off]
        elif key == "vibration_g":
            arr[off] = 0.0
        else:
            arr[off] = 0.0
    return RunToFailureHistory(values=values, running=running, run_start_day=run_start, failures=tuple(failures),
                               severity=severity, mode=mode_of)
