"""Access tokens as auth issues them: Ed25519-signed JWTs (`typ: at+jwt`) and their JWKS.

The verifier is `services.runtime.access`; this is the other end. Until the auth issue brings
logins, the local suite (`bvgconnect up`) keeps one development key in its data folder and
`bvgconnect token` issues tokens with it; production services read auth's JWKS by URL.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

#: ACCESS.md: a session token lives at most 15 minutes.
MAX_LIFETIME_S = 900
#: The `amr` that goes with each level (ACCESS.md "Credentials and their strength").
METHODS_BY_LEVEL = {1: ["pwd"], 2: ["pwd", "otp"], 3: ["x509"]}
#: Invitation links of private users: another `typ` and audience than access tokens, so that
#: neither is ever taken for the other (RFC 8725 §3.11, §3.12).
LINK_TYPE = "invite+jwt"
LINK_AUDIENCE = "bvgconnect-invitation"
MAX_LINK_CHARS = 2048


@dataclass(frozen=True)
class SigningKey:
    """One Ed25519 key of auth's, named by `kid` in tokens and in the JWKS."""

    kid: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(kid=f"k-{uuid.uuid4().hex[:12]}", private_key=Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, folder: Path) -> SigningKey:
        """The active key kept in `folder` (created, readable by the owner only, if there is
        none), with the public JWKS written next to it as `jwks.json` (see `KeyRing`)."""
        return KeyRing.load_or_create(folder).active

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def jwk(self) -> dict[str, str]:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
        }

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self.jwk()]}

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The public keys link tokens are verified with, by `kid`."""
        return {self.kid: self.private_key.public_key()}

    def issue(
        self,
        *,
        now: datetime,
        user_id: uuid.UUID,
        kind: str,
        employer_no: int | None,
        topics: Iterable[str],
        level: int,
        issuer: str = "bvgconnect-auth",
        audience: str = "bvgconnect",
        lifetime_s: int = MAX_LIFETIME_S,
        ahv: str | None = None,
        session_id: str | None = None,
        methods: list[str] | None = None,
        credential_id: str | None = None,
    ) -> str:
        """A signed access token with the claims `services.runtime.access` verifies."""
        if not 0 < lifetime_s <= MAX_LIFETIME_S:
            raise ValueError(f"a token lives 1 to {MAX_LIFETIME_S} seconds")
        issued = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "sub": str(user_id),
            "kind": kind,
            "topics": sorted(set(topics)),
            "amr": methods or METHODS_BY_LEVEL[level],
            "acr": str(level),
            "iat": issued,
            "exp": issued + lifetime_s,
            "jti": uuid.uuid4().hex,
            "sid": session_id or uuid.uuid4().hex,
        }
        if employer_no is not None:
            claims["emp"] = employer_no
        if ahv is not None:
            claims["ahv"] = ahv
        if credential_id is not None:
            claims["cid"] = credential_id
        return jwt.encode(
            claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid, "typ": "at+jwt"}
        )

    def issue_link(
        self,
        *,
        now: datetime,
        invitation_id: uuid.UUID,
        employer_no: int,
        expires_at: datetime,
        issuer: str = "bvgconnect-auth",
    ) -> str:
        """A signed invitation link token: names the invitation, not the worker (an AHV
        number has no place in a URL, which ends up in logs)."""
        claims = {
            "iss": issuer,
            "aud": LINK_AUDIENCE,
            "jti": str(invitation_id),
            "emp": employer_no,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        return jwt.encode(
            claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid, "typ": LINK_TYPE}
        )


class LinkRefused(Exception):
    """An invitation link token that cannot be used; `reason` is a stable word."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Link:
    invitation_id: uuid.UUID
    employer_no: int


