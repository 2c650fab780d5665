"""Pure rules of auth (ACCESS.md "Credential hygiene", RULES §11): parameters as data.

No I/O, no clock: every function takes the time it judges.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import pyotp
from stdnum.ch import ssn
from stdnum.exceptions import ValidationError

# -- levels --------------------------------------------------------------------------------

#: ACCESS.md "Credentials and their strength": the level each credential opens a session at.
LEVEL_BY_METHODS: dict[tuple[str, ...], int] = {
    ("pwd",): 1,
    ("pwd", "sms"): 2,
    ("pwd", "otp"): 2,
    ("x509",): 3,
    # A level-2 session stepped up with the certificate (`POST /login/step-up`).
    ("pwd", "sms", "x509"): 3,
    ("pwd", "otp", "x509"): 3,
}


def level_of(methods: tuple[str, ...]) -> int:
    """The level of a session opened with these methods (ACCESS.md table)."""
    return LEVEL_BY_METHODS[methods]


def may_stop_at_level_1(kind: str) -> bool:
    """ACCESS.md: password alone is level 1, only for a private user's read-only view."""
    return kind == "private"


# -- passwords -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PasswordPolicy:
    """ACCESS.md: at least 12 characters, not a common password, a maximum age."""

    min_length: int = 12
    max_length: int = 128  # hashing cost bound; ASVS 2.1.2 allows up to 128 at least
    max_age_days: int = 365  # 0 disables the maximum age


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords, lower-cased (ASVS 2.1.7)."""
    text = (Path(__file__).parent / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def password_problems(password: str, *, login: str = "", policy: PasswordPolicy) -> list[str]:
    """Why a new password is refused; empty if it is acceptable (ACCESS.md hygiene)."""
    problems: list[str] = []
    if len(password) < policy.min_length:
        problems.append(f"at least {policy.min_length} characters")
    if len(password) > policy.max_length:
        problems.append(f"at most {policy.max_length} characters")
    lowered = password.lower()
    if lowered in common_passwords():
        problems.append("not a commonly used password")
    if login and login.lower() in lowered:
        problems.append("must not contain the user ID")
    return problems


def password_expired(changed_at: datetime, now: datetime, *, policy: PasswordPolicy) -> bool:
    """ACCESS.md: a configurable maximum age (default 365 days, 0 disables)."""
    if policy.max_age_days == 0:
        return False
    return now - changed_at > timedelta(days=policy.max_age_days)


#: Argon2id parameters (OWASP ASVS / Password Storage Cheat Sheet: m=19 MiB, t=2, p=1).
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1


# -- brute force ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Throttle:
    """ACCESS.md: progressive delay and temporary lockout per user and per source address.

    After `free` failures every further try waits `base_delay_s * 2**(n - free)` (capped);
    at `lock_after` failures within `window` the key is locked for `lockout`.
    """

    free: int = 3
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    lock_after: int = 10
    lockout: timedelta = timedelta(minutes=15)
    window: timedelta = timedelta(minutes=15)


USER_THROTTLE = Throttle()
#: An address may serve many users (an employer's NAT): a higher budget.
ADDRESS_THROTTLE = Throttle(free=10, lock_after=50)


def delay_after(failures: int, throttle: Throttle) -> float:
    """Seconds to wait before the next try after `failures` consecutive failures."""
    if failures < throttle.free:
        return 0.0
    delay: float = throttle.base_delay_s * 2 ** (failures - throttle.free)
    return min(throttle.max_delay_s, delay)


@dataclass(frozen=True)
class Verdict:
    """May a login try go ahead now? If not, when again, and whether it is a lockout."""

    allowed: bool
    retry_after_s: int = 0
    locked: bool = False


def judge_attempt(
    failures: int, last_failure: datetime | None, now: datetime, throttle: Throttle
) -> Verdict:
    """Whether a try may go ahead, given the failures counted within the window."""
    if last_failure is None or failures == 0 or now - last_failure > throttle.window:
        return Verdict(True)
    if failures >= throttle.lock_after:
        until = last_failure + throttle.lockout
        if now < until:
            return Verdict(False, max(1, int((until - now).total_seconds() + 0.999)), locked=True)
        return Verdict(True)
    wait = last_failure + timedelta(seconds=delay_after(failures, throttle))
    if now < wait:
        return Verdict(False, max(1, int((wait - now).total_seconds() + 0.999)))
    return Verdict(True)


# -- SMS passcodes -------------------------------------------------------------------------

SMS_CODE_DIGITS = 6
SMS_CODE_LIFETIME = timedelta(minutes=5)
SMS_CODE_MAX_TRIES = 3


def new_sms_code() -> str:
    """ACCESS.md: 6 digits, from a cryptographic source."""
    return f"{secrets.randbelow(10**SMS_CODE_DIGITS):0{SMS_CODE_DIGITS}d}"


def sms_code_usable(issued_at: datetime, tries: int, used: bool, now: datetime) -> str | None:
    """None if a code may still be tried; else why not (ACCESS.md: 5 minutes, 3 tries, once)."""
    if used:
        return "used"
    if now - issued_at > SMS_CODE_LIFETIME:
        return "expired"
    if tries >= SMS_CODE_MAX_TRIES:
        return "tries"
    return None


def codes_equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


# -- TOTP ----------------------------------------------------------------------------------

TOTP_STEP_S = 30
#: ACCESS.md: ±1 step tolerance.
TOTP_WINDOW = 1


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, login: str, issuer: str = "bvgconnect") -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name=issuer)


def totp_code(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


def totp_match(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step the code belongs to (within ±1 step), or None; a step at or before
    `last_step` (the one accepted last) is refused: no replay (ACCESS.md)."""
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // TOTP_STEP_S
    for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        if codes_equal(code, totp.generate_otp(step)):
            return step
    return None


# -- private users (connect@Private) -----------------------------------------------------

#: RULES §11: workers register for a private view through a link the foundation provides.
INVITATION_LIFETIME = timedelta(days=14)
#: Wrong AHV numbers typed on one invitation before it is spent (the link alone is not enough).
INVITATION_MAX_TRIES = 3


class InvalidAhv(ValueError):
    """Not an AHV number (756 prefix, 13 digits, EAN-13 check digit; `stdnum.ch.ssn`)."""


def ahv_number(text: str) -> str:
    """The AHV number in its printed form `756.dddd.dddd.dd`; raises `InvalidAhv`."""
    try:
        return str(ssn.format(ssn.validate(text)))
    except ValidationError:
        raise InvalidAhv("not a valid AHV number") from None


def invitation_usable(
    expires_at: datetime, used_at: datetime | None, tries: int, now: datetime
) -> str | None:
    """None if the invitation may be redeemed now; else why not (single use, expiring)."""
    if used_at is not None:
        return "used"
    if tries >= INVITATION_MAX_TRIES:
        return "tries"
    if now >= expires_at:
        return "expired"
    return None


# -- topics and affiliations ---------------------------------------------------------------


def waiver_effective(received: date) -> date:
    """ACCESS.md: a waiver of a topic takes effect from the first day of the next month."""
    if received.month == 12:
        return date(received.year + 1, 1, 1)
    return date(received.year, received.month + 1, 1)


def affiliation_status(affiliated_until: date | None, business_date: date) -> str:
    """Terminated once the business date is past the last day of the affiliation."""
    if affiliated_until is not None and business_date > affiliated_until:
        return "terminated"
    return "affiliated"
