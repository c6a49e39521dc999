"""Injectable faults of the synthetic field and their physical signatures.

Each fault ramps in linearly from its onset step over ``ramp_steps`` samples (severity 0 -> 1) and
then stays at full severity. The signature text is what the generator does; the diagnostics rules
(``engines.anomaly.rules``) test for it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaultSpec:
    """One injectable fault: its lift type, ramp length (samples) and documented signature."""

    name: str
    lift_type: str
    ramp_steps: int
    signature: str


_SPECS: tuple[FaultSpec, ...] = (
    # ESP -----------------------------------------------------------------------------------------
    FaultSpec("gas_lock", "esp", 6, "free gas at the intake: the pump cycles between locked and pumping "
              "(period 4 samples); flow falls to ~15% while locked and ~35% on average, motor current "
              "and power drop (~-75%) and fluctuate (coefficient of variation > 0.15), intake pressure "
              "rises as the annulus fills."),
    FaultSpec("pump_wear", "esp", 24, "worn impellers: head and volumetric efficiency fall 30% at the same "
              "frequency; flow down ~30%, intake pressure up (less drawdown), current and power down."),
    FaultSpec("motor_overheating", "esp", 24, "degraded motor cooling / insulation: motor temperature rises "
              "60 degF above its intake-temperature baseline with flow, current and voltage unchanged."),
    FaultSpec("electrical_fault", "esp", 6, "supply sag / phase unbalance: motor voltage -15%, current "
              "+18% (same shaft power at a worse power factor) with +/-8% current spikes."),
    FaultSpec("mechanical_imbalance", "esp", 12, "shaft/bearing wear: vibration rises from ~0.15 g to "
              "~0.9 g; power +4% (friction)."),
    # SRP -----------------------------------------------------------------------------------------
    FaultSpec("fluid_pound", "srp", 12, "inflow below pump capacity (productivity index halves): pump "
              "fillage falls to ~55-70%, the downstroke unloads late (fluid-pound card), pump intake "
              "pressure falls to the pumped-off level, flow limited by inflow."),
    FaultSpec("gas_lock", "srp", 6, "gas-locked pump: neither valve opens; fillage ~5%, the card is a thin "
              "sliver near the upstroke load (minimum load rises by 75% of the load range), flow ~5%, "
              "pump intake pressure rises toward static."),
    FaultSpec("traveling_valve_leak", "srp", 12, "leaking traveling valve: fluid load bleeds off during "
              "the upstroke (card top slopes down 45%), peak load -8%, flow -35% with a full card "
              "(fillage ~100%), pump intake pressure rises."),
    FaultSpec("standing_valve_leak", "srp", 12, "leaking standing valve: barrel fluid escapes on the "
              "downstroke so the load transfers late and gradually; apparent fillage ~70% with the pump "
              "intake pressure above normal (not pumped off), flow -30%."),
    FaultSpec("rod_part", "srp", 1, "parted rod string (at 45% of its length): peak load falls to the "
              "buoyant weight of the rods above the break, load range collapses, flow ~0, intake pressure "
              "builds toward static. CRITICAL."),
    FaultSpec("unbalance", "srp", 12, "counterbalance out of adjustment: cyclic load factor rises, motor "
              "power +35% with unchanged polished-rod loads, stroke rate and flow."),
    # PCP -----------------------------------------------------------------------------------------
    FaultSpec("pump_wear", "pcp", 24, "worn rotor/elastomer: slip coefficient x4.5 and interference "
              "friction halves; flow down ~20%, torque down >15%, intake pressure up."),
    FaultSpec("sand_up", "pcp", 24, "sand accumulating in the pump: friction torque x3.5 (torque "
              "+50-100%), flow -25%, current and power up, intake pressure up."),
    FaultSpec("motor_overload", "pcp", 12, "motor-side overload (low supply voltage, winding "
              "degradation): current +30%, power +12%, motor temperature +45 degF with shaft torque unchanged."),
    FaultSpec("torque_spike", "pcp", 1, "intermittent solids/rotor binding: torque spikes of +60-90% on ~15% "
              "of samples, with matching power/current spikes."),
    FaultSpec("low_intake_pressure", "pcp", 24, "inflow decline (reservoir pressure -35%): intake pressure "
              "falls below 30% of its baseline, flow down (pump-off)."),
    FaultSpec("high_tubing_pressure", "pcp", 12, "flowline restriction: tubing pressure x2.6; differential "
              "pressure, torque and slip rise, flow slightly down."),
    FaultSpec("increasing_slip", "pcp", 288, "elastomer hysteresis heating/swell: slip coefficient ramps to x7 "
              "over a day while interference friction rises 60%, so volumetric efficiency keeps falling (a "
              "negative trend inside any window) while torque changes little (<15%); flow trends down."),
    # Gas lift ------------------------------------------------------------------------------------
    FaultSpec("casing_heading", "gas_lift", 6, "unstable injection: casing pressure oscillates +/-12%, tubing "
              "pressure +/-35%, liquid rate +/-45% with a 1-hour period (12 samples)."),
    FaultSpec("over_injection", "gas_lift", 6, "injection rate x2.2 past the economic optimum: liquid rate "
              "barely changes (concave performance curve), gas rate way up, injection pressure +5%."),
    FaultSpec("gas_leak", "gas_lift", 12, "tubing/valve leak above the operating valve: injection gas "
              "short-circuits, injection rate +45%, casing and injection pressure -18%, liquid rate -30%."),
    FaultSpec("separator_flooding", "gas_lift", 12, "separator level control lost: level rises from ~50% "
              "to ~93%, tubing pressure +15% (back-pressure)."),
    FaultSpec("pressure_drop", "gas_lift", 6, "injection-gas supply pressure loss: injection pressure -40%, "
              "injection rate -55%, liquid rate down, casing pressure down."),
    FaultSpec("water_breakthrough", "gas_lift", 48, "water breakthrough: water cut +0.40 (absolute), oil rate "
              "down ~55%, liquid rate -8% (heavier column)."),
)

#: ``{lift_type: {fault_name: FaultSpec}}``.
FAULT_SPECS: dict[str, dict[str, FaultSpec]] = {}
for _spec in _SPECS:
    FAULT_SPECS.setdefault(_spec.lift_type, {})[_spec.name] = _spec

#: ``{lift_type: tuple of fault names}`` (24 faults, one per diagnostics rule).
FAULTS_BY_LIFT_TYPE: dict[str, tuple[str, ...]] = {lift: tuple(specs) for lift, specs in FAULT_SPECS.items()}