def verify_link(
    token: str,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    now: datetime,
    issuer: str = "bvgconnect-auth",
) -> Link:
    """The invitation a link token names; raises `LinkRefused` ("malformed", "signature",
    "expired"). Time from the caller's clock, not PyJWT's."""
    if not token or len(token) > MAX_LINK_CHARS:
        raise LinkRefused("malformed")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise LinkRefused("malformed") from None
    if header.get("typ") != LINK_TYPE or header.get("alg") != "EdDSA":
        raise LinkRefused("malformed")
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise LinkRefused("signature")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["EdDSA"],
            audience=LINK_AUDIENCE,
            issuer=issuer,
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["exp", "jti", "emp", "iss", "aud"],
            },
        )
    except jwt.InvalidSignatureError:
        raise LinkRefused("signature") from None
    except jwt.InvalidTokenError:
        raise LinkRefused("malformed") from None
    exp, emp = claims.get("exp"), claims.get("emp")
    if isinstance(exp, bool) or not isinstance(exp, int):
        raise LinkRefused("malformed")
    if isinstance(emp, bool) or not isinstance(emp, int) or emp < 1:
        raise LinkRefused("malformed")
    try:
        invitation_id = uuid.UUID(str(claims.get("jti")))
    except ValueError:
        raise LinkRefused("malformed") from None
    if now.timestamp() >= exp:
        raise LinkRefused("expired")
    return Link(invitation_id=invitation_id, employer_no=emp)


# -- key rotation --------------------------------------------------------------------------

#: A retired key stays in the JWKS this long: every access token signed with it has expired
#: (15 minutes), with the verifiers' leeway and a margin (as `Revocations.HORIZON_S`).
PUBLISH_RETIRED = timedelta(seconds=MAX_LIFETIME_S + 120)


