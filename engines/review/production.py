"""Production volumes, uptime and specific energy of one well over a period, from sampled rates.

Each sample in the period ``(start_ms, end_ms]`` stands for the sampling interval ``step_s`` (the caller's
nominal interval, by default the median spacing of the samples' timestamps), so that

- a volume is the sum of the rates times the interval: oil [bbl] = sum(q_oil [bbl/d]) * step_s / 86 400, likewise
  liquid and separator gas [Mscf]; water = liquid x water cut (liquid - oil where the water cut is missing);
- energy [kWh] = sum(motor power [kW]) * step_s / 3600, over the samples with a measured power only, and the
  specific energy is that energy per barrel of the liquid lifted over the same samples (kWh/bbl);
- a sample is *producing* when its liquid rate exceeds :data:`PRODUCING_MIN_BPD`; uptime = producing hours /
  hours of the period, so hours without any sample count as not producing (data coverage = sampled hours /
  hours of the period says how many there were).

Non-finite values contribute nothing. Periods of several parts (:func:`combine_totals`, e.g. a week of daily
totals) add their hours, samples and volumes; the parts must not overlap.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

#: Liquid rate above which a sample counts as producing [bbl/d] (a stopped well reads zero plus sensor noise).
PRODUCING_MIN_BPD = 1.0
DAY_S = 86_400.0
HOUR_S = 3_600.0


@dataclass(frozen=True)
class ProductionTotals:
    """Volumes and times of one well over a period (or the sum over parts of one, or over wells).

    ``period_h``: hours of the period; ``observed_h``: sampled hours (samples x interval); ``producing_h``: producing
    hours; volumes in bbl (oil, water, liquid) and Mscf (separator gas); ``energy_kwh`` the electrical energy of the
    samples with a measured motor power (NaN when there was none) and ``powered_liquid_bbl`` the liquid of those
    samples."""

    start_ms: int
    end_ms: int
    period_h: float
    samples: int
    observed_h: float
    producing_h: float
    oil_bbl: float
    water_bbl: float
    liquid_bbl: float
    gas_mscf: float
    energy_kwh: float
    powered_liquid_bbl: float

    @property
    def uptime_pct(self) -> float:
        return 100.0 * self.producing_h / self.period_h if self.period_h > 0 else math.nan

    @property
    def coverage_pct(self) -> float:
        return 100.0 * self.observed_h / self.period_h if self.period_h > 0 else math.nan

    def rate_per_day(self, volume: float) -> float:
        """A volume of the period as an average daily rate (per calendar day of the period)."""
        return volume / (self.period_h / 24.0) if self.period_h > 0 else math.nan

    @property
    def oil_bpd(self) -> float:
        return self.rate_per_day(self.oil_bbl)

    @property
    def kwh_per_bbl(self) -> float:
        """Energy per barrel of liquid lifted (NaN without a measured power or without liquid)."""
        if not math.isfinite(self.energy_kwh) or self.powered_liquid_bbl <= 0:
            return math.nan
        return self.energy_kwh / self.powered_liquid_bbl

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as None)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> "ProductionTotals":
        """Inverse of :meth:`to_dict` (raises KeyError / TypeError / ValueError for a malformed dict)."""
        number = lambda k: math.nan if data[k] is None else float(data[k])  # noqa: E731
        return ProductionTotals(int(data["start_ms"]), int(data["end_ms"]), number("period_h"), int(data["samples"]),
                                number("observed_h"), number("producing_h"), number("oil_bbl"), number("water_bbl"),
                                number("liquid_bbl"), number("gas_mscf"), number("energy_kwh"),
                                number("powered_liquid_bbl"))


def _column(values: np.ndarray | None, n: int) -> np.ndarray:
    return np.full(n, np.nan) if values is None else np.asarray(values, dtype=float)


def production_totals(ts_ms: np.ndarray, start_ms: int, end_ms: int, *, liquid_bpd: np.ndarray | None = None,
                      oil_bpd: np.ndarray | None = None, water_cut_frac: np.ndarray | None = None,
                      gas_mscfd: np.ndarray | None = None, power_kw: np.ndarray | None = None,
                      step_s: float | None = None, producing_min_bpd: float = PRODUCING_MIN_BPD) -> ProductionTotals:
    """Totals of the samples with ``start_ms < ts_ms <= end_ms`` (arrays aligned with ``ts_ms``; a missing series is
    None). ``step_s``: what one sample stands for [s]; default the median spacing of the period's samples (of all
    ``ts_ms`` when the period holds fewer than two)."""
    if end_ms <= start_ms:
        raise ValueError(f"the period must end after it starts, got ({start_ms}, {end_ms}]")
    ts = np.asarray(ts_ms, dtype=np.int64)
    n_all = ts.size
    inside = (ts > start_ms) & (ts <= end_ms)
    if step_s is None:
        spacing = np.diff(ts[inside]) if np.count_nonzero(inside) > 1 else np.diff(ts)
        spacing = spacing[spacing > 0]
        step_s = float(np.median(spacing)) / 1000.0 if spacing.size else 0.0
    if step_s < 0 or not math.isfinite(step_s):
        raise ValueError(f"step_s must be a finite non-negative number, got {step_s}")
    liquid = _column(liquid_bpd, n_all)[inside]
    oil = _column(oil_bpd, n_all)[inside]
    cut = _column(water_cut_frac, n_all)[inside]
    gas = _column(gas_mscfd, n_all)[inside]
    power = _column(power_kw, n_all)[inside]
    water = np.where(np.isfinite(cut), liquid * cut, liquid - oil)
    day = step_s / DAY_S
    powered = np.isfinite(power)
    total = lambda x: float(np.nansum(x)) * day  # noqa: E731
    samples = int(np.count_nonzero(inside))
    return ProductionTotals(
        start_ms=int(start_ms), end_ms=int(end_ms), period_h=(end_ms - start_ms) / 3_600_000.0, samples=samples,
        observed_h=samples * step_s / HOUR_S,
        producing_h=int(np.count_nonzero(np.isfinite(liquid) & (liquid > producing_min_bpd))) * step_s / HOUR_S,
        oil_bbl=total(oil), water_bbl=total(water), liquid_bbl=total(liquid), gas_mscf=total(gas),
        energy_kwh=float(np.sum(power[powered])) * step_s / HOUR_S if powered.any() else math.nan,
        powered_liquid_bbl=total(np.where(powered, liquid, np.nan)))


def combine_totals(parts: Sequence[ProductionTotals]) -> ProductionTotals:
    """The sum of non-overlapping parts (days of one well, or wells over the same period): hours, samples and volumes
    add; the energy is the sum of the parts that measured one (NaN when none did); the period spans the parts."""
    if not parts:
        raise ValueError("no parts to combine")
    energies = [p.energy_kwh for p in parts if math.isfinite(p.energy_kwh)]
    add = lambda name: float(sum(getattr(p, name) for p in parts))  # noqa: E731
    return ProductionTotals(
        start_ms=min(p.start_ms for p in parts), end_ms=max(p.end_ms for p in parts), period_h=add("period_h"),
        samples=int(sum(p.samples for p in parts)), observed_h=add("observed_h"), producing_h=add("producing_h"),
        oil_bbl=add("oil_bbl"), water_bbl=add("water_bbl"), liquid_bbl=add("liquid_bbl"), gas_mscf=add("gas_mscf"),
        energy_kwh=float(sum(energies)) if energies else math.nan, powered_liquid_bbl=add("powered_liquid_bbl"))
