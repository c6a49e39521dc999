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
    # wells with a permanent downhole gauge and no flow meter (the 3W instrumentation, Vargas et al. 2019)
    "natural_flow": ("downhole_pressure_psi", "downhole_temperature_f", "tubing_pressure_psi", "wellhead_temperature_f",
                     "choke_upstream_pressure_psi", "choke_downstream_pressure_psi"),
}

#: Further keys charted where a well reports them: gas-lifted wells with a downhole gauge and pressures around the
#: production choke (``injection_pressure_psi`` is the lift-gas line pressure).
OPTIONAL_MONITORED_KEYS: dict[str, tuple[str, ...]] = {
    "gas_lift": ("downhole_pressure_psi", "downhole_temperature_f", "wellhead_temperature_f",
                 "choke_upstream_pressure_psi", "choke_downstream_pressure_psi"),
    "natural_flow": ("flow_rate_bpd", "water_cut_frac"),  # a well test separator or multiphase meter, where there is one
}
#: Every key the CUSUM / EWMA charts of a lift type cover (the columns of its ``TierState``).
CHARTED_KEYS: dict[str, tuple[str, ...]] = {lift: keys + OPTIONAL_MONITORED_KEYS.get(lift, ())
                                           for lift, keys in MONITORED_KEYS.items()}

#: Keys without which a well of the lift type cannot be diagnosed; every other monitored key is optional (its
#: charts and the rules that read it are skipped when the well does not measure it). ESP, SRP and PCP wells
#: measure all of theirs; gas-lifted and naturally flowing wells offshore often have no flow meter, no
#: separator level or casing gauge (Vargas et al. 2019, J. Pet. Sci. Eng. 181:106223, the 3W dataset: a downhole
#: gauge, the tree's pressure and temperature, the pressures around the production choke and the lift-gas line).
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "esp": MONITORED_KEYS["esp"], "srp": MONITORED_KEYS["srp"], "pcp": MONITORED_KEYS["pcp"],
    "gas_lift": ("tubing_pressure_psi",), "natural_flow": ("tubing_pressure_psi",),
}
#: A live key's samples that repeat the previous value exactly this many times in a row are a frozen transmitter
#: (stale value held by the RTU / historian) and are treated as gaps.
FROZEN_RUN_SAMPLES = 6

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
    #: wells with nothing to chart (no baseline, no key with a usable history, no forest): health NaN
    insufficient: np.ndarray | None = None
    #: per well, the charts and rules skipped (key absent, history empty or short, frozen samples), for opt_status_detail
    skipped: tuple[tuple[str, ...], ...] = ()

    def take(self, i: int) -> "DiagnosisResult":
        """Well ``i`` alone, as the one-well result ``diagnose_window`` returns for that well's inputs
        (the diagnosis is computed row by row, so the values are those of a one-well call)."""
        sl = slice(i, i + 1)
        return DiagnosisResult(
            self.lift_type, self.anomaly_detected[sl], self.anomaly_score[sl], self.anomaly_type[sl],
            self.anomaly_severity[sl], self.evidence[sl], self.rule_names, self.rule_scores[sl], self.health_score[sl],
            self.health_status[sl], {c: v[sl] for c, v in self.health_components.items()}, self.health_trend[sl],
            self.health_change_7d[sl], self.spc_t2[sl], self.spc_spe[sl], self.spc_ewma_alarm[sl], self.spc_ewma_keys[sl],
            self.cusum_alarm[sl], self.state.take(sl) if self.state is not None else None,
            None if self.insufficient is None else self.insufficient[sl], self.skipped[sl] if self.skipped else ())


def _evidence_item(key, feats, baseline, i):
    """Window median, baseline median, z and ratio of ``key``, and ``recent``, the median of the newest samples
    (what the fast downhole-gauge rules read); None where a value is unknown."""
    num = lambda x, d: round(float(x), d) if np.isfinite(x) else None  # noqa: E731
    return {"key": key, "value": num(feats.med(key)[i], 4), "baseline": num(feats.base(key)[i], 4),
            "z": num(feats.z(key)[i], 2), "ratio": num(feats.r(key)[i], 4), "recent": num(feats.tail(key)[i], 4)}


