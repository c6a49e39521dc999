"""The demo's switch to the real path: the stand-in's Edge gRPC server and an :class:`EdgeTransport`.

:func:`edge_transport_for_standin` creates an edge on the stand-in, serves ``edge.EdgeRpcService`` on a
free local port, assigns every device (existing and created later) to the edge, and returns a transport
connected to it with the edge's routing key and secret. ``StandIn.wait_idle()`` then also waits until
the edge acknowledged every downlink, i.e. until the service's sink has seen each event.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from tb_bridge.transport.edge import EdgeTransport
from tb_bridge.transport.loop_guard import LoopGuard

if TYPE_CHECKING:
    from tb_bridge.standin import StandIn


def edge_transport_for_standin(tb: "StandIn", *, edge_name: str = "atilax", loop_guard: LoopGuard | None = None,
                               host: str = "127.0.0.1") -> EdgeTransport:
    """A not-yet-started :class:`EdgeTransport` to a fresh edge of ``tb``. The Edge protocol carries no
    user id, so echoes of the service's own ``opt_*`` writes are dropped by key prefix (default guard)."""
    edge = tb.create_edge(edge_name)
    port = tb.start_edge_server(host, 0)
    for device in tb.store.devices():
        tb.assign_device_to_edge(device.id, edge.id)
    tb.edges.auto_assign_edge_id = edge.id
    return EdgeTransport(host, port, edge.routing_key, edge.secret, loop_guard=loop_guard or LoopGuard(),
                         backoff_initial_s=0.1, backoff_max_s=2.0)
