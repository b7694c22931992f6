"""CDS client authentication (CDS Hooks 2.0 "Trusting CDS Clients"): JWT bearer tokens.

Every request to discovery, a service or its feedback endpoint carries `Authorization: Bearer
<JWT>`. A token is accepted only when all of these hold:

- header `alg` is ES384 or RS384 (never `none`, never an HMAC algorithm), `typ` is JWT and `kid`
  names a key of the issuer;
- `iss` is an allowed issuer; its keys come from the configured JWKS file, or from the header's
  `jku` when that URL is on the issuer's allow-list (fetched over https and cached);
- the signature verifies; `aud` is exactly the URL called; `exp`, `iat` and `jti` are present;
  `exp` is in the future and `iat` not in the future (both with a small clock skew), and the
  token lives no longer than the configured maximum;
- `jti` has not been seen from this issuer before (replay cache, kept until the token expires).

Failures raise `AuthError`, whose reason is for the server log only: clients get a generic 401.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx
import jwt

from b12ms.service.config import IssuerConfig

ALGORITHMS = ("ES384", "RS384")
_JKU_TTL = 600.0  # seconds a fetched JWK Set is trusted before it is fetched again
_JKU_REFRESH_MIN = 60.0  # at most one refetch a minute for an unknown kid (key rotation)


class AuthError(Exception):
    """A token was refused; the message is for the server log, never for the client."""


class ReplayCache:
    """`jti` values seen, kept until their token expires. Thread-safe and bounded."""

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._max = max_entries
        self._next_purge = 0.0

    def check_and_add(self, iss: str, jti: str, expires: float, now: float) -> bool:
        """Record the jti; False if it was seen before (and has not yet expired)."""
        key = (iss, jti)
        with self._lock:
            if now >= self._next_purge or len(self._seen) >= self._max:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
                self._next_purge = now + 30.0
                if len(self._seen) >= self._max:
                    return False  # full of live tokens: refuse rather than forget one
            if key in self._seen:
                return False
            self._seen[key] = expires
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)


# The key a JWS algorithm needs: (kty, crv).
_KEY_FOR_ALG = {"ES384": ("EC", "P-384"), "RS384": ("RSA", None)}


class _Key:
    """One public key of a JWK Set, with what it may verify."""

    __slots__ = ("alg", "crv", "key", "kty")

    def __init__(self, data: dict[str, Any]) -> None:
        self.kty: str = data["kty"]
        self.crv: str | None = data.get("crv")
        self.alg: str | None = data.get("alg")
        self.key: Any = jwt.PyJWK(data).key

    def fits(self, alg: str) -> bool:
        """Whether this key may verify a token signed with `alg`."""
        if self.alg is not None and self.alg != alg:
            return False
        return (self.kty, self.crv if self.kty == "EC" else None) == _KEY_FOR_ALG[alg]


class SqliteReplayCache(ReplayCache):
    """The replay cache shared by several worker processes: one SQLite file (WAL), one row per
    (iss, jti); the primary key makes check-and-add atomic across processes."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._local = threading.local()
        self._conn().execute(
            "CREATE TABLE IF NOT EXISTS jti (iss TEXT NOT NULL, jti TEXT NOT NULL, "
            "expires REAL NOT NULL, PRIMARY KEY (iss, jti)) WITHOUT ROWID"
        )

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def check_and_add(self, iss: str, jti: str, expires: float, now: float) -> bool:
        """Record the jti; False if any worker has seen it (and it has not yet expired)."""
        conn = self._conn()
        if now >= self._next_purge:
            self._next_purge = now + 30.0
            conn.execute("DELETE FROM jti WHERE expires <= ?", (now,))
        cur = conn.execute(
            "INSERT INTO jti (iss, jti, expires) VALUES (?, ?, ?) "
            "ON CONFLICT (iss, jti) DO UPDATE SET expires = excluded.expires "
            "WHERE jti.expires <= ?",
            (iss, jti, expires, now),
        )
        return cur.rowcount == 1


