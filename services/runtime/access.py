"""Local verification of access tokens, and the access policy of every HTTP API (ACCESS.md).

The auth service issues short-lived access tokens: compact JWS, Ed25519 (`EdDSA`), header
`typ: at+jwt` (RFC 9068) and a `kid` found in auth's JWKS. Every other API verifies them here,
locally, without asking auth: `require("list.upload")` is the FastAPI dependency of a route.

The checks, in order: the `Authorization` header (exactly one, scheme `Bearer`), the token's
form, its header (`alg` fixed in code, `kid` known), the signature, the claims (issuer,
audience, a lifetime of at most 15 minutes, not yet valid, expired), the revocations, and
then the policy of the function: employer (tenant), kind of principal, topic, level.
A refusal is an `AccessDenied`, answered as JSON `{code, message}` with RFC 6750/9470 headers.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
import threading
import urllib.parse
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, Protocol, cast, get_args

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from contracts.events.auth import UserChanged
from contracts.values import AccessTopic

from .clock import Clock
from .errors import ApiError, error_body
from .settings import Settings

log = logging.getLogger("bvgconnect.access")

PrincipalKind = Literal["connect", "admin", "connector", "private", "operator"]
KINDS: frozenset[str] = frozenset(get_args(PrincipalKind))
TOPICS: frozenset[str] = frozenset(get_args(AccessTopic))

#: The only signature algorithm accepted; never taken from the token (RFC 8725 §3.1).
ALGORITHM = "EdDSA"
#: Access tokens only (RFC 9068 §2.1): an ID token or a link token of auth is refused here.
JWT_TYPE = "at+jwt"
#: ACCESS.md "Credential hygiene": existing sessions end within the token lifetime.
MAX_LIFETIME_S = 15 * 60
#: Longer than any token auth issues; longer input is refused before it is parsed.
MAX_TOKEN_CHARS = 4096

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_AHV = re.compile(r"756\.\d{4}\.\d{4}\.\d{2}")
_EMPLOYER_NO = re.compile(r"[0-9]{1,12}")


# -- refusals ------------------------------------------------------------------------------


class AccessDenied(ApiError):
    """A refused request: 401 (who are you?) or 403 (you may not), with a stable code.

    `required_level` is set for a step-up (403 `access.step_up_required`, RFC 9470).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        required_level: int | None = None,
        current_level: int | None = None,
    ) -> None:
        super().__init__(status, code, message)
        self.required_level = required_level
        self.current_level = current_level

    def body(self) -> dict[str, str | int]:
        body: dict[str, str | int] = dict(error_body(self.code, self.message))
        if self.required_level is not None:
            body["required_level"] = self.required_level
            if self.current_level is not None:
                body["current_level"] = self.current_level
        return body

    def headers(self) -> dict[str, str]:
        if self.required_level is not None:  # RFC 9470 §3
            return {
                "WWW-Authenticate": 'Bearer error="insufficient_user_authentication", '
                f'acr_values="{self.required_level}"'
            }
        if self.status == 401:  # RFC 6750 §3: no error code when no token was sent
            if self.code == "auth.missing_token":
                return {"WWW-Authenticate": "Bearer"}
            return {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        if self.status == 503:
            return {"Retry-After": "30"}
        return {}


def _invalid(reason: str) -> AccessDenied:
    return AccessDenied(
        401, "auth.invalid_token", f"The access token is not valid ({reason}); sign in again."
    )


class _UnknownKey(AccessDenied):
    """The token names a key we do not know (yet): the key set may be refreshed once."""

    def __init__(self) -> None:
        super().__init__(
            401, "auth.invalid_token", "The access token is not valid (unknown key); sign in again."
        )


# Refusals are built afresh each time: one instance raised again and again would grow its
# traceback and keep the frames of earlier requests alive.


def _missing_token() -> AccessDenied:
    return AccessDenied(
        401,
        "auth.missing_token",
        "This request needs an access token: sign in and send it as "
        "`Authorization: Bearer <token>`.",
    )


def _expired() -> AccessDenied:
    return AccessDenied(401, "auth.token_expired", "The access token has expired; sign in again.")


def _revoked() -> AccessDenied:
    return AccessDenied(
        401,
        "auth.token_revoked",
        "The access token was withdrawn (account, credential or access changed); sign in again.",
    )


def _keys_unavailable() -> AccessDenied:
    return AccessDenied(
        503,
        "auth.unavailable",
        "Access tokens cannot be checked right now (the auth service's keys are unreachable); "
        "try again in a minute.",
    )


def _other_employer() -> AccessDenied:
    """The same answer whether the employer exists or not: it tells nothing about others."""
    return AccessDenied(403, "access.denied", "You may not access this employer's data.")


def _other_worker() -> AccessDenied:
    """The same answer whether the worker exists or not: nothing is looked up."""
    return AccessDenied(403, "access.denied", "A private account may read its own data only.")


def _wrong_kind() -> AccessDenied:
    return AccessDenied(403, "access.denied", "Your kind of account cannot use this function.")


# -- the principal -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sends the request, as the verified token says (claim names in brackets)."""

    user_id: str  # sub: a UUID, canonical lower-case form
    kind: PrincipalKind  # kind
    employer_no: int | None  # emp: the tenant; None only for operators
    topics: frozenset[AccessTopic]  # topics, less those withdrawn since the token was issued
    methods: tuple[str, ...]  # amr: e.g. ("pwd", "otp"), ("x509",)
    level: int  # acr: 1, 2 or 3 (ACCESS.md "Credentials and their strength")
    ahv: str | None  # ahv: a private user's own AHV number; None for everyone else
    issued_at: float  # iat, seconds since the epoch
    expires_at: float  # exp
    token_id: str  # jti
    session_id: str  # sid
    credential_id: str | None  # cid: e.g. the certificate's fingerprint


# -- keys ----------------------------------------------------------------------------------


class JwksError(ValueError):
    """A JWKS that cannot be used; the message names the problem, never key material."""


class KeySource(Protocol):
    """Where public keys come from: a fixed set, or auth's JWKS fetched again when needed."""

    def key(self, kid: str) -> Ed25519PublicKey | None:
        """The key named `kid`, or None; raises `AccessDenied` (503) if there are no keys yet."""
        ...

    def is_stale(self) -> bool:
        """The keys should be loaded again before they are used."""
        ...

    async def refresh(self, kid: str | None = None) -> bool:
        """Load the keys again if that is allowed now; True if `kid` (or anything) changed."""
        ...


def _b64url_decode(text: str) -> bytes:
    """Base64url without padding (RFC 7515 §2); the alphabet is checked by the caller."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KeySet:
    """Ed25519 public keys by `kid`; several at once while auth rotates its key."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> KeySet:
        """Keys of a JWKS (RFC 7517, OKP keys RFC 8037); keys of other types are skipped."""
        entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(entries, list):
            raise JwksError("a JWKS is an object with a list `keys`")
        keys: dict[str, Ed25519PublicKey] = {}
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise JwksError("every entry of `keys` must be an object")
            if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
                continue  # another kind of key: not ours to use
            if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHM) != ALGORITHM:
                continue
            if "d" in entry:
                raise JwksError("the JWKS holds private key material (`d`); refusing it")
            kid, x = entry.get("kid"), entry.get("x")
            if not isinstance(kid, str) or not kid:
                raise JwksError("every Ed25519 key needs a `kid`")
            if kid in keys:
                raise JwksError(f"the key id {kid!r} occurs twice")
            if not isinstance(x, str) or not re.fullmatch(r"[A-Za-z0-9_-]{43}", x):
                raise JwksError(f"key {kid!r}: `x` is not a base64url Ed25519 public key")
            keys[kid] = Ed25519PublicKey.from_public_bytes(_b64url_decode(x))
        return cls(keys)

    @classmethod
    def from_json(cls, text: str | bytes) -> KeySet:
        try:
            jwks = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            raise JwksError("the JWKS is not JSON") from None
        return cls.from_jwks(jwks)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def key(self, kid: str) -> Ed25519PublicKey | None:
        return self._keys.get(kid)

    def is_stale(self) -> bool:
        return False

    async def refresh(self, kid: str | None = None) -> bool:
        return False


