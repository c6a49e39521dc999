"""Installs the bundled rule chains, dashboards, device profiles and the Edge into ThingsBoard
(a real server or the stand-in) over its REST API, idempotently; exports what is installed."""
