"""The HTTP API (FastAPI): :func:`create_app` builds it over a service; :mod:`tb_bridge.api.server` serves it
(`atilax run` with ``api.enabled``, or `atilax api serve`)."""
from tb_bridge.api.app import create_app

__all__ = ["create_app"]