@dataclass(frozen=True)
class RetiredKey:
    """The public half of a key auth no longer signs with (its private half is gone)."""

    jwk: dict[str, str]
    #: Published in the JWKS until then: the access tokens signed with it have expired.
    published_until: datetime
    #: Still verifies auth's own link tokens until then: its invitations have expired.
    kept_until: datetime

    @property
    def kid(self) -> str:
        return self.jwk["kid"]

    def public_key(self) -> Ed25519PublicKey:
        raw = base64.urlsafe_b64decode(self.jwk["x"] + "=" * (-len(self.jwk["x"]) % 4))
        return Ed25519PublicKey.from_public_bytes(raw)

    def as_json(self) -> dict[str, Any]:
        return {
            "jwk": self.jwk,
            "published_until": self.published_until.isoformat(),
            "kept_until": self.kept_until.isoformat(),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> RetiredKey:
        return cls(
            jwk=dict(value["jwk"]),
            published_until=datetime.fromisoformat(value["published_until"]),
            kept_until=datetime.fromisoformat(value["kept_until"]),
        )


def _write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Readers see the old file or the new one, never half of it."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    os.replace(temporary, path)


class KeyRing:
    """Auth's signing keys, in one file `keys.json` (mode 0600) of the key folder, replaced
    atomically: the **active** key (signs), the **next** key (published ahead of its use) and
    the public halves of **retired** keys with their times; `jwks.json` is what is published.

    `rotate` makes the next key active and makes a new next key; the old active key's private
    half is gone, its public half stays in the JWKS until every access token signed with it
    has expired. Since the next key was published since the previous rotation, verifiers that
    loaded the JWKS after it (every one, unless two rotations are close together) know the new
    active key already; one that does not loads the JWKS again for the unknown `kid`
    (`services.runtime.access.RefreshingKeySet`, rate-limited). Another process sharing the
    folder reads the file again when it has changed.
    """

    FILE, JWKS = "keys.json", "jwks.json"
    #: The one-key layout before rotation existed; read once and carried over.
    LEGACY_PEM, LEGACY_KID = "signing-key.pem", "signing-key.kid"

    def __init__(
        self,
        folder: Path,
        active: SigningKey,
        next_key: SigningKey,
        retired: tuple[RetiredKey, ...],
    ) -> None:
        self.folder = folder
        self.active = active
        self.next = next_key
        self.retired = retired
        self._stamp = self._file_stamp()
        self._written: frozenset[str] = frozenset()  # the key ids in `jwks.json`

    @classmethod
    def exists(cls, folder: Path) -> bool:
        return (folder / cls.FILE).exists() or (folder / cls.LEGACY_PEM).exists()

    @classmethod
    def load_or_create(cls, folder: Path, now: datetime | None = None) -> KeyRing:
        """The keys of `folder`, new ones if there are none; with `now`, retired keys past
        their time are dropped. Writes `jwks.json`."""
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / cls.FILE).exists():
            ring = cls._read(folder)
        else:
            legacy = cls._legacy(folder)
            ring = cls(folder, legacy or SigningKey.generate(), SigningKey.generate(), ())
            ring._save()
        if now is not None:
            ring._prune(now)
        ring._write_jwks(now)
        return ring

    @classmethod
    def _legacy(cls, folder: Path) -> SigningKey | None:
        pem, kid = folder / cls.LEGACY_PEM, folder / cls.LEGACY_KID
        if not (pem.exists() and kid.exists()):
            return None
        return _signing_key(kid.read_text().strip(), pem.read_bytes())

    @classmethod
    def _read(cls, folder: Path) -> KeyRing:
        state = json.loads((folder / cls.FILE).read_text())
        active = _signing_key(state["active"]["kid"], state["active"]["pem"].encode())
        next_key = _signing_key(state["next"]["kid"], state["next"]["pem"].encode())
        retired = tuple(RetiredKey.from_json(entry) for entry in state["retired"])
        return cls(folder, active, next_key, retired)

    def _save(self) -> None:
        state = {
            "active": {"kid": self.active.kid, "pem": self.active.private_pem().decode()},
            "next": {"kid": self.next.kid, "pem": self.next.private_pem().decode()},
            "retired": [r.as_json() for r in self.retired],
        }
        _write_atomically(self.folder / self.FILE, json.dumps(state, indent=1).encode(), 0o600)
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int]:
        try:
            stat = (self.folder / self.FILE).stat()
        except FileNotFoundError:
            return (0, 0)
        return (stat.st_mtime_ns, stat.st_ino)

    def current(self, now: datetime) -> SigningKey:
        """The key to sign with now: read again if another process rotated."""
        if self._file_stamp() != self._stamp:
            again = self._read(self.folder)
            self.active, self.next, self.retired = again.active, again.next, again.retired
            self._stamp = again._stamp
        if any(now >= r.kept_until for r in self.retired):
            self._prune(now)
            self._save()
        if self._published(now) != self._written:
            self._write_jwks(now)
        return self.active

    def _published(self, now: datetime | None) -> frozenset[str]:
        return frozenset(k["kid"] for k in self._jwks(now)["keys"])

    def _jwks(self, now: datetime | None) -> dict[str, list[dict[str, str]]]:
        retired = [r.jwk for r in self.retired if now is None or now < r.published_until]
        return {"keys": [self.active.jwk(), self.next.jwk(), *retired]}

    def jwks(self, now: datetime) -> dict[str, list[dict[str, str]]]:
        """What verifiers may use now: the active key, the next one, and retired keys whose
        tokens may still be valid."""
        self.current(now)
        return self._jwks(now)

    def public_keys(self, now: datetime) -> dict[str, Ed25519PublicKey]:
        """Auth's own link tokens verify with the active key and retired keys still kept."""
        active = self.current(now)
        keys = {r.kid: r.public_key() for r in self.retired if now < r.kept_until}
        return keys | {active.kid: active.private_key.public_key()}

    def rotate(self, now: datetime, *, keep_for: timedelta) -> RetiredKey:
        """The next key becomes active, a new next key is made; the old active key is
        published for `PUBLISH_RETIRED` and kept (to verify link tokens) for `keep_for`."""
        old = self.current(now)
        retired = RetiredKey(
            jwk=old.jwk(),
            published_until=now + PUBLISH_RETIRED,
            kept_until=now + max(keep_for, PUBLISH_RETIRED),
        )
        self.active, self.next = self.next, SigningKey.generate()
        self.retired = (*self.retired, retired)
        self._save()
        self._write_jwks(now)
        return retired

    def _prune(self, now: datetime) -> None:
        self.retired = tuple(r for r in self.retired if now < r.kept_until)

    def _write_jwks(self, now: datetime | None) -> None:
        """`jwks.json` for verifiers that read a file (development, tests)."""
        path = self.folder / self.JWKS
        text = json.dumps(self._jwks(now)).encode()
        if not path.exists() or path.read_bytes() != text:
            _write_atomically(path, text)
        self._written = self._published(now)


def _signing_key(kid: str, pem: bytes) -> SigningKey:
    loaded = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"key {kid} is not an Ed25519 key")
    return SigningKey(kid=kid, private_key=loaded)
