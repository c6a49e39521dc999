"""From the service's :class:`~tb_bridge.wells.model.WellConfig` to the nodal engine, and back.

The well configuration holds gauge pressures (psig, what field gauges and ThingsBoard telemetry
report); the engine's PVT needs absolute pressures, so ``atmospheric_pressure_psia`` (14.696 by
default; 0 if the configuration is already absolute) is added on the way in and removed from the
result. ``solve_well`` is what both ``atilax nodal solve`` and the service handler call.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from engines.nodal import (BlackOilFluid, CompositeIpr, DarcyIpr, GasInjection, Ipr, MatchedCorrelation, NodalResult, PumpBoost,
                           VogelIpr, Wellbore, ipr_from_test, solve_operating_point)
from tb_bridge.wells.model import WellConfig

ATMOSPHERIC_PSIA = 14.696
#: above this survey inclination (deg) the default correlation switches from Hagedorn & Brown to Beggs & Brill
DEVIATED_INCLINATION_DEG = 30.0


def fluid_from_well(well: WellConfig, atmospheric_pressure_psia: float = ATMOSPHERIC_PSIA) -> BlackOilFluid:
    """Black-oil description; Pb (absolute) calibrates Standing's Rs at the reservoir temperature to Rsb
    (``rsb_scf_stb``, default the producing GOR; a GOR above Rsb is free gas at every pressure)."""
    pb = well.bubble_point_psi + atmospheric_pressure_psia
    return BlackOilFluid(
        oil_api=well.oil_api, gas_sg=well.gas_specific_gravity, water_sg=well.water_specific_gravity,
        water_cut_frac=well.water_cut_frac, gor_scf_stb=well.gor_scf_stb,
        bubble_point_psia=pb if pb > ATMOSPHERIC_PSIA + 1.0 else None,
        bubble_point_temperature_f=well.reservoir_temperature_f, rsb_scf_stb=well.rsb_scf_stb,
        co2_frac=well.co2_mole_frac, h2s_frac=well.h2s_mole_frac,
    )


def wellbore_from_well(well: WellConfig) -> Wellbore:
    """Tubing from the wellhead to the mid-perforations, following the deviation survey when there is one.

    A survey ending above the perforations is extended at its last inclination; one running deeper is cut
    at the perforations' measured depth. Without a survey, a well whose measured depth exceeds its TVD is
    taken as one straight slant hole. A ``temperature_survey`` replaces the linear temperature profile.
    """
    common = dict(tubing_id_in=well.tubing_id_in, roughness_in=well.tubing_roughness_in,
                  wellhead_temperature_f=well.surface_temperature_f, bottomhole_temperature_f=well.reservoir_temperature_f)
    if well.temperature_survey:
        common.update(temperature_survey_md_ft=tuple(s.md_ft for s in well.temperature_survey),
                      temperature_survey_f=tuple(s.temperature_f for s in well.temperature_survey))
    md_end = well.measured_depth_ft
    if not well.deviation_survey:
        if md_end > well.perforation_depth_ft + 1e-6:
            return Wellbore(md_ft=(0.0, md_end), tvd_ft=(0.0, well.perforation_depth_ft), **common)
        return Wellbore.vertical(well.perforation_depth_ft, **common)
    stations = [s for s in well.deviation_survey if s.md_ft > 0]
    md = [0.0] + [s.md_ft for s in stations]
    tvd = [0.0] + [s.tvd_ft for s in stations]
    if md[-1] < md_end:
        incl = math.radians(stations[-1].inclination_deg) if stations else 0.0
        md.append(md_end)
        tvd.append(tvd[-1] + (md_end - md[-2]) * math.cos(incl))
    elif md[-1] > md_end:
        tvd_end = float(np.interp(md_end, md, tvd))
        keep = [i for i, m in enumerate(md) if m < md_end]
        md = [md[i] for i in keep] + [md_end]
        tvd = [tvd[i] for i in keep] + [tvd_end]
    return Wellbore(md_ft=tuple(md), tvd_ft=tuple(tvd), **common)


def ipr_from_well(well: WellConfig, atmospheric_pressure_psia: float = ATMOSPHERIC_PSIA) -> Ipr:
    """The configured IPR model, in absolute pressures, from the PI, the single test or the multi-rate test."""
    offset = atmospheric_pressure_psia
    pr = well.reservoir_pressure_psi + offset
    pb = well.bubble_point_psi + offset
    model = well.ipr_model
    if model in ("fetkovich", "jones"):
        points = well.test_points or []
        return ipr_from_test(model, pr, [p.q_bpd for p in points], [p.pwf_psi + offset for p in points])
    if well.test_rate_bpd is not None and well.test_pwf_psi is not None:
        return ipr_from_test(model, pr, well.test_rate_bpd, well.test_pwf_psi + offset, bubble_point_psi=pb)
    if well.test_points:
        last = well.test_points[-1]
        return ipr_from_test(model, pr, last.q_bpd, last.pwf_psi + offset, bubble_point_psi=pb)
    j = float(well.productivity_index_bpd_psi)  # the model validator guarantees one of the three
    if model == "darcy":
        return DarcyIpr(pr, j)
    if model == "vogel":
        return VogelIpr(pr, j * pr / 1.8)  # Vogel's qmax from the initial slope J = 1.8 qmax / Pr
    return CompositeIpr(pr, pb, j)


def correlation_for_well(well: WellConfig) -> str | MatchedCorrelation:
    """The engine correlation of the well's ``vlp_correlation`` and ``payne_correction`` attributes, tuned by its
    ``vlp_holdup_multiplier`` / ``vlp_friction_multiplier`` (from ``atilax nodal match``).

    "beggs_brill" runs with the Payne et al. (1979) holdup correction unless ``payne_correction`` is
    false ("beggs_brill_original"); the model already refused ``payne_correction`` with other correlations.
    The name alone when both multipliers are 1, else a :class:`~engines.nodal.MatchedCorrelation`, which every
    traverse of the well takes (the nodal step and the lift hydraulics).
    """
    name = "beggs_brill_original" if well.vlp_correlation == "beggs_brill" and well.payne_correction is False else well.vlp_correlation
    if well.vlp_holdup_multiplier == 1.0 and well.vlp_friction_multiplier == 1.0:
        return name
    return MatchedCorrelation(name, well.vlp_holdup_multiplier, well.vlp_friction_multiplier)


def default_correlation(wellbore: Wellbore) -> str:
    """Inclination-based suggestion: Hagedorn & Brown for (near-)vertical wells, Beggs & Brill when any segment
    exceeds 30 deg from vertical (the nodal step follows the well's ``vlp_correlation`` instead)."""
    md = np.asarray(wellbore.md_ft)
    tvd = np.asarray(wellbore.tvd_ft)
    cos_incl = np.clip(np.diff(tvd) / np.diff(md), -1.0, 1.0)
    max_incl = float(np.degrees(np.arccos(cos_incl)).max())
    return "beggs_brill" if max_incl > DEVIATED_INCLINATION_DEG else "hagedorn_brown"


def solve_well(well: WellConfig, *, correlation: str | None = None, n_segments: int = 100,
               pump: PumpBoost | None = None, gas_lift: GasInjection | None = None,
               atmospheric_pressure_psia: float = ATMOSPHERIC_PSIA) -> NodalResult:
    """Operating point of ``well`` (natural flow unless a pump or gas-lift hook is given).

    Pressures of the result (``pwf_psi`` and the curves' second column) are in the configuration's datum
    (gauge by default); rates STB/d of liquid. ``correlation`` None takes the well's ``vlp_correlation``
    (:func:`correlation_for_well`).
    """
    fluid = fluid_from_well(well, atmospheric_pressure_psia)
    wellbore = wellbore_from_well(well)
    ipr = ipr_from_well(well, atmospheric_pressure_psia)
    result = solve_operating_point(ipr, fluid, wellbore, well.wellhead_pressure_psi + atmospheric_pressure_psia,
                                   correlation=correlation or correlation_for_well(well), n_segments=n_segments,
                                   pump=pump, gas_lift=gas_lift)
    return to_config_datum(result, atmospheric_pressure_psia)


def to_config_datum(result: NodalResult, atmospheric_pressure_psia: float) -> NodalResult:
    """Shift the result's pressures from absolute to the configuration's datum (drawdown and PI are unchanged)."""
    shift = np.array([0.0, atmospheric_pressure_psia])
    return dataclasses.replace(result, pwf_psi=result.pwf_psi - atmospheric_pressure_psia if result.flowing else result.pwf_psi,
                               ipr_curve=result.ipr_curve - shift, vlp_curve=result.vlp_curve - shift)


def solve_wells(wells: list[WellConfig], *, n_segments: int = 50,
                atmospheric_pressure_psia: float = ATMOSPHERIC_PSIA) -> list[NodalResult]:
    """Natural-flow operating points of many wells in compiled fleet passes (one per VLP correlation).

    Same conventions as :func:`solve_well`; for the hourly fleet run. Results keep the order of ``wells``.
    """
    from engines.nodal import solve_fleet

    prepared = [(fluid_from_well(w, atmospheric_pressure_psia), wellbore_from_well(w), ipr_from_well(w, atmospheric_pressure_psia),
                 w.wellhead_pressure_psi + atmospheric_pressure_psia) for w in wells]
    groups: dict[str | MatchedCorrelation, list[int]] = {}  # one fleet pass per correlation and multiplier pair
    for i, well in enumerate(wells):
        groups.setdefault(correlation_for_well(well), []).append(i)
    results: list[NodalResult | None] = [None] * len(wells)
    for correlation, idx in groups.items():
        solved = solve_fleet([prepared[i][2] for i in idx], [prepared[i][0] for i in idx], [prepared[i][1] for i in idx],
                             np.array([prepared[i][3] for i in idx]), correlation=correlation, n_segments=n_segments)
        for i, result in zip(idx, solved):
            results[i] = to_config_datum(result, atmospheric_pressure_psia)
    return results  # type: ignore[return-value]
