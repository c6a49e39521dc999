"""Writeback to ThingsBoard: :class:`tb_bridge.writeback.rest.RestWriteback` (tb-rest-client) and
:class:`tb_bridge.writeback.edge.EdgeWriteback` (Edge-protocol uplink), both on the batching, retrying,
bounded-outbox engine of :mod:`tb_bridge.writeback.batching`."""
