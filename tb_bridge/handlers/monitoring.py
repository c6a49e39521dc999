"""Monitoring step (every lift type, 5-minute tier): freshness, completeness and window statistics."""
from __future__ import annotations

import numpy as np

from tb_bridge.handlers.base import StepOutput, WellContext

# Units of the telemetry keys, for the stats JSON the dashboards show.
TELEMETRY_UNITS: dict[str, str] = {
    "flow_rate_bpd": "bbl/d", "oil_rate_bpd": "bbl/d", "water_cut_frac": "fraction", "gas_rate_mscfd": "Mscf/d",
    "tubing_pressure_psi": "psi", "casing_pressure_psi": "psi", "wellhead_temperature_f": "degF",
    "frequency_hz": "Hz", "motor_current_a": "A", "motor_voltage_v": "V", "motor_temperature_f": "degF",
    "intake_pressure_psi": "psi", "discharge_pressure_psi": "psi", "intake_temperature_f": "degF",
    "vibration_g": "g", "motor_power_kw": "kW", "spm": "1/min", "pump_fillage_pct": "%",
    "polished_rod_load_max_lbf": "lbf", "polished_rod_load_min_lbf": "lbf", "pump_intake_pressure_psi": "psi",
    "rpm": "rpm", "torque_ftlbf": "ft*lbf", "injection_rate_mscfd": "Mscf/d", "injection_pressure_psi": "psi",
    "separator_level_pct": "%",
    # downhole-gauge wells (issue 20: 3)
    "downhole_pressure_psi": "psi", "downhole_temperature_f": "degF", "choke_upstream_pressure_psi": "psi",
    "choke_downstream_pressure_psi": "psi",
}


def expected_points(ts_ms: np.ndarray, now_ms: int, interval_s: int, window_s: int) -> int:
    """Samples expected since the later of (now - window) and the first sample in the window,
    at one sample per ``interval_s`` (inclusive of both ends)."""
    if ts_ms.size == 0:
        return 0
    start_ms = max(int(ts_ms[0]), now_ms - window_s * 1000)
    span_s = max(0.0, (now_ms - start_ms) / 1000.0)
    return int(np.floor(span_s / interval_s + 1e-9)) + 1


def monitoring_step_for(main_keys: tuple[str, ...]):
    """The monitoring step bound to one lift type's main keys."""

    def monitoring(context: WellContext) -> StepOutput:
        return monitoring_step(context, main_keys)

    return monitoring


def monitoring_step(context: WellContext, main_keys: tuple[str, ...]) -> StepOutput:
    """Last update, data completeness (%) over the window, and min/mean/max/last of ``main_keys``.

    Completeness = finite samples received for the main keys / (expected samples x number of keys),
    capped at 100 %; expected samples are counted from the later of the window start and the well's
    first buffered sample (a new well is not penalized for the time before it existed)."""
    window = context.window
    stats: dict[str, dict[str, float | str | None]] = {}
    received = 0
    table = np.stack([context.series(key) for key in main_keys]) if main_keys and window.ts_ms.size else None
    if table is not None and np.isfinite(table).all():
        # The usual window (every main key, every sample finite): one reduction per statistic over the (keys,
        # samples) table; a row reduction of a C-contiguous table is the same pairwise sum as the 1-D one.
        received = table.size
        columns = zip(table.min(axis=1).tolist(), table.mean(axis=1).tolist(), table.max(axis=1).tolist(),
                      table[:, -1].tolist())
        for key, (lo, mean, hi, last) in zip(main_keys, columns):
            stats[key] = {"min": lo, "mean": mean, "max": hi, "last": last, "unit": TELEMETRY_UNITS.get(key)}
    else:
        for key in main_keys:
            series = context.series(key)
            finite = series[np.isfinite(series)]
            received += int(finite.size)
            if finite.size:
                stats[key] = {
                    "min": float(finite.min()), "mean": float(finite.mean()), "max": float(finite.max()),
                    "last": float(finite[-1]), "unit": TELEMETRY_UNITS.get(key),
                }
    expected = expected_points(window.ts_ms, context.now_ms, context.interval_s, context.window_s) * len(main_keys)
    completeness = min(100.0, 100.0 * received / expected) if expected else 0.0
    attributes = {
        "opt_monitor_points": int(window.ts_ms.size),
        "opt_monitor_completeness_pct": round(completeness, 2),
        "opt_monitor_stats": stats,
    }
    if window.ts_ms.size:
        attributes["opt_monitor_last_ts"] = int(window.ts_ms[-1])
    return StepOutput(attributes=attributes)
