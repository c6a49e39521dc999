"""The HTTP API (FastAPI): :func:`create_app` builds it over a service, :class:`ApiServer` serves it."""
from tb_bridge.api.app import create_app

__all__ = ["create_app"]
