"""Telemetry keys per lift type: the contract between the synthetic field, handlers, rules and dashboards."""
from __future__ import annotations

COMMON_KEYS: tuple[str, ...] = (
    "flow_rate_bpd",  # liquid rate, stock-tank bbl/d
    "oil_rate_bpd",  # stock-tank oil, bbl/d
    "water_cut_frac",  # water / liquid, fraction
    "gas_rate_mscfd",  # separator gas (formation + injection), Mscf/d
    "tubing_pressure_psi",  # wellhead tubing pressure, psig
    "casing_pressure_psi",  # wellhead casing pressure, psig
    "wellhead_temperature_f",  # degF
)

TELEMETRY_KEYS_BY_LIFT_TYPE: dict[str, tuple[str, ...]] = {
    "esp": COMMON_KEYS
    + (
        "frequency_hz",
        "motor_current_a",
        "motor_voltage_v",
        "motor_temperature_f",
        "intake_pressure_psi",
        "discharge_pressure_psi",
        "intake_temperature_f",
        "vibration_g",
        "motor_power_kw",
    ),
    "srp": COMMON_KEYS
    + (
        "spm",
        "pump_fillage_pct",
        "polished_rod_load_max_lbf",
        "polished_rod_load_min_lbf",
        "motor_power_kw",
        "surface_card",
        "pump_intake_pressure_psi",
    ),
    "pcp": COMMON_KEYS
    + (
        "rpm",
        "torque_ftlbf",
        "motor_power_kw",
        "motor_current_a",
        "intake_pressure_psi",
        "motor_temperature_f",
    ),
    "gas_lift": COMMON_KEYS + ("injection_rate_mscfd", "injection_pressure_psi", "separator_level_pct"),
}

#: Keys whose value is a string (JSON); every other key is a float.
STRING_KEYS: frozenset[str] = frozenset({"surface_card"})

NUMERIC_KEYS_BY_LIFT_TYPE: dict[str, tuple[str, ...]] = {
    lift: tuple(k for k in keys if k not in STRING_KEYS) for lift, keys in TELEMETRY_KEYS_BY_LIFT_TYPE.items()
}

#: Well-name prefix per lift type ("ESP-01", "GL-03").
NAME_PREFIX_BY_LIFT_TYPE: dict[str, str] = {"esp": "ESP", "srp": "SRP", "pcp": "PCP", "gas_lift": "GL"}
LIFT_TYPES: tuple[str, ...] = ("esp", "srp", "pcp", "gas_lift")
