"""Lift type -> handler. Adding a lift type: write its handler module, add one line here."""
from __future__ import annotations

from tb_bridge.handlers import esp, gas_lift, natural_flow, pcp, srp
from tb_bridge.handlers.base import LiftHandler

HANDLERS: dict[str, LiftHandler] = {
    "esp": esp.HANDLER,
    "srp": srp.HANDLER,
    "pcp": pcp.HANDLER,
    "gas_lift": gas_lift.HANDLER,
    "natural_flow": natural_flow.HANDLER,
}


class UnknownLiftTypeError(KeyError):
    """No handler is registered for this lift type."""


def handler_for(lift_type: str) -> LiftHandler:
    try:
        return HANDLERS[lift_type]
    except KeyError:
        raise UnknownLiftTypeError(f"no handler for lift type {lift_type!r}; registered: {sorted(HANDLERS)}") from None
