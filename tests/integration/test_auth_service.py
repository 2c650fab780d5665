"""The auth service on the real Postgres and broker: logins, second factors, refresh, users,
the audit log, and the attacks of the auth issue, each against the running service."""

from __future__ import annotations

import asyncio
import json
import random
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import hypothesis
import pyotp
import pytest
import schemathesis
from cryptography import x509
from fastapi import Depends, FastAPI
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from stdnum import ean
from stdnum.ch import ssn

from contracts.events.clock import DayStarted, DayStartedPayload
from contracts.events.dunning import AffiliationTerminated, AffiliationTerminatedPayload
from services.auth.demo import DEMO_EMPLOYER
from services.auth.sms import FileSmsGateway
from services.auth.tokens import SigningKey
from services.registry import spec_of
from services.runtime.access import (
    PROCESS_REVOCATIONS,
    AccessDenied,
    Principal,
    RefreshingKeySet,
    TokenVerifier,
    install_token_verifier,
    require,
    token_verifier_of,
)
from services.runtime.clock import FixedClock
from services.runtime.errors import install_error_handlers
from services.runtime.service import Runtime, create_app
from tests.conftest import StartRuntime, fast_settings
from tests.integration.test_pricing_service import publish
from tests.support.kafka import eventually
from tests.support.pki import CertificateAuthority, fingerprint, header_value
from tests.support.tokens import TokenMint

NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)
A, B = 2001, 2002
PASSWORD = "correct horse battery staple 7"


class Auth:
    def __init__(
        self,
        runtime: Runtime,
        app: FastAPI,
        client: httpx.AsyncClient,
        key: SigningKey,
        data: Path,
    ) -> None:
        self.runtime, self.app, self.client, self.key, self.data = runtime, app, client, key, data
        self.ca: CertificateAuthority
        self.revoked_cert: x509.Certificate
        assert isinstance(runtime.clock, FixedClock)
        self.clock: FixedClock = runtime.clock

    def verifier(self) -> TokenVerifier:
        return token_verifier_of(self.app)

    def operator(self) -> dict[str, str]:
        token = self.key.issue(
            now=self.clock.now(),
            user_id=uuid.uuid4(),
            kind="operator",
            employer_no=None,
            topics=[],
            level=3,
        )
        return {"Authorization": f"Bearer {token}"}

    def admin(self, employer_no: int, level: int = 3) -> dict[str, str]:
        token = self.key.issue(
            now=self.clock.now(),
            user_id=uuid.uuid4(),
            kind="admin",
            employer_no=employer_no,
            topics=["users", "messages"],
            level=level,
        )
        return {"Authorization": f"Bearer {token}"}

    async def affiliate(self, employer_no: int) -> None:
        body = DEMO_EMPLOYER.model_dump(mode="json")
        r = await self.client.put(f"/employers/{employer_no}", json=body, headers=self.operator())
        assert r.status_code == 200, r.text

    async def add_user(self, employer_no: int, login: str, **extra: Any) -> dict[str, Any]:
        body = {"login": login, "password": PASSWORD, "topics": ["mutations", "users"], **extra}
        r = await self.client.post(
            f"/employers/{employer_no}/users", json=body, headers=self.admin(employer_no)
        )
        assert r.status_code == 201, r.text
        answer: dict[str, Any] = r.json()
        return answer

    async def password(self, login: str, password: str = PASSWORD, **kw: Any) -> httpx.Response:
        return await self.client.post(
            "/login/password", json={"login": login, "password": password}, **kw
        )

    def last_sms(self) -> str:
        text = FileSmsGateway(self.data / "sms-outbox.jsonl").messages()[-1]["text"]
        return text.split(": ", 1)[1][:6]


@pytest.fixture
async def auth(start_runtime: StartRuntime, prefix: str, tmp_path: Path) -> AsyncIterator[Auth]:
    key = SigningKey.load_or_create(tmp_path / "auth-dev-key")
    ca = CertificateAuthority("bvgconnect test CA", NOW)
    revoked = ca.issue("revoked")
    (tmp_path / "anchors.pem").write_bytes(ca.pem())
    (tmp_path / "crl.pem").write_bytes(ca.crl([revoked]))
    settings = fast_settings(
        prefix,
        data_dir=tmp_path,
        auth_jwks_file=tmp_path / "auth-dev-key" / "jwks.json",
        auth_trust_anchors_file=tmp_path / "anchors.pem",
        auth_crl_file=tmp_path / "crl.pem",
    )
    runtime = await start_runtime(spec_of("auth"), settings=settings, clock=FixedClock(NOW))
    app = create_app(runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("192.0.2.7", 1234)), base_url="http://auth"
    ) as client:
        service = Auth(runtime, app, client, key, tmp_path)
        service.ca, service.revoked_cert = ca, revoked
        await service.affiliate(A)
        await service.affiliate(B)
        yield service


def totp_now(uri: str, clock: FixedClock) -> str:
    secret = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)["secret"][0]
    return pyotp.TOTP(secret).at(clock.now())


