"""Tokens auth issues are what every service's verifier accepts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.auth.tokens import SigningKey
from services.runtime.access import POLICY, KeySet, TokenVerifier, authorize
from services.runtime.clock import FixedClock

NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)


def test_an_issued_token_verifies_and_carries_employer_topics_and_level(tmp_path: Path) -> None:
    key = SigningKey.load_or_create(tmp_path / "auth")
    again = SigningKey.load_or_create(tmp_path / "auth")
    assert (
        again.kid == key.kid and (tmp_path / "auth" / "signing-key.pem").stat().st_mode & 0o077 == 0
    )
    verifier = TokenVerifier(
        KeySet.from_json((tmp_path / "auth" / "jwks.json").read_text()),
        issuer="bvgconnect-auth",
        audience="bvgconnect",
        clock=FixedClock(NOW),
    )
    user = uuid.uuid4()
    token = again.issue(
        now=NOW, user_id=user, kind="connect", employer_no=1001, topics=["mutations"], level=2
    )
    principal = verifier.verify(token)
    assert (principal.user_id, principal.employer_no, principal.level) == (str(user), 1001, 2)
    authorize(principal, POLICY["list.upload"], employer_no=1001)


def test_a_token_cannot_outlive_fifteen_minutes() -> None:
    with pytest.raises(ValueError, match="900"):
        SigningKey.generate().issue(
            now=NOW,
            user_id=uuid.uuid4(),
            kind="connect",
            employer_no=1,
            topics=[],
            level=2,
            lifetime_s=901,
        )
