"""The pure rules of auth: passwords, throttling, SMS codes, TOTP, levels, waivers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.auth import domain

NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)
POLICY = domain.PasswordPolicy()


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("short", False),
        ("elevenchars", False),
        ("Password1234", False),  # common, whatever the case
        ("123456789012", False),
        ("correct horse battery", True),
        ("x" * 129, False),
        ("anna@2001-secret", False),  # contains the user ID
    ],
)
def test_password_policy(password: str, ok: bool) -> None:
    assert (domain.password_problems(password, login="anna@2001", policy=POLICY) == []) is ok


def test_common_password_list_is_bundled() -> None:
    assert len(domain.common_passwords()) > 1000
    assert "passwort123" in domain.common_passwords()


def test_password_age() -> None:
    assert domain.password_expired(NOW - timedelta(days=366), NOW, policy=POLICY)
    assert not domain.password_expired(NOW - timedelta(days=364), NOW, policy=POLICY)
    never = domain.PasswordPolicy(max_age_days=0)
    assert not domain.password_expired(NOW - timedelta(days=9999), NOW, policy=never)


@pytest.mark.parametrize(
    ("failures", "delay"), [(0, 0), (2, 0), (3, 1), (4, 2), (5, 4), (9, 30), (20, 30)]
)
def test_progressive_delay(failures: int, delay: float) -> None:
    assert domain.delay_after(failures, domain.USER_THROTTLE) == delay


def test_lockout_and_its_end() -> None:
    t = domain.USER_THROTTLE
    locked = domain.judge_attempt(t.lock_after, NOW, NOW + timedelta(minutes=1), t)
    assert not locked.allowed and locked.locked and locked.retry_after_s == 14 * 60
    assert domain.judge_attempt(
        t.lock_after, NOW, NOW + t.lockout + timedelta(seconds=1), t
    ).allowed
    assert domain.judge_attempt(2, NOW, NOW, t).allowed
    slowed = domain.judge_attempt(4, NOW, NOW, t)
    assert not slowed.allowed and not slowed.locked and slowed.retry_after_s == 2


@given(st.integers(0, 1000), st.integers(0, 3600))
def test_delay_never_exceeds_the_cap_and_grows(failures: int, seconds: int) -> None:
    t = domain.USER_THROTTLE
    assert domain.delay_after(failures, t) <= t.max_delay_s
    assert domain.delay_after(failures + 1, t) >= domain.delay_after(failures, t)


def test_sms_code_rules() -> None:
    code = domain.new_sms_code()
    assert len(code) == 6 and code.isdigit()
    assert domain.sms_code_usable(NOW, 0, False, NOW + timedelta(minutes=5)) is None
    assert domain.sms_code_usable(NOW, 0, False, NOW + timedelta(minutes=5, seconds=1)) == (
        "expired"
    )
    assert domain.sms_code_usable(NOW, 3, False, NOW) == "tries"
    assert domain.sms_code_usable(NOW, 0, True, NOW) == "used"


def test_totp_window_and_replay() -> None:
    secret = pyotp.random_base32()
    step = int(NOW.timestamp()) // 30
    for offset, accepted in [(-2, False), (-1, True), (0, True), (1, True), (2, False)]:
        code = pyotp.TOTP(secret).generate_otp(step + offset)
        assert (domain.totp_match(secret, code, NOW, None) is not None) is accepted
    code = domain.totp_code(secret, NOW)
    used = domain.totp_match(secret, code, NOW, None)
    assert used == step
    assert domain.totp_match(secret, code, NOW, used) is None  # no replay
    assert domain.totp_match(secret, "12345", NOW, None) is None
    assert "otpauth://totp/" in domain.totp_uri(secret, "anna@2001")


def test_levels() -> None:
    assert domain.level_of(("pwd",)) == 1
    assert domain.level_of(("pwd", "sms")) == domain.level_of(("pwd", "otp")) == 2
    assert domain.level_of(("x509",)) == 3
    assert domain.may_stop_at_level_1("private") and not domain.may_stop_at_level_1("connect")


@pytest.mark.parametrize(
    ("received", "effective"),
    [
        (date(2025, 4, 10), date(2025, 5, 1)),
        (date(2025, 4, 1), date(2025, 5, 1)),
        (date(2025, 12, 31), date(2026, 1, 1)),
    ],
)
def test_waiver_takes_effect_next_month(received: date, effective: date) -> None:
    assert domain.waiver_effective(received) == effective


def test_affiliation_status() -> None:
    end = date(2025, 5, 31)
    assert domain.affiliation_status(end, end) == "affiliated"
    assert domain.affiliation_status(end, date(2025, 6, 1)) == "terminated"
    assert domain.affiliation_status(None, date(2099, 1, 1)) == "affiliated"


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("756.1234.5678.97", "756.1234.5678.97"),
        ("7561234567897", "756.1234.5678.97"),
        (" 756 1234 5678 97 ", "756.1234.5678.97"),
        ("756.1234.5678.98", None),  # check digit
        ("755.1234.5678.97", None),  # not the Swiss prefix
        ("756.1234.5678", None),
        ("' OR 1=1 --", None),
    ],
    ids=["printed", "compact", "spaces", "checksum", "prefix", "short", "injection"],
)
def test_ahv_numbers_by_stdnum(text: str, printed: str | None) -> None:
    if printed is None:
        with pytest.raises(domain.InvalidAhv):
            domain.ahv_number(text)
    else:
        assert domain.ahv_number(text) == printed


def test_an_invitation_is_single_use_expiring_and_spent_by_wrong_numbers() -> None:
    now = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)
    expires = now + domain.INVITATION_LIFETIME
    assert domain.invitation_usable(expires, None, 0, now) is None
    assert domain.invitation_usable(expires, now, 0, now) == "used"
    assert domain.invitation_usable(expires, None, domain.INVITATION_MAX_TRIES, now) == "tries"
    assert domain.invitation_usable(expires, None, 0, expires) == "expired"
    assert domain.invitation_usable(expires, None, 0, expires - timedelta(seconds=1)) is None