async def test_password_and_totp_login_then_refresh(auth: Auth) -> None:
    user = await auth.add_user(A, "anna@2001")
    r = await auth.password("anna@2001")
    assert r.status_code == 200, r.text
    assert r.json()["method"] == "totp" and r.json()["enrolment"] is True
    code = totp_now(user["otpauth_uri"], auth.clock)
    r2 = await auth.client.post(
        "/login/totp", json={"challenge_id": r.json()["challenge_id"], "code": code}
    )
    assert r2.status_code == 200, r2.text
    session = r2.json()
    assert session["level"] == 2 and session["topics"] == ["mutations", "users"]
    principal = auth.verifier().verify(session["access_token"])
    assert principal.employer_no == A and principal.methods == ("pwd", "otp")

    # OTP replay: the same code, in a new challenge, is refused
    again = await auth.password("anna@2001")
    r3 = await auth.client.post(
        "/login/totp", json={"challenge_id": again.json()["challenge_id"], "code": code}
    )
    assert r3.status_code == 401 and r3.json()["code"] == "auth.otp_invalid"

    # refresh: rotated, single use
    r4 = await auth.client.post("/token/refresh", json={"refresh_token": session["refresh_token"]})
    assert r4.status_code == 200
    r5 = await auth.client.post("/token/refresh", json={"refresh_token": session["refresh_token"]})
    assert r5.status_code == 401 and r5.json()["code"] == "auth.refresh_invalid"

    jwks = (await auth.client.get("/.well-known/jwks.json")).json()
    assert jwks["keys"][0]["kid"] == auth.key.kid and "d" not in jwks["keys"][0]


async def test_sms_code_expires_and_allows_three_tries(auth: Auth) -> None:
    await auth.add_user(A, "beat@2001", second_factor="sms", phone="+41791234567")
    r = await auth.password("beat@2001")
    assert r.json()["method"] == "sms"
    challenge = r.json()["challenge_id"]
    code = auth.last_sms()
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(3):
        bad = await auth.client.post("/login/sms", json={"challenge_id": challenge, "code": wrong})
        assert bad.status_code == 401
    fourth = await auth.client.post("/login/sms", json={"challenge_id": challenge, "code": code})
    assert fourth.status_code == 401 and fourth.json()["code"] == "auth.sms_tries"

    r = await auth.password("beat@2001")
    code = auth.last_sms()
    auth.clock.advance(timedelta(minutes=5, seconds=1))
    late = await auth.client.post(
        "/login/sms", json={"challenge_id": r.json()["challenge_id"], "code": code}
    )
    assert late.status_code == 401 and late.json()["code"] == "auth.sms_expired"

    r = await auth.password("beat@2001")
    ok = await auth.client.post(
        "/login/sms", json={"challenge_id": r.json()["challenge_id"], "code": auth.last_sms()}
    )
    assert ok.status_code == 200 and ok.json()["level"] == 2
    used = await auth.client.post(
        "/login/sms", json={"challenge_id": r.json()["challenge_id"], "code": auth.last_sms()}
    )
    assert used.status_code == 401 and used.json()["code"] == "auth.sms_used"


async def test_wrong_password_until_lockout_and_no_existence_leak(auth: Auth) -> None:
    await auth.add_user(A, "carl@2001", second_factor="sms", phone="+41791234568")
    unknown = await auth.password("nobody@2001", "whatever-password")
    wrong = await auth.password("carl@2001", "wrong password 123")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    codes = []
    for _ in range(12):
        auth.clock.advance(timedelta(seconds=31))  # past any progressive delay
        codes.append((await auth.password("carl@2001", "wrong password 123")).json()["code"])
    assert "auth.locked" in codes
    locked = await auth.password("carl@2001")  # even the right password, while locked
    assert locked.status_code == 429 and locked.json()["code"] == "auth.locked"
    assert int(locked.headers["Retry-After"]) > 0
    assert "locked" in FileSmsGateway(auth.data / "sms-outbox.jsonl").messages()[-1]["text"]
    # progressive delay: two quick failures on a fresh user → 429 slow down
    await auth.add_user(A, "dora@2001", second_factor="sms", phone="+41791234569")
    answers = [(await auth.password("dora@2001", "nope nope nope")).status_code for _ in range(5)]
    assert 429 in answers
    audit = await auth.client.get("/audit", params={"action": "lockout"}, headers=auth.operator())
    assert audit.status_code == 200 and audit.json()
    assert all("password" not in json.dumps(line) for line in audit.json())


async def test_deregistered_user_and_waived_topic(auth: Auth) -> None:
    user = await auth.add_user(A, "emil@2001", second_factor="sms", phone="+41791234560")
    r = await auth.password("emil@2001")
    session = (
        await auth.client.post(
            "/login/sms", json={"challenge_id": r.json()["challenge_id"], "code": auth.last_sms()}
        )
    ).json()
    auth.clock.advance(timedelta(seconds=1))
    gone = await auth.client.patch(
        f"/employers/{A}/users/{user['user_id']}",
        json={"status": "deregistered"},
        headers=auth.admin(A),
    )
    assert gone.status_code == 200
    refreshed = await auth.client.post(
        "/token/refresh", json={"refresh_token": session["refresh_token"]}
    )
    assert refreshed.status_code == 401
    assert (await auth.password("emil@2001")).status_code == 401


