"""Bearer tokens for the HTTP API.

A token is ``<name>:<secret>`` (``rag-dx api-token add FILE NAME`` makes one and prints it once).
The file holds only ``name:scrypt$...`` lines, the same format as the UI's users file, written and
verified by the UI's own functions (``ui.auth.add_user`` / ``ui.auth.Authenticator``, passed in by
`rag_dx.commands.serve`): the secret plays the password's part.

scrypt costs ~50 ms on purpose; a token that verified once is remembered for the life of the app
(an HMAC of it under a per-app random key, never the token), so only the first request per token
and failed attempts pay it. A failed attempt answers after a short delay.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable

from rag_dx.lru import BoundedLRU

__all__ = ["BearerAuth", "new_token", "split_token"]

Verify = Callable[[str, str], bool]


def new_token(name: str) -> tuple[str, str]:
    """(the bearer token to hand out, the secret to hash into the file) for `name`."""
    secret = secrets.token_urlsafe(32)
    return f"{name}:{secret}", secret


def split_token(token: str) -> tuple[str, str] | None:
    """``name:secret`` -> (name, secret); None when it is not of that shape."""
    name, sep, secret = token.strip().rpartition(":")
    if not sep or not name or len(secret) < 16 or len(token) > 512:
        return None
    return name, secret


class BearerAuth:
    """Checks ``Authorization: Bearer <name>:<secret>``; one instance per app.

    Args:
        verify: `(name, secret) -> bool`, e.g. ``ui.auth.Authenticator(load_users(FILE))``;
            None switches authentication off (loopback only; `rag-dx serve` enforces that).
        failure_delay: seconds a failed attempt waits before its 401.
        remember: how many verified tokens to remember.
    """

    def __init__(self, verify: Verify | None, *, failure_delay: float = 0.25, remember: int = 1024) -> None:
        self._verify = verify
        self.failure_delay = failure_delay
        self._key = secrets.token_bytes(32)
        self._known: BoundedLRU[bytes, str] = BoundedLRU(remember)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._verify is not None

    def user(self, authorization: str | None) -> str | None:
        """The token's name, or None when the header is missing or wrong (blocking: scrypt)."""
        if self._verify is None:
            return "local"
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        parts = split_token(token)
        if parts is None:
            return None
        digest = hmac.new(self._key, token.strip().encode("utf-8"), hashlib.sha256).digest()
        with self._lock:
            known = self._known.get(digest)
            if known is not None:
                return known
        name, secret = parts
        if not self._verify(name, secret):
            return None
        with self._lock:
            self._known.put(digest, name)
        return name

    def __repr__(self) -> str:  # never show keys or tokens
        return f"BearerAuth(enabled={self.enabled}, remembered={len(self._known)})"