def _keys_by_kid(jwks: Any) -> dict[str, _Key]:
    """The usable keys of a JWK Set, by kid (keys without kid or of unsupported types skipped)."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError("not a JWK Set")
    out: dict[str, _Key] = {}
    for data in jwks["keys"]:
        if not isinstance(data, dict) or not isinstance(data.get("kid"), str):
            continue
        if data.get("kty") not in ("EC", "RSA") or "d" in data:
            continue  # public EC/RSA keys only
        try:
            out[data["kid"]] = _Key(data)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
    return out


class _JkuEntry:
    __slots__ = ("fetched", "keys")

    def __init__(self, keys: dict[str, _Key], fetched: float) -> None:
        self.keys = keys
        self.fetched = fetched


class TokenVerifier:
    """Verifies CDS client JWTs against the configured issuers."""

    def __init__(
        self,
        issuers: Mapping[str, IssuerConfig],
        *,
        clock_skew: int = 60,
        max_lifetime: int = 3600,
        replay: ReplayCache | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.issuers = dict(issuers)
        self.skew = clock_skew
        self.max_lifetime = max_lifetime
        self.replay = replay if replay is not None else ReplayCache()
        self._http = http
        self._file_keys: dict[str, dict[str, _Key]] = {}
        for iss, spec in self.issuers.items():
            if spec.jwks_file is not None:
                with open(spec.jwks_file, encoding="utf-8") as f:
                    self._file_keys[iss] = _keys_by_kid(json.load(f))
        self._jku: dict[str, _JkuEntry] = {}
        self._jku_lock = asyncio.Lock()

    async def _fetch_jku(self, url: str) -> dict[str, _Key]:
        client = self._http
        if client is None:
            client = self._http = httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        return _keys_by_kid(response.json())

    async def _jku_key(self, url: str, kid: str) -> _Key | None:
        now = time.monotonic()
        entry = self._jku.get(url)
        if entry is not None and kid in entry.keys and now - entry.fetched < _JKU_TTL:
            return entry.keys[kid]
        async with self._jku_lock:
            entry = self._jku.get(url)
            stale = entry is None or now - entry.fetched >= _JKU_TTL
            unknown = entry is not None and kid not in entry.keys
            if stale or (unknown and entry is not None and now - entry.fetched >= _JKU_REFRESH_MIN):
                try:
                    keys = await self._fetch_jku(url)
                except (httpx.HTTPError, ValueError) as exc:
                    raise AuthError(f"jku fetch failed: {type(exc).__name__}") from None
                entry = self._jku[url] = _JkuEntry(keys, now)
            return entry.keys.get(kid) if entry is not None else None

    async def verify(self, token: str, audience: str) -> dict[str, Any]:
        """The verified claims of the token, or AuthError."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AuthError(f"algorithm not allowed: {str(alg)[:16]!r}")
        if header.get("typ") != "JWT":
            raise AuthError("typ is not JWT")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("no kid")
        iss = unverified.get("iss")
        if not isinstance(iss, str):
            raise AuthError("no iss")
        spec = self.issuers.get(iss)
        if spec is None:
            raise AuthError("issuer not allowed")
        jku = header.get("jku")
        key: _Key | None
        if jku is not None:
            if not isinstance(jku, str) or jku not in spec.jku:
                raise AuthError("jku not allowed")
            key = await self._jku_key(jku, kid)
        else:
            key = self._file_keys.get(iss, {}).get(kid)
        if key is None:
            raise AuthError("unknown kid")
        if not key.fits(alg):
            raise AuthError("key does not match alg")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=audience,
                issuer=iss,
                leeway=self.skew,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"rejected: {type(exc).__name__}") from None
        now = time.time()
        exp, iat, jti = claims["exp"], claims["iat"], claims["jti"]
        if iat > now + self.skew:
            raise AuthError("issued in the future")
        if exp - iat > self.max_lifetime:
            raise AuthError("token lifetime too long")
        if not isinstance(jti, str) or not jti:
            raise AuthError("jti must be a non-empty string")
        if not self.replay.check_and_add(iss, jti, float(exp) + self.skew, now):
            raise AuthError("jti replayed")
        return claims

    async def aclose(self) -> None:
        """Close the JWKS HTTP client, if one was opened."""
        if self._http is not None:
            await self._http.aclose()