async def test_tenants_are_separate_and_level_two_needs_step_up(auth: Auth) -> None:
    await auth.add_user(A, "fritz@2001")
    other = await auth.client.get(f"/employers/{B}/users", headers=auth.admin(A))
    missing = await auth.client.get("/employers/99999/users", headers=auth.admin(A))
    assert other.status_code == missing.status_code == 403
    assert other.json() == missing.json()
    mine = await auth.client.get(f"/employers/{A}/users", headers=auth.admin(A))
    assert [u["login"] for u in mine.json()] == ["fritz@2001"]
    step = await auth.client.get(f"/employers/{A}/users", headers=auth.admin(A, level=2))
    assert step.status_code == 403 and step.json()["code"] == "access.step_up_required"
    assert step.json()["required_level"] == 3
    assert 'acr_values="3"' in step.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "broken", ["other_key", "alg_none", "expired", "tampered"], ids=lambda b: str(b)
)
async def test_broken_tokens_are_refused(auth: Auth, broken: str) -> None:
    mint = TokenMint(kid=auth.key.kid, clock=auth.clock)
    good = auth.admin(A)["Authorization"].split(" ")[1]
    token = {
        "other_key": lambda: mint.mint(employer_no=A, kind="admin", topics=["users"], level=3),
        "alg_none": lambda: mint.alg_none(employer_no=A, kind="admin", topics=["users"], level=3),
        "expired": lambda: mint.expired(employer_no=A, kind="admin", topics=["users"], level=3),
        "tampered": lambda: mint.tampered(good, emp=B),
    }[broken]()
    r = await auth.client.get(f"/employers/{A}/users", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    assert r.json()["code"] in ("auth.invalid_token", "auth.token_expired")


async def test_weak_passwords_and_injection_are_refused_without_5xx(auth: Auth) -> None:
    for password in ["short", "passwort1234", "Password1234"]:
        r = await auth.client.post(
            f"/employers/{A}/users",
            json={"login": "gina@2001", "password": password},
            headers=auth.admin(A),
        )
        assert r.status_code == 422 and r.json()["code"] == "auth.weak_password"
    for evil in ["' OR 1=1 --", "x\r\nSet-Cookie: a=b", "a" * 5000, "😀", "\x00"]:
        r = await auth.client.post("/login/password", json={"login": evil, "password": evil})
        assert r.status_code in (401, 422, 429), r.text
        r = await auth.client.post("/login/totp", json={"challenge_id": evil, "code": evil})
        assert r.status_code in (401, 422)
        r = await auth.client.post("/token/refresh", json={"refresh_token": evil})
        assert r.status_code in (401, 422)


async def test_termination_ends_the_affiliation_on_its_date(
    auth: Auth, bootstrap: str, prefix: str
) -> None:
    await auth.add_user(A, "hans@2001", second_factor="sms", phone="+41791234561")
    event = AffiliationTerminated.new(
        occurred_at=NOW,
        employer_no=A,
        correlation_id="t",
        payload=AffiliationTerminatedPayload.model_validate(
            {
                "case_id": str(uuid.uuid4()),
                "track": "payment",
                "effective_date": "2025-05-31",
                "decided_on": "2025-04-10",
            }
        ),
    )
    await publish(bootstrap, prefix, [event])
    pool = auth.runtime.pool
    assert pool is not None

    async def until_set() -> bool:
        got = await pool.fetchval("SELECT affiliated_until FROM employers WHERE employer_no=$1", A)
        return bool(got == date(2025, 5, 31))

    await eventually(until_set, what="the termination date")
    assert await pool.fetchval("SELECT status FROM employers WHERE employer_no=$1", A) == (
        "affiliated"
    )


async def test_another_service_refuses_a_deregistered_users_token(
    auth: Auth, start_runtime: StartRuntime, prefix: str, tmp_path: Path
) -> None:
    """Billing verifies auth's tokens locally, and stops a deregistered user's still valid
    token once `auth.user-changed` arrives; employer A's token never reads B's invoices."""
    settings = fast_settings(
        prefix, data_dir=tmp_path, auth_jwks_file=tmp_path / "auth-dev-key" / "jwks.json"
    )
    billing = await start_runtime(spec_of("billing"), settings=settings, clock=auth.clock)
    app = create_app(billing)
    user = await auth.add_user(
        A, "ida@2001", second_factor="sms", phone="+41791234562", topics=["contributions"]
    )
    r = await auth.password("ida@2001")
    session = (
        await auth.client.post(
            "/login/sms", json={"challenge_id": r.json()["challenge_id"], "code": auth.last_sms()}
        )
    ).json()
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://billing"
    ) as client:
        assert (await client.get(f"/employers/{A}/invoices", headers=bearer)).status_code == 200
        other = await client.get(f"/employers/{B}/invoices", headers=bearer)
        assert other.status_code == 403 and other.json()["code"] == "access.denied"
        auth.clock.advance(timedelta(seconds=1))
        gone = await auth.client.patch(
            f"/employers/{A}/users/{user['user_id']}",
            json={"status": "deregistered"},
            headers=auth.admin(A),
        )
        assert gone.status_code == 200

        async def refused() -> bool:
            answer = await client.get(f"/employers/{A}/invoices", headers=bearer)
            return answer.status_code == 401 and answer.json()["code"] == "auth.token_revoked"

        await eventually(refused, what="billing refusing the deregistered user's token")


async def test_a_restarted_service_still_refuses_a_deregistered_users_token(
    auth: Auth, start_runtime: StartRuntime, prefix: str, tmp_path: Path
) -> None:
    """Billing keeps the revocation in `user_revocations`: a new process (empty in-memory
    revocations, its group offset past the event) loads it at start-up and refuses the token
    before it consumes anything."""
    settings = fast_settings(
        prefix, data_dir=tmp_path, auth_jwks_file=tmp_path / "auth-dev-key" / "jwks.json"
    )
    billing = await start_runtime(spec_of("billing"), settings=settings, clock=auth.clock)
    app = create_app(billing)
    user = await auth.add_user(
        A, "jon@2001", second_factor="sms", phone="+41791234563", topics=["contributions"]
    )
    token = auth.key.issue(
        now=auth.clock.now(),
        user_id=uuid.UUID(user["user_id"]),
        kind="connect",
        employer_no=A,
        topics=["contributions"],
        level=2,
    )
    bearer = {"Authorization": f"Bearer {token}"}
    url = f"/employers/{A}/invoices"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://billing"
    ) as client:
        assert (await client.get(url, headers=bearer)).status_code == 200
        auth.clock.advance(timedelta(seconds=1))
        gone = await auth.client.patch(
            f"/employers/{A}/users/{user['user_id']}",
            json={"status": "deregistered"},
            headers=auth.admin(A),
        )
        assert gone.status_code == 200

        async def refused() -> bool:
            answer = await client.get(url, headers=bearer)
            return answer.status_code == 401 and answer.json()["code"] == "auth.token_revoked"

        await eventually(refused, what="billing refusing the deregistered user's token")
    assert billing.pool is not None
    kept = await billing.pool.fetchval(
        "SELECT status FROM user_revocations WHERE user_id = $1", uuid.UUID(user["user_id"])
    )
    assert kept == "deregistered"

    await billing.stop()
    PROCESS_REVOCATIONS.clear()  # what a new process starts with
    assert token_verifier_of(app).verify(token).user_id == user["user_id"]
    auth.clock.advance(timedelta(minutes=10))  # still within the token's lifetime

    billing = await start_runtime(spec_of("billing"), settings=settings, clock=auth.clock)
    with pytest.raises(AccessDenied) as refusal:  # at once: loaded, not consumed again
        token_verifier_of(create_app(billing)).verify(token)
    assert refusal.value.code == "auth.token_revoked"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(billing)), base_url="http://billing"
    ) as client:
        answer = await client.get(url, headers=bearer)
        assert answer.status_code == 401 and answer.json()["code"] == "auth.token_revoked"


