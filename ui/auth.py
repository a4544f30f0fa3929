"""Users and passwords for the UI, and a gate that keeps every route behind the login.

Passwords are stored as ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`` (hashlib.scrypt, 16-byte
random salt, 32-byte key) and compared with `hmac.compare_digest`. An unknown user costs the same
scrypt as a known one, so response time does not reveal which usernames exist.

Users come from a file, one ``username:hash`` per line (``#`` comments and blank lines allowed),
and/or from the ``RAG_DX_UI_USERS`` environment variable holding the same lines separated by
newlines or ``;``. Create a line with::

    python -m ui.auth add-user users.txt dr_alice        # prompts for the password

`AuthGate` is an ASGI middleware installed when auth is on: Gradio leaves a few routes without
its login check (heartbeat, reset, cancel, streams, run history), so the gate answers 401 on
everything except the login page and the static assets it needs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rag_dx.errors import ConfigError

__all__ = [
    "USERS_ENV",
    "AuthGate",
    "Authenticator",
    "async_login_check",
    "hash_password",
    "is_loopback",
    "load_users",
    "verify_password",
]

USERS_ENV = "RAG_DX_UI_USERS"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_CHARS = 8


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """An encoded scrypt hash with a fresh random salt."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(key)}"


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not a scrypt$n$r$p$salt$hash string")
    n, r, p = (int(x) for x in parts[1:4])
    if n < 2**12 or n & (n - 1) or not (1 <= r <= 64) or not (1 <= p <= 16):
        raise ValueError("scrypt parameters out of range")
    return n, r, p, base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)


def verify_password(password: str, encoded: str) -> bool:
    """True if `password` matches the encoded hash; constant-time comparison of the keys."""
    try:
        n, r, p, salt, key = _parse(encoded)
    except ValueError:
        return False
    candidate = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(key),
                               maxmem=256 * n * r + 2**20)
    return hmac.compare_digest(candidate, key)


def _parse_lines(text: str, where: str) -> dict[str, str]:
    users: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, encoded = line.partition(":")
        name = name.strip()
        if not sep or not _USERNAME.match(name):
            raise ConfigError(f"{where}:{lineno}: expected 'username:scrypt$...' (username of letters, digits, _.@-)")
        try:
            _parse(encoded.strip())
        except ValueError as exc:
            # the value may be a plain-text password pasted by mistake: never echo it
            raise ConfigError(f"{where}:{lineno}: user '{name}': the password is not a scrypt hash ({exc}); "
                              "create one with `python -m ui.auth add-user FILE USER`") from None
        users[name] = encoded.strip()
    return users


def load_users(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """username -> encoded hash, from `path` and the RAG_DX_UI_USERS variable (the file wins on a clash).

    Raises:
        ConfigError: the file is missing or a line is malformed (named by file and line).
    """
    env = os.environ if env is None else env
    users: dict[str, str] = {}
    raw_env = env.get(USERS_ENV, "")
    if raw_env.strip():
        users.update(_parse_lines(raw_env.replace(";", "\n"), USERS_ENV))
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"users file not found: {path}")
        users.update(_parse_lines(path.read_text(encoding="utf-8"), str(path)))
    return users


class Authenticator:
    """The `auth` callable Gradio's login calls: `(username, password) -> bool`."""

    def __init__(self, users: Mapping[str, str]) -> None:
        if not users:
            raise ConfigError("authentication needs at least one user")
        self._users = dict(users)
        self._dummy = hash_password(secrets.token_urlsafe(16))

    def __call__(self, username: str, password: str) -> bool:
        encoded = self._users.get(username)
        ok = verify_password(password or "", encoded or self._dummy)
        return ok and encoded is not None

    def __repr__(self) -> str:  # never show hashes
        return f"Authenticator({len(self._users)} users)"


def async_login_check(authenticator: Authenticator, *, failure_delay: float = 0.5):
    """Wrap `authenticator` for Gradio's login route: scrypt runs in a worker thread (Gradio calls a
    plain callable inline, which would stall the event loop ~50 ms per attempt), and a failed
    attempt answers only after `failure_delay` seconds, which slows guessing."""
    import asyncio

    import anyio

    async def check(username: str, password: str) -> bool:
        ok = await anyio.to_thread.run_sync(authenticator, username, password)
        if not ok:
            await asyncio.sleep(failure_delay)
        return bool(ok)

    return check


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# Reachable without a session: the login page and what it loads. Everything else needs the cookie.
_PUBLIC_EXACT = frozenset({
    "/", "/login", "/login/", "/logout", "/favicon.ico", "/robots.txt", "/theme.css", "/manifest.json",
    "/config", "/config/", "/gradio_api/theme.css", "/gradio_api/login_check", "/gradio_api/login_check/",
})
_PUBLIC_PREFIXES = ("/assets/", "/static/", "/svelte/")
_LOOPBACK_ONLY = frozenset({"/gradio_api/startup-events"})  # launch() calls it on itself, with no cookie


class AuthGate:
    """ASGI middleware: 401 for any request without a valid Gradio session cookie, except public routes.

    It reads the live token table of the Gradio app serving the request (`scope["app"]`), so it
    honours logins and logouts exactly as Gradio's own check does. `/config` stays reachable
    because Gradio checks it itself (the login page asks for it and shows the form on its 401).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    @staticmethod
    def _user(scope: dict) -> str | None:
        gradio_app = scope.get("app")
        tokens = getattr(gradio_app, "tokens", None)
        cookie_id = getattr(gradio_app, "cookie_id", None)
        if not tokens or cookie_id is None:
            return None
        cookies: dict[str, str] = {}
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                for part in value.decode("latin-1").split(";"):
                    k, _, v = part.strip().partition("=")
                    cookies[k] = v
        token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
        return tokens.get(token) if token else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        root = scope.get("root_path", "") or ""
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        client = (scope.get("client") or ("", 0))[0]
        public = (path in _PUBLIC_EXACT or path.startswith(_PUBLIC_PREFIXES)
                  or (path in _LOOPBACK_ONLY and is_loopback(client or "")))
        if public or self._user(scope) is not None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = b'{"detail":"Not authenticated"}'
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def add_user(path: str | Path, username: str, password: str) -> None:
    """Add or replace `username` in a users file (created with mode 0600)."""
    if not _USERNAME.match(username):
        raise ConfigError("usernames are 1-64 letters, digits or _.@-")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(f"passwords need at least {MIN_PASSWORD_CHARS} characters")
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    lines = [ln for ln in lines if ln.partition(":")[0].strip() != username]
    lines.append(f"{username}:{hash_password(password)}")
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - interactive
    """`python -m ui.auth add-user FILE USERNAME` (prompts twice for the password)."""
    import getpass
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[0] != "add-user":
        print("usage: python -m ui.auth add-user USERS_FILE USERNAME", file=sys.stderr)
        return 2
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        print("passwords differ", file=sys.stderr)
        return 1
    try:
        add_user(args[1], args[2], first)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"user '{args[2]}' written to {args[1]}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
