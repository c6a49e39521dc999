"""Layer 2: the 24 lift-specific diagnostic rules, evaluated over a telemetry window against the baseline.

Every condition is a ramp membership in [0, 1] (0 below the onset threshold, 1 at the full
threshold); a rule's score is the minimum over its conditions (fuzzy AND) and the rule fires when
the score reaches 0.5, i.e. half-way between onset and full thresholds. Ratios r(key) are the
window median over the baseline median; cv is the window coefficient of variation. The conditions
encode the classical signatures: ESP amperage charts (Centrilift / Baker Hughes, Submersible Pump
Handbook 1997, ch. 8), SRP card shapes (Gibbs 2012, Sucker-Rod Pumping Handbook, ch. 7), PCP
torque/speed diagnostics (Dunn 2006, PCP Systems, ch. 7) and gas-lift troubleshooting (Brown 1980,
vol. 2a, ch. 5; API RP 11V5). Vectorized over wells: every feature is an (n_wells,) array.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from engines.anomaly.baseline import RobustBaseline

FIRE_SCORE = 0.5
#: Newest samples whose median is the level after a fast change (``Features.tail``).
TAIL_SAMPLES = 6
SEVERITIES: tuple[str, ...] = ("WARNING", "MINOR", "MAJOR", "CRITICAL")


def up(x, onset, full):
    """Membership rising from 0 at ``onset`` to 1 at ``full`` (full > onset)."""
    return np.clip((np.asarray(x, dtype=float) - onset) / (full - onset), 0.0, 1.0)


def down(x, onset, full):
    """Membership rising from 0 at ``onset`` to 1 at ``full`` (full < onset)."""
    return np.clip((onset - np.asarray(x, dtype=float)) / (onset - full), 0.0, 1.0)


class Features:
    """Window statistics per well, computed lazily and cached. ``window[key]`` is (n_wells, n_steps).

    A key absent from the window or the baseline reads as NaN (the rules that need it are skipped by the
    diagnosis); every statistic ignores missing samples without NumPy's all-NaN RuntimeWarnings (NaN where a
    well has no finite sample)."""

    def __init__(self, window: dict[str, np.ndarray], baseline: RobustBaseline):
        self.b = baseline
        self.w = _NanWindow(window)
        self._cache: dict = {}

    def _get(self, name, fn):
        if name not in self._cache:
            self._cache[name] = fn()
        return self._cache[name]

    def _base(self, key, attr):
        if key not in self.b.keys:
            return np.full(self.b.median.shape[0], np.nan)
        return getattr(self.b, attr)(key)

    def med(self, key):
        """Window median (n_wells,), ignoring missing (NaN) samples."""
        return self._get(("med", key), lambda: _median(self.w[key]))

    def tail(self, key, n=TAIL_SAMPLES):
        """Median of the newest ``n`` samples (n_wells,): the level after a fast change, before the window
        median follows it."""
        return self._get(("tail", key, n), lambda: _median(self.w[key][:, -n:]))

    def r(self, key):
        """Window median over baseline median."""
        return self._get(("r", key), lambda: self.med(key) / _nz(self._base(key, "med")))

    def rt(self, key, n=TAIL_SAMPLES):
        """Median of the newest ``n`` samples over the baseline median."""
        return self.tail(key, n) / _nz(self._base(key, "med"))

    def delta(self, key):
        """Window median minus baseline median (key units)."""
        return self.med(key) - self._base(key, "med")

    def dtail(self, key, n=TAIL_SAMPLES):
        """Median of the newest ``n`` samples minus the baseline median (key units)."""
        return self.tail(key, n) - self._base(key, "med")

    def z(self, key):
        """(window median - baseline median) / baseline sigma."""
        return self.delta(key) / self._base(key, "sd")

    def zt(self, key, n=TAIL_SAMPLES):
        """(median of the newest ``n`` samples - baseline median) / baseline sigma."""
        return self.dtail(key, n) / self._base(key, "sd")

    def base(self, key):
        """Baseline median (n_wells,)."""
        return self._base(key, "med")

    def cv(self, key):
        """Window standard deviation over window mean."""
        return self._get(("cv", key), lambda: _nanstd(self.w[key]) / _nz(np.abs(_nanmean(self.w[key]))))

    def sd_ratio(self, key):
        """Window standard deviation over the baseline sigma (how much more the key moves than it did)."""
        return self._get(("sdr", key), lambda: _nanstd(self.w[key]) / _nz(self._base(key, "sd")))

    def swings(self, key, band=3.0):
        """Alternations of ``key`` between above and below its window median by more than ``band`` baseline sigmas
        (hysteresis crossings): 0-1 for noise, a step or a ramp; two per cycle of an oscillation wider than the band."""
        def calc():
            x = np.asarray(self.w[key], dtype=float)
            m = _median(x)[:, None]
            s = band * self._base(key, "sd")[:, None]
            side = np.where(x > m + s, 1, np.where(x < m - s, -1, 0))
            state = np.zeros(x.shape[0], int)
            count = np.zeros(x.shape[0])
            for t in range(x.shape[1]):
                new = side[:, t]
                count += (new != 0) & (state != 0) & (new != state)
                state = np.where(new != 0, new, state)
            return count
        return self._get(("swings", key, band), calc)

    def peak_ratio(self, key):
        """Window maximum over window median."""
        return self._get(("pk", key), lambda: _nanmax(self.w[key]) / _nz(self.med(key)))

    def trend(self, x_name, x):
        """Least-squares slope of ``x`` (n_wells, n_steps) as (relative change over the window, t statistic)."""
        def calc():
            n = x.shape[1]
            t = np.arange(n) - (n - 1) / 2.0
            mean = _nanmean(x)
            slope = (x - mean[:, None]) @ t / (t @ t)
            resid = x - mean[:, None] - slope[:, None] * t[None, :]
            se = np.sqrt(np.sum(resid**2, axis=1) / max(n - 2, 1) / (t @ t))
            return slope * (n - 1) / _nz(mean), slope / np.maximum(se, 1e-300)
        return self._get(("trend", x_name), calc)


class _NanWindow(dict):
    """The window, with an all-NaN array for an absent key."""

    def __init__(self, window):
        super().__init__(window)
        first = next(iter(window.values()), None)
        self._shape = np.shape(first) if first is not None else (0, 0)

    def __missing__(self, key):
        return np.full(self._shape, np.nan)


def _median(x):
    """Row medians ignoring NaN (numpy's linear interpolation); NaN for a row with no finite sample, no warning."""
    x = np.asarray(x, dtype=float)
    if not np.isnan(x).any():
        return np.median(x, axis=1)
    counts = np.isfinite(x).sum(axis=1)
    ordered = np.sort(np.where(np.isfinite(x), x, np.nan), axis=1)
    pos = 0.5 * np.maximum(counts - 1, 0)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, np.maximum(counts - 1, 0))
    v0 = np.take_along_axis(ordered, i0[:, None], axis=1)[:, 0]
    v1 = np.take_along_axis(ordered, i1[:, None], axis=1)[:, 0]
    return np.where(counts > 0, v0 + (pos - i0) * (v1 - v0), np.nan)


