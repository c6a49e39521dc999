"""Pressure traverse along the well: march a VLP correlation over segments, vectorized over rates.

The well is cut at equal measured-depth steps plus every survey station, pump and injection depth.
On each segment the gradient is evaluated once at a midpoint pressure predicted with the previous
segment's gradient (a second-order predictor; the error against a 16x finer grid is checked in the
tests). Optionally the segments adapt to a largest pressure change per segment (``max_dp_psi``).
Pressures are absolute (psia). The march runs in the compiled kernel (:mod:`engines.nodal.kernel`) by
default; ``backend="numpy"`` runs the NumPy reference implementation below. Lift hooks for the lift
optimizers:

- :class:`PumpBoost`: a pump at a measured depth adds ``pressure_gain_psi(q)`` to the fluid passing up
  through it (ESP/PCP head x gradient, or an SRP's net lift);
- :class:`GasInjection`: gas injected at a measured depth adds free gas above it (continuous gas lift).

``correlation`` is a name of :data:`CORRELATIONS` or a :class:`MatchedCorrelation`: the same correlation
with the holdup and friction multipliers fitted to a well test (:mod:`engines.nodal.matching`; PROSPER's
"VLP matching"). Multipliers of 1 give exactly the published correlation.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Union

import numpy as np

from engines.nodal.beggs_brill import beggs_brill_gradient
from engines.nodal.flow import in_situ_flow
from engines.nodal.gradient import PressureGradient
from engines.nodal.hagedorn_brown import hagedorn_brown_gradient, hagedorn_brown_guo_gradient, hagedorn_brown_original_gradient
from engines.nodal.kernel import KERNEL_CORRELATIONS, fluid_vector, run_march
from engines.nodal.no_slip import no_slip_gradient
from engines.nodal.pvt import STANDARD_PRESSURE_PSIA, BlackOilFluid, fluid_state
from engines.nodal.wellbore import Wellbore


def _beggs_brill_original(flow, diameter_ft, roughness_in, angle_deg, p_psia, **multipliers):
    return beggs_brill_gradient(flow, diameter_ft, roughness_in, angle_deg, p_psia, payne=False, **multipliers)


#: correlation name -> gradient function(flow, diameter_ft, roughness_in, angle_deg, p_psia)
CORRELATIONS: dict[str, Callable[..., PressureGradient]] = {
    "beggs_brill": beggs_brill_gradient,  # with the Payne et al. (1979) holdup correction
    "beggs_brill_original": _beggs_brill_original,
    "hagedorn_brown": hagedorn_brown_gradient,
    "hagedorn_brown_original": hagedorn_brown_original_gradient,
    "hagedorn_brown_guo": hagedorn_brown_guo_gradient,
    "no_slip": no_slip_gradient,
}
_BUILTIN = dict(CORRELATIONS)

#: most refinement passes of an adaptive traverse (``max_dp_psi``)
MAX_REFINEMENTS = 4

PressureGain = Union[float, Callable[[np.ndarray], np.ndarray]]

#: pressures are held at this ceiling (psia) so that absurd rates (friction running away in a small
#: tubing) give a very large but finite VLP value instead of overflowing
MAX_PRESSURE_PSIA = 1e5


@dataclass(frozen=True)
class MatchedCorrelation:
    """A VLP correlation tuned to a well test: ``name`` (a key of :data:`CORRELATIONS`) with the liquid-holdup
    multiplier (HL' = min(m_H HL, 1)) and the friction-gradient multiplier (see ``beggs_brill``'s module docstring),
    both dimensionless and > 0; 1 and 1 is exactly the published correlation."""

    name: str
    holdup_multiplier: float = 1.0
    friction_multiplier: float = 1.0

    def __post_init__(self) -> None:
        for field_name in ("holdup_multiplier", "friction_multiplier"):
            value = getattr(self, field_name)
            if not (np.isfinite(value) and 0.0 < value <= 100.0):
                raise ValueError(f"{field_name} must be a finite number in (0, 100], got {value}")

    def __str__(self) -> str:
        return self.name


CorrelationSpec = Union[str, MatchedCorrelation]


def resolve_correlation(correlation: CorrelationSpec) -> tuple[str, float, float]:
    """(name, holdup multiplier, friction multiplier) of a correlation name or :class:`MatchedCorrelation`."""
    if isinstance(correlation, MatchedCorrelation):
        name, hm, fm = correlation.name, float(correlation.holdup_multiplier), float(correlation.friction_multiplier)
    else:
        name, hm, fm = correlation, 1.0, 1.0
    if name not in CORRELATIONS:
        raise ValueError(f"unknown correlation {name!r}; choose one of {sorted(CORRELATIONS)}")
    return name, hm, fm


def correlation_gradient(correlation: CorrelationSpec) -> Callable[..., PressureGradient]:
    """The NumPy gradient function of ``correlation`` with its multipliers bound (the plain function when both are 1,
    so a replaced entry of :data:`CORRELATIONS` without multiplier arguments keeps working)."""
    name, hm, fm = resolve_correlation(correlation)
    gradient = CORRELATIONS[name]
    if hm == 1.0 and fm == 1.0:
        return gradient
    return functools.partial(gradient, holdup_multiplier=hm, friction_multiplier=fm)


@dataclass(frozen=True)
class PumpBoost:
    """A pump at ``depth_md_ft`` adding ``gain_psi`` (psi, a constant or a function of liquid rate STB/d)."""

    depth_md_ft: float
    gain_psi: PressureGain

    def pressure_gain_psi(self, q_bpd) -> np.ndarray:
        """Pressure added (psi) at liquid rate(s) ``q_bpd`` (STB/d)."""
        gain = self.gain_psi(np.asarray(q_bpd, dtype=float)) if callable(self.gain_psi) else self.gain_psi
        return np.broadcast_to(np.asarray(gain, dtype=float), np.shape(q_bpd))


@dataclass(frozen=True)
class GasInjection:
    """Continuous gas-lift injection of ``rate_mscfd`` (Mscf/d) at ``depth_md_ft``."""

    depth_md_ft: float
    rate_mscfd: float

    def __post_init__(self) -> None:
        if not (self.rate_mscfd >= 0 and np.isfinite(self.rate_mscfd)):
            raise ValueError(f"rate_mscfd must be a finite number >= 0, got {self.rate_mscfd}")


@dataclass(frozen=True)
class TraverseResult:
    """Pressure profile: ``pressure_psia[i, k]`` at node ``md_ft[i]`` for rate ``q_bpd[k]``.

    Nodes run from the wellhead (index 0) to the mid-perforations. Where a bottom-up traverse drops
    below atmospheric pressure the well cannot lift that rate to surface and the values above are NaN.
    """

    q_bpd: np.ndarray
    md_ft: np.ndarray
    tvd_ft: np.ndarray
    temperature_f: np.ndarray
    pressure_psia: np.ndarray
    holdup: np.ndarray
    correlation: str


def _check_common(q_bpd, correlation: CorrelationSpec, wellbore: Wellbore, pump, gas_lift) -> np.ndarray:
    resolve_correlation(correlation)
    q = np.atleast_1d(np.asarray(q_bpd, dtype=float))
    if q.ndim != 1 or q.size == 0 or not np.all(np.isfinite(q)) or np.any(q < 0):
        raise ValueError("q_bpd must be a non-empty 1-D array of finite rates >= 0 (STB/d)")
    for hook in (pump, gas_lift):
        if hook is not None and not (0.0 < hook.depth_md_ft <= wellbore.total_md_ft):
            raise ValueError(f"{type(hook).__name__} depth_md_ft {hook.depth_md_ft} is outside the well (0, {wellbore.total_md_ft}]")
    return q


BACKENDS = ("compiled", "numpy")


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")


def _kernel_flags(correlation: CorrelationSpec):
    """(code, payne) for the compiled kernel, or None when it does not know ``correlation``.

    The kernel knows the built-in correlations only; a replaced entry of ``CORRELATIONS`` goes through
    the NumPy path.
    """
    correlation = resolve_correlation(correlation)[0]
    if CORRELATIONS.get(correlation) is not _BUILTIN.get(correlation):
        return None
    return KERNEL_CORRELATIONS[correlation]


def _uniform_nodes(wellbore: Wellbore, n_segments: int, extra: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes, TVD and temperature of the base grid (cached per well geometry when it is hashable; read-only arrays)."""
    try:
        return _cached_uniform_nodes(wellbore, n_segments, extra)
    except TypeError:  # survey given as lists: not hashable
        return _geometry(wellbore, wellbore.nodes(n_segments, extra))


