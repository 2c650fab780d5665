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
from datetime import datetime
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
        """The key kept in `folder` (created, readable by the owner only, if there is none),
        with the public JWKS written next to it as `jwks.json`."""
        folder.mkdir(parents=True, exist_ok=True)
        pem_path, kid_path = folder / "signing-key.pem", folder / "signing-key.kid"
        if pem_path.exists() and kid_path.exists():
            loaded = serialization.load_pem_private_key(pem_path.read_bytes(), password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError(f"{pem_path} is not an Ed25519 key")
            key = cls(kid=kid_path.read_text().strip(), private_key=loaded)
        else:
            key = cls.generate()
            pem = key.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            descriptor = os.open(pem_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(pem)
            kid_path.write_text(key.kid)
        (folder / "jwks.json").write_text(json.dumps(key.jwks()))
        return key

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
