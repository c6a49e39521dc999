"""`atilax diagnose WINDOW.json`: one well's telemetry window -> anomalies with evidence, health, SPC.

The input names the lift type, the well's flat attributes (optional), the telemetry window and either
a history to fit the robust baseline from (at least one day of samples) or the baseline itself. With a
history, the well's own-history PCA monitor is fitted on it too: T^2 / SPE of the window's newest sample and
their 99 % limits (``spc_t2_limit``, ``spc_spe_limit``).
"""
from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field, model_validator

from tb_bridge.cli.io import CliInputError, format_table, print_json, print_key_values, read_model


class BaselineStat(BaseModel):
    """Baseline of one key (key units)."""

    median: float = Field(description="baseline median of the key")
    sigma: float = Field(gt=0, description="robust sigma (1.4826 MAD) of the key")
    mean: float | None = Field(default=None, description="trimmed mean (defaults to the median)")
    std: float | None = Field(default=None, gt=0, description="trimmed standard deviation (defaults to sigma)")


class DiagnoseInput(BaseModel):
    """A diagnostic request for one well."""

    lift_type: str = Field(description="esp, srp, pcp, gas_lift or natural_flow")
    params: dict = Field(default_factory=dict, description="flat well attributes (nameplates: ESP motor_current_a A, "
                                                            "PCP rod_torque_limit_ftlbf ft*lbf)")
    window: dict[str, list[float]] = Field(description="telemetry window: key -> samples (oldest first, oilfield units)")
    history: dict[str, list[float]] | None = Field(default=None, description="baseline history: key -> samples "
                                                                            "(>= 288 five-minute samples)")
    baseline: dict[str, BaselineStat] | None = Field(default=None, description="precomputed baseline per key")
    health_history: list[float] | None = Field(default=None, description="past daily health scores, oldest first")

    @model_validator(mode="after")
    def _check(self) -> "DiagnoseInput":
        lengths = {len(v) for v in self.window.values()}
        if len(lengths) != 1 or min(lengths) < 2:
            raise ValueError("window arrays must all have the same length (>= 2)")
        if self.history is None and self.baseline is None:
            raise ValueError("give either history (to fit the baseline) or baseline")
        if self.history is not None and len({len(v) for v in self.history.values()}) != 1:
            raise ValueError("history arrays must all have the same length")
        return self


def register(subparsers) -> None:
    from tb_bridge.cli import replay_cmd

    parser = subparsers.add_parser("diagnose", help="diagnose one well's telemetry window (anomalies, health, SPC); "
                                                    "`diagnose replay RECORDING.csv` streams a long recording")
    parser.add_argument("input", help="JSON file, or - for stdin; or `replay`")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    replay_cmd.add_arguments(parser)
    parser.set_defaults(func=_diagnose)


def _diagnose(args) -> int:
    from engines.anomaly.baseline import RobustBaseline, fit_baseline
    from engines.anomaly.diagnosis import MONITORED_KEYS, diagnose_window, fit_own_pca
    from tb_bridge.writeback.keys import diagnosis_attributes

    if args.input == "replay":
        from tb_bridge.cli import replay_cmd

        return replay_cmd.run(args)
    req = read_model(args.input, DiagnoseInput)
    lift = req.lift_type.strip().lower().replace("-", "_")
    if lift not in MONITORED_KEYS:
        raise CliInputError(f"unknown lift_type {req.lift_type!r}; expected one of {tuple(MONITORED_KEYS)}")
    window = {k: np.asarray(v, dtype=float)[None, :] for k, v in req.window.items()}
    if req.history is not None:
        base = fit_baseline({k: np.asarray(v, dtype=float)[None, :] for k, v in req.history.items()},
                            resolution=req.params.get("sensor_resolution"))
    else:
        keys = tuple(req.baseline)
        med = np.array([[req.baseline[k].median for k in keys]])
        sig = np.array([[req.baseline[k].sigma for k in keys]])
        loc = np.array([[req.baseline[k].mean if req.baseline[k].mean is not None else req.baseline[k].median for k in keys]])
        sd = np.array([[req.baseline[k].std if req.baseline[k].std is not None else req.baseline[k].sigma for k in keys]])
        base = RobustBaseline(keys, med, sig, np.array([10**6]), loc, sd)
    hist = None if not req.health_history else np.asarray(req.health_history, dtype=float)[None, :]
    own = None
    if req.history is not None and all(k in req.history for k in MONITORED_KEYS[lift]):
        try:
            own = fit_own_pca(lift, {k: np.asarray(req.history[k], dtype=float) for k in MONITORED_KEYS[lift]})
        except ValueError:  # too few complete samples: no T^2 / SPE
            own = None
    try:
        res = diagnose_window(lift, [req.params], window, base, health_history=hist,
                              own_pca=None if own is None else [own])
    except (ValueError, KeyError) as exc:
        raise CliInputError(f"{args.input}: {exc}") from exc
    out = diagnosis_attributes(res, 0)
    out["spc_t2_limit"] = None if own is None else round(own.t2_limit, 3)
    out["spc_spe_limit"] = None if own is None else round(own.spe_limit, 3)
    out["health_trend"] = res.health_trend[0]
    out["rule_scores"] = {n: round(float(s), 4) for n, s in zip(res.rule_names, res.rule_scores[0])}
    if args.json:
        print_json(out)
        return 0
    print_key_values([(k, v) for k, v in out.items() if k not in ("opt_anomaly_evidence", "opt_health_components", "rule_scores")],
                     title=f"Diagnosis ({lift})")
    if out["opt_anomaly_evidence"]:
        rows = [[e.get("key", ""), e.get("value"), e.get("baseline"), e.get("z"), e.get("ratio")] for e in out["opt_anomaly_evidence"]]
        print()
        print(format_table(["evidence key", "window median", "baseline", "z", "ratio"], rows))
    print()
    print(format_table(["health component", "score"], list(out["opt_health_components"].items())))
    return 0