def _nanmean(x):
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    n = ok.sum(axis=1)
    return np.where(n > 0, np.where(ok, x, 0.0).sum(axis=1) / np.maximum(n, 1), np.nan)


def _nanstd(x):
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    n = ok.sum(axis=1)
    m = _nanmean(x)
    var = np.where(ok, (x - m[:, None]) ** 2, 0.0).sum(axis=1) / np.maximum(n, 1)
    return np.where(n > 0, np.sqrt(var), np.nan)


def _nanmax(x):
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    return np.where(ok.any(axis=1), np.where(ok, x, -np.inf).max(axis=1), np.nan)


def _nz(x):
    """``x`` with values within 1e-12 of zero replaced by 1e-12 (NaN stays NaN)."""
    x = np.asarray(x, dtype=float)
    return np.where(np.abs(x) <= 1e-12, 1e-12, x)


@dataclass(frozen=True)
class Rule:
    """One diagnostic rule: ``evaluate(features) -> score (n_wells,)``; ``evidence`` keys; base severity;
    ``component`` is the health component it degrades; ``condition`` documents the test; ``needs`` the telemetry
    keys it reads (found by running it once on a recorder): the diagnosis skips it for a well that lacks one."""

    name: str
    lift_type: str
    severity: str
    component: str
    evidence: tuple[str, ...]
    condition: str
    evaluate: Callable[[Features], np.ndarray]
    needs: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.needs:
            object.__setattr__(self, "needs", _keys_read(self.evaluate))


