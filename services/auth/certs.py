"""Client certificates (ACCESS.md: chain to the configured trust anchors, validity dates,
revocation list; bound to one user by its SHA-256 fingerprint).

Trust assumption: TLS is terminated in front of auth; the terminator checks that the client
holds the certificate's private key (the handshake) and passes the certificate, URL-encoded
PEM, in `X-Client-Cert`, removing any such header a client sent. The chain is checked here
again, so a terminator that forwards any certificate cannot open a session with it.
"""

from __future__ import annotations

import urllib.parse
from datetime import datetime
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from services.runtime.settings import Settings

MAX_PEM_CHARS = 16_384


class CertificateRefused(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


@cache
def _anchors(path: Path) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_pem_x509_certificates(path.read_bytes()))


@cache
def _crls(path: Path) -> tuple[x509.CertificateRevocationList, ...]:
    text = path.read_bytes()
    marker = b"-----BEGIN X509 CRL-----"
    return tuple(
        x509.load_pem_x509_crl(marker + part) for part in text.split(marker)[1:] if part.strip()
    )


def verify_client_certificate(header: str, settings: Settings, now: datetime) -> str:
    """The fingerprint of a valid client certificate; raises `CertificateRefused`."""
    if not header or len(header) > MAX_PEM_CHARS:
        raise CertificateRefused("missing", "No client certificate was presented.")
    if settings.auth_trust_anchors_file is None:
        raise CertificateRefused("unconfigured", "Certificate sign-in is not configured.")
    try:
        cert = x509.load_pem_x509_certificate(urllib.parse.unquote(header).encode())
    except ValueError:
        raise CertificateRefused("malformed", "The client certificate cannot be read.") from None
    anchors = _anchors(settings.auth_trust_anchors_file)
    if not now.tzinfo:
        raise ValueError("an aware time is needed")
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise CertificateRefused("expired", "The client certificate is expired or not yet valid.")
    verifier = PolicyBuilder().store(Store(list(anchors))).time(now).build_client_verifier()
    try:
        chain = verifier.verify(cert, [])
    except VerificationError:
        raise CertificateRefused(
            "untrusted", "The client certificate was not issued by a trusted authority."
        ) from None
    if settings.auth_crl_file is not None:
        for crl in _crls(settings.auth_crl_file):
            issuer = next((c for c in chain.chain if c.subject == crl.issuer), None)
            if issuer is None or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                continue
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                raise CertificateRefused("revoked", "The client certificate was revoked.")
    return fingerprint(cert)
