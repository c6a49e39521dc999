"""Well model (typed static parameters) and the registry fed from ThingsBoard attributes."""
from tb_bridge.wells.model import (
    LIFT_TYPES,
    EspWellConfig,
    GasLiftWellConfig,
    LiftType,
    PcpWellConfig,
    RodSection,
    SrpWellConfig,
    SurveyStation,
    WellConfig,
    WellConfigError,
    parse_well_config,
)

__all__ = [
    "LIFT_TYPES",
    "EspWellConfig",
    "GasLiftWellConfig",
    "LiftType",
    "PcpWellConfig",
    "RodSection",
    "SrpWellConfig",
    "SurveyStation",
    "WellConfig",
    "WellConfigError",
    "parse_well_config",
]
