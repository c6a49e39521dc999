"""Synthetic oil field: deterministic, physically consistent telemetry with injectable faults.

>>> from engines.fielddata import SyntheticField
>>> field = SyntheticField(wells_per_lift_type=3, seed=7, faults={"ESP-02": "pump_wear"})
>>> arrays = field.arrays("esp", n_steps=288)      # {key: (n_wells, n_steps)}
"""
from engines.fielddata.faults import FAULT_SPECS, FAULTS_BY_LIFT_TYPE, FaultSpec
from engines.fielddata.field import SyntheticField, SyntheticWell
from engines.fielddata.keys import LIFT_TYPES, NUMERIC_KEYS_BY_LIFT_TYPE, TELEMETRY_KEYS_BY_LIFT_TYPE

__all__ = ["SyntheticField", "SyntheticWell", "FAULTS_BY_LIFT_TYPE", "FAULT_SPECS", "FaultSpec",
           "TELEMETRY_KEYS_BY_LIFT_TYPE", "NUMERIC_KEYS_BY_LIFT_TYPE", "LIFT_TYPES"]
