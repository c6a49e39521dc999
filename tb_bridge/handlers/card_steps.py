"""SRP card step: the newest measured surface card (``surface_card`` telemetry) classified by the learned card
model (Gibbs transform with the well's rod string, then the downhole model), or by the geometric classifier
when no trained model file exists yet (``opt_status_detail`` says which).

It runs after the lift optimizer in the hourly tier, so its ``opt_srp_card_class`` (from the measured card)
replaces the optimizer's (geometric, on the measured or the predicted pump card). Without a measured card the
optimizer's class stands (the predicted card's) and the step says so: ``opt_srp_card_classifier`` is
``geometric``, ``opt_srp_card_confidence`` null.
"""
from __future__ import annotations

import json
from typing import Any

from tb_bridge.handlers.base import StepOutput, WellContext
from tb_bridge.writeback import keys

#: The card model, loaded once per process (None: no model file, geometric fallback).
_MODEL: dict[str, Any] = {}


def card_model():
    """The packaged card model (loaded once), or None when no trained model file exists."""
    if "model" not in _MODEL:
        from engines.ml.card_classifier import load_model

        _MODEL["model"] = load_model()
    return _MODEL["model"]


def srp_card_step(context: WellContext) -> StepOutput:
    from engines.ml.card_classifier import classify_card
    from tb_bridge.adapters.lift import srp_card_context
    from tb_bridge.handlers.engine_steps import LIFT_OPTIMIZER

    raw = context.latest_text.get("surface_card")
    if raw is None:  # the lift optimizer's class stands: geometric, on the predicted pump card
        attrs = keys.srp_card_attributes("", None, "geometric")
        del attrs["opt_srp_card_class"]
        return StepOutput(attributes=attrs)
    spm = context.window.latest().get("spm")
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
        spm = float(data.get("spm", spm)) if data.get("spm", spm) is not None else None
        if spm is None or not (0 < spm <= 40):
            return StepOutput(waiting=["srp_card_step: no spm for the surface card"])
        rods, damping, sg = srp_card_context(context.config, LIFT_OPTIMIZER.cache)
        model = card_model()
        res = classify_card(data["position_in"], data["load_lbf"], spm, "surface", rods, damping, sg, model,
                            plunger_diameter_in=context.config.plunger_diameter_in)
    except (ValueError, KeyError, TypeError) as exc:
        return StepOutput(errors=[f"srp_card_step: surface_card: {type(exc).__name__}: {exc}"])
    note = f"srp_card_step: {res.detail}" if res.path == "geometric" else f"srp_card_step: card class by the {res.detail} ({res.path})"
    return StepOutput(attributes=keys.srp_card_attributes(res.card_class, res.confidence, res.path), notes=[note])
