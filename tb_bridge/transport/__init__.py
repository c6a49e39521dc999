"""Inbound transports from ThingsBoard, each producing :class:`tb_bridge.events.WellEvent`:

- :class:`tb_bridge.transport.edge.EdgeTransport` - gRPC, ThingsBoard's Edge protocol (the service is an edge);
- :class:`tb_bridge.transport.mqtt.MqttTransport` - what the rule chain's external MQTT node publishes;
- :class:`tb_bridge.transport.rest_ingress.RestIngressTransport` - what the rule chain's REST node posts (HTTP);
- :class:`tb_bridge.transport.inprocess.InProcessTransport` - the stand-in's pipeline, no network.

Modules are imported on demand (gRPC code is generated at first use, see :mod:`tb_bridge.transport.edge_proto`).
"""