class _KeyRecorder:
    """Stands in for :class:`Features`: records the keys a rule reads, returns ones."""

    def __init__(self):
        self.keys: dict[str, None] = {}
        recorder = self

        class _W(dict):
            def __getitem__(self, key):
                recorder.keys[key] = None
                return np.ones((1, 4))

        self.w = _W()

    def __getattr__(self, name):
        def stat(*args, **kwargs):
            if args and isinstance(args[0], str) and name != "trend":
                self.keys[args[0]] = None
            return (np.ones(1), np.ones(1)) if name == "trend" else np.ones(1)
        return stat


def _keys_read(evaluate) -> tuple[str, ...]:
    recorder = _KeyRecorder()
    evaluate(recorder)
    return tuple(recorder.keys)


def _min(*ms):
    return np.minimum.reduce([np.asarray(m, dtype=float) for m in ms])


def _veff(f: Features, speed_key: str):
    return f.r("flow_rate_bpd") / _nz(f.r(speed_key))


RULES: tuple[Rule, ...] = (
    # ESP ---------------------------------------------------------------------------------------
    Rule("gas_lock", "esp", "MAJOR", "hydraulic", ("motor_current_a", "flow_rate_bpd", "intake_pressure_psi"),
         "cv(current) >= 0.15 and r(current) <= 0.7 and r(intake) >= 1.10 (erratic, low amperage chart)",
         lambda f: _min(up(f.cv("motor_current_a"), 0.10, 0.20), down(f.r("motor_current_a"), 0.8, 0.6),
                        up(f.r("intake_pressure_psi"), 1.05, 1.15))),
    Rule("pump_wear", "esp", "MINOR", "hydraulic", ("flow_rate_bpd", "intake_pressure_psi", "frequency_hz"),
         "r(flow) <= 0.86 and r(intake) >= 1.075 at unchanged frequency (|r(f)-1| <= 0.02), stable current (cv <= 0.075)",
         lambda f: _min(down(f.r("flow_rate_bpd"), 0.92, 0.80), up(f.r("intake_pressure_psi"), 1.03, 1.12),
                        down(np.abs(f.r("frequency_hz") - 1), 0.03, 0.01), down(f.cv("motor_current_a"), 0.10, 0.05))),
    Rule("motor_overheating", "esp", "MAJOR", "electrical", ("motor_temperature_f", "intake_temperature_f", "motor_current_a"),
         "motor-to-intake temperature rise >= 22.5 degF above baseline with current within +/-7.5% of baseline",
         lambda f: _min(up(f.delta("motor_temperature_f") - f.delta("intake_temperature_f"), 15.0, 30.0),
                        down(np.abs(f.r("motor_current_a") - 1), 0.10, 0.05))),
    Rule("electrical_fault", "esp", "MAJOR", "electrical", ("motor_voltage_v", "motor_current_a", "frequency_hz"),
         "V/Hz ratio <= 0.925 of baseline and r(current) >= 1.085",
         lambda f: _min(down(f.r("motor_voltage_v") / _nz(f.r("frequency_hz")), 0.95, 0.90), up(f.r("motor_current_a"), 1.05, 1.12))),
    Rule("mechanical_imbalance", "esp", "MAJOR", "mechanical", ("vibration_g",),
         "r(vibration) >= 2.4 and vibration >= 0.4 g",
         lambda f: _min(up(f.r("vibration_g"), 1.8, 3.0), up(f.med("vibration_g"), 0.3, 0.5))),
    # SRP ---------------------------------------------------------------------------------------
    Rule("fluid_pound", "srp", "MINOR", "hydraulic", ("pump_fillage_pct", "pump_intake_pressure_psi"),
         "fillage <= 85% with pump intake pressure <= 0.55 of baseline (pumped off)",
         lambda f: _min(down(f.med("pump_fillage_pct"), 90.0, 80.0), down(f.r("pump_intake_pressure_psi"), 0.7, 0.4),
                        up(f.med("pump_fillage_pct"), 30.0, 50.0))),
    Rule("gas_lock", "srp", "MAJOR", "hydraulic", ("pump_fillage_pct", "polished_rod_load_min_lbf", "pump_intake_pressure_psi"),
         "fillage <= 30% and r(MPRL) >= 1.175 (thin card near the upstroke load)",
         lambda f: _min(down(f.med("pump_fillage_pct"), 40.0, 20.0), up(f.r("polished_rod_load_min_lbf"), 1.10, 1.25))),
    Rule("traveling_valve_leak", "srp", "MAJOR", "hydraulic", ("flow_rate_bpd", "pump_fillage_pct", "polished_rod_load_max_lbf"),
         "full card (fillage >= 88.5%) but r(flow) <= 0.85, r(PIP) >= 1.065 and r(PPRL) <= 0.96",
         lambda f: _min(up(f.med("pump_fillage_pct"), 85.0, 92.0), down(f.r("flow_rate_bpd"), 0.90, 0.80),
                        up(f.r("pump_intake_pressure_psi"), 1.03, 1.10), down(f.r("polished_rod_load_max_lbf"), 0.98, 0.94))),
    Rule("standing_valve_leak", "srp", "MAJOR", "hydraulic", ("pump_fillage_pct", "pump_intake_pressure_psi", "flow_rate_bpd"),
         "apparent fillage 40-85% with pump intake pressure >= 1.065 of baseline (not pumped off)",
         lambda f: _min(down(f.med("pump_fillage_pct"), 90.0, 80.0), up(f.med("pump_fillage_pct"), 30.0, 50.0),
                        up(f.r("pump_intake_pressure_psi"), 1.03, 1.10))),
    Rule("rod_part", "srp", "CRITICAL", "mechanical", ("polished_rod_load_max_lbf", "flow_rate_bpd"),
         "r(PPRL) <= 0.7 and r(flow) <= 0.2 (loads collapse to the rods above the break, no production)",
         lambda f: _min(down(f.r("polished_rod_load_max_lbf"), 0.80, 0.60), down(f.r("flow_rate_bpd"), 0.30, 0.10))),
    Rule("unbalance", "srp", "MINOR", "efficiency", ("motor_power_kw", "polished_rod_load_max_lbf", "flow_rate_bpd"),
         "r(motor power) >= 1.185 with PPRL within 4% and flow within 6.5% of baseline",
         lambda f: _min(up(f.r("motor_power_kw"), 1.12, 1.25), down(np.abs(f.r("polished_rod_load_max_lbf") - 1), 0.05, 0.03),
                        down(np.abs(f.r("flow_rate_bpd") - 1), 0.08, 0.05))),
    # PCP ---------------------------------------------------------------------------------------
    Rule("pump_wear", "pcp", "MINOR", "hydraulic", ("flow_rate_bpd", "rpm", "torque_ftlbf"),
         "volumetric efficiency r(flow)/r(rpm) <= 0.90 and r(torque) <= 0.89 (less interference)",
         lambda f: _min(down(_veff(f, "rpm"), 0.93, 0.87), down(f.r("torque_ftlbf"), 0.92, 0.86))),
    Rule("sand_up", "pcp", "MAJOR", "mechanical", ("torque_ftlbf", "flow_rate_bpd", "intake_pressure_psi"),
         "r(torque) >= 1.225, r(flow) <= 0.89, tubing pressure within 15% and intake >= 0.775 of baseline",
         lambda f: _min(up(f.r("torque_ftlbf"), 1.15, 1.30), down(f.r("flow_rate_bpd"), 0.93, 0.85),
                        down(np.abs(f.r("tubing_pressure_psi") - 1), 0.2, 0.1), up(f.r("intake_pressure_psi"), 0.7, 0.85))),
    Rule("motor_overload", "pcp", "MAJOR", "electrical", ("motor_current_a", "torque_ftlbf", "motor_temperature_f"),
         "current/torque ratio >= 1.15 of baseline and motor temperature >= +22.5 degF",
         lambda f: _min(up(f.r("motor_current_a") / _nz(f.r("torque_ftlbf")), 1.10, 1.20), up(f.delta("motor_temperature_f"), 15.0, 30.0))),
    Rule("torque_spike", "pcp", "MAJOR", "mechanical", ("torque_ftlbf",),
         "window max torque >= 1.4 x window median",
         lambda f: up(f.peak_ratio("torque_ftlbf"), 1.3, 1.5)),
    Rule("low_intake_pressure", "pcp", "MAJOR", "hydraulic", ("intake_pressure_psi", "flow_rate_bpd"),
         "intake pressure <= 0.4 of baseline",
         lambda f: down(f.r("intake_pressure_psi"), 0.5, 0.3)),
    Rule("high_tubing_pressure", "pcp", "MINOR", "hydraulic", ("tubing_pressure_psi", "torque_ftlbf"),
         "tubing pressure >= 1.45 x baseline",
         lambda f: up(f.r("tubing_pressure_psi"), 1.3, 1.6)),
    Rule("increasing_slip", "pcp", "MINOR", "efficiency", ("flow_rate_bpd", "rpm", "torque_ftlbf"),
         "volumetric efficiency falls inside the window (change <= -4%, t <= -5) with r(torque) >= 0.875",
         lambda f: _min(down(f.trend("veff", f.w["flow_rate_bpd"] / _nz(f.w["rpm"]))[0], -0.03, -0.05),
                        down(f.trend("veff", f.w["flow_rate_bpd"] / _nz(f.w["rpm"]))[1], -4.0, -6.0),
                        up(f.r("torque_ftlbf"), 0.85, 0.90))),
    # Gas lift ----------------------------------------------------------------------------------
    Rule("casing_heading", "gas_lift", "MAJOR", "hydraulic", ("casing_pressure_psi", "tubing_pressure_psi", "flow_rate_bpd"),
         "cv(casing pressure) >= 0.045 and cv(tubing pressure) >= 0.115 (cyclic heading)",
         lambda f: _min(up(f.cv("casing_pressure_psi"), 0.03, 0.06), up(f.cv("tubing_pressure_psi"), 0.08, 0.15))),
    Rule("over_injection", "gas_lift", "MINOR", "efficiency", ("injection_rate_mscfd", "flow_rate_bpd", "injection_pressure_psi"),
         "r(injection) >= 1.45 with r(flow) >= 0.915 and injection pressure not down (r >= 0.98)",
         lambda f: _min(up(f.r("injection_rate_mscfd"), 1.3, 1.6), up(f.r("flow_rate_bpd"), 0.88, 0.95),
                        up(f.r("injection_pressure_psi"), 0.97, 0.99))),
    Rule("gas_leak", "gas_lift", "MAJOR", "mechanical", ("injection_rate_mscfd", "injection_pressure_psi", "flow_rate_bpd"),
         "r(injection) >= 1.225 while injection pressure <= 0.90 and flow <= 0.85 of baseline",
         lambda f: _min(up(f.r("injection_rate_mscfd"), 1.15, 1.30), down(f.r("injection_pressure_psi"), 0.93, 0.87),
                        down(f.r("flow_rate_bpd"), 0.90, 0.80))),
    Rule("separator_flooding", "gas_lift", "CRITICAL", "production", ("separator_level_pct",),
         "separator level >= 80%",
         lambda f: up(f.med("separator_level_pct"), 75.0, 85.0)),
    Rule("pressure_drop", "gas_lift", "MAJOR", "hydraulic", ("injection_pressure_psi", "injection_rate_mscfd", "flow_rate_bpd"),
         "injection pressure <= 0.775 and injection rate <= 0.725 of baseline",
         lambda f: _min(down(f.r("injection_pressure_psi"), 0.85, 0.70), down(f.r("injection_rate_mscfd"), 0.80, 0.65))),
    Rule("water_breakthrough", "gas_lift", "MINOR", "production", ("water_cut_frac", "oil_rate_bpd"),
         "water cut >= baseline + 0.15",
         lambda f: up(f.delta("water_cut_frac"), 0.10, 0.20)),
)


