"""``atilax pcp``: progressing-cavity pump tools from the command line.

``atilax pcp elastomer-life HISTORY.json``
    Arrhenius ageing of the stator elastomer over a temperature history (:class:`ElastomerLifeInput`):
    damage consumed, remaining days at the current (or a given) temperature, life at that temperature
    and the highest temperature that still gives a target life.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tb_bridge.cli.io import CliInputError, print_json, print_key_values, read_model


class ElastomerLifeInput(BaseModel):
    """Temperature history of one stator."""

    model_config = ConfigDict(extra="forbid")
    elastomer: Literal["NBR", "HNBR", "FKM"] = Field(description="stator elastomer")
    time_days: list[float] = Field(min_length=1, description="sample times since installation, days, non-decreasing")
    temperature_c: list[float] | None = Field(None, description="elastomer temperature at each time, degC")
    temperature_f: list[float] | None = Field(None, description="or the same in degF")
    future_temperature_c: float | None = Field(None, description="temperature for the remaining-life projection, degC (default: last)")
    target_life_days: float = Field(730.0, gt=0, description="life target for the derated maximum temperature, days")
    swell_pct: float = Field(0.0, ge=0, le=100, description="elastomer volume swell, %")
    h2s_mol_pct: float = Field(0.0, ge=0, le=100, description="H2S in the gas, mol %")
    co2_mol_pct: float = Field(0.0, ge=0, le=100, description="CO2 in the gas, mol %")
    sand_pct: float = Field(0.0, ge=0, le=100, description="sand in the liquid, vol %")

    @model_validator(mode="after")
    def _temps(self) -> "ElastomerLifeInput":
        if (self.temperature_c is None) == (self.temperature_f is None):
            raise ValueError("give exactly one of temperature_c and temperature_f")
        temps = self.temperature_c if self.temperature_c is not None else self.temperature_f
        if len(temps) != len(self.time_days):
            raise ValueError("the temperature list must match time_days in length")
        return self


def _life(args) -> int:
    from engines.lift.elastomer import Environment, derated_max_temperature_c, remaining_life

    data = read_model(args.input, ElastomerLifeInput)
    temps = data.temperature_c if data.temperature_c is not None else [(t - 32.0) / 1.8 for t in data.temperature_f]
    try:
        env = Environment(data.swell_pct, data.h2s_mol_pct, data.co2_mol_pct, data.sand_pct)
        res = remaining_life(data.elastomer, data.time_days, temps, env, data.future_temperature_c)
        t_max = derated_max_temperature_c(data.elastomer, data.target_life_days, env)
    except ValueError as exc:
        raise CliInputError(f"{args.input}: {exc}") from exc
    out = {"elastomer": data.elastomer, "damage_frac": res.damage_frac, "remaining_days": res.remaining_days,
           "life_at_current_days": res.life_at_current_days, "derated_max_temperature_c": t_max,
           "target_life_days": data.target_life_days}
    if args.json:
        print_json(out)
        return 0
    print_key_values(list(out.items()), title="PCP elastomer life (Arrhenius)")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("pcp", help="progressing-cavity pump tools")
    sub = parser.add_subparsers(dest="pcp_command", required=True)
    p = sub.add_parser("elastomer-life", help="remaining stator life from a temperature history (Arrhenius)")
    p.add_argument("input", help="JSON file, or - for stdin")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_life)