class RefreshingKeySet:
    """Auth's JWKS, loaded through `load` (a URL or a file), cached and loaded again

    - when a token names an unknown `kid` (auth rotated its key), and
    - when the keys are older than `max_age_s` (auth withdrew a key),

    but at most once per `min_interval_s`, so that made-up key ids cannot make every service
    hammer auth. A failed load keeps the keys we have. Loading runs in a worker thread.
    """

    def __init__(
        self,
        load: Callable[[], bytes],
        *,
        clock: Clock,
        min_interval_s: float = 30,
        max_age_s: float = 3600,
        source: str = "JWKS",
    ) -> None:
        self._load = load
        self._clock = clock
        self._min_interval_s = min_interval_s
        self._max_age_s = max_age_s
        self._source = source
        self._keys = KeySet({})
        self._loaded_at: float | None = None  # last successful load
        self._tried_at: float | None = None  # last attempt, successful or not
        self._lock = threading.Lock()
        self.loads = 0  # attempts, for tests and metrics

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Clock,
        min_interval_s: float = 30,
        max_age_s: float = 3600,
        timeout_s: float = 5,
    ) -> RefreshingKeySet:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise JwksError("the JWKS URL must be http:// or https://")
        return cls(
            lambda: fetch_url(url, timeout_s=timeout_s),
            clock=clock,
            min_interval_s=min_interval_s,
            max_age_s=max_age_s,
            source=url,
        )

    @classmethod
    def from_file(
        cls, path: Path, *, clock: Clock, min_interval_s: float = 30, max_age_s: float = 3600
    ) -> RefreshingKeySet:
        keys = cls(
            path.read_bytes,
            clock=clock,
            min_interval_s=min_interval_s,
            max_age_s=max_age_s,
            source=str(path),
        )
        try:  # a missing or malformed file is a start-up error, not a 401 later
            keys.load_now()
        except OSError as exc:
            raise JwksError(f"cannot read the JWKS file {path} ({type(exc).__name__})") from None
        return keys

    def key(self, kid: str) -> Ed25519PublicKey | None:
        if self._loaded_at is None:
            raise _keys_unavailable()  # not "sign in again": no token can be checked
        return self._keys.key(kid)

    @property
    def key_ids(self) -> frozenset[str]:
        return self._keys.key_ids

    def is_stale(self) -> bool:
        now = self._clock.now().timestamp()
        return self._loaded_at is None or now - self._loaded_at >= self._max_age_s

    def _may_try(self, now: float) -> bool:
        return self._tried_at is None or now - self._tried_at >= self._min_interval_s

    def load_now(self) -> None:
        """Load the keys at once, raising `JwksError` or `OSError` (start-up)."""
        with self._lock:
            self._tried_at = self._clock.now().timestamp()
            self.loads += 1
            self._keys = KeySet.from_json(self._load())
            self._loaded_at = self._tried_at

    async def refresh(self, kid: str | None = None) -> bool:
        if kid is not None and self._keys.key(kid) is not None:
            return True  # another request loaded it meanwhile
        if not self._lock.locked() and not self._may_try(self._clock.now().timestamp()):
            return False  # no thread for the refused: garbage kids cost a comparison
        return await asyncio.to_thread(self._refresh_blocking, kid)

    def _refresh_blocking(self, kid: str | None) -> bool:
        with self._lock:  # concurrent callers wait for the one load in flight
            if kid is not None and self._keys.key(kid) is not None:
                return True
            now = self._clock.now().timestamp()
            if not self._may_try(now):
                return False
            self._tried_at = now
            self.loads += 1
            try:
                keys = KeySet.from_json(self._load())
            except Exception as exc:  # whatever went wrong, the keys we have stay
                reason = str(exc) if isinstance(exc, JwksError) else type(exc).__name__
                log.warning("cannot load the JWKS from %s: %s", self._source, reason)
                return False
            changed = keys.key_ids != self._keys.key_ids
            self._keys = keys
            self._loaded_at = now
            return changed if kid is None else keys.key(kid) is not None