# Wells with a downhole gauge and no flow meter (natural flow; gas lift with the same gauges) ---------------
# Signatures: Vargas et al. 2019 (J. Pet. Sci. Eng. 181:106223, the 3W dataset's event classes) and the
# steady model of engines.fielddata.downhole (which pressure moves, which way, how fast: its EVENT_SPECS).
_PDH, _TDH, _PWH, _TWH = "downhole_pressure_psi", "downhole_temperature_f", "tubing_pressure_psi", "wellhead_temperature_f"
_PUP, _PDN = "choke_upstream_pressure_psi", "choke_downstream_pressure_psi"


def _choke_dp_ratio(f):
    """Choke differential (newest samples) over its baseline."""
    return (f.tail(_PUP) - f.tail(_PDN)) / _nz(f.base(_PUP) - f.base(_PDN))


def _tubing_dp_ratio(f):
    """Gauge-to-tree pressure difference (newest samples) over its baseline: the column's weight plus friction."""
    return (f.tail(_PDH) - f.tail(_PWH)) / _nz(f.base(_PDH) - f.base(_PWH))


def _steady(f):
    """1 while the tree pressure does not oscillate (<= 1 swing of 3 sigma in the window), 0 from 3 (slugging,
    heading): a step or a ramp swings once at most."""
    return down(f.swings(_PWH), 3.0, 1.0)


