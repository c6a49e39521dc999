"""ESP pump catalogue: per-stage 60 Hz curves (head, brake horsepower, efficiency) and affinity laws.

Affinity laws for a centrifugal stage run at frequency f instead of the base f0 (Stepanoff 1957;
Takacs, *Electrical Submersible Pumps Manual*, 2009, ch. 2): q ~ f, H ~ f^2, BHP ~ f^3, so a point
(q0, H0, P0) of the base curve maps to (q0 f/f0, H0 (f/f0)^2, P0 (f/f0)^3) and the efficiency of
corresponding points is unchanged. Curves are interpolated in rate by shape-preserving PCHIP.
Hydraulic power of one stage: HHP = q H SG / 135,770 (q bbl/d, H ft; Takacs 2009, ch. 2).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import numpy as np
from scipy.interpolate import PchipInterpolator

HHP_DIVISOR = 135_770.0


@dataclass(frozen=True)
class PumpCurve:
    """One pump stage at the base frequency: tabulated rate (bbl/d), head (ft) and BHP (hp, SG 1)."""

    name: str
    series: str
    housing_od_in: float
    motor_od_in: float
    bep_bpd: float
    min_rate_bpd: float
    max_rate_bpd: float
    rate_points_bpd: tuple[float, ...]
    head_points_ft: tuple[float, ...]
    bhp_points: tuple[float, ...]
    base_frequency_hz: float = 60.0

    def __post_init__(self) -> None:
        q = np.asarray(self.rate_points_bpd)
        if q.size < 4 or np.any(np.diff(q) <= 0) or len(self.head_points_ft) != q.size or len(self.bhp_points) != q.size:
            raise ValueError(f"pump {self.name}: rate_bpd must increase and match head_ft and bhp in length (>= 4)")
        if not (self.min_rate_bpd < self.bep_bpd < self.max_rate_bpd <= q[-1]):
            raise ValueError(f"pump {self.name}: need min_rate < bep < max_rate <= last tabulated rate")
        object.__setattr__(self, "_head", PchipInterpolator(q, np.asarray(self.head_points_ft)))
        object.__setattr__(self, "_bhp", PchipInterpolator(q, np.asarray(self.bhp_points)))

    @property
    def open_flow_bpd(self) -> float:
        """Rate at zero head at the base frequency (last tabulated rate)."""
        return float(self.rate_points_bpd[-1])

    def _ratio(self, frequency_hz) -> np.ndarray:
        f = np.asarray(frequency_hz, dtype=float)
        if np.any(~np.isfinite(f)) or np.any(f <= 0):
            raise ValueError("frequency_hz must be positive")
        return f / self.base_frequency_hz

    def head_ft(self, q_bpd, frequency_hz=60.0) -> np.ndarray:
        """Head per stage (ft) at rate ``q_bpd`` and ``frequency_hz`` (affinity: H(q, f) = r^2 H0(q / r)); 0 beyond open flow."""
        r = self._ratio(frequency_hz)
        q0 = np.asarray(q_bpd, dtype=float) / r
        h = np.where((q0 >= 0) & (q0 <= self.open_flow_bpd), self._head(np.clip(q0, 0, self.open_flow_bpd)), 0.0)
        return np.maximum(h, 0.0) * r**2

    def bhp(self, q_bpd, frequency_hz=60.0, sg: float = 1.0) -> np.ndarray:
        """Brake horsepower per stage (hp) for fluid of specific gravity ``sg`` (BHP(q, f) = r^3 BHP0(q / r) sg)."""
        r = self._ratio(frequency_hz)
        q0 = np.clip(np.asarray(q_bpd, dtype=float) / r, 0.0, self.open_flow_bpd)
        return self._bhp(q0) * r**3 * sg

    def efficiency(self, q_bpd, frequency_hz=60.0) -> np.ndarray:
        """Stage efficiency (fraction) = HHP / BHP; unchanged along affinity parabolas."""
        q = np.asarray(q_bpd, dtype=float)
        p = self.bhp(q, frequency_hz)
        return np.where(p > 0, q * self.head_ft(q, frequency_hz) / HHP_DIVISOR / np.where(p > 0, p, 1.0), 0.0)

    def bep_at(self, frequency_hz) -> np.ndarray:
        """Best-efficiency rate (bbl/d) at ``frequency_hz`` (q_BEP ~ f)."""
        return self.bep_bpd * self._ratio(frequency_hz)

    def operating_range_at(self, frequency_hz) -> tuple[np.ndarray, np.ndarray]:
        """Recommended range (bbl/d): below it downthrust, above it upthrust (both scale with f)."""
        r = self._ratio(frequency_hz)
        return self.min_rate_bpd * r, self.max_rate_bpd * r


def load_pump_catalogue(path: str | None = None) -> dict[str, PumpCurve]:
    """Pumps from a catalogue JSON (default: the shipped ``engines/lift/esp_pumps.json``)."""
    if path is None:
        text = resources.files("engines.lift").joinpath("esp_pumps.json").read_text(encoding="utf-8")
    else:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    doc = json.loads(text)
    base = float(doc.get("base_frequency_hz", 60.0))
    out = {}
    for p in doc["pumps"]:
        out[p["name"]] = PumpCurve(
            name=p["name"], series=str(p["series"]), housing_od_in=float(p["housing_od_in"]), motor_od_in=float(p["motor_od_in"]),
            bep_bpd=float(p["bep_bpd"]), min_rate_bpd=float(p["min_rate_bpd"]), max_rate_bpd=float(p["max_rate_bpd"]),
            rate_points_bpd=tuple(map(float, p["rate_bpd"])), head_points_ft=tuple(map(float, p["head_ft"])),
            bhp_points=tuple(map(float, p["bhp"])),
            base_frequency_hz=base)
    return out
