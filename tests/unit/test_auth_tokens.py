"""Tokens auth issues are what every service's verifier accepts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.auth.tokens import (
    PUBLISH_RETIRED,
    KeyRing,
    Link,
    LinkRefused,
    SigningKey,
    verify_link,
)
from services.runtime.access import POLICY, KeySet, TokenVerifier, authorize
from services.runtime.clock import FixedClock

NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)


def test_an_issued_token_verifies_and_carries_employer_topics_and_level(tmp_path: Path) -> None:
    key = SigningKey.load_or_create(tmp_path / "auth")
    again = SigningKey.load_or_create(tmp_path / "auth")
    assert again.kid == key.kid and (tmp_path / "auth" / KeyRing.FILE).stat().st_mode & 0o077 == 0
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


def test_a_link_token_names_its_invitation_and_is_refused_when_broken() -> None:
    key, other = SigningKey.generate(), SigningKey.generate()
    invitation = uuid.uuid4()
    link = key.issue_link(
        now=NOW, invitation_id=invitation, employer_no=1001, expires_at=NOW + timedelta(days=14)
    )
    assert verify_link(link, key.public_keys(), now=NOW) == Link(invitation, 1001)
    head, claims, signature = link.split(".")
    cases = {
        "expired": (link, NOW + timedelta(days=14)),
        "signature": (f"{head}.{claims}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}", NOW),
        "malformed": ("not.a.token", NOW),
    }
    for reason, (token, at) in cases.items():
        with pytest.raises(LinkRefused) as refused:
            verify_link(token, key.public_keys(), now=at)
        assert refused.value.reason == reason
    with pytest.raises(LinkRefused, match="signature"):
        verify_link(link, other.public_keys(), now=NOW)
    access = key.issue(
        now=NOW, user_id=invitation, kind="connect", employer_no=1, topics=[], level=2
    )
    with pytest.raises(LinkRefused, match="malformed"):  # an access token is no link
        verify_link(access, key.public_keys(), now=NOW)


def test_a_rotation_is_seen_by_another_process_and_old_keys_go_in_their_time(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "auth"
    ring, other = KeyRing.load_or_create(folder, NOW), KeyRing.load_or_create(folder, NOW)
    first, ahead = ring.current(NOW), ring.next
    assert other.current(NOW).kid == first.kid
    assert [k["kid"] for k in ring.jwks(NOW)["keys"]] == [first.kid, ahead.kid]
    retired = ring.rotate(NOW, keep_for=timedelta(days=14))
    second = ring.current(NOW)
    assert retired.kid == first.kid and second.kid == ahead.kid  # published ahead of its use
    assert other.current(NOW).kid == second.kid  # the file changed: read again
    assert SigningKey.load_or_create(folder).kid == second.kid
    kids = [k["kid"] for k in ring.jwks(NOW)["keys"]]
    assert kids == [second.kid, ring.next.kid, first.kid]
    published = (folder / "jwks.json").read_text()
    assert '"d"' not in published and "PRIVATE" not in published
    assert [k["kid"] for k in json.loads(published)["keys"]] == kids
    link = first.issue_link(
        now=NOW, invitation_id=uuid.uuid4(), employer_no=1, expires_at=NOW + timedelta(days=14)
    )

    later = NOW + PUBLISH_RETIRED
    assert [k["kid"] for k in ring.jwks(later)["keys"]] == [second.kid, ring.next.kid]
    published = (folder / "jwks.json").read_text()
    assert [k["kid"] for k in json.loads(published)["keys"]] == [second.kid, ring.next.kid]
    verify_link(link, ring.public_keys(later), now=later)  # still kept for its invitation
    gone = NOW + timedelta(days=14)
    assert set(ring.public_keys(gone)) == {second.kid}
    assert KeyRing.load_or_create(folder, gone).retired == ()


def test_a_key_folder_of_the_one_key_layout_is_carried_over(tmp_path: Path) -> None:
    """Before rotation, the folder held `signing-key.pem` and `.kid`: tokens signed with that
    key stay valid, and it stays the active key."""
    legacy = SigningKey.generate()
    (tmp_path / KeyRing.LEGACY_PEM).write_bytes(legacy.private_pem())
    (tmp_path / KeyRing.LEGACY_KID).write_text(legacy.kid)
    assert KeyRing.exists(tmp_path)
    ring = KeyRing.load_or_create(tmp_path, NOW)
    assert ring.current(NOW).kid == legacy.kid
    assert ring.current(NOW).jwk() == legacy.jwk()