async def test_certificate_login_and_its_attacks(auth: Auth) -> None:
    good = auth.ca.issue("connector-1")
    expired = auth.ca.issue("old", days=30, start_days_ago=60)
    stranger = CertificateAuthority("unknown CA", NOW).issue("connector-1")
    for cert, login in [(good, "payroll@2001"), (expired, "old@2001")]:
        await auth.add_user(
            A,
            login,
            kind="connector",
            second_factor="certificate",
            certificate_fingerprint=fingerprint(cert),
            topics=["mutations"],
        )
    await auth.add_user(
        A,
        "rev@2001",
        kind="connector",
        second_factor="certificate",
        certificate_fingerprint=fingerprint(auth.revoked_cert),
        topics=["mutations"],
    )

    async def present(cert: x509.Certificate) -> httpx.Response:
        return await auth.client.post(
            "/login/certificate", headers={"X-Client-Cert": header_value(cert)}
        )

    ok = await present(good)
    assert ok.status_code == 200, ok.text
    principal = auth.verifier().verify(ok.json()["access_token"])
    assert principal.level == 3 and principal.kind == "connector"
    assert principal.credential_id == fingerprint(good)
    for cert in (expired, stranger, auth.revoked_cert):
        refused = await present(cert)
        assert refused.status_code == 401, refused.text
    garbage = await auth.client.post("/login/certificate", headers={"X-Client-Cert": "%0Ajunk"})
    assert garbage.status_code == 401
    # a connector's password never signs in
    assert (await auth.password("payroll@2001")).status_code == 401
    lines = await auth.client.get(
        "/audit", params={"action": "login.certificate"}, headers=auth.operator()
    )
    assert {"failed:expired", "failed:untrusted", "failed:revoked"} <= {
        line["outcome"] for line in lines.json()
    }


