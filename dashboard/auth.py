"""Dashboard accounts, sessions and CSRF tokens.

Accounts are staff ids (never names) with roles: ``operator`` may command robots, ``clinical`` may
see the clinical channel, ``viewer`` sees the rest and nothing more. A user logs in with a password
(stored as an scrypt hash, stdlib only) or with a configured access token (stored as its SHA-256).
A session is a random id in an HttpOnly, SameSite=Strict cookie; every state-changing request must
also carry the session's CSRF token in a header, which another site's page cannot read or set.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ROLES = ("operator", "clinical", "viewer")
SESSION_COOKIE = "medbot_session"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL_S = 12 * 3600.0
#: staff account ids as the command contract carries them (``issued_by.user``): never a name
USER_ID = re.compile(r"[a-z0-9-]{1,64}")
# scrypt cost: N=2^15, r=8, p=1 (32 MiB, ~0.1 s per check here): memory-hard enough that a stolen users
# file is slow to attack, cheap enough that a login does not stall the server
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
_SCRYPT_MAXMEM = 256 * 1024 * 1024


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$<salt b64>$<hash b64>``."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32,
                            maxmem=_SCRYPT_MAXMEM)
    return "$".join(["scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), n=int(n), r=int(r), p=int(p),
                                dklen=32, maxmem=_SCRYPT_MAXMEM)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Account:
    user: str
    roles: frozenset[str]
    password_hash: str | None = None
    token_sha256: str | None = None

    def __post_init__(self) -> None:
        if USER_ID.fullmatch(self.user) is None:
            raise ValueError(f"account id {self.user!r} must be a staff id of a-z, 0-9 and '-' (1-64 chars)")
        unknown = set(self.roles) - set(ROLES)
        if unknown or not self.roles:
            raise ValueError(f"account {self.user!r}: roles must be some of {', '.join(ROLES)}, "
                             f"got {sorted(self.roles)}")

    @property
    def can_command(self) -> bool:
        return "operator" in self.roles

    @property
    def can_see_clinical(self) -> bool:
        return "clinical" in self.roles


def accounts_from_dict(data: Mapping[str, Mapping[str, Any]]) -> dict[str, Account]:
    """``{"op-0001": {"roles": ["operator", "clinical"], "password_hash": "scrypt$..."}, "vw-1": {...,
    "token_sha256": "<hex>"}}`` (the shape of the ``--users`` YAML file)."""
    return {user: Account(user, frozenset(spec["roles"]), spec.get("password_hash"), spec.get("token_sha256"))
            for user, spec in data.items()}


@dataclass
class Session:
    session_id: str
    account: Account
    csrf_token: str
    expires_s: float


@dataclass
class Authenticator:
    accounts: dict[str, Account]
    clock_s: Callable[[], float] = time.time
    _sessions: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def login_password(self, user: str, password: str) -> Session | None:
        account = self.accounts.get(user)
        if account is None or account.password_hash is None:
            verify_password(password, _dummy_hash())  # the same cost for an unknown user: no user probing
            return None
        return self._open(account) if verify_password(password, account.password_hash) else None

    def login_token(self, token: str) -> Session | None:
        digest = hash_token(token)
        for account in self.accounts.values():
            if account.token_sha256 is not None and hmac.compare_digest(account.token_sha256, digest):
                return self._open(account)
        return None

    def _open(self, account: Account) -> Session:
        session = Session(secrets.token_urlsafe(32), account, secrets.token_urlsafe(32),
                          self.clock_s() + SESSION_TTL_S)
        with self._lock:
            self._sessions[session.session_id] = session
        return session

    def session(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_s < self.clock_s():
                del self._sessions[session_id]
                return None
            return session

    def logout(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    @staticmethod
    def csrf_ok(session: Session, header_value: str | None) -> bool:
        return header_value is not None and hmac.compare_digest(session.csrf_token, header_value)


def demo_accounts() -> tuple[dict[str, Account], dict[str, str]]:
    """Accounts for a local simulated run, each with a fresh random access token (never a fixed
    password): ``op-demo`` (operator + clinical), ``vw-demo`` (viewer). Returns (accounts, tokens)."""
    tokens = {"op-demo": secrets.token_urlsafe(18), "vw-demo": secrets.token_urlsafe(18)}
    roles = {"op-demo": frozenset({"operator", "clinical"}), "vw-demo": frozenset({"viewer"})}
    accounts = {u: Account(u, roles[u], token_sha256=hash_token(t)) for u, t in tokens.items()}
    return accounts, tokens