#: A JWKS holds a handful of keys; more than this is not a JWKS.
MAX_JWKS_BYTES = 64 * 1024


def fetch_url(url: str, *, timeout_s: float) -> bytes:
    """GET a JWKS with the standard library; http(s) only (checked by the caller)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
        body: bytes = response.read(MAX_JWKS_BYTES + 1)
    if len(body) > MAX_JWKS_BYTES:
        raise JwksError(f"the JWKS is larger than {MAX_JWKS_BYTES} bytes")
    return body


# -- revocations ---------------------------------------------------------------------------


def _user_key(user_id: uuid.UUID | str) -> str:
    return str(user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(user_id))


class Revocations:
    """What changed since tokens were issued: deregistered users, revoked credentials,
    withdrawn topics (ACCESS.md: effective at once for new requests).

    In memory, per process, fed by `apply_user_changed` (`handlers.feed_revocations`, which
    also keeps them in `user_revocations`) and filled at start-up from that table
    (`handlers.load_revocations`). This API stays small on purpose: three writes and one
    check. A change counts from `at` on: a token
    issued before `at` is refused, or loses the withdrawn topics. Entries older than a token
    lifetime are forgotten, since every token they could concern has expired.
    """

    #: Tokens issued more than this before a change are expired anyway (lifetime + leeway).
    HORIZON_S = MAX_LIFETIME_S + 120

    def __init__(self) -> None:
        self._users: dict[str, float] = {}
        self._credentials: dict[str, float] = {}
        self._topics: dict[str, tuple[float, frozenset[str]]] = {}
        self._latest = 0.0
        self._writes = 0

    def revoke_user(self, user_id: uuid.UUID | str, at: datetime) -> None:
        """Refuse the user's tokens issued before `at` (a deregistered user)."""
        self._record(self._users, _user_key(user_id), at.timestamp())

    def revoke_credential(self, credential_id: str, at: datetime) -> None:
        """Refuse tokens issued on this credential before `at` (a revoked certificate)."""
        self._record(self._credentials, credential_id, at.timestamp())

    def set_topics(
        self, user_id: uuid.UUID | str, topics: Iterable[AccessTopic], at: datetime
    ) -> None:
        """The user's topics from `at` on; older tokens lose any topic not among them."""
        key, stamp = _user_key(user_id), at.timestamp()
        current = self._topics.get(key)
        if current is None or current[0] <= stamp:  # a late, older change does not win
            self._topics[key] = (stamp, frozenset(topics))
        self._wrote(stamp)

    def screen(self, principal: Principal) -> Principal:
        """The principal as it stands now; raises `AccessDenied` if the token is revoked."""
        issued = principal.issued_at
        revoked_at = self._users.get(principal.user_id)
        if revoked_at is not None and issued < revoked_at:
            raise _revoked()
        if principal.credential_id is not None:
            revoked_at = self._credentials.get(principal.credential_id)
            if revoked_at is not None and issued < revoked_at:
                raise _revoked()
        change = self._topics.get(principal.user_id)
        if change is not None and issued < change[0] and not principal.topics <= change[1]:
            topics = frozenset(t for t in principal.topics if t in change[1])
            return replace(principal, topics=topics)
        return principal

    def clear(self) -> None:
        """Forget everything, as a new process starts (tests of a restart)."""
        self._users.clear()
        self._credentials.clear()
        self._topics.clear()
        self._latest = 0.0

    def _record(self, table: dict[str, float], key: str, stamp: float) -> None:
        table[key] = max(stamp, table.get(key, stamp))
        self._wrote(stamp)

    def _wrote(self, stamp: float) -> None:
        self._latest = max(self._latest, stamp)
        self._writes += 1
        if self._writes % 1024 == 0:
            self._forget_before(self._latest - self.HORIZON_S)

    def _forget_before(self, limit: float) -> None:
        for table in (self._users, self._credentials):
            for key in [k for k, stamp in table.items() if stamp < limit]:
                del table[key]
        for key in [k for k, (stamp, _) in self._topics.items() if stamp < limit]:
            del self._topics[key]


