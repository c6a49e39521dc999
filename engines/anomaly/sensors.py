"""Sensor resolution per telemetry key family: the floor of a baseline's spread.

A robust spread (1.4826 MAD, trimmed standard deviation) estimated on a historian's record can be far
below what the instrument can resolve: deadband compression and quantization store a steady pressure as
a flat line, so the MAD is 0 or one least count. Standardizing by that spread turns a change within the
sensor's own uncertainty into tens of standard deviations. The baseline therefore floors its spread at
the instrument's absolute uncertainty for the key's family (the unit suffix of the key name), unless a
well overrides it (its ``sensor_resolution`` attribute: ``{key or family: value}``).

Values [key units] are the total probable error of a typical field instrument, rounded up:

- ``_psi`` 5 psi: pressure transmitters and gauges of 0-5,000 / 0-10,000 psi range are specified at
  about +/-0.05 to 0.1 % of their upper range (reference accuracy plus ambient and long-term stability,
  e.g. IEC 60770-1 performance classes; quartz downhole gauges resolve 0.01 psi but drift ~1-3 psi/yr);
  so a 3 psi movement of a 1,900 psi tree pressure is inside it;
- ``_f`` 0.5 degF: RTD class B (IEC 60751: +/-(0.3 + 0.005|T|) degC) at 100-250 degF;
- ``_bpd`` 2 bbl/d, ``_mscfd`` 5 Mscf/d: multiphase / Coriolis meters (+/-2-5 % of reading, API MPMS 20.3)
  at the low end of field rates;
- ``_frac`` 0.01 (water cut meters +/-1 % absolute), ``_pct`` 0.5 % (level transmitters, fillage);
- ``_a`` 0.5 A, ``_v`` 2 V, ``_kw`` 0.5 kW, ``_hz`` 0.05 Hz (drive / motor-controller readings, 0.5 % class);
- ``_g`` 0.01 g (accelerometers), ``_lbf`` 50 lbf (polished-rod load cells, +/-0.5 % of 10,000 lbf),
  ``_ftlbf`` 10 ft*lbf (drive torque), ``rpm`` 1 rpm.

Keys of no family keep the relative floor ``min_rel_sigma * |median|`` of :func:`fit_baseline`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

#: Absolute uncertainty [key units] per key-name suffix (see the module docstring for the sources).
SENSOR_RESOLUTION: dict[str, float] = {
    "_psi": 5.0, "_f": 0.5, "_bpd": 2.0, "_mscfd": 5.0, "_frac": 0.01, "_pct": 0.5, "_a": 0.5, "_v": 2.0,
    "_kw": 0.5, "_hz": 0.05, "_g": 0.01, "_ftlbf": 10.0, "_lbf": 50.0, "rpm": 1.0,
}


def family(key: str) -> str | None:
    """The family (unit suffix) of a key name, the longest suffix that matches; None when none does."""
    best = None
    for suffix in SENSOR_RESOLUTION:
        if key.endswith(suffix) and (best is None or len(suffix) > len(best)):
            best = suffix
    return best


def resolution(key: str, overrides: Mapping[str, float] | None = None) -> float:
    """Absolute resolution of ``key`` [key units]: the well's override for the key or its family, else the
    family default; NaN for a key of no family."""
    overrides = overrides or {}
    if key in overrides:
        return float(overrides[key])
    fam = family(key)
    if fam is not None and fam in overrides:
        return float(overrides[fam])
    return SENSOR_RESOLUTION[fam] if fam is not None else float("nan")


def resolutions(keys: Sequence[str], overrides: Mapping[str, float] | Sequence[Mapping[str, float] | None] | None = None,
                n_wells: int = 1) -> np.ndarray:
    """(n_wells, n_keys) resolutions; ``overrides`` one mapping for all wells or one per well (None: defaults)."""
    if overrides is None or isinstance(overrides, Mapping):
        row = np.array([resolution(k, overrides) for k in keys])
        return np.broadcast_to(row, (n_wells, len(keys))).copy()
    if len(overrides) != n_wells:
        raise ValueError(f"{len(overrides)} resolution overrides for {n_wells} wells")
    return np.array([[resolution(k, o) for k in keys] for o in overrides]).reshape(n_wells, len(keys))