def _junk(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(8 if depth < 2 else 5)
    if choice == 0:
        return rng.choice(["' OR 1=1 --", "\r\nX-Evil: 1", "\x00", "😀", "a" * 300, ""])
    if choice == 1:
        return rng.choice([0, -1, 2**63, 1e308, True])
    if choice == 2:
        return None
    if choice == 3:
        return str(uuid.uuid4())
    if choice == 4:
        return rng.choice(["mutations", "users", "+41791234567", "2025-13-40"])
    if choice == 5:
        return [_junk(rng, depth + 1) for _ in range(rng.randrange(3))]
    keys = [
        "login",
        "password",
        "code",
        "challenge_id",
        "refresh_token",
        "topics",
        "status",
        "ahv",
        "link_token",
        "old_password",
        "new_password",
        "second_factor",
    ]
    return {rng.choice(keys): _junk(rng, depth + 1) for _ in range(rng.randrange(4))}


async def test_fuzzed_requests_never_get_a_5xx(auth: Auth) -> None:
    """A seeded random fuzz of every route's body, path and headers, beside schemathesis
    (below): junk shaped like our own fields, and the certificate header on every route."""
    rng = random.Random(20250410)
    user = await auth.add_user(A, "fuzz@2001")
    routes = [
        ("POST", "/login/password"),
        ("POST", "/login/sms"),
        ("POST", "/login/totp"),
        ("POST", "/login/certificate"),
        ("POST", "/token/refresh"),
        ("PUT", f"/employers/{A}"),
        ("POST", f"/employers/{A}/users"),
        ("PATCH", f"/employers/{A}/users/{user['user_id']}"),
        ("GET", "/audit"),
        ("GET", f"/employers/{A}/users"),
        ("POST", f"/employers/{A}/invitations"),
        ("POST", "/invitations/redeem"),
        ("POST", "/login/step-up"),
        ("POST", "/me/password"),
    ]
    for i in range(210):
        method, path = routes[i % len(routes)]
        headers = auth.admin(A) if i % 3 == 0 else auth.operator() if i % 3 == 1 else {}
        if i % 5 == 0:
            headers["X-Client-Cert"] = urllib.parse.quote(str(_junk(rng)))
        r = await auth.client.request(method, path, json=_junk(rng), headers=headers)
        assert r.status_code < 500, (method, path, r.text)
    bad_path = await auth.client.get("/employers/0%27%20OR%201=1/users", headers=auth.admin(A))
    assert bad_path.status_code in (403, 404, 422)


async def test_a_waived_topic_goes_on_the_first_of_the_next_month(
    auth: Auth, bootstrap: str, prefix: str
) -> None:
    """ACCESS.md: received 2025-04-10, effective 2025-05-01; applied by the clock."""
    user = await auth.add_user(A, "jana@2001")
    r = await auth.client.post(f"/employers/{A}/topics/mutations/waiver", headers=auth.admin(A))
    assert r.status_code == 200, r.text
    assert r.json()["effective_on"] == "2025-05-01"
    pool = auth.runtime.pool
    assert pool is not None
    for day in (date(2025, 4, 30), date(2025, 5, 1)):
        event = DayStarted.new(
            occurred_at=NOW,
            employer_no=0,
            correlation_id="clock",
            payload=DayStartedPayload(business_date=day),
        )
        await publish(bootstrap, prefix, [event])

        async def seen(day: date = day) -> bool:
            return bool(await pool.fetchval("SELECT day FROM business_day") == day)

        await eventually(seen, what=f"the business day {day}")
        topics = await pool.fetchval(
            "SELECT topics FROM users WHERE user_id = $1", uuid.UUID(user["user_id"])
        )
        assert ("mutations" in topics) is (day < date(2025, 5, 1))


# -- private users (connect@Private) -------------------------------------------------------


def ahv_of(n: int) -> str:
    """A valid AHV number (756 + 9 digits + EAN-13 check digit), printed form."""
    digits = f"756{n:09d}"
    return ssn.format(digits + ean.calc_check_digit(digits))


async def invite(auth: Auth, employer_no: int, ahv: str) -> httpx.Response:
    return await auth.client.post(
        f"/employers/{employer_no}/invitations", json={"ahv": ahv}, headers=auth.admin(employer_no)
    )


async def redeem(auth: Auth, token: str, ahv: str, login: str, **extra: Any) -> httpx.Response:
    body = {"link_token": token, "ahv": ahv, "login": login, "password": PASSWORD, **extra}
    return await auth.client.post("/invitations/redeem", json=body)


def tamper_signature(token: str) -> str:
    head, claims, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{head}.{claims}.{flipped}"


async def test_an_invitation_link_makes_a_private_user_bound_to_one_ahv_number(
    auth: Auth,
) -> None:
    worker = ahv_of(1)
    bad = await invite(auth, A, "756.1234.5678.98")
    assert bad.status_code == 422 and bad.json()["code"] == "auth.ahv_invalid"
    level_2 = await auth.client.post(
        f"/employers/{A}/invitations", json={"ahv": worker}, headers=auth.admin(A, level=2)
    )
    assert level_2.status_code == 403 and level_2.json()["code"] == "access.step_up_required"

    r = await invite(auth, A, worker.replace(".", ""))  # 13 digits are the same number
    assert r.status_code == 201, r.text
    token = r.json()["link_token"]
    assert worker not in token and worker.replace(".", "") not in json.dumps(r.json())

    tampered = await redeem(auth, tamper_signature(token), worker, "paula@private")
    assert tampered.status_code == 400 and tampered.json()["code"] == "auth.invitation_invalid"
    other_key = SigningKey.generate().issue_link(
        now=NOW,
        invitation_id=uuid.UUID(r.json()["invitation_id"]),
        employer_no=A,
        expires_at=NOW + timedelta(days=1),
    )
    forged = await redeem(auth, other_key, worker, "paula@private")
    assert forged.status_code == 400 and forged.json()["code"] == "auth.invitation_invalid"
    # the link token is not an access token, nor the other way round
    as_access = await auth.client.get(
        f"/employers/{A}/users", headers={"Authorization": f"Bearer {token}"}
    )
    assert as_access.status_code == 401 and as_access.json()["code"] == "auth.invalid_token"
    access_token = auth.admin(A)["Authorization"].split(" ")[1]
    as_link = await redeem(auth, access_token, worker, "paula@private")
    assert as_link.status_code == 400 and as_link.json()["code"] == "auth.invitation_invalid"

    mismatch = await redeem(auth, token, ahv_of(2), "paula@private")
    assert mismatch.status_code == 403 and mismatch.json()["code"] == "auth.invitation_mismatch"
    weak = await redeem(auth, token, worker, "paula@private", password="password1234")
    assert weak.status_code == 422 and weak.json()["code"] == "auth.weak_password"

    ok = await redeem(auth, token, worker, "paula@private")
    assert ok.status_code == 201, ok.text
    assert ok.json()["kind"] == "private" and ok.json()["topics"] == []
    again = await redeem(auth, token, worker, "paula2@private")
    assert again.status_code == 410 and again.json()["code"] == "auth.invitation_used"
    twice = await invite(auth, A, worker)
    assert twice.status_code == 409 and twice.json()["code"] == "auth.private_user_exists"

    # password alone: a level-1 session whose token carries the worker's AHV number
    session = await auth.password("paula@private")
    assert session.status_code == 200, session.text
    assert session.json()["level"] == 1
    principal = auth.verifier().verify(session.json()["access_token"])
    assert principal.kind == "private" and principal.ahv == worker
    assert principal.employer_no == A and principal.level == 1 and principal.topics == set()
    refreshed = await auth.client.post(
        "/token/refresh", json={"refresh_token": session.json()["refresh_token"]}
    )
    assert auth.verifier().verify(refreshed.json()["access_token"]).ahv == worker

    # with a TOTP app: level 2
    r = await invite(auth, A, ahv_of(3))
    totp = await redeem(
        auth, r.json()["link_token"], ahv_of(3), "quirin@private", second_factor="totp"
    )
    assert totp.status_code == 201 and "otpauth_uri" in totp.json()
    challenge = await auth.password("quirin@private")
    assert challenge.json()["method"] == "totp"
    second = await auth.client.post(
        "/login/totp",
        json={
            "challenge_id": challenge.json()["challenge_id"],
            "code": totp_now(totp.json()["otpauth_uri"], auth.clock),
        },
    )
    assert second.status_code == 200 and second.json()["level"] == 2
    assert auth.verifier().verify(second.json()["access_token"]).ahv == ahv_of(3)


async def test_an_invitation_expires_and_wrong_ahv_numbers_use_it_up(auth: Auth) -> None:
    late = (await invite(auth, A, ahv_of(4))).json()["link_token"]
    guessed = (await invite(auth, A, ahv_of(5))).json()["link_token"]
    auth.clock.advance(timedelta(days=14))
    expired = await redeem(auth, late, ahv_of(4), "rosa@private")
    assert expired.status_code == 410 and expired.json()["code"] == "auth.invitation_expired"

    auth.clock.advance(timedelta(days=-1))
    for n in (6, 7, 8):
        wrong = await redeem(auth, guessed, ahv_of(n), "sven@private")
        assert wrong.json()["code"] == "auth.invitation_mismatch"
    spent = await redeem(auth, guessed, ahv_of(5), "sven@private")  # the right one, too late
    assert spent.status_code == 410 and spent.json()["code"] == "auth.invitation_used"

    audit = await auth.client.get(
        "/audit", params={"action": "invitation.redeem"}, headers=auth.operator()
    )
    outcomes = [line["outcome"] for line in audit.json()]
    assert "failed:expired" in outcomes and outcomes.count("failed:mismatch") == 3
    pool = auth.runtime.pool
    assert pool is not None
    lines = await pool.fetch("SELECT actor, outcome, detail::text, source FROM audit_log")
    text = json.dumps([dict(line) for line in lines])
    for n in range(4, 9):  # no AHV number in the audit log, in any form
        assert ahv_of(n) not in text and ahv_of(n).replace(".", "") not in text
    assert await pool.fetchval("SELECT count(*) FROM users WHERE kind = 'private'") == 0


async def test_a_private_user_reading_another_worker_is_refused(auth: Auth) -> None:
    """No route of intake, billing or dunning serves a private user yet (they all read an
    employer's data, for its staff). So the shared dependency is tested in a real FastAPI app
    over ASGI, with a token from the running auth service."""
    mine, theirs = ahv_of(11), ahv_of(12)
    link = (await invite(auth, A, mine)).json()["link_token"]
    assert (await redeem(auth, link, mine, "tina@private")).status_code == 201
    session = (await auth.password("tina@private")).json()
    bearer = {"Authorization": f"Bearer {session['access_token']}"}

    app = FastAPI()
    install_error_handlers(app)
    install_token_verifier(app, token_verifier_of(auth.app))

    @app.get("/employers/{employer_no}/workers/{ahv}/coverage")
    async def coverage(
        employer_no: int,
        ahv: str,
        principal: Annotated[Principal, Depends(require("private.read_own"))],
    ) -> dict[str, Any]:
        return {"ahv": ahv}

    @app.get("/me/contributions")
    async def contributions(
        principal: Annotated[Principal, Depends(require("private.read_own"))],
        ahv: str | None = None,
    ) -> dict[str, Any]:
        return {"ahv": principal.ahv}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://worker-data"
    ) as client:
        own = await client.get(f"/employers/{A}/workers/{mine}/coverage", headers=bearer)
        assert own.status_code == 200 and own.json() == {"ahv": mine}
        compact = await client.get(
            f"/employers/{A}/workers/{mine.replace('.', '')}/coverage", headers=bearer
        )
        assert compact.status_code == 200
        assert (await client.get("/me/contributions", headers=bearer)).json() == {"ahv": mine}
        refusals = [
            await client.get(f"/employers/{A}/workers/{theirs}/coverage", headers=bearer),
            await client.get(f"/employers/{A}/workers/756.0000.0000.00/coverage", headers=bearer),
            await client.get(f"/employers/{B}/workers/{mine}/coverage", headers=bearer),
            await client.get("/me/contributions", params={"ahv": theirs}, headers=bearer),
            await client.get(
                "/me/contributions", params=[("ahv", mine), ("ahv", theirs)], headers=bearer
            ),
        ]
        for refused in refusals:
            assert refused.status_code == 403, refused.text
            assert refused.json()["code"] == "access.denied"
        assert refusals[0].json() == refusals[1].json()  # no existence leak
    # nor any employer function of auth
    users = await auth.client.get(f"/employers/{A}/users", headers=bearer)
    assert users.status_code == 403 and users.json()["code"] == "access.denied"


