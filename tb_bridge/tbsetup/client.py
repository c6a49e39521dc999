"""A small ThingsBoard REST client (httpx) for the calls setup and export need.

Login: ``POST /api/auth/login`` -> JWT sent as ``X-Authorization: Bearer <token>`` (ThingsBoard REST API).
"""
from __future__ import annotations

from typing import Any, Iterator

import httpx


class TbApiError(RuntimeError):
    """ThingsBoard answered with an error status."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {message}")
        self.status = status


class TbClient:
    """Tenant-administrator session against ``base_url``."""

    def __init__(self, base_url: str, username: str, password: str, *, timeout_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport)
        try:
            token = self._request("POST", "/api/auth/login", json={"username": username, "password": password})["token"]
        except BaseException:
            self._http.close()
            raise
        self._http.headers["X-Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "TbClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except (ValueError, AttributeError):
                message = response.text
            raise TbApiError(method, path, response.status_code, message)
        return response

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params or None)

    def get_text(self, path: str, **params: Any) -> str:
        """A ``text/plain`` answer (e.g. ``GET /api/user/{userId}/activationLink``)."""
        return self._send("GET", path, params=params or None).text

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self._request("POST", path, json=body, params=params or None)

    def pages(self, path: str, page_size: int = 100, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paged listing (``{"data", "hasNext"}``)."""
        page = 0
        while True:
            result = self.get(path, pageSize=page_size, page=page, **params)
            yield from result["data"]
            if not result.get("hasNext"):
                return
            page += 1