#: The revocations of this process: every verifier the runtime builds screens with them, and
#: `services.runtime.handlers.feed_revocations` feeds them from `auth.user-changed`.
PROCESS_REVOCATIONS = Revocations()


def apply_user_changed(revocations: Revocations, event: UserChanged) -> None:
    """What `auth.user-changed` means for tokens already issued (ACCESS.md hygiene)."""
    change = event.payload
    if change.status == "deregistered":
        revocations.revoke_user(change.user_id, change.changed_at)
    for credential_id in change.revoked_credential_ids:
        revocations.revoke_credential(credential_id, change.changed_at)
    revocations.set_topics(change.user_id, change.topics, change.changed_at)


# -- the verifier --------------------------------------------------------------------------


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"claim `{name}` must be a number")
    if not -1e12 < value < 1e12:  # also refuses NaN and infinities
        raise _invalid(f"claim `{name}` is out of range")
    return float(value)


def _text(claims: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > 256:
        raise _invalid(f"claim `{name}` must be a non-empty string")
    return value


def _strings(claims: Mapping[str, Any], name: str) -> list[str]:
    value = claims.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(f"claim `{name}` must be a list of strings")
    return value


class TokenVerifier:
    """Verifies access tokens against auth's public keys; time from the injected clock.

    Verified tokens are remembered (at most `cache_size`, oldest forgotten first): a client
    sends the same token for minutes, and the signature check dominates the cost. A cache
    hit still checks expiry, that the signing key is still published, and the revocations.
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        clock: Clock,
        leeway_s: float = 30,
        revocations: Revocations | None = None,
        cache_size: int = 10_000,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.clock = clock
        self.leeway_s = leeway_s
        self.revocations = revocations if revocations is not None else Revocations()
        self.cache_size = cache_size
        self._cache: dict[str, tuple[Principal, str]] = {}
        self._headers: dict[str, str] = {}
        self._raw_keys: dict[str, tuple[Ed25519PublicKey, bytes]] = {}

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; raises `AccessDenied` (401) otherwise. No I/O."""
        now = self.clock.now().timestamp()
        hit = self._cache.get(token)
        if hit is not None:
            principal, kid = hit
            if now < principal.expires_at + self.leeway_s and self.keys.key(kid) is not None:
                return self.revocations.screen(principal)
            self._cache.pop(token, None)  # expired or its key withdrawn: the full check says
        principal, kid = self._verify_uncached(token, now)
        if self.cache_size > 0:
            if len(self._cache) >= self.cache_size:
                with contextlib.suppress(StopIteration, KeyError, RuntimeError):  # threads
                    del self._cache[next(iter(self._cache))]
            self._cache[token] = (principal, kid)
        return self.revocations.screen(principal)

    async def verify_async(self, token: str) -> Principal:
        """`verify`, loading auth's keys again (in a thread) when they are unknown or old."""
        if self.keys.is_stale():
            await self.keys.refresh()
        try:
            return self.verify(token)
        except _UnknownKey:
            kid = _unverified_kid(token)
            if kid is None or not await self.keys.refresh(kid):
                raise
            return self.verify(token)

    def _verify_uncached(self, token: str, now: float) -> tuple[Principal, str]:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            raise _invalid("malformed")
        if not _COMPACT_JWS.fullmatch(token):
            raise _invalid("malformed")
        encoded_header, encoded_claims, encoded_signature = token.split(".")
        kid = self._headers.get(encoded_header)
        if kid is None:
            kid = _checked_header(encoded_header)
            if len(self._headers) >= _HEADER_CACHE:
                self._headers.clear()
            self._headers[encoded_header] = kid  # every token of one key shares its header
        key = self.keys.key(kid)
        if key is None:
            raise _UnknownKey()
        raw = self._raw_keys.get(kid)
        if raw is None or raw[0] is not key:  # a key loaded again is a new object
            raw = (key, key.public_bytes_raw())
            self._raw_keys[kid] = raw
        try:
            signature = _b64url_decode(encoded_signature)
            if len(signature) != 64:  # RFC 8032 §5.1.6
                raise InvalidSignature
            # Ed25519 by libsodium (PyNaCl): about twice OpenSSL's rate through `cryptography`
            # here (benchmarks/bench_auth_tokens.py), and stricter (canonical S, no
            # small-order keys). Raises BadSignatureError, or ValueError for a malformed key.
            crypto_sign_open(
                signature + f"{encoded_header}.{encoded_claims}".encode("ascii"), raw[1]
            )
        except (InvalidSignature, BadSignatureError, binascii.Error):
            raise _invalid("bad signature") from None
        claims = _json_object(encoded_claims, "claims")
        return self._principal(claims, now), kid

    def _principal(self, claims: Mapping[str, Any], now: float) -> Principal:
        if claims.get("iss") != self.issuer:
            raise _invalid("wrong issuer")
        audience = claims.get("aud")
        if not (
            audience == self.audience or (isinstance(audience, list) and self.audience in audience)
        ):
            raise _invalid("wrong audience")
        issued_at, expires_at = _number(claims, "iat"), _number(claims, "exp")
        if expires_at <= issued_at:
            raise _invalid("it expires before it was issued")
        if expires_at - issued_at > MAX_LIFETIME_S:
            raise _invalid("lifetime longer than 15 minutes")
        not_before = claims.get("nbf")
        starts = max(issued_at, _number(claims, "nbf") if not_before is not None else issued_at)
        if starts > now + self.leeway_s:
            raise _invalid("not yet valid")
        if now >= expires_at + self.leeway_s:
            raise _expired()

        user_id = _text(claims, "sub")
        try:
            canonical = str(uuid.UUID(user_id))
        except (ValueError, TypeError):
            canonical = ""
        if canonical != user_id:  # revocations are keyed by the canonical form
            raise _invalid("claim `sub` must be a UUID in canonical form")
        kind = claims.get("kind")
        if not isinstance(kind, str) or kind not in KINDS:
            raise _invalid("unknown kind of principal")
        employer_no = claims.get("emp")
        if kind == "operator":
            if employer_no is not None:
                raise _invalid("an operator belongs to no employer")
        elif isinstance(employer_no, bool) or not isinstance(employer_no, int) or employer_no < 1:
            raise _invalid("claim `emp` must be an employer number")
        ahv = claims.get("ahv")
        if kind == "private":
            if not isinstance(ahv, str) or not _AHV.fullmatch(ahv):
                raise _invalid("a private user's token needs an AHV number")
        elif ahv is not None:
            raise _invalid("only a private user's token carries an AHV number")
        acr = claims.get("acr")
        level = _LEVELS.get(acr) if isinstance(acr, str) else None
        if level is None:
            raise _invalid("claim `acr` must be 1, 2 or 3")
        methods = _strings(claims, "amr")
        if not methods:
            raise _invalid("claim `amr` is empty")
        # Unknown topics grant nothing: ignored, so that auth may add one before we know it.
        topics = frozenset(t for t in _strings(claims, "topics") if t in TOPICS)
        return Principal(
            user_id=canonical,
            kind=cast(PrincipalKind, kind),
            employer_no=employer_no,
            topics=cast(frozenset[AccessTopic], topics),
            methods=tuple(methods),
            level=level,
            ahv=ahv,
            issued_at=issued_at,
            expires_at=expires_at,
            token_id=_text(claims, "jti") or "",
            session_id=_text(claims, "sid") or "",
            credential_id=_text(claims, "cid", required=False),
        )


_LEVELS = {"1": 1, "2": 2, "3": 3}
#: Distinct token headers remembered (one per signing key in practice).
_HEADER_CACHE = 64


def _checked_header(encoded: str) -> str:
    """The `kid` of an acceptable access-token header (EdDSA, typ, no `crit`)."""
    header = _json_object(encoded, "header")
    if header.get("alg") != ALGORITHM:
        raise _invalid("algorithm not accepted")
    if header.get("typ") != JWT_TYPE:
        raise _invalid("not an access token")
    if "crit" in header:  # RFC 7515 §4.1.11: extensions we do not implement
        raise _invalid("unsupported header extension")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _invalid("no key id")
    return kid


def _json_object(encoded: str, part: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64url_decode(encoded))
    except (ValueError, binascii.Error, RecursionError):
        raise _invalid(f"{part} is not JSON") from None
    if not isinstance(value, dict):
        raise _invalid(f"{part} is not a JSON object")
    return value


def _unverified_kid(token: str) -> str | None:
    """The `kid` a token names, read without trusting it (to ask for a key set refresh)."""
    with contextlib.suppress(AccessDenied):
        kid = _json_object(token.split(".", 1)[0], "header").get("kid")
        return kid if isinstance(kid, str) else None
    return None


def build_token_verifier(
    settings: Settings, clock: Clock, revocations: Revocations | None = None
) -> TokenVerifier:
    """The verifier a service runs with: keys from `BVG_AUTH_JWKS_URL` or `_FILE`."""
    keys: KeySource
    if settings.auth_jwks_url:
        keys = RefreshingKeySet.from_url(
            settings.auth_jwks_url,
            clock=clock,
            min_interval_s=settings.auth_jwks_refresh_s,
            max_age_s=settings.auth_jwks_max_age_s,
        )
    elif settings.auth_jwks_file is not None:
        keys = RefreshingKeySet.from_file(
            settings.auth_jwks_file,
            clock=clock,
            min_interval_s=settings.auth_jwks_refresh_s,
            max_age_s=settings.auth_jwks_max_age_s,
        )
    else:
        raise JwksError("set BVG_AUTH_JWKS_URL or BVG_AUTH_JWKS_FILE to verify access tokens")
    return TokenVerifier(
        keys,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        clock=clock,
        leeway_s=settings.auth_token_leeway_s,
        revocations=revocations,
        cache_size=settings.auth_token_cache_size,
    )


# -- the policy ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """What a function asks of a principal: a topic (need to know), a level, a kind."""

    topic: AccessTopic | None
    level: int
    kinds: frozenset[PrincipalKind]


_EMPLOYER_STAFF: frozenset[PrincipalKind] = frozenset({"connect", "admin"})
_LISTS: frozenset[PrincipalKind] = frozenset({"connect", "admin", "connector"})
_ADMIN: frozenset[PrincipalKind] = frozenset({"admin"})

#: ACCESS.md "Function matrix (default)". Keyed by the function name a route requires.
POLICY: Mapping[str, Requirement] = MappingProxyType(
    {
        "messages.read": Requirement("messages", 2, _EMPLOYER_STAFF),
        "list.template": Requirement("mutations", 2, _LISTS),
        "list.validate": Requirement("mutations", 2, _LISTS),
        "list.upload": Requirement("mutations", 2, _LISTS),
        "list.report": Requirement("mutations", 2, _LISTS),
        "coverage.read": Requirement("mutations", 2, _EMPLOYER_STAFF),
        "invoices.read": Requirement("contributions", 2, _EMPLOYER_STAFF),
        "reminders.read": Requirement("reminders", 2, _EMPLOYER_STAFF),
        "employer.change_bank_or_address": Requirement("users", 3, _ADMIN),
        "users.manage": Requirement("users", 3, _ADMIN),
        "topics.waive": Requirement("users", 3, _ADMIN),
        "connector.register": Requirement("users", 3, _ADMIN),
        "private.read_own": Requirement(None, 1, frozenset({"private"})),
        # A user's own session and credentials (auth): step up to a certificate, change
        # the password (a private user at the level their password alone gives).
        "session.step_up": Requirement(None, 2, _EMPLOYER_STAFF),
        "password.change": Requirement(None, 2, _EMPLOYER_STAFF),
        "private.password_change": Requirement(None, 1, frozenset({"private"})),
        "operator": Requirement(None, 3, frozenset({"operator"})),
    }
)


def check_policy(policy: Mapping[str, Requirement]) -> None:
    """Rules every policy table keeps, whatever the foundation changes (ACCESS.md)."""
    for function, requirement in policy.items():
        if not requirement.kinds <= KINDS:
            raise ValueError(f"{function}: unknown kinds {sorted(requirement.kinds - KINDS)}")
        if requirement.level not in (1, 2, 3):
            raise ValueError(f"{function}: the level must be 1, 2 or 3")
        if requirement.level < 2 and requirement.kinds != {"private"}:
            raise ValueError(f"{function}: level 1 is only for a private user's own data")


check_policy(POLICY)

_LEVEL_NAMES = {2: "password with SMS code or one-time password", 3: "client certificate"}


def authorize(
    principal: Principal,
    requirement: Requirement,
    *,
    employer_no: int | str | None = None,
    workers: Iterable[str] = (),
) -> None:
    """Raise `AccessDenied` unless the principal may use the function, in this order:
    employer (tenant), kind, worker, topic, level. `employer_no` is the employer the request
    is about (a path parameter); None when the handler scopes by `principal.employer_no`.
    `workers` are the AHV numbers the request names (path or query parameter `ahv`): a
    private user may name only their own (ACCESS.md); a handler that names none scopes by
    `principal.ahv`.
    """
    if employer_no is not None:
        if principal.kind == "operator":
            if "operator" not in requirement.kinds:
                raise _other_employer()
        elif principal.employer_no != _employer_no(employer_no):
            raise _other_employer()
    if principal.kind not in requirement.kinds:
        raise _wrong_kind()
    if principal.kind == "private":
        own = _compact_ahv(principal.ahv or "")
        if not own or any(_compact_ahv(worker) != own for worker in workers):
            raise _other_worker()
    if requirement.topic is not None and requirement.topic not in principal.topics:
        raise AccessDenied(
            403,
            "access.topic",
            f"This function needs the topic '{requirement.topic}', which your account does not "
            "have; your employer's administrator can grant it.",
        )
    if principal.level < requirement.level:
        needed = _LEVEL_NAMES.get(requirement.level, f"level {requirement.level}")
        raise AccessDenied(
            403,
            "access.step_up_required",
            f"This function needs a stronger sign-in (level {requirement.level}: {needed}); "
            "sign in again with it.",
            required_level=requirement.level,
            current_level=principal.level,
        )


def _compact_ahv(value: str) -> str:
    """`756.1234.5678.97` and `7561234567897` name the same worker."""
    return "".join(c for c in value if c not in ". ")


def _employer_no(value: int | str) -> int | None:
    if isinstance(value, int):
        return value
    return int(value) if _EMPLOYER_NO.fullmatch(value) else None


# -- FastAPI -------------------------------------------------------------------------------


class BearerToken(HTTPBearer):
    """The `Authorization: Bearer` header (RFC 6750 §2.1): exactly one, no other scheme.

    A `SecurityBase`, so that the OpenAPI document declares the bearer scheme.
    """

    def __init__(self) -> None:
        super().__init__(bearerFormat="JWT", scheme_name="bearer", auto_error=True)

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials:  # type: ignore[override]
        values = request.headers.getlist("authorization")
        if not values:
            raise _missing_token()
        if len(values) > 1:
            raise _invalid("send exactly one Authorization header")
        scheme, _, credentials = values[0].strip(" \t").partition(" ")
        if scheme.lower() != "bearer":
            raise _missing_token()
        token = credentials.strip(" \t")
        if not token:
            raise _missing_token()
        return HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)