# -- step-up -------------------------------------------------------------------------------


async def totp_session(auth: Auth, login: str, uri: str) -> dict[str, Any]:
    challenge = await auth.password(login)
    r = await auth.client.post(
        "/login/totp",
        json={"challenge_id": challenge.json()["challenge_id"], "code": totp_now(uri, auth.clock)},
    )
    assert r.status_code == 200, r.text
    session: dict[str, Any] = r.json()
    return session


async def test_a_level_two_session_steps_up_with_its_own_certificate(auth: Auth) -> None:
    cert, others = auth.ca.issue("uma"), auth.ca.issue("viktor")
    uma = await auth.add_user(
        A, "uma@2001", admin=True, topics=["users"], certificate_fingerprint=fingerprint(cert)
    )
    await auth.add_user(A, "viktor@2001", certificate_fingerprint=fingerprint(others))
    session = await totp_session(auth, "uma@2001", uma["otpauth_uri"])
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    users = f"/employers/{A}/users"
    needs = await auth.client.get(users, headers=bearer)
    assert needs.status_code == 403 and needs.json()["code"] == "access.step_up_required"

    async def step_up(cert: x509.Certificate | None, headers: dict[str, str]) -> httpx.Response:
        extra = {"X-Client-Cert": header_value(cert)} if cert is not None else {}
        return await auth.client.post("/login/step-up", headers=headers | extra)

    wrong_user = await step_up(others, bearer)
    assert wrong_user.status_code == 403 and wrong_user.json()["code"] == "auth.step_up_refused"
    revoked = await step_up(auth.revoked_cert, bearer)
    assert revoked.status_code == 401 and revoked.json()["code"] == "auth.certificate_refused"
    missing = await step_up(None, bearer)
    assert missing.status_code == 401 and missing.json()["code"] == "auth.certificate_refused"
    anonymous = await step_up(cert, {})
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "auth.missing_token"

    stepped = await step_up(cert, bearer)
    assert stepped.status_code == 200, stepped.text
    assert stepped.json()["level"] == 3
    before = auth.verifier().verify(session["access_token"])
    after = auth.verifier().verify(stepped.json()["access_token"])
    assert after.user_id == before.user_id == uma["user_id"] and after.level == 3
    assert after.methods == ("pwd", "otp", "x509") and after.session_id == before.session_id
    assert after.credential_id == fingerprint(cert)
    listed = await auth.client.get(
        users, headers={"Authorization": f"Bearer {stepped.json()['access_token']}"}
    )
    assert listed.status_code == 200
    # the refresh token of the stepped-up session stays at level 3
    again = await auth.client.post(
        "/token/refresh", json={"refresh_token": stepped.json()["refresh_token"]}
    )
    assert again.status_code == 200 and again.json()["level"] == 3

    # a private user (level 1) has no step-up
    link = (await invite(auth, A, ahv_of(21))).json()["link_token"]
    await redeem(auth, link, ahv_of(21), "wanda@private")
    private = (await auth.password("wanda@private")).json()["access_token"]
    refused = await step_up(cert, {"Authorization": f"Bearer {private}"})
    assert refused.status_code == 403 and refused.json()["code"] == "access.denied"

    audit = await auth.client.get("/audit", params={"action": "step-up"}, headers=auth.operator())
    assert {line["outcome"] for line in audit.json()} == {
        "ok",
        "failed:unbound",
        "failed:revoked",
        "failed:missing",
    }