def _frozen_mask(x: np.ndarray, live: np.ndarray, run: int) -> np.ndarray:
    """(n, T) samples that repeat the previous ``run - 1`` samples exactly, for wells whose key is ``live``
    (n,) (its baseline spread exceeds the sensor floor: a live transmitter whose noise exceeds its resolution
    repeats a value ``run`` times with a negligible probability; a deadband-compressed record repeats normally)."""
    n, T = x.shape
    out = np.zeros((n, T), bool)
    if T < run:
        return out
    eq = np.concatenate([np.zeros((n, 1), int), (x[:, 1:] == x[:, :-1]).astype(int)], axis=1)
    c = np.cumsum(eq, axis=1)
    ended = np.zeros((n, T), int)
    ended[:, run - 1:] = c[:, run - 1:] - np.concatenate([np.zeros((n, 1), int), c[:, :T - run]], axis=1)
    return (ended >= run - 1) & np.isfinite(x) & live[:, None]


def diagnose_window(lift_type: str, params, window_arrays: dict[str, np.ndarray], baseline: RobustBaseline | None = None,
                    state: TierState | None = None, pca: PcaModel | None = None, forest: FieldForest | None = None,
                    health_history: np.ndarray | None = None, new_steps: int | None = None,
                    config: DiagnosisConfig = DiagnosisConfig(),
                    own_pca: Sequence[PcaModel] | None = None) -> DiagnosisResult:
    """Diagnose a window of telemetry for the wells of one lift type.

    ``window_arrays[key]`` (n_wells, n_steps) in oilfield units; ``params`` a sequence of per-well flat
    attribute dicts (nameplates used by the health score: ESP ``motor_current_a``, PCP
    ``rod_torque_limit_ftlbf``) or None; ``baseline`` fitted on ``CHARTED_KEYS`` (+ rule keys);
    ``new_steps`` the trailing samples not yet seen by the CUSUM/EWMA state (default: all).

    Only ``REQUIRED_KEYS[lift_type]`` must be in the window; every other monitored key is optional: the
    charts of a key that is absent, or whose baseline history is empty or shorter than ``MIN_KEY_SAMPLES``, and
    the rules that read such a key are skipped and listed in ``DiagnosisResult.skipped``. A well with no key
    to chart (no baseline, or no key with a usable history) and no Isolation-Forest fallback gets
    ``insufficient_data`` (health NaN) instead of an answer. Samples of a live key that repeat exactly for
    ``FROZEN_RUN_SAMPLES`` samples (a frozen transmitter) are treated as gaps.

    T^2 / SPE come from one of two PCA monitors over the monitored keys: ``pca``, the field's monitor (fitted on
    the 6-hour window medians of baseline-standardized keys of many wells), applied to each well's window median
    of ``z``; or ``own_pca``, one monitor per well fitted on single samples of that well's own baseline window in
    telemetry units (:func:`fit_own_pca`), applied to its newest sample. Not both."""
    if lift_type not in MONITORED_KEYS:
        raise ValueError(f"unknown lift type {lift_type!r}; expected one of {tuple(MONITORED_KEYS)}")
    keys = CHARTED_KEYS[lift_type]
    missing = [k for k in REQUIRED_KEYS[lift_type] if k not in window_arrays]
    if missing:
        raise ValueError(f"window is missing keys for {lift_type}: {missing}")
    first = next((k for k in keys if k in window_arrays), next(iter(window_arrays), None))
    if first is None:
        raise ValueError(f"window has no keys for {lift_type}")
    shape = np.shape(window_arrays[first])
    if len(shape) != 2 or shape[1] < 2:
        raise ValueError(f"window arrays must be (n_wells, n_steps >= 2), got {shape}")
    n, T = shape
    new = T if new_steps is None else int(np.clip(new_steps, 1, T))
    if params is not None and len(params) != n:
        raise ValueError(f"params has {len(params)} wells, window has {n}")
    rules = RULES_BY_LIFT_TYPE[lift_type]
    rule_names = tuple(r.name for r in rules)
    if baseline is not None and baseline.median.shape[0] != n:
        raise ValueError(f"baseline has {baseline.median.shape[0]} wells, window has {n}")
    state = state or TierState.zeros(n, len(keys))
    present = tuple(k for k in keys if k in window_arrays)

    # Usable keys per well, frozen samples out ----------------------------------------------------
    window = dict(window_arrays)
    frozen_keys: list[list[str]] = [[] for _ in range(n)]
    if baseline is not None:
        ready_keys = baseline.key_ready
        floor = baseline.floor if baseline.floor is not None else np.zeros_like(baseline.sigma)
        for k in window_arrays:
            if k not in baseline.keys:
                continue
            c = baseline.column(k)
            x = np.asarray(window_arrays[k], dtype=float)
            frozen = _frozen_mask(x, baseline.sigma[:, c] > 1.5 * np.nan_to_num(floor[:, c], nan=0.0), FROZEN_RUN_SAMPLES)
            if frozen.any():
                window[k] = np.where(frozen, np.nan, x)
                for i in np.flatnonzero(frozen[:, -new:].any(axis=1)):
                    frozen_keys[i].append(k)
        use = np.stack([ready_keys[:, baseline.column(k)] if (k in window and k in baseline.keys) else np.zeros(n, bool)
                        for k in keys], axis=1)  # (n, K)
        ready = baseline.ready & use.any(axis=1)
    else:
        use = np.zeros((n, len(keys)), bool)
        ready = np.zeros(n, bool)
    insufficient = ~ready & (forest is None)

    # Layer 1 + SPC on standardized samples -------------------------------------------------------
    if baseline is not None:
        cols = [baseline.column(k) if k in baseline.keys else 0 for k in keys]
        med, sd = baseline.loc[:, cols], baseline.scale[:, cols]
        x = np.stack([np.asarray(window[k], dtype=float) if k in window else np.full((n, T), np.nan) for k in keys], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (x - med[:, :, None]) / sd[:, :, None]
        z = np.where((use & ready[:, None])[:, :, None] & np.isfinite(z), z, 0.0)
    else:
        z = np.zeros((n, len(keys), T))
    h = config.cusum_h(max(len(present), 1))
    cstate, csig, cmax = cusum_update(z[:, :, T - new:], state.cusum, config.cusum_k, h)
    cusum_alarm = csig.any(axis=(1, 2)) & ready
    estate, esig, _ = ewma_update(z[:, :, T - new:], state.ewma, config.ewma_lambda, config.ewma_limit_L(max(len(present), 1)))
    ewma_alarm = esig.any(axis=2) & ready[:, None]
    l1_score = np.clip(cmax[:, :, -1].max(axis=1) / (2.0 * h), 0.0, 1.0) * ready
    l1_key = np.asarray(keys)[np.argmax(np.abs(z).mean(axis=2), axis=1)]
    if pca is not None and own_pca is not None:
        raise ValueError("give the field PCA monitor or the wells' own ones, not both")
    if pca is not None and baseline is not None and all(k in keys for k in pca.keys):
        pcols = [keys.index(k) for k in pca.keys]
        zm = np.median(z[:, pcols, :], axis=2)
        t2, spe = pca.statistics(zm)
        t2c, spec = pca.contributions(zm)
        top_var = np.asarray(pca.keys)[np.argmax(np.where((spe > pca.spe_limit)[:, None], spec, np.abs(t2c)), axis=1)]
        charted = ready & use[:, pcols].all(axis=1)
        t2, spe = np.where(charted, t2, np.nan), np.where(charted, spe, np.nan)
        pca_alarm = charted & ((t2 > pca.t2_limit) | (spe > pca.spe_limit))
    elif own_pca is not None:
        t2, spe, pca_alarm, top_var = _own_pca_statistics(own_pca, keys, window, n)
    else:
        t2 = spe = np.full(n, np.nan)
        pca_alarm = np.zeros(n, bool)
        top_var = np.asarray([""] * n)

    # Layer 2 --------------------------------------------------------------------------------------
    skipped: list[list[str]] = [[] for _ in range(n)]
    if baseline is not None:
        avail = {k: (ready_keys[:, baseline.column(k)] if k in baseline.keys else np.zeros(n, bool))
                 for k in window if k in baseline.keys}
        _, scores, feats = evaluate_rules(lift_type, window, baseline)
        for j, r in enumerate(rules):
            ok = np.ones(n, bool)
            for k in r.needs:
                ok &= avail.get(k, np.zeros(n, bool))
            scores[:, j] *= ok
            for i in np.flatnonzero(~ok & ready):
                skipped[i].append(f"rule {r.name} (needs {', '.join(k for k in r.needs if not avail.get(k, np.zeros(n, bool))[i])})")
        scores = scores * ready[:, None]
        for i in np.flatnonzero(ready):
            for c, k in enumerate(keys):
                if not use[i, c]:
                    why = "absent" if k not in window_arrays else "history empty or shorter than one day"
                    skipped[i].insert(0, f"chart {k} ({why})")
    else:
        scores, feats = np.zeros((n, len(rules))), None
    for i in range(n):
        skipped[i].extend(f"frozen {k} (samples repeated {FROZEN_RUN_SAMPLES}+ times treated as gaps)" for k in frozen_keys[i])
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
            evid.append([_evidence_item(k, feats, baseline, i) for k in r.evidence if k in window and k in baseline.keys])
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
        elif insufficient[i]:
            types.append("insufficient_data")
            sevs.append("NONE")
            evid.append([])
        else:
            types.append("none")
            sevs.append("NONE")
            evid.append([])

    # Health -------------------------------------------------------------------------------------
    if feats is not None:
        zk = {}
        for c, k in enumerate(keys):
            if k in window and k in baseline.keys:
                zk[k] = np.where(ready & use[:, c], np.nan_to_num(feats.z(k), nan=0.0), 0.0)
        rate_key = "oil_rate_bpd" if "oil_rate_bpd" in baseline.keys and "oil_rate_bpd" in window else "flow_rate_bpd"
        flow_ok = ready & (avail.get(rate_key, np.zeros(n, bool)))
        prod = np.where(flow_ok, feats.r(rate_key) if rate_key in window else 1.0, 1.0)
        ek = ENERGY_KEY.get(lift_type)
        eff_ok = ready & avail.get("flow_rate_bpd", np.zeros(n, bool)) & (avail.get(ek, np.zeros(n, bool)) if ek else False)
        eff = np.where(eff_ok, feats.r("flow_rate_bpd") / np.maximum(feats.r(ek), 1e-9) if eff_ok.any() else 1.0, 1.0)
    else:
        zk, prod, eff = {}, np.ones(n), np.ones(n)
    by_comp = {c: np.zeros(n) for c in COMPONENTS}
    for j, r in enumerate(rules):
        by_comp[r.component] = np.maximum(by_comp[r.component], scores[:, j])
    if params is not None:
        _nameplate_penalties(lift_type, params, window, by_comp)
    hr = health_score(lift_type, zk, prod, eff, by_comp, health_history)
    health = np.where(insufficient, np.nan, hr.score)
    status = tuple("insufficient_data" if insufficient[i] else hr.status[i] for i in range(n))
    return DiagnosisResult(lift_type, detected, score, tuple(types), tuple(sevs), tuple(evid), rule_names, scores,
                           health, status, hr.components, hr.trend, hr.change_7d, t2, spe, ewma_alarm.any(axis=1),
                           tuple(tuple(np.asarray(keys)[ewma_alarm[i]]) for i in range(n)), cusum_alarm,
                           TierState(cstate, estate), insufficient, tuple(tuple(s) for s in skipped))


def fit_own_pca(lift_type: str, samples: dict[str, np.ndarray], confidence: float = 0.99) -> PcaModel:
    """One well's own-history PCA monitor (for fields too small for the field monitor): fitted on the rows of
    ``samples[key]`` (n_samples,) over the keys of ``MONITORED_KEYS[lift_type]`` the well measures (present with at
    least one finite sample) in telemetry units, leaving out rows with a non-finite value; raises ValueError when
    fewer than 2 x n_keys + 1 rows remain or a required key is absent."""
    keys = tuple(k for k in CHARTED_KEYS[lift_type]
                 if k in samples and np.isfinite(np.asarray(samples[k], dtype=float)).any())
    missing = [k for k in REQUIRED_KEYS[lift_type] if k not in keys]
    if missing or len(keys) < 2:
        raise ValueError(f"an own-history PCA of {lift_type} needs {list(REQUIRED_KEYS[lift_type])} and two keys; "
                         f"got {list(keys)}")
    x = np.stack([np.asarray(samples[k], dtype=float) for k in keys], axis=1)
    x = x[np.isfinite(x).all(axis=1)]
    if x.shape[0] <= 2 * len(keys):
        raise ValueError(f"{x.shape[0]} complete samples for an own-history PCA of {len(keys)} keys "
                         f"(more than {2 * len(keys)} needed)")
    return fit_pca(x, keys, confidence=confidence)


def _own_pca_statistics(models: Sequence[PcaModel], keys: tuple[str, ...], window_arrays: dict[str, np.ndarray],
                        n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """T^2, SPE, alarm (either above its limit) and largest contributor of each well's newest sample under its
    own monitor ``models[i]`` (fitted on some of ``keys`` in telemetry units); vectorized over the wells whose
    monitors share their keys and number of components. A well whose newest sample lacks a key: NaN, no alarm."""
    if len(models) != n:
        raise ValueError(f"{len(models)} own PCA monitors for {n} wells")
    if any(not set(m.keys) <= set(keys) for m in models):
        raise ValueError(f"an own PCA monitor is not over keys of {keys}")
    t2, spe, alarm = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, bool)
    top = np.asarray([""] * n, dtype=object)
    by_a: dict[tuple, list[int]] = {}
    for i, m in enumerate(models):
        by_a.setdefault((m.loadings.shape[1], m.keys), []).append(i)
    for (_, mkeys), rows in by_a.items():
        if any(k not in window_arrays for k in mkeys):
            continue
        latest = np.stack([np.asarray(window_arrays[k], dtype=float)[rows, -1] for k in mkeys], axis=1)  # (g, K)
        group = [models[i] for i in rows]
        p = np.stack([m.loadings for m in group])  # (g, K, a)
        lam = np.stack([m.eigenvalues for m in group])  # (g, a)
        xs = (latest - np.stack([m.mean for m in group])) / np.stack([m.scale for m in group])
        t = np.einsum("gk,gka->ga", xs, p)
        resid = xs - np.einsum("ga,gka->gk", t, p)
        t2c = xs * np.einsum("ga,gka->gk", t / lam, p)  # Westerhuis et al. (2000): they sum to T^2
        ok = np.isfinite(xs).all(axis=1)
        r = np.asarray(rows)
        t2[r] = np.where(ok, np.sum(t**2 / lam, axis=1), np.nan)
        spe[r] = np.where(ok, np.sum(resid**2, axis=1), np.nan)
        spe_out = ok & (spe[r] > np.array([m.spe_limit for m in group]))
        alarm[r] = ok & ((t2[r] > np.array([m.t2_limit for m in group])) | spe_out)
        top[r] = np.asarray(mkeys)[np.argmax(np.where(spe_out[:, None], np.nan_to_num(resid**2),
                                                      np.nan_to_num(np.abs(t2c))), axis=1)]
    return t2, spe, alarm, top.astype(str)


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
