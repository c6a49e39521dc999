"""The dedicated ThingsBoard user the service writes as.

The loop protection (:class:`~tb_bridge.transport.loop_guard.LoopGuard`) drops every attribute update saved by
the user the service writes as: were that a person's account (the default ``tenant@thingsboard.org``), that
person's own edits would be dropped as echoes. So `atilax tb setup` creates a tenant administrator used by the
service alone, marked with ``additionalInfo.atilaxServiceUser = true``, and `atilax run` refuses any other user
unless ``allow_shared_user`` is set.
"""
from __future__ import annotations

from typing import Any, Mapping

#: ``additionalInfo`` key that marks the service user (set by `atilax tb setup`).
SERVICE_USER_FLAG = "atilaxServiceUser"
#: Local part of the service user's default e-mail (the domain is the setup administrator's).
DEFAULT_LOCAL_PART = "atilax-service"
#: ThingsBoard's demo tenant administrator: a shared account by definition.
SHARED_DEFAULT_USERNAME = "tenant@thingsboard.org"


def default_service_email(admin_email: str) -> str:
    """``atilax-service@<domain of admin_email>``."""
    domain = admin_email.rpartition("@")[2] or "localhost"
    return f"{DEFAULT_LOCAL_PART}@{domain}"


def is_service_user(user: Mapping[str, Any]) -> bool:
    """Whether ThingsBoard's User JSON carries the service-user mark."""
    info = user.get("additionalInfo")
    return isinstance(info, Mapping) and info.get(SERVICE_USER_FLAG) is True


def shared_user_refusal(username: str) -> str:
    """The one-line reason `atilax run` refuses to write as ``username``."""
    return (f"refusing to run as {username!r}: not the dedicated service user that `atilax tb setup` creates "
            f"(additionalInfo.{SERVICE_USER_FLAG}), so the loop protection would drop this user's own edits in "
            "ThingsBoard; set ATILAX_TB__USERNAME / ATILAX_TB__PASSWORD to the service user, or pass "
            "--allow-shared-user (allow_shared_user = true)")