# -- password change -----------------------------------------------------------------------


async def test_a_password_change_checks_the_old_one_and_revokes_refresh_tokens(
    auth: Auth,
) -> None:
    xaver = await auth.add_user(A, "xaver@2001")
    session = await totp_session(auth, "xaver@2001", xaver["otpauth_uri"])
    auth.clock.advance(timedelta(seconds=31))  # the next TOTP step
    other = await totp_session(auth, "xaver@2001", xaver["otpauth_uri"])
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    new = "a new and longer passphrase 8"

    async def change(old: str, new: str, headers: dict[str, str] = bearer) -> httpx.Response:
        return await auth.client.post(
            "/me/password", json={"old_password": old, "new_password": new}, headers=headers
        )

    wrong = await change("not the old one at all", new)
    assert wrong.status_code == 401 and wrong.json()["code"] == "auth.password_wrong"
    for weak in ("short", "password1234", "xaver@2001 is me", PASSWORD):
        refused = await change(PASSWORD, weak)
        assert refused.status_code == 422 and refused.json()["code"] == "auth.weak_password"
    assert (await change(PASSWORD, new, {})).status_code == 401

    pool = auth.runtime.pool
    assert pool is not None
    before = await pool.fetchval(
        "SELECT password_hash FROM users WHERE user_id = $1", uuid.UUID(xaver["user_id"])
    )
    auth.clock.advance(timedelta(seconds=5))
    ok = await change(PASSWORD, new)
    assert ok.status_code == 200, ok.text
    assert ok.json()["refresh_tokens_revoked"] == 2
    row = await pool.fetchrow(
        "SELECT password_hash, password_changed_at FROM users WHERE user_id = $1",
        uuid.UUID(xaver["user_id"]),
    )
    assert row is not None
    assert row["password_hash"] != before and row["password_hash"].startswith("$argon2id$")
    assert row["password_changed_at"] == auth.clock.now()
    for old_session in (session, other):
        gone = await auth.client.post(
            "/token/refresh", json={"refresh_token": old_session["refresh_token"]}
        )
        assert gone.status_code == 401 and gone.json()["code"] == "auth.refresh_invalid"
    assert (await auth.password("xaver@2001")).status_code == 401
    assert (await auth.password("xaver@2001", new)).status_code == 200

    # a private user changes theirs at level 1
    link = (await invite(auth, A, ahv_of(31))).json()["link_token"]
    await redeem(auth, link, ahv_of(31), "yara@private")
    private = (await auth.password("yara@private")).json()["access_token"]
    mine = await change(PASSWORD, new, {"Authorization": f"Bearer {private}"})
    assert mine.status_code == 200, mine.text

    audit = await auth.client.get(
        "/audit", params={"action": "password.change"}, headers=auth.operator()
    )
    assert [line["outcome"] for line in audit.json()] == ["ok", "ok", "failed"]
    lines = json.dumps([dict(r) for r in await pool.fetch("SELECT detail::text FROM audit_log")])
    assert PASSWORD not in lines and new not in lines


async def test_wrong_old_passwords_lock_the_password_change_too(auth: Auth) -> None:
    zora = await auth.add_user(A, "zora@2001")
    session = await totp_session(auth, "zora@2001", zora["otpauth_uri"])
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    codes = []
    for _ in range(11):
        auth.clock.advance(timedelta(seconds=31))
        r = await auth.client.post(
            "/me/password",
            json={"old_password": "guess guess guess", "new_password": "whatever it is 99"},
            headers=bearer,
        )
        codes.append(r.json()["code"])
    assert codes[0] == "auth.password_wrong" and codes[-1] == "auth.locked"


# -- key rotation --------------------------------------------------------------------------


