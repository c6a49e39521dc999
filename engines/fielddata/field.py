"""``SyntheticField``: deterministic, physically consistent telemetry for N wells of each lift type.

The per-lift-type physics lives in :mod:`esp`, :mod:`srp`, :mod:`pcp`, :mod:`gas_lift`; faults and
their signatures in :mod:`faults`. Measurement noise is Gaussian, generated in blocks of
``NOISE_BLOCK_STEPS`` samples from a generator seeded by (seed, lift type, block), so any window
``[start_step, start_step + n_steps)`` is identical whichever way it is requested.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field as dc_field
from typing import Iterator, Mapping

import numpy as np

from engines.fielddata import esp, gas_lift, pcp, srp
from engines.fielddata.faults import FAULT_SPECS, FAULTS_BY_LIFT_TYPE
from engines.fielddata.keys import LIFT_TYPES, NAME_PREFIX_BY_LIFT_TYPE, NUMERIC_KEYS_BY_LIFT_TYPE
from engines.fielddata.reservoir import COMMON_ATTRIBUTE_KEYS, draw_common

NOISE_BLOCK_STEPS = 288
_MODELS = {"esp": esp, "srp": srp, "pcp": pcp, "gas_lift": gas_lift}
_NOISE_CHANNELS = {lift: NUMERIC_KEYS_BY_LIFT_TYPE[lift] + ("spike",) for lift in LIFT_TYPES}


@dataclass(frozen=True)
class SyntheticWell:
    """One synthetic well: ``attributes`` are flat static parameters accepted by ``parse_well_config``."""

    name: str
    lift_type: str
    attributes: dict = dc_field(hash=False, compare=False)
    fault: str | None = None
    fault_onset_step: int | None = None
    index: int = 0  # position among the wells of its lift type (row of ``arrays``)


class _Severity(Mapping):
    """``sev[fault_name]`` -> (n_wells, n_steps) severity in [0, 1]; zeros for faults not injected."""

    def __init__(self, by_fault: dict[str, np.ndarray], shape: tuple[int, int]):
        self._by_fault, self._zeros = by_fault, np.zeros(shape)

    def __getitem__(self, key):
        return self._by_fault.get(key, self._zeros)

    def __iter__(self):
        return iter(self._by_fault)

    def __len__(self):
        return len(self._by_fault)


class SyntheticField:
    """Telemetry generator for ``wells_per_lift_type`` wells of each lift type.

    Parameters
    ----------
    wells_per_lift_type : int or dict lift_type -> int
    seed : int, master seed (well parameters and noise are deterministic functions of it)
    faults : None or dict well_name -> fault_name or (fault_name, onset_step)
    start_ms, step_s : timestamp of step 0 (epoch ms) and sampling interval (s)
    fault_onset_step : default onset for faults given without one (default ``run_steps // 2``)
    run_steps : nominal run length used for the default onset (default 288 = one day at 5 min)
    """

    def __init__(self, wells_per_lift_type: int | Mapping[str, int] = 3, seed: int = 0, faults: Mapping | None = None,
                 start_ms: int = 1_700_000_000_000, step_s: int = 300, fault_onset_step: int | None = None,
                 run_steps: int = 288):
        counts = wells_per_lift_type if isinstance(wells_per_lift_type, Mapping) else {k: wells_per_lift_type for k in LIFT_TYPES}
        for lift, n in counts.items():
            if lift not in LIFT_TYPES:
                raise ValueError(f"unknown lift type {lift!r}; expected one of {LIFT_TYPES}")
            if int(n) < 0:
                raise ValueError(f"wells_per_lift_type[{lift}] must be >= 0, got {n}")
        if step_s <= 0:
            raise ValueError(f"step_s must be positive, got {step_s}")
        self.seed, self.start_ms, self.step_s = int(seed), int(start_ms), int(step_s)
        default_onset = int(run_steps // 2 if fault_onset_step is None else fault_onset_step)
        self._params: dict[str, dict[str, np.ndarray]] = {}
        self._faults: dict[str, list[tuple[int, str, int]]] = {}
        wells: list[SyntheticWell] = []
        faults = dict(faults or {})
        for li, lift in enumerate(LIFT_TYPES):
            n = int(counts.get(lift, 0))
            if n == 0:
                continue
            rng = np.random.default_rng([self.seed, li])
            model = _MODELS[lift]
            params = model.draw(rng, draw_common(rng, n))
            self._params[lift] = params
            self._faults[lift] = []
            for i in range(n):
                name = f"{NAME_PREFIX_BY_LIFT_TYPE[lift]}-{i + 1:02d}"
                fault, onset = faults.pop(name, None), None
                if isinstance(fault, (tuple, list)):
                    fault, onset = fault
                if fault is not None:
                    if fault not in FAULTS_BY_LIFT_TYPE[lift]:
                        raise ValueError(f"fault {fault!r} is not defined for {lift} (well {name}); "
                                         f"choose one of {FAULTS_BY_LIFT_TYPE[lift]}")
                    onset = default_onset if onset is None else int(onset)
                    self._faults[lift].append((i, fault, onset))
                attrs = {"lift_type": lift}
                attrs.update({k: float(params[k][i]) for k in COMMON_ATTRIBUTE_KEYS})
                attrs["ipr_model"] = "composite"
                attrs.update(model.attributes(params, i))
                wells.append(SyntheticWell(name, lift, attrs, fault, onset, i))
        if faults:
            raise ValueError(f"faults name unknown wells: {sorted(faults)}")
        self.wells: tuple[SyntheticWell, ...] = tuple(wells)
        self._by_name = {w.name: w for w in wells}

    # ------------------------------------------------------------------------------------------
    def well(self, name: str) -> SyntheticWell:
        """The well called ``name`` (KeyError if absent)."""
        return self._by_name[name]

    def wells_of(self, lift_type: str) -> tuple[SyntheticWell, ...]:
        """Wells of one lift type, in row order of :meth:`arrays`."""
        return tuple(w for w in self.wells if w.lift_type == lift_type)

    def model_parameters(self, lift_type: str) -> dict[str, np.ndarray]:
        """Copy of the generator's per-well model parameters (attributes plus internals), arrays (n_wells,)."""
        self._check(lift_type, 1, 0)
        return {k: np.array(v, copy=True) for k, v in self._params[lift_type].items()}

    def setpoints(self, lift_type: str) -> np.ndarray:
        """Lift setpoint per well (ESP Hz, SRP spm, PCP rpm, gas lift Mscf/d)."""
        return self._params[lift_type]["setpoint"].copy()

    def _check(self, lift_type: str, n_steps: int, start_step: int) -> None:
        if lift_type not in self._params:
            raise ValueError(f"no {lift_type!r} wells in this field (have {tuple(self._params)})")
        if n_steps < 1 or start_step < 0:
            raise ValueError(f"need n_steps >= 1 and start_step >= 0, got {n_steps}, {start_step}")

    def _noise(self, lift_type: str, n_steps: int, start_step: int) -> dict[str, np.ndarray]:
        li = LIFT_TYPES.index(lift_type)
        n = self._params[lift_type]["setpoint"].size
        channels = _NOISE_CHANNELS[lift_type]
        first, last = start_step // NOISE_BLOCK_STEPS, (start_step + n_steps - 1) // NOISE_BLOCK_STEPS
        blocks = [np.random.default_rng([self.seed, 1000 + li, b]).standard_normal((len(channels), n, NOISE_BLOCK_STEPS))
                  for b in range(first, last + 1)]
        z = np.concatenate(blocks, axis=-1)
        off = start_step - first * NOISE_BLOCK_STEPS
        z = z[:, :, off:off + n_steps]
        return {c: z[k] for k, c in enumerate(channels)}

    def _severity(self, lift_type: str, n_steps: int, start_step: int) -> _Severity:
        n = self._params[lift_type]["setpoint"].size
        step = np.arange(start_step, start_step + n_steps)
        by_fault: dict[str, np.ndarray] = {}
        for i, fault, onset in self._faults[lift_type]:
            ramp = FAULT_SPECS[lift_type][fault].ramp_steps
            arr = by_fault.setdefault(fault, np.zeros((n, n_steps)))
            arr[i] = np.clip((step - onset + 1) / ramp, 0.0, 1.0)
        return _Severity(by_fault, (n, n_steps))

    def arrays(self, lift_type: str, n_steps: int, start_step: int = 0, include_internal: bool = False) -> dict[str, np.ndarray]:
        """Numeric telemetry ``{key: ndarray(n_wells, n_steps)}`` for one lift type.

        ``include_internal`` adds noise-free model internals (keys starting with ``_``) for checks."""
        self._check(lift_type, n_steps, start_step)
        step = np.arange(start_step, start_step + n_steps)[None, :]
        out = _MODELS[lift_type].simulate(self._params[lift_type], self._severity(lift_type, n_steps, start_step),
                                          self._noise(lift_type, n_steps, start_step), step)
        return {k: v for k, v in out.items() if include_internal or not k.startswith("_")}

    def surface_cards(self, n_steps: int, start_step: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """SRP surface cards ``(position_in, load_lbf)``, each (n_srp_wells, n_steps, n_points)."""
        self._check("srp", n_steps, start_step)
        step = np.arange(start_step, start_step + n_steps)[None, :]
        st = srp.state(self._params["srp"], self._severity("srp", n_steps, start_step),
                       self._noise("srp", n_steps, start_step), step)
        return srp.card_of(st)

    def samples(self, n_steps: int, start_step: int = 0) -> Iterator[tuple[str, int, dict]]:
        """Yield ``(well_name, ts_ms, values)`` chronologically, every well at every step."""
        per_lift = {}
        for lift in self._params:
            arr = self.arrays(lift, n_steps, start_step)
            keys = list(arr)
            per_lift[lift] = (keys, np.stack([arr[k] for k in keys], axis=-1))
        cards = self.surface_cards(n_steps, start_step) if "srp" in self._params else None
        for t in range(n_steps):
            ts = self.start_ms + (start_step + t) * self.step_s * 1000
            for w in self.wells:
                keys, block = per_lift[w.lift_type]
                values: dict[str, float | str] = dict(zip(keys, block[w.index, t].tolist()))
                if w.lift_type == "srp":
                    pos, load = cards[0][w.index, t], cards[1][w.index, t]
                    values["surface_card"] = json.dumps({"position_in": np.round(pos, 2).tolist(),
                                                         "load_lbf": np.round(load, 1).tolist()})
                yield w.name, ts, values

    def production_history(self, well_name: str, days: int) -> tuple[np.ndarray, np.ndarray]:
        """Daily oil-rate history ``(t_days, q_bpd)`` ending at the well's current healthy oil rate.

        Arps (1945) hyperbolic decline q = q_i / (1 + b D_i t)^(1/b) with per-well b in [0.3, 0.9]
        and D_i in [0.001, 0.004] 1/d, times 5% lognormal noise; t_days = 0 .. days-1."""
        if days < 2:
            raise ValueError(f"days must be >= 2, got {days}")
        w = self.well(well_name)
        rng = np.random.default_rng([self.seed, 2000 + LIFT_TYPES.index(w.lift_type), w.index])
        b, di = rng.uniform(0.3, 0.9), rng.uniform(0.001, 0.004)
        params = self._params[w.lift_type]
        n = params["setpoint"].size
        zero = {c: np.zeros((n, 1)) for c in _NOISE_CHANNELS[w.lift_type]}
        healthy = _MODELS[w.lift_type].simulate(params, _Severity({}, (n, 1)), zero, np.zeros((1, 1)))
        q_now = float(healthy["oil_rate_bpd"][w.index, 0])
        t = np.arange(days, dtype=float)
        qi = q_now * (1.0 + b * di * t[-1]) ** (1.0 / b)
        q = qi / (1.0 + b * di * t) ** (1.0 / b)
        return t, q * np.exp(0.05 * rng.standard_normal(days))
