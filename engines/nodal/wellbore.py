"""Wellbore geometry: tubing size, deviation survey and flowing temperature profile.

The survey is a list of stations (measured depth, true vertical depth); between stations the hole is
taken as straight (tangential interpolation of TVD in MD), which is exact for the piecewise-straight
wells of the test cases and within the survey's own accuracy for smooth ones. The flowing temperature
is linear in TVD between the wellhead and the mid-perforation temperatures (a common default for
nodal analysis when no heat-transfer model is run; Brown 1984, vol. 4, ch. 2), unless a flowing temperature
survey is given: then the temperature is linear in MD between the survey's stations (held at the end values
above the first and below the last), and the stations become segment boundaries of the traverse.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Wellbore:
    """Flow path from the wellhead (MD 0) to the mid-perforations.

    md_ft, tvd_ft: survey stations, starting at (0, 0) and ending at the mid-perforation depth.
    tubing_id_in: flow-path inside diameter (in); roughness_in: absolute roughness (in).
    wellhead_temperature_f, bottomhole_temperature_f: flowing temperatures (degF) at the ends.
    temperature_survey_md_ft, temperature_survey_f: optional flowing temperature survey, measured depths (ft,
    strictly increasing, within the well) and temperatures (degF); when given it replaces the linear profile
    (the two end temperatures are then not used).
    """

    md_ft: tuple[float, ...]
    tvd_ft: tuple[float, ...]
    tubing_id_in: float = 2.441
    roughness_in: float = 0.0006
    wellhead_temperature_f: float = 100.0
    bottomhole_temperature_f: float = 180.0
    temperature_survey_md_ft: tuple[float, ...] | None = None
    temperature_survey_f: tuple[float, ...] | None = None
    _md: np.ndarray = field(init=False, repr=False, compare=False)
    _tvd: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        md = np.asarray(self.md_ft, dtype=float)
        tvd = np.asarray(self.tvd_ft, dtype=float)
        if md.ndim != 1 or md.shape != tvd.shape or md.size < 2:
            raise ValueError("md_ft and tvd_ft must be equal-length sequences of at least two stations")
        if not (np.all(np.isfinite(md)) and np.all(np.isfinite(tvd))):
            raise ValueError("survey depths must be finite")
        if md[0] != 0.0 or tvd[0] != 0.0:
            raise ValueError("the survey must start at the wellhead (md_ft[0] = tvd_ft[0] = 0)")
        if np.any(np.diff(md) <= 0):
            raise ValueError("survey measured depths must strictly increase")
        if np.any(np.abs(np.diff(tvd)) > np.diff(md) * (1 + 1e-9)):
            raise ValueError("a survey's TVD change cannot exceed its MD change")
        if not (0.2 < self.tubing_id_in < 30):
            raise ValueError(f"tubing_id_in must be in (0.2, 30), got {self.tubing_id_in}")
        if not (0 <= self.roughness_in < 0.5 * self.tubing_id_in):
            raise ValueError(f"roughness_in must be in [0, tubing_id_in / 2), got {self.roughness_in}")
        for name in ("wellhead_temperature_f", "bottomhole_temperature_f"):
            value = getattr(self, name)
            if not (-40 < value < 700):
                raise ValueError(f"{name} must be in (-40, 700) degF, got {value}")
        if (self.temperature_survey_md_ft is None) != (self.temperature_survey_f is None):
            raise ValueError("give both temperature_survey_md_ft and temperature_survey_f, or neither")
        if self.temperature_survey_md_ft is not None:
            s_md = np.asarray(self.temperature_survey_md_ft, dtype=float)
            s_t = np.asarray(self.temperature_survey_f, dtype=float)
            if s_md.ndim != 1 or s_md.shape != s_t.shape or s_md.size < 1:
                raise ValueError("temperature_survey_md_ft and temperature_survey_f must be equal-length sequences of at least one station")
            if not (np.all(np.isfinite(s_md)) and np.all(np.isfinite(s_t))):
                raise ValueError("temperature survey values must be finite")
            if np.any(np.diff(s_md) <= 0) or s_md[0] < 0 or s_md[-1] > md[-1] * (1 + 1e-12):
                raise ValueError(f"temperature survey measured depths must strictly increase within [0, {md[-1]}] ft")
            if np.any(s_t <= -40) or np.any(s_t >= 700):
                raise ValueError("temperature survey temperatures must be in (-40, 700) degF")
        object.__setattr__(self, "_md", md)
        object.__setattr__(self, "_tvd", tvd)

    @classmethod
    def vertical(cls, depth_ft: float, **kwargs) -> "Wellbore":
        """A vertical well to ``depth_ft`` (MD = TVD)."""
        if not depth_ft > 0:
            raise ValueError(f"depth_ft must be > 0, got {depth_ft}")
        return cls(md_ft=(0.0, float(depth_ft)), tvd_ft=(0.0, float(depth_ft)), **kwargs)

    @classmethod
    def from_survey(cls, md_ft, tvd_ft, **kwargs) -> "Wellbore":
        """From survey stations; a (0, 0) wellhead station is prepended when missing."""
        md = [float(v) for v in md_ft]
        tvd = [float(v) for v in tvd_ft]
        if md and md[0] > 0:
            md, tvd = [0.0] + md, [0.0] + tvd
        return cls(md_ft=tuple(md), tvd_ft=tuple(tvd), **kwargs)

    @property
    def total_md_ft(self) -> float:
        """Measured depth of the mid-perforations (ft)."""
        return float(self._md[-1])

    @property
    def total_tvd_ft(self) -> float:
        """True vertical depth of the mid-perforations (ft)."""
        return float(self._tvd[-1])

    @property
    def diameter_ft(self) -> float:
        return self.tubing_id_in / 12.0

    @property
    def area_ft2(self) -> float:
        return np.pi / 4.0 * self.diameter_ft**2

    def tvd_at(self, md_ft):
        """True vertical depth (ft) at measured depth(s) (ft)."""
        return np.interp(md_ft, self._md, self._tvd)

    def temperature_at(self, md_ft):
        """Flowing temperature (degF) at measured depth(s): the survey interpolated linearly in MD when there is
        one, else linear in TVD between the wellhead and bottomhole temperatures."""
        if self.temperature_survey_md_ft is not None:
            return np.interp(md_ft, np.asarray(self.temperature_survey_md_ft, dtype=float),
                             np.asarray(self.temperature_survey_f, dtype=float))
        frac = self.tvd_at(md_ft) / self.total_tvd_ft if self.total_tvd_ft > 0 else 0.0
        return self.wellhead_temperature_f + frac * (self.bottomhole_temperature_f - self.wellhead_temperature_f)

    def nodes(self, n_segments: int, extra_md_ft=()) -> np.ndarray:
        """Segment boundaries (MD, ft): ``n_segments`` equal steps plus survey and temperature-survey stations and
        ``extra_md_ft``."""
        if n_segments < 1:
            raise ValueError("n_segments must be >= 1")
        t_md = np.asarray(self.temperature_survey_md_ft if self.temperature_survey_md_ft is not None else (), dtype=float)
        md = np.concatenate([np.linspace(0.0, self.total_md_ft, n_segments + 1), self._md, t_md,
                             np.clip(np.asarray(extra_md_ft, dtype=float), 0.0, self.total_md_ft)])
        md = np.unique(md)
        keep = np.concatenate([[True], np.diff(md) > 1e-6])
        return md[keep]