async def test_a_rotated_key_signs_new_tokens_and_the_old_one_stays_until_they_expire(
    auth: Auth, start_runtime: StartRuntime, prefix: str, tmp_path: Path
) -> None:
    """The new key was published ahead of its use: billing, which verifies with the JWKS file
    it loaded at its start, accepts its tokens at once, without loading the keys again."""
    settings = fast_settings(
        prefix, data_dir=tmp_path, auth_jwks_file=tmp_path / "auth-dev-key" / "jwks.json"
    )
    billing = await start_runtime(spec_of("billing"), settings=settings, clock=auth.clock)
    billing_verifier = token_verifier_of(create_app(billing))
    user = await auth.add_user(A, "adam@2001", topics=["contributions", "users"], admin=True)
    old_session = await totp_session(auth, "adam@2001", user["otpauth_uri"])
    link = (await invite(auth, A, ahv_of(41))).json()["link_token"]
    old_kid = auth.key.kid
    ahead = [k["kid"] for k in (await auth.client.get("/.well-known/jwks.json")).json()["keys"]]
    assert ahead[0] == old_kid and len(ahead) == 2
    billing_keys = billing_verifier.keys
    assert isinstance(billing_keys, RefreshingKeySet)
    loads = billing_keys.loads

    refused = await auth.client.post("/keys/rotate", headers=auth.admin(A))
    assert refused.status_code == 403
    r = await auth.client.post("/keys/rotate", headers=auth.operator())
    assert r.status_code == 200, r.text
    new_kid = r.json()["kid"]
    assert r.json()["retired_kid"] == old_kid != new_kid == ahead[1]
    jwks = (await auth.client.get("/.well-known/jwks.json")).json()
    next_kid = jwks["keys"][1]["kid"]
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, next_kid, old_kid]
    assert all("d" not in k for k in jwks["keys"])
    new_key = SigningKey.load_or_create(tmp_path / "auth-dev-key")
    assert new_key.kid == new_kid
    at_once = new_key.issue(
        now=auth.clock.now(),
        user_id=uuid.UUID(user["user_id"]),
        kind="admin",
        employer_no=A,
        topics=["users"],
        level=2,
    )
    assert billing_verifier.verify(at_once).user_id == user["user_id"]  # no load needed
    assert billing_keys.loads == loads

    auth.clock.advance(timedelta(seconds=31))  # past the TOTP step and the refresh interval
    new_session = await totp_session(auth, "adam@2001", user["otpauth_uri"])
    assert new_session["access_token"].split(".")[0] != old_session["access_token"].split(".")[0]
    for session in (old_session, new_session):  # both verify, at auth and at billing
        principal = await billing_verifier.verify_async(session["access_token"])
        assert principal.user_id == user["user_id"]
        assert (await auth.verifier().verify_async(session["access_token"])).level == 2
    # a link signed with the old key still redeems
    redeemed = await redeem(auth, link, ahv_of(41), "bea@private")
    assert redeemed.status_code == 201, redeemed.text

    # once every token of the old key has expired, the JWKS no longer has it
    auth.clock.advance(timedelta(minutes=17))
    jwks = (await auth.client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, next_kid]
    published = json.loads((tmp_path / "auth-dev-key" / "jwks.json").read_text())
    assert [k["kid"] for k in published["keys"]] == [new_kid, next_kid]
    audit = await auth.client.get(
        "/audit", params={"action": "key.rotate"}, headers=auth.operator()
    )
    assert [line["outcome"] for line in audit.json()] == ["ok"]


# -- schemathesis over the OpenAPI document ------------------------------------------------

#: Examples per operation and generation mode: about 20 operations, 2 modes, this many each: < 60 s.
SCHEMATHESIS_EXAMPLES = 12


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
async def test_schemathesis_finds_no_server_error(auth: Auth) -> None:
    """Every operation of auth's OpenAPI document, with data that fits it (positive) and data
    that does not (negative), anonymous, as an operator and as employer A's admin, against
    the app in this process on the real Postgres. Hypothesis runs in a worker thread; each
    request is sent on the test's event loop, where the database pool lives."""
    schema = schemathesis.openapi.from_dict(auth.app.openapi())
    loop = asyncio.get_running_loop()
    await auth.add_user(A, "schema@2001")
    identities = [{}, auth.operator(), auth.admin(A)]
    calls: list[int] = []

    async def send(kwargs: dict[str, Any]) -> httpx.Response:
        body: dict[str, Any] = {k: kwargs[k] for k in ("json", "files") if k in kwargs}
        if "data" in kwargs:
            body["content" if isinstance(kwargs["data"], bytes | str) else "data"] = kwargs["data"]
        return await auth.client.request(
            kwargs["method"],
            kwargs["url"],
            params=kwargs.get("params"),
            headers=kwargs.get("headers"),
            **body,
        )

    def fuzz(
        operation: schemathesis.APIOperation[Any, Any, Any, Any], mode: schemathesis.GenerationMode
    ) -> None:
        fixed = {"employer_no": A} if "{employer_no}" in operation.path else None

        @hypothesis.settings(
            max_examples=SCHEMATHESIS_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(
            case=operation.as_strategy(generation_mode=mode, path_parameters=fixed),
            identity=hypothesis.strategies.sampled_from(identities),
        )
        def one(case: schemathesis.Case[Any], identity: dict[str, str]) -> None:
            kwargs = case.as_transport_kwargs(base_url="http://auth", headers=identity)
            try:
                response = asyncio.run_coroutine_threadsafe(send(kwargs), loop).result(30)
            except (httpx.LocalProtocolError, UnicodeEncodeError, ValueError, TypeError):
                hypothesis.reject()  # a request httpx will not send: not the server's doing
            calls.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])
            if response.status_code >= 400 and operation.path not in ("/readyz",):
                error = response.json()
                assert set(error) >= {"code", "message"}, (case.method, case.path, error)

        try:
            one()
        except hypothesis.errors.Unsatisfiable:
            unsatisfiable.append(f"{mode.value} {operation.method.upper()} {operation.path}")

    unsatisfiable: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            await asyncio.to_thread(fuzz, operation, mode)
    assert len(calls) > 100 and max(calls) < 500
    # nothing to break in a request without parameters or body: no negative case exists
    assert all(u.startswith("negative ") for u in unsatisfiable), unsatisfiable
    print(f"schemathesis: {len(calls)} requests; no negative case for {unsatisfiable}")