bearer_token = BearerToken()


def install_token_verifier(app: FastAPI, verifier: TokenVerifier) -> None:
    """Make `require(...)` usable in the app: the verifier, and the answer to a refusal.

    Call it before the app serves (in the app factory).
    """
    app.state.token_verifier = verifier

    async def _refused(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AccessDenied)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())

    app.add_exception_handler(AccessDenied, _refused)


def token_verifier_of(app: FastAPI) -> TokenVerifier:
    verifier = getattr(app.state, "token_verifier", None)
    if not isinstance(verifier, TokenVerifier):
        raise RuntimeError("no token verifier: call install_token_verifier(app, verifier)")
    return verifier


def require(function: str, *alternatives: str) -> Callable[..., Awaitable[Principal]]:
    """FastAPI dependency: the verified principal, if it may use `function` (a POLICY key).

    `principal: Principal = Depends(require("list.upload"))`. A path parameter
    `employer_no` must be the principal's employer. With `alternatives` (POLICY keys of the
    same function for other kinds of principal), the first whose kinds include the
    principal's applies: `require("password.change", "private.password_change")`.
    """
    # an unknown function fails when the route is defined
    requirements = [POLICY[f] for f in (function, *alternatives)]

    async def principal_for(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials, Security(bearer_token)],
    ) -> Principal:
        verifier = token_verifier_of(request.app)
        principal = await verifier.verify_async(credentials.credentials)
        requirement = next((r for r in requirements if principal.kind in r.kinds), requirements[0])
        workers = request.query_params.getlist("ahv")
        if "ahv" in request.path_params:
            workers.append(str(request.path_params["ahv"]))
        authorize(
            principal,
            requirement,
            employer_no=request.path_params.get("employer_no"),
            workers=workers,
        )
        return principal

    principal_for.__name__ = f"require_{function.replace('.', '_')}"
    return principal_for
