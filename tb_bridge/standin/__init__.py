"""A ThingsBoard stand-in: the subset of ThingsBoard CE's REST, Edge gRPC and MQTT device API that the
bridge uses, with an in-memory store and a message pipeline, for tests and the demo."""
from tb_bridge.standin.core import DeviceAuthError, HttpFault, StandIn
from tb_bridge.standin.messages import TbMsg
from tb_bridge.standin.store import DEVICE_PROFILES

__all__ = ["StandIn", "TbMsg", "DeviceAuthError", "HttpFault", "DEVICE_PROFILES"]
