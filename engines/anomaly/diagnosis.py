"""The 5-minute diagnostic tier for many wells of one lift type: one pure entry point.

``diagnose_window`` runs, vectorized over wells: Layer 1 (CUSUM per key on baseline-standardized
samples with the adaptive h that keeps ARL0 at its target; Isolation Forest for wells without a
baseline), Layer 2 (the 24 rules), EWMA drift charts, PCA T^2 / SPE with contributions, and the
health score. State (CUSUM and EWMA sums) is passed in and returned; nothing is stored.
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from functools import lru_cache
from typing import Sequence

import numpy as np

from engines.anomaly.baseline import RobustBaseline
from engines.anomaly.cusum import CusumState, cusum_update, h_for_arl0
from engines.anomaly.isolation import FieldForest
from engines.anomaly.rules import FIRE_SCORE, RULES_BY_LIFT_TYPE, evaluate_rules
from engines.health.score import COMPONENTS, ENERGY_KEY, health_score
from engines.spc.ewma import DEFAULT_LAMBDA, EwmaState, L_for_arl0, ewma_update
from engines.spc.pca import PcaModel, fit_pca

#: Keys monitored by Layer 1 / SPC per lift type: continuous, roughly Gaussian measurements (numeric
#: telemetry minus setpoints, derived oil/gas rates and pump fillage, a controller output bounded at
#: 100% whose skewed in-control distribution breaks the charts' ARL design; the rules cover it).
MONITORED_KEYS: dict[str, tuple[str, ...]] = {
    "esp": ("flow_rate_bpd", "water_cut_frac", "tubing_pressure_psi", "motor_current_a", "motor_voltage_v",
            "motor_temperature_f", "intake_pressure_psi", "discharge_pressure_psi", "vibration_g", "motor_power_kw"),
    "srp": ("flow_rate_bpd", "water_cut_frac", "tubing_pressure_psi", "polished_rod_load_max_lbf",
            "polished_rod_load_min_lbf", "motor_power_kw", "pump_intake_pressure_psi"),
    "pcp": ("flow_rate_bpd", "water_cut_frac", "tubing_pressure_psi", "torque_ftlbf", "motor_power_kw",
            "motor_current_a", "intake_pressure_psi", "motor_temperature_f"),
    "gas_lift": ("flow_rate_bpd", "water_cut_frac", "tubing_pressure_psi", "casing_pressure_psi",
                 "injection_rate_mscfd", "injection_pressure_psi", "separator_level_pct"),
}

SAMPLES_PER_MONTH = 8640


@dataclass(frozen=True)
class DiagnosisConfig:
    """Layer-1 / SPC settings. ``arl0_samples`` is the target in-control ARL per well for each chart
    family (all keys together: each key's chart gets ARL0 = arl0_samples x n_keys, a Bonferroni split);
    ``cusum_k`` the reference value (sigma); ``h_sigma`` / ``ewma_L`` override the adaptive h / L
    (e.g. the 4 or 5 sigma presets, or Lucas & Saccucci's L = 2.814 for ARL0 = 500 at lambda = 0.1)."""

    cusum_k: float = 0.5
    arl0_samples: float = 3 * SAMPLES_PER_MONTH
    h_sigma: float | None = None
    ewma_lambda: float = DEFAULT_LAMBDA
    ewma_L: float | None = None

    def cusum_h(self, n_keys: int) -> float:
        return self.h_sigma if self.h_sigma is not None else _h_cached(self.arl0_samples * n_keys, self.cusum_k)

    def ewma_limit_L(self, n_keys: int) -> float:
        return self.ewma_L if self.ewma_L is not None else L_for_arl0(self.arl0_samples * n_keys, self.ewma_lambda)


@lru_cache(maxsize=64)
def _h_cached(arl0: float, k: float) -> float:
    """Memoized :func:`h_for_arl0` (a pure function of its arguments)."""
    return h_for_arl0(arl0, k)


@dataclass(frozen=True)
class TierState:
    """Per-well chart state carried between calls."""

    cusum: CusumState
    ewma: EwmaState

    @classmethod
    def zeros(cls, n_wells: int, n_keys: int) -> "TierState":
        return cls(CusumState.zeros((n_wells, n_keys)), EwmaState.zeros((n_wells, n_keys)))

    def take(self, rows) -> "TierState":
        """The state of the wells ``rows`` (an index, slice or index array), rows kept 2-D."""
        rows = [rows] if isinstance(rows, (int, np.integer)) else rows
        return TierState(CusumState(self.cusum.c_plus[rows], self.cusum.c_minus[rows]), EwmaState(self.ewma.z[rows]))

    @staticmethod
    def stack(states: "list[TierState]") -> "TierState":
        """One state for many wells from per-well (or per-group) states over the same keys."""
        cat = lambda arrays: np.concatenate(arrays, axis=0)  # noqa: E731
        return TierState(CusumState(cat([s.cusum.c_plus for s in states]), cat([s.cusum.c_minus for s in states])),
                         EwmaState(cat([s.ewma.z for s in states])))


@dataclass(frozen=True)
class DiagnosisResult:
    """Per-well results (arrays of length n_wells, tuples of strings / evidence lists)."""

    lift_type: str
    anomaly_detected: np.ndarray
    anomaly_score: np.ndarray
    anomaly_type: tuple[str, ...]
    anomaly_severity: tuple[str, ...]
    evidence: tuple[list, ...]
    rule_names: tuple[str, ...]
    rule_scores: np.ndarray  # (n_wells, n_rules)
    health_score: np.ndarray
    health_status: tuple[str, ...]
    health_components: dict[str, np.ndarray]
    health_trend: tuple[str, ...]  # improving | stable | declining
    health_change_7d: np.ndarray  # 7-day change of the health score, points
    spc_t2: np.ndarray
    spc_spe: np.ndarray
    spc_ewma_alarm: np.ndarray
    spc_ewma_keys: tuple[tuple[str, ...], ...]
    cusum_alarm: np.ndarray
    state: TierState | None = dc_field(default=None, repr=False)

    def take(self, i: int) -> "DiagnosisResult":
        """Well ``i`` alone, as the one-well result ``diagnose_window`` returns for that well's inputs
        (the diagnosis is computed row by row, so the values are those of a one-well call)."""
        sl = slice(i, i + 1)
        return DiagnosisResult(
            self.lift_type, self.anomaly_detected[sl], self.anomaly_score[sl], self.anomaly_type[sl],
            self.anomaly_severity[sl], self.evidence[sl], self.rule_names, self.rule_scores[sl], self.health_score[sl],
            self.health_status[sl], {c: v[sl] for c, v in self.health_components.items()}, self.health_trend[sl],
            self.health_change_7d[sl], self.spc_t2[sl], self.spc_spe[sl], self.spc_ewma_alarm[sl], self.spc_ewma_keys[sl],
            self.cusum_alarm[sl], self.state.take(sl) if self.state is not None else None)


def _evidence_item(key, feats, baseline, i):
    return {"key": key, "value": round(float(feats.med(key)[i]), 4), "baseline": round(float(baseline.med(key)[i]), 4),
            "z": round(float(feats.z(key)[i]), 2), "ratio": round(float(feats.r(key)[i]), 4)}


def diagnose_window(lift_type: str, params, window_arrays: dict[str, np.ndarray], baseline: RobustBaseline | None = None,
                    state: TierState | None = None, pca: PcaModel | None = None, forest: FieldForest | None = None,
                    health_history: np.ndarray | None = None, new_steps: int | None = None,
                    config: DiagnosisConfig = DiagnosisConfig(),
                    own_pca: Sequence[PcaModel] | None = None) -> DiagnosisResult:
    """Diagnose a window of telemetry for the wells of one lift type.

    ``window_arrays[key]`` (n_wells, n_steps) in oilfield units; ``params`` a sequence of per-well flat
    attribute dicts (nameplates used by the health score: ESP ``motor_current_a``, PCP
    ``rod_torque_limit_ftlbf``) or None; ``baseline`` fitted on ``MONITORED_KEYS`` (+ rule keys);
    ``new_steps`` the trailing samples not yet seen by the CUSUM/EWMA state (default: all).

    T^2 / SPE come from one of two PCA monitors over ``MONITORED_KEYS``: ``pca``, the field's monitor (fitted on
    the 6-hour window medians of baseline-standardized keys of many wells), applied to each well's window median
    of ``z``; or ``own_pca``, one monitor per well fitted on single samples of that well's own baseline window in
    telemetry units (:func:`fit_own_pca`), applied to its newest sample. Not both."""
    if lift_type not in MONITORED_KEYS:
        raise ValueError(f"unknown lift type {lift_type!r}; expected one of {tuple(MONITORED_KEYS)}")
    keys = MONITORED_KEYS[lift_type]
    missing = [k for k in keys if k not in window_arrays]
    if missing:
        raise ValueError(f"window is missing keys for {lift_type}: {missing}")
    shape = np.shape(window_arrays[keys[0]])
    if len(shape) != 2 or shape[1] < 2:
        raise ValueError(f"window arrays must be (n_wells, n_steps >= 2), got {shape}")
    n, T = shape
    new = T if new_steps is None else int(np.clip(new_steps, 1, T))
    if params is not None and len(params) != n:
        raise ValueError(f"params has {len(params)} wells, window has {n}")
    rules = RULES_BY_LIFT_TYPE[lift_type]
    rule_names = tuple(r.name for r in rules)
    ready = baseline.ready if baseline is not None else np.zeros(n, bool)
    if baseline is not None and baseline.median.shape[0] != n:
        raise ValueError(f"baseline has {baseline.median.shape[0]} wells, window has {n}")
    state = state or TierState.zeros(n, len(keys))

    # Layer 1 + SPC on standardized samples -------------------------------------------------------
    if baseline is not None:
        cols = [baseline.column(k) for k in keys]
        med, sd = baseline.loc[:, cols], baseline.scale[:, cols]
        z = (np.stack([np.asarray(window_arrays[k], dtype=float) for k in keys], axis=1) - med[:, :, None]) / sd[:, :, None]
        z = np.where(ready[:, None, None], z, 0.0)
    else:
        z = np.zeros((n, len(keys), T))
    h = config.cusum_h(len(keys))
    cstate, csig, cmax = cusum_update(z[:, :, T - new:], state.cusum, config.cusum_k, h)
    cusum_alarm = csig.any(axis=(1, 2)) & ready
    estate, esig, _ = ewma_update(z[:, :, T - new:], state.ewma, config.ewma_lambda, config.ewma_limit_L(len(keys)))
    ewma_alarm = esig.any(axis=2) & ready[:, None]
    l1_score = np.clip(cmax[:, :, -1].max(axis=1) / (2.0 * h), 0.0, 1.0) * ready
    l1_key = np.asarray(keys)[np.argmax(np.abs(z).mean(axis=2), axis=1)]
    if pca is not None and own_pca is not None:
        raise ValueError("give the field PCA monitor or the wells' own ones, not both")
    if pca is not None and baseline is not None:
        zm = np.median(z, axis=2)
        t2, spe = pca.statistics(zm)
        t2c, spec = pca.contributions(zm)
        top_var = np.asarray(pca.keys)[np.argmax(np.where((spe > pca.spe_limit)[:, None], spec, np.abs(t2c)), axis=1)]
        t2, spe = np.where(ready, t2, np.nan), np.where(ready, spe, np.nan)
        pca_alarm = ready & ((t2 > pca.t2_limit) | (spe > pca.spe_limit))
    elif own_pca is not None:
        t2, spe, pca_alarm, top_var = _own_pca_statistics(own_pca, keys, window_arrays, n)
    else:
        t2 = spe = np.full(n, np.nan)
        pca_alarm = np.zeros(n, bool)
        top_var = np.asarray([""] * n)

    # Layer 2 --------------------------------------------------------------------------------------
    if baseline is not None:
        _, scores, feats = evaluate_rules(lift_type, window_arrays, baseline)
        scores = scores * ready[:, None]
    else:
        scores, feats = np.zeros((n, len(rules))), None
    if_score = forest.score(window_arrays) if forest is not None else np.zeros(n)
    if_alarm = (~ready) & (if_score > (forest.threshold if forest is not None else np.inf))

    best = np.argmax(scores, axis=1)
    best_score = scores[np.arange(n), best]
    fired = best_score >= FIRE_SCORE
    detected = fired | cusum_alarm | if_alarm
    score = np.maximum.reduce([best_score, l1_score, np.where(~ready, if_score * if_alarm, 0.0)])
    types, sevs, evid = [], [], []
    for i in range(n):
        if fired[i]:
            r = rules[best[i]]
            types.append(r.name)
            sevs.append(r.severity)
            evid.append([_evidence_item(k, feats, baseline, i) for k in r.evidence if k in window_arrays])
        elif cusum_alarm[i]:
            types.append("statistical_deviation")
            sevs.append("WARNING")
            ev = [_evidence_item(str(l1_key[i]), feats, baseline, i)] if feats is not None else []
            if pca_alarm[i]:
                ev.append({"pca_top_contributor": str(top_var[i])})
            evid.append(ev)
        elif if_alarm[i]:
            types.append("multivariate_outlier")
            sevs.append("WARNING")
            evid.append([{"isolation_forest_score": round(float(if_score[i]), 4)}])
        else:
            types.append("none")
            sevs.append("NONE")
            evid.append([])

    # Health -------------------------------------------------------------------------------------
    if feats is not None:
        zk = {k: np.where(ready, feats.z(k), 0.0) for k in window_arrays if k in baseline.keys}
        prod = np.where(ready, feats.r("oil_rate_bpd") if "oil_rate_bpd" in baseline.keys else feats.r("flow_rate_bpd"), 1.0)
        ek = ENERGY_KEY[lift_type]
        eff = np.where(ready, feats.r("flow_rate_bpd") / np.maximum(feats.r(ek), 1e-9), 1.0)
    else:
        zk, prod, eff = {}, np.ones(n), np.ones(n)
    by_comp = {c: np.zeros(n) for c in COMPONENTS}
    for j, r in enumerate(rules):
        by_comp[r.component] = np.maximum(by_comp[r.component], scores[:, j])
    if params is not None:
        _nameplate_penalties(lift_type, params, window_arrays, by_comp)
    hr = health_score(lift_type, zk, prod, eff, by_comp, health_history)
    return DiagnosisResult(lift_type, detected, score, tuple(types), tuple(sevs), tuple(evid), rule_names, scores,
                           hr.score, hr.status, hr.components, hr.trend, hr.change_7d, t2, spe, ewma_alarm.any(axis=1),
                           tuple(tuple(np.asarray(keys)[ewma_alarm[i]]) for i in range(n)), cusum_alarm,
                           TierState(cstate, estate))


def fit_own_pca(lift_type: str, samples: dict[str, np.ndarray], confidence: float = 0.99) -> PcaModel:
    """One well's own-history PCA monitor (for fields too small for the field monitor): fitted on the rows of
    ``samples[key]`` (n_samples,) over ``MONITORED_KEYS[lift_type]`` in telemetry units, leaving out rows with a
    non-finite value; raises ValueError when fewer than 2 x n_keys + 1 rows remain."""
    keys = MONITORED_KEYS[lift_type]
    x = np.stack([np.asarray(samples[k], dtype=float) for k in keys], axis=1)
    x = x[np.isfinite(x).all(axis=1)]
    if x.shape[0] <= 2 * len(keys):
        raise ValueError(f"{x.shape[0]} complete samples for an own-history PCA of {len(keys)} keys "
                         f"(more than {2 * len(keys)} needed)")
    return fit_pca(x, keys, confidence=confidence)


def _own_pca_statistics(models: Sequence[PcaModel], keys: tuple[str, ...], window_arrays: dict[str, np.ndarray],
                        n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """T^2, SPE, alarm (either above its limit) and largest contributor of each well's newest sample under its
    own monitor ``models[i]`` (fitted on ``keys`` in telemetry units); vectorized over the wells whose monitors
    keep the same number of components."""
    if len(models) != n:
        raise ValueError(f"{len(models)} own PCA monitors for {n} wells")
    if any(m.keys != keys for m in models):
        raise ValueError(f"an own PCA monitor is not over {keys}")
    latest = np.stack([np.asarray(window_arrays[k], dtype=float)[:, -1] for k in keys], axis=1)  # (n, K)
    t2, spe, alarm, top = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, bool), np.zeros(n, dtype=int)
    by_a: dict[int, list[int]] = {}
    for i, m in enumerate(models):
        by_a.setdefault(m.loadings.shape[1], []).append(i)
    for rows in by_a.values():
        group = [models[i] for i in rows]
        p = np.stack([m.loadings for m in group])  # (g, K, a)
        lam = np.stack([m.eigenvalues for m in group])  # (g, a)
        xs = (latest[rows] - np.stack([m.mean for m in group])) / np.stack([m.scale for m in group])
        t = np.einsum("gk,gka->ga", xs, p)
        resid = xs - np.einsum("ga,gka->gk", t, p)
        t2c = xs * np.einsum("ga,gka->gk", t / lam, p)  # Westerhuis et al. (2000): they sum to T^2
        t2[rows], spe[rows] = np.sum(t**2 / lam, axis=1), np.sum(resid**2, axis=1)
        spe_out = spe[rows] > np.array([m.spe_limit for m in group])
        alarm[rows] = (t2[rows] > np.array([m.t2_limit for m in group])) | spe_out
        top[rows] = np.argmax(np.where(spe_out[:, None], resid**2, np.abs(t2c)), axis=1)
    return t2, spe, alarm, np.asarray(keys)[top]


def _nameplate_penalties(lift_type, params, window, by_comp):
    """Cap components when a nameplate limit is approached: ESP current vs nameplate (electrical),
    PCP torque vs rod torque limit (mechanical); penalty ramps from 0 at 90% to 1 at 110%."""
    if lift_type == "esp" and "motor_current_a" in window:
        plate = np.array([float(p.get("motor_current_a", np.nan)) for p in params])
        ratio = np.nanmedian(window["motor_current_a"], axis=1) / plate
        by_comp["electrical"] = np.maximum(by_comp["electrical"], np.nan_to_num(np.clip((ratio - 0.9) / 0.2, 0, 1)))
    if lift_type == "pcp" and "torque_ftlbf" in window:
        plate = np.array([float(p.get("rod_torque_limit_ftlbf", np.nan)) for p in params])
        ratio = np.nanmedian(window["torque_ftlbf"], axis=1) / plate
        by_comp["mechanical"] = np.maximum(by_comp["mechanical"], np.nan_to_num(np.clip((ratio - 0.9) / 0.2, 0, 1)))