@functools.lru_cache(maxsize=1024)
def _cached_uniform_nodes(wellbore: Wellbore, n_segments: int, extra: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _geometry(wellbore, wellbore.nodes(n_segments, extra))


def _geometry(wellbore: Wellbore, md: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tvd = np.ascontiguousarray(wellbore.tvd_at(md), dtype=float)
    temp = np.ascontiguousarray(np.broadcast_to(wellbore.temperature_at(md), md.shape), dtype=float)
    for a in (md, tvd, temp):
        a.flags.writeable = False
    return md, tvd, temp


def _march(q, fluid, wellbore, nodes, top_down, start, correlation, pump, gas_lift, backend):
    """Pressure and holdup (n_nodes, n_rates) on ``nodes`` = (md, tvd, temp) (the marching scheme of :func:`traverse`)."""
    md, tvd, temp = nodes
    diameter, area, rough = wellbore.diameter_ft, wellbore.area_ft2, wellbore.roughness_in
    inj_scf_d = 1000.0 * gas_lift.rate_mscfd if gas_lift is not None else 0.0
    gain = pump.pressure_gain_psi(q) if pump is not None else None
    flags = _kernel_flags(correlation) if backend == "compiled" and np.ndim(fluid.oil_api) == 0 else None
    _, holdup_mult, friction_mult = resolve_correlation(correlation)
    if flags is not None:
        # fresh writable C arrays for q and the gains, read-only nodes and fluid: one compiled signature
        gains = np.array(gain, dtype=float) if gain is not None else np.zeros(q.size)
        pressure, holdup = run_march(np.array(q, dtype=float), float(start), int(top_down), md, tvd, temp,
                                     fluid_vector(fluid), float(diameter), float(area), float(rough / 12.0 / diameter),
                                     flags[0], flags[1], float(pump.depth_md_ft) if pump is not None else -1.0, gains,
                                     float(inj_scf_d), float(gas_lift.depth_md_ft) if gas_lift is not None else -1.0,
                                     holdup_mult, friction_mult)
        return pressure, holdup
    gradient = correlation_gradient(correlation)
    n = md.size
    pressure = np.empty((n, q.size))
    holdup = np.empty((n, q.size))
    order = range(n - 1) if top_down else range(n - 2, -1, -1)
    sign = 1.0 if top_down else -1.0
    p = np.full(q.size, float(start))
    pressure[0 if top_down else n - 1] = p

    def grad(p_now, seg, t_f):
        d_md = md[seg + 1] - md[seg]
        angle = np.degrees(np.arcsin(np.clip((tvd[seg + 1] - tvd[seg]) / d_md, -1.0, 1.0)))
        injected = inj_scf_d if (gas_lift is not None and md[seg + 1] <= gas_lift.depth_md_ft + 1e-9) else 0.0
        p_eval = np.minimum(np.maximum(p_now, STANDARD_PRESSURE_PSIA), MAX_PRESSURE_PSIA)
        state = fluid_state(fluid, p_eval, t_f)
        flow = in_situ_flow(fluid, state, q, area, injected)
        g = gradient(flow, diameter, rough, angle, p_eval)
        return g.total, g.holdup

    first = 0 if top_down else n - 2
    g_prev, _ = grad(p, first, temp[first + (0 if top_down else 1)])
    for seg in order:
        if pump is not None and abs(md[seg if top_down else seg + 1] - pump.depth_md_ft) < 1e-6:
            p = p - gain if top_down else p + gain  # crossing the pump
        d_md = md[seg + 1] - md[seg]
        t_mid = 0.5 * (temp[seg] + temp[seg + 1])
        g, hl = grad(p + sign * 0.5 * g_prev * d_md, seg, t_mid)
        p = np.minimum(p + sign * g * d_md, MAX_PRESSURE_PSIA)
        g_prev = g
        node = seg + 1 if top_down else seg
        pressure[node] = p
        holdup[node] = hl
    if top_down and pump is not None and abs(md[-1] - pump.depth_md_ft) < 1e-6:
        pressure[-1] = pressure[-1] - gain  # pump set at the perforations: report its intake side
    holdup[0 if top_down else n - 1] = holdup[1 if top_down else n - 2]
    return pressure, holdup


def refine_nodes(md: np.ndarray, pressure: np.ndarray, max_dp_psi: float) -> np.ndarray:
    """Nodes with every segment whose pressure change (largest over the rates) exceeds ``max_dp_psi`` cut into
    ``ceil(dp / max_dp_psi)`` equal pieces; ``md`` itself when none does."""
    dp = np.abs(np.diff(pressure, axis=0))
    worst = np.max(np.where(np.isfinite(dp), dp, 0.0), axis=1)
    pieces = np.maximum(np.ceil(worst / max_dp_psi), 1).astype(int)
    if np.all(pieces == 1):
        return md
    parts = [np.linspace(md[i], md[i + 1], k + 1)[:-1] for i, k in enumerate(pieces)]
    return np.concatenate(parts + [md[-1:]])


def traverse(q_bpd, fluid: BlackOilFluid, wellbore: Wellbore, *, wellhead_pressure_psia: float | None = None,
             bottomhole_pressure_psia: float | None = None, correlation: CorrelationSpec = "beggs_brill", n_segments: int = 100,
             pump: PumpBoost | None = None, gas_lift: GasInjection | None = None, max_dp_psi: float | None = None,
             backend: str = "compiled", extra_md_ft=()) -> TraverseResult:
    """Pressure vs depth for liquid rate(s) ``q_bpd`` (STB/d), from a wellhead (top-down) or bottomhole (bottom-up) pressure.

    Exactly one of ``wellhead_pressure_psia`` and ``bottomhole_pressure_psia`` must be given.
    ``max_dp_psi`` (optional) makes the segments adaptive: after a pass on the ``n_segments`` grid, every
    segment whose pressure change exceeds ``max_dp_psi`` (at any of the rates) is cut into equal pieces of
    at most about that change and the well is traversed again, until no segment exceeds it (at most
    :data:`MAX_REFINEMENTS` passes). ``backend``: "compiled" (numba kernel, the default) or "numpy"
    (the reference implementation); both give the same pressures to 1e-9 relative. ``correlation``: a name or a
    :class:`MatchedCorrelation`. ``extra_md_ft``: measured depths (ft) added as nodes (e.g. a gauge depth), so the
    profile reports the pressure there. ``n_segments`` >= 1 (one segment: a single predictor-corrector step).
    """
    q = _check_common(q_bpd, correlation, wellbore, pump, gas_lift)
    _check_backend(backend)
    if (wellhead_pressure_psia is None) == (bottomhole_pressure_psia is None):
        raise ValueError("give exactly one of wellhead_pressure_psia and bottomhole_pressure_psia")
    start = wellhead_pressure_psia if wellhead_pressure_psia is not None else bottomhole_pressure_psia
    if not (np.isfinite(start) and start > 0):
        raise ValueError(f"boundary pressure must be a finite number > 0 psia, got {start}")
    if max_dp_psi is not None and not (np.isfinite(max_dp_psi) and max_dp_psi > 0):
        raise ValueError(f"max_dp_psi must be a finite number > 0 psi, got {max_dp_psi}")
    top_down = wellhead_pressure_psia is not None
    if n_segments < 1:
        raise ValueError("n_segments must be >= 1")
    extra = tuple(float(h.depth_md_ft) for h in (pump, gas_lift) if h is not None) + tuple(float(m) for m in extra_md_ft)
    if any(not (0.0 <= m <= wellbore.total_md_ft) for m in extra):
        raise ValueError(f"extra_md_ft must lie in [0, {wellbore.total_md_ft}] ft")
    nodes = _uniform_nodes(wellbore, int(n_segments), extra)
    pressure, holdup = _march(q, fluid, wellbore, nodes, top_down, start, correlation, pump, gas_lift, backend)
    for _ in range(MAX_REFINEMENTS if max_dp_psi is not None else 0):
        finer = refine_nodes(nodes[0], pressure, max_dp_psi)
        if finer.size == nodes[0].size:
            break
        nodes = _geometry(wellbore, finer)
        pressure, holdup = _march(q, fluid, wellbore, nodes, top_down, start, correlation, pump, gas_lift, backend)
    md, tvd, temp = (a.copy() for a in nodes)
    if not top_down:
        # once the pressure falls below atmospheric, no node above it is reached
        dead = np.maximum.accumulate((pressure < STANDARD_PRESSURE_PSIA)[::-1], axis=0)[::-1]
        pressure = np.where(dead, np.nan, pressure)
    return TraverseResult(q_bpd=q, md_ft=md, tvd_ft=tvd, temperature_f=temp, pressure_psia=pressure, holdup=holdup,
                          correlation=str(correlation))


def bottomhole_pressure(q_bpd, fluid: BlackOilFluid, wellbore: Wellbore, wellhead_pressure_psia: float, *,
                        correlation: CorrelationSpec = "beggs_brill", n_segments: int = 100, pump: PumpBoost | None = None,
                        gas_lift: GasInjection | None = None, max_dp_psi: float | None = None,
                        backend: str = "compiled") -> np.ndarray:
    """Flowing bottomhole pressure (psia) at the mid-perforations for each liquid rate (STB/d): the VLP curve."""
    result = traverse(q_bpd, fluid, wellbore, wellhead_pressure_psia=wellhead_pressure_psia, correlation=correlation,
                      n_segments=n_segments, pump=pump, gas_lift=gas_lift, max_dp_psi=max_dp_psi, backend=backend)
    return result.pressure_psia[-1]