_DOWNHOLE_RULES: tuple[Rule, ...] = (
    Rule("severe_slugging", "natural_flow", "MAJOR", "hydraulic", (_PWH, _PUP, _PDH),
         "the tree pressure swings across +/-3 sigma of its window median >= 3 times (1.5 cycles) and the "
         "choke-upstream pressure varies widely (cv >= 0.115): riser slug cycles of tens of percent",
         lambda f: _min(up(f.swings(_PWH), 2.0, 4.0), up(f.cv(_PUP), 0.08, 0.15))),
    Rule("flow_instability", "natural_flow", "MINOR", "hydraulic", (_PWH, _PUP),
         "the tree pressure swings across +/-3 sigma of its window median >= 3 times but the choke-upstream pressure "
         "varies narrowly (cv <= 0.065): heading without a full slug cycle",
         lambda f: _min(up(f.swings(_PWH), 2.0, 4.0), down(f.cv(_PUP), 0.08, 0.05))),
    Rule("dhsv_closure", "natural_flow", "CRITICAL", "mechanical", (_PDH, _PWH, _PUP, _PDN, _TWH),
         "the choke differential collapses (<= 0.2 of baseline) while the gauge pressure builds up (>= +3 %) and the "
         "tree pressure falls (<= 0.86): the flow stopped between gauge and tree",
         lambda f: _min(down(_choke_dp_ratio(f), 0.3, 0.1), up(f.rt(_PDH), 1.01, 1.05), down(f.rt(_PWH), 0.92, 0.80))),
    Rule("hydrate", "natural_flow", "MAJOR", "hydraulic", (_PWH, _PUP, _PDH, _TWH),
         "tree pressure up (>= +5.5 %) and gauge pressure up (>= +1.25 %) while the choke-upstream pressure falls "
         "(<= 0.85): a plug between tree and choke; steady (no oscillation)",
         lambda f: _min(up(f.rt(_PWH), 1.03, 1.08), down(f.rt(_PUP), 0.90, 0.80), up(f.rt(_PDH), 1.005, 1.02), _steady(f))),
    Rule("choke_restriction", "natural_flow", "MAJOR", "mechanical", (_PUP, _PDN, _PWH),
         "choke differential >= 1.55 of baseline with the choke-upstream (>= +20 %) and tree (>= +3.5 %) pressures "
         "up: restriction or scaling at the production choke (the ramp tells quick from slow)",
         lambda f: _min(up(_choke_dp_ratio(f), 1.3, 1.8), up(f.rt(_PUP), 1.10, 1.30), up(f.rt(_PWH), 1.02, 1.05), _steady(f))),
    Rule("productivity_loss", "natural_flow", "MAJOR", "production", (_PDH, _PWH, _PUP, _PDN),
         "gauge (<= 0.95), tree (<= 0.915) and choke differential (<= 0.775) all fall together: the inflow, not the "
         "surface, limits the rate",
         lambda f: _min(down(f.rt(_PDH), 0.97, 0.93), down(f.rt(_PWH), 0.95, 0.88), down(_choke_dp_ratio(f), 0.85, 0.70),
                        up(_choke_dp_ratio(f), 0.2, 0.35), _steady(f))),
    Rule("water_increase", "natural_flow", "MINOR", "production", (_PDH, _PWH, _TWH, _PUP),
         "gauge-to-tree difference >= 1.06 of baseline with the gauge pressure up (>= +0.5 %), the tree temperature not "
         "down (>= -1 degF) and flow continuing (choke differential >= 0.375): a heavier column",
         lambda f: _min(up(_tubing_dp_ratio(f), 1.04, 1.08), up(f.rt(_PDH), 1.0, 1.01), up(f.dtail(_TWH), -2.0, 0.0),
                        up(_choke_dp_ratio(f), 0.3, 0.45), _steady(f))),
)

#: The downhole-gauge rules also serve gas-lifted wells that have the gauges (skipped where they are absent).
RULES = RULES + _DOWNHOLE_RULES + tuple(replace(r, lift_type="gas_lift") for r in _DOWNHOLE_RULES)

RULES_BY_LIFT_TYPE: dict[str, tuple[Rule, ...]] = {}
for _r in RULES:
    RULES_BY_LIFT_TYPE.setdefault(_r.lift_type, ())
    RULES_BY_LIFT_TYPE[_r.lift_type] += (_r,)


def evaluate_rules(lift_type: str, window: dict[str, np.ndarray], baseline: RobustBaseline) -> tuple[tuple[Rule, ...], np.ndarray, Features]:
    """Scores (n_wells, n_rules) of every rule of ``lift_type`` on ``window`` against ``baseline``."""
    if lift_type not in RULES_BY_LIFT_TYPE:
        raise ValueError(f"unknown lift type {lift_type!r}; expected one of {tuple(RULES_BY_LIFT_TYPE)}")
    feats = Features(window, baseline)
    rules = RULES_BY_LIFT_TYPE[lift_type]
    scores = np.stack([np.nan_to_num(r.evaluate(feats), nan=0.0) for r in rules], axis=1)
    return rules, scores, feats
