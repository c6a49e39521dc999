"""Users and JWTs of the stand-in, shaped like ThingsBoard's.

ThingsBoard signs HS512 access tokens whose claims are ``sub`` (the e-mail), ``userId``, ``scopes``
(e.g. ``["TENANT_ADMIN"]``), ``tenantId``, ``customerId``, ``enabled``, ``isPublic``, ``iss``
(``thingsboard.io``), ``iat`` and ``exp``; refresh tokens carry ``scopes: ["REFRESH_TOKEN"]``
(application/src/main/java/org/thingsboard/server/service/security/model/token/JwtTokenFactory.java).
Default lifetimes: 9000 s access, 604800 s refresh (``security.jwt.tokenExpirationTime`` /
``refreshTokenExpTime`` in application/src/main/resources/thingsboard.yml).
"""
from __future__ import annotations

import dataclasses
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt

NULL_UUID = "13814000-1dd2-11b2-8080-808080808080"  # ThingsBoard's EntityId.NULL_UUID (customerId of tenant users)
ISSUER = "thingsboard.io"
ALGORITHM = "HS512"


@dataclass(frozen=True, slots=True)
class User:
    """A stand-in user (tenant administrator by default). ``enabled``: ThingsBoard's UserCredentials.enabled (False
    from creation until activation); ``activate_token``: the token of its activation link while not activated."""

    id: str
    email: str
    password: str
    authority: str = "TENANT_ADMIN"
    first_name: str = ""
    last_name: str = ""
    additional_info: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    activate_token: str | None = None
    created_time: int = field(default_factory=lambda: int(time.time() * 1000))


class AuthError(Exception):
    """Authentication failed; ``error_code`` is ThingsBoard's ThingsboardErrorCode (10, 11)."""

    def __init__(self, message: str, error_code: int = 10) -> None:
        super().__init__(message)
        self.error_code = error_code


class Authenticator:
    """Users, login, JWT issue/verify and refresh."""

    def __init__(self, tenant_id: str, access_ttl_s: float = 9000.0, refresh_ttl_s: float = 604800.0) -> None:
        self.tenant_id = tenant_id
        self.access_ttl_s = float(access_ttl_s)
        self.refresh_ttl_s = float(refresh_ttl_s)
        self._key = secrets.token_bytes(64)
        self._users: dict[str, User] = {}
        self._lock = threading.Lock()

    def add_user(self, email: str, password: str, authority: str = "TENANT_ADMIN", *,
                 first_name: str = "", last_name: str = "", user_id: str | None = None,
                 additional_info: dict[str, Any] | None = None) -> User:
        """Create (or replace) an activated user; returns it."""
        user = User(user_id or str(uuid.uuid4()), email, password, authority, first_name, last_name,
                    dict(additional_info or {}))
        with self._lock:
            self._users[email.lower()] = user
        return user

    def create_user(self, email: str, authority: str = "TENANT_ADMIN", *, first_name: str = "", last_name: str = "",
                    additional_info: dict[str, Any] | None = None) -> User:
        """A new user without credentials, as ``POST /api/user`` makes it: not enabled, with an activation token
        (UserServiceImpl.saveUser); ``ValueError`` when the e-mail is taken (e-mails are unique in ThingsBoard)."""
        with self._lock:
            if email.lower() in self._users:
                raise ValueError(f"User with email '{email}' already present in database!")
            user = User(str(uuid.uuid4()), email, "", authority, first_name, last_name, dict(additional_info or {}),
                        enabled=False, activate_token=secrets.token_urlsafe(22))
            self._users[email.lower()] = user
        return user

    def update_user(self, user_id: str, **changes: Any) -> User:
        """Change a user's ``first_name``, ``last_name``, ``additional_info`` or ``email``; ``KeyError`` if unknown."""
        with self._lock:
            user = next((u for u in self._users.values() if u.id == user_id), None)
            if user is None:
                raise KeyError(user_id)
            updated = dataclasses.replace(user, **changes)
            del self._users[user.email.lower()]
            self._users[updated.email.lower()] = updated
        return updated

    def activate(self, activate_token: str, password: str) -> dict[str, str]:
        """Set the password of the user holding ``activate_token`` and enable it (``POST /api/noauth/activate``);
        returns a token pair; :class:`AuthError` for an unknown token."""
        with self._lock:
            user = next((u for u in self._users.values()
                         if u.activate_token and secrets.compare_digest(u.activate_token, activate_token or "")), None)
            if user is None:
                raise AuthError("Unable to find user credentials by activateToken", 31)
            user = dataclasses.replace(user, password=password, enabled=True, activate_token=None)
            self._users[user.email.lower()] = user
        return self._pair(user)

    def user_by_email(self, email: str) -> User | None:
        with self._lock:
            return self._users.get(email.lower())

    def user_by_id(self, user_id: str) -> User | None:
        with self._lock:
            return next((u for u in self._users.values() if u.id == user_id), None)

    def users(self) -> list[User]:
        """Every user of the tenant."""
        with self._lock:
            return list(self._users.values())

    def login(self, username: str, password: str) -> dict[str, str]:
        """``{"token", "refreshToken"}`` for valid credentials; :class:`AuthError` otherwise (a user not activated
        yet: "User is not active", as ThingsBoard's RestAuthenticationProvider answers)."""
        user = self.user_by_email(username or "")
        if user is not None and not user.enabled:
            raise AuthError("User is not active", 10)
        if user is None or not secrets.compare_digest(user.password, password or ""):
            raise AuthError("Invalid username or password", 10)
        return self._pair(user)

    def refresh(self, refresh_token: str) -> dict[str, str]:
        """A new pair for a valid refresh token."""
        claims = self._decode(refresh_token)
        if claims.get("scopes") != ["REFRESH_TOKEN"]:
            raise AuthError("Invalid refresh token", 10)
        user = self.user_by_email(claims["sub"])
        if user is None:
            raise AuthError("User not found", 10)
        return self._pair(user)

    def verify(self, token: str) -> User:
        """The user of a valid access token; :class:`AuthError` (code 11 when expired)."""
        claims = self._decode(token)
        if claims.get("scopes") == ["REFRESH_TOKEN"]:
            raise AuthError("Invalid JWT token", 10)
        user = self.user_by_email(claims.get("sub", ""))
        if user is None or user.id != claims.get("userId"):
            raise AuthError("Authentication failed", 10)
        return user

    def _decode(self, token: str) -> dict:
        try:
            return jwt.decode(token, self._key, algorithms=[ALGORITHM], issuer=ISSUER)
        except jwt.ExpiredSignatureError:
            raise AuthError("Token has expired", 11) from None
        except jwt.PyJWTError:
            raise AuthError("Invalid JWT token", 10) from None

    def _pair(self, user: User) -> dict[str, str]:
        now = time.time()
        common = {"sub": user.email, "userId": user.id, "iss": ISSUER, "iat": int(now),
                  "jti": secrets.token_hex(8)}
        access = {**common, "scopes": [user.authority], "sessionId": str(uuid.uuid4()),
                  "firstName": user.first_name, "lastName": user.last_name, "enabled": True,
                  "isPublic": False, "tenantId": self.tenant_id, "customerId": NULL_UUID,
                  "exp": int(now + self.access_ttl_s)}
        refresh = {**common, "scopes": ["REFRESH_TOKEN"], "isPublic": False,
                   "exp": int(now + self.refresh_ttl_s)}
        return {"token": jwt.encode(access, self._key, algorithm=ALGORITHM),
                "refreshToken": jwt.encode(refresh, self._key, algorithm=ALGORITHM)}
