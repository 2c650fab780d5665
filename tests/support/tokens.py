"""Access tokens for tests, signed with a key generated here, as auth will sign them.

Minting uses PyJWT, verifying uses `services.runtime.access`: two implementations, so a test
that passes shows the verifier reads what a standard library writes. The helpers for broken
tokens (tampered, `alg: none`, HS256 with the public key, another key, expired) build the
compact form by hand, since a library refuses to write most of them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.runtime.access import KeySet
from services.runtime.clock import Clock, FixedClock

#: A valid AHV number (EAN-13 check digit 7), for private users.
TEST_AHV = "756.1234.5678.97"

_METHODS = {1: ["pwd"], 2: ["pwd", "otp"], 3: ["x509"]}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unpadded_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class TokenMint:
    """An Ed25519 signing key and the tokens auth would issue with it."""

    def __init__(
        self,
        *,
        kid: str = "test-key-1",
        issuer: str = "bvgconnect-auth",
        audience: str = "bvgconnect",
        clock: Clock | None = None,
    ) -> None:
        self.kid = kid
        self.issuer = issuer
        self.audience = audience
        self.clock: Clock = clock if clock is not None else FixedClock()
        self.private_key = Ed25519PrivateKey.generate()

    # -- public keys -----------------------------------------------------------------------
    @property
    def public_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url(self.public_bytes),
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
        }

    def jwks(self, *others: TokenMint) -> dict[str, list[dict[str, str]]]:
        """The public JWKS: this key, and those of `others` (a key rotation)."""
        return {"keys": [self.jwk(), *(other.jwk() for other in others)]}

    def key_set(self, *others: TokenMint) -> KeySet:
        return KeySet.from_jwks(self.jwks(*others))

    # -- tokens ----------------------------------------------------------------------------
    def claims(
        self,
        *,
        employer_no: int | None = 4711,
        kind: str = "connect",
        topics: Iterable[str] = ("mutations", "messages"),
        level: int = 2,
        sub: str | None = None,
        lifetime_s: float = 600,
        now: datetime | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """The claims of a token; an override of None leaves that claim out."""
        issued = int((now or self.clock.now()).timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub or str(uuid.uuid4()),
            "emp": None if kind == "operator" else employer_no,
            "kind": kind,
            "topics": list(topics),
            "amr": _METHODS.get(level, ["pwd"]),
            "acr": str(level),
            "ahv": TEST_AHV if kind == "private" else None,
            "iat": issued,
            "exp": issued + int(lifetime_s),
            "jti": uuid.uuid4().hex,
            "sid": uuid.uuid4().hex,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def mint(
        self,
        *,
        employer_no: int | None = 4711,
        kind: str = "connect",
        topics: Iterable[str] = ("mutations", "messages"),
        level: int = 2,
        sub: str | None = None,
        lifetime_s: float = 600,
        now: datetime | None = None,
        **overrides: Any,
    ) -> str:
        """A valid access token (unless the arguments make it otherwise)."""
        claims = self.claims(
            employer_no=employer_no,
            kind=kind,
            topics=topics,
            level=level,
            sub=sub,
            lifetime_s=lifetime_s,
            now=now,
            **overrides,
        )
        return self.sign(claims)

    def sign(self, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        """Sign any claims, with PyJWT; `headers` replace or add header fields."""
        header = {"kid": self.kid, "typ": "at+jwt", **(headers or {})}
        return jwt.encode(dict(claims), self.private_key, algorithm="EdDSA", headers=header)

    def sign_raw(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
        """Sign exactly this header and these claims (no library deciding anything)."""
        signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
        return f"{signing_input}.{b64url(self.private_key.sign(signing_input.encode()))}"

    # -- broken tokens ---------------------------------------------------------------------
    def tampered(self, token: str, **changes: Any) -> str:
        """The token with its claims edited and its signature kept."""
        header, payload, signature = token.split(".")
        claims = json.loads(unpadded_decode(payload))
        claims.update(changes)
        return f"{header}.{b64url_json(claims)}.{signature}"

    def alg_none(self, *, alg: str = "none", **claims: Any) -> str:
        """Unsigned (`alg: none`, RFC 7519 §6), with an empty signature part."""
        header = {"alg": alg, "typ": "at+jwt", "kid": self.kid}
        return f"{b64url_json(header)}.{b64url_json(self.claims(**claims))}."

    def hs256_with_public_key(self, secret: bytes | None = None, **claims: Any) -> str:
        """HS256 with the public key as the HMAC secret (the algorithm-confusion attack)."""
        header = {"alg": "HS256", "typ": "at+jwt", "kid": self.kid}
        signing_input = f"{b64url_json(header)}.{b64url_json(self.claims(**claims))}"
        key = secret if secret is not None else self.public_bytes
        mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(mac)}"

    def signed_by_other_key(self, **claims: Any) -> str:
        """Signed by a key nobody published, under this mint's `kid`."""
        impostor = TokenMint(kid=self.kid, issuer=self.issuer, audience=self.audience)
        impostor.clock = self.clock
        return impostor.mint(**claims)

    def expired(self, **claims: Any) -> str:
        """Issued 20 minutes ago for 10 minutes: expired beyond any leeway."""
        issued = self.clock.now().timestamp() - 1200
        return self.sign(self.claims(**claims) | {"iat": int(issued), "exp": int(issued) + 600})
