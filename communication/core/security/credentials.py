"""Credentials: the server secret, compact signed tokens, API keys and scoped read tokens.

No HTTP here: :mod:`communication.http.access` turns these checks into FastAPI dependencies. Two kinds of signed
token share one
format (``base64url(JSON claims) "." base64url(HMAC-SHA256)``) but never one key: every purpose signs with its
own key derived from the server secret, so a read token can never pass as a callback link or the reverse.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from communication.core.ops.private_files import make_private_dir
from communication.core.settings import Settings
from communication.protocol.errors import TokenExpired, TokenInvalid, Unauthorized

log = logging.getLogger("communication.core.security.credentials")

#: Name of the generated secret's file under ``Settings.data_dir``.
SECRET_FILE = "server_secret"
#: Longest token we try to verify; anything longer is rejected before hashing.
MAX_TOKEN_CHARS = 4096
#: The query parameter carrying a read token (EventSource cannot set headers).
READ_TOKEN_PARAM = "access_token"

Clock = Callable[[], float]


def b64url(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Inverse of :func:`b64url`. Raises ``ValueError`` on anything that is not URL-safe base64."""
    if not text.isascii():
        raise ValueError("not base64")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64") from exc


def load_or_create_secret(path: Path) -> bytes:
    """The secret stored at ``path``; created (32 random bytes, hex, mode 0600) when the file is absent.

    Creation is atomic (write a private temporary file, then hard-link it into place), so two processes
    starting together agree on one secret instead of each keeping its own.
    """
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing.encode()
    make_private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    try:
        os.link(temporary, path)
        log.warning("generated a server secret in %s (set COMM_SERVER_SECRET to manage it yourself)", path)
    except FileExistsError:
        pass  # another process won the race: use its secret
    finally:
        temporary.unlink()
    return path.read_text().strip().encode()


class ServerSecret:
    """The server's HMAC secret: ``Settings.server_secret``, or a generated one persisted under ``data_dir``.

    Resolved on first use, so a server that never signs anything never touches the disk.
    """

    def __init__(self, settings: Settings) -> None:
        self._configured = settings.server_secret
        self._path = settings.data_dir / SECRET_FILE
        self._value: bytes | None = None
        self._lock = threading.Lock()

    def get(self) -> bytes:
        """The secret's bytes."""
        with self._lock:
            if self._value is None:
                self._value = self._configured.encode() if self._configured else load_or_create_secret(self._path)
            return self._value

    def derive(self, purpose: str) -> bytes:
        """A key for one purpose only (HMAC of the purpose under the secret)."""
        return hmac.new(self.get(), f"dbos-comm/{purpose}".encode(), hashlib.sha256).digest()


class Signer:
    """Signs and verifies compact tokens for one purpose."""

    def __init__(self, secret: ServerSecret, purpose: str) -> None:
        self._secret = secret
        self._purpose = purpose
        self._key: bytes | None = None

    def _mac(self, payload: bytes) -> bytes:
        if self._key is None:
            self._key = self._secret.derive(self._purpose)
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def sign(self, claims: Mapping[str, Any]) -> str:
        """``base64url(claims JSON) + "." + base64url(HMAC)``."""
        payload = b64url(json.dumps(dict(claims), separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{b64url(self._mac(payload.encode()))}"

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this signer issued, or ``None`` for anything else (never raises)."""
        if len(token) > MAX_TOKEN_CHARS or not token.isascii():
            return None
        payload, dot, signature = token.partition(".")
        if not dot:
            return None
        expected = b64url(self._mac(payload.encode()))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return None
        try:
            claims = json.loads(unb64url(payload))
        except ValueError:
            return None
        return claims if isinstance(claims, dict) else None


class ReadToken(BaseModel):
    """A short-lived token that allows reading one workflow's events and streams (GET only)."""

    token: str = Field(description="Pass it as the access_token query parameter.")
    workflow_id: str
    expires_at: datetime
    query_param: str = Field(READ_TOKEN_PARAM, description="Name of the query parameter that carries the token.")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class AccessControl:
    """API keys and read tokens, as configured by :class:`Settings`."""

    def __init__(self, settings: Settings, secret: ServerSecret, clock: Clock = time.time) -> None:
        # Compare digests, not keys: equal-length inputs keep compare_digest constant-time.
        self._key_digests = [_digest(k) for k in settings.api_keys if k]
        self._tokens = Signer(secret, "read-token")
        self._default_ttl = settings.read_token_ttl_seconds
        self._clock = clock

    @property
    def open(self) -> bool:
        """Whether no API key is configured (everything is allowed)."""
        return not self._key_digests

    def is_api_key(self, presented: str | None) -> bool:
        """Whether ``presented`` is one of the configured keys (constant time over every key)."""
        if not presented:
            return False
        candidate = _digest(presented)
        matches = [hmac.compare_digest(candidate, known) for known in self._key_digests]
        return any(matches)

    def authenticate(self, presented: str | None) -> None:
        """Accept a configured API key, or anything when the server is open.

        Raises:
            Unauthorized: no key, or not a configured one.
        """
        if self.open or self.is_api_key(presented):
            return
        if presented is None:
            raise Unauthorized("missing credentials: send 'Authorization: Bearer <api key>'")
        raise Unauthorized("invalid API key")

    def mint_read_token(
        self, workflow_id: str, ttl_seconds: float | None = None, now: float | None = None
    ) -> ReadToken:
        """A read token for ``workflow_id`` valid for ``ttl_seconds`` (default ``read_token_ttl_seconds``)."""
        issued = self._clock() if now is None else now
        expires = issued + (self._default_ttl if ttl_seconds is None else ttl_seconds)
        token = self._tokens.sign({"kind": "read", "wf": workflow_id, "exp": round(expires, 3)})
        return ReadToken(token=token, workflow_id=workflow_id, expires_at=datetime.fromtimestamp(expires, tz=UTC))

    def check_read_token(self, token: str, workflow_id: str) -> float:
        """Accept a read token issued for ``workflow_id`` that has not expired; its expiry (epoch seconds), so a
        long-lived connection it opened can end then.

        Raises:
            TokenInvalid: forged, malformed, or issued for another workflow.
            TokenExpired: authentic but past its lifetime.
        """
        claims = self._tokens.verify(token)
        if claims is None or claims.get("kind") != "read" or not isinstance(claims.get("exp"), int | float):
            raise TokenInvalid("invalid read token")
        if claims.get("wf") != workflow_id:
            # Same answer whether or not that workflow exists: a token only speaks for its own workflow.
            raise TokenInvalid("this read token is for another workflow")
        if float(claims["exp"]) <= self._clock():
            raise TokenExpired("read token expired; mint a new one", expired_at=claims["exp"])
        expires: float = float(claims["exp"])
        return expires
