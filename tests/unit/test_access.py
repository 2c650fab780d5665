"""Bearer tokens and the access policy (ACCESS.md), through a small FastAPI app."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.events.auth import UserChanged, UserChangedPayload
from services.runtime.access import (
    MAX_LIFETIME_S,
    POLICY,
    AccessDenied,
    JwksError,
    KeySet,
    Principal,
    RefreshingKeySet,
    Requirement,
    Revocations,
    TokenVerifier,
    apply_user_changed,
    authorize,
    build_token_verifier,
    check_policy,
    fetch_url,
    install_token_verifier,
    require,
)
from services.runtime.clock import FixedClock
from services.runtime.errors import ApiError, install_error_handlers
from services.runtime.settings import Settings
from tests.support.tokens import TEST_AHV, TokenMint, b64url, b64url_json

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
OWN = 4711  # the employer of the tokens minted below
OTHER = 4712  # another employer that exists
MISSING = 999_999  # an employer number nobody has
EXISTING = {OWN, OTHER}


@dataclass
class World:
    clock: FixedClock
    mint: TokenMint
    revocations: Revocations
    verifier: TokenVerifier
    client: TestClient


def principal_json(principal: Principal) -> dict[str, Any]:
    return {
        "user_id": principal.user_id,
        "kind": principal.kind,
        "employer_no": principal.employer_no,
        "topics": sorted(principal.topics),
        "level": principal.level,
    }


def make_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_token_verifier(app, verifier)

    def known(employer_no: int) -> None:
        """What a handler does after access was granted: look the employer up."""
        if employer_no not in EXISTING:
            raise ApiError(404, "employer.unknown", "There is no such employer.")

    @app.post("/employers/{employer_no}/lists")
    async def upload(
        employer_no: int, principal: Annotated[Principal, Depends(require("list.upload"))]
    ) -> dict[str, Any]:
        known(employer_no)
        return principal_json(principal)

    @app.get("/employers/{employer_no}/invoices")
    async def invoices(
        employer_no: int, principal: Annotated[Principal, Depends(require("invoices.read"))]
    ) -> dict[str, Any]:
        known(employer_no)
        return principal_json(principal)

    @app.put("/employers/{employer_no}/bank")
    async def bank(
        employer_no: int,
        principal: Annotated[Principal, Depends(require("employer.change_bank_or_address"))],
    ) -> dict[str, Any]:
        known(employer_no)
        return principal_json(principal)

    @app.get("/messages")
    async def messages(
        principal: Annotated[Principal, Depends(require("messages.read"))],
    ) -> dict[str, Any]:
        return principal_json(principal)

    @app.get("/me/coverage")
    async def own_coverage(
        principal: Annotated[Principal, Depends(require("private.read_own"))],
    ) -> dict[str, Any]:
        return principal_json(principal) | {"ahv": principal.ahv}

    @app.get("/operator/affiliations")
    async def affiliations(
        principal: Annotated[Principal, Depends(require("operator"))],
    ) -> dict[str, Any]:
        return principal_json(principal)

    return app


@pytest.fixture
def world() -> Iterator[World]:
    clock = FixedClock(NOW)
    mint = TokenMint(clock=clock)
    revocations = Revocations()
    verifier = TokenVerifier(
        mint.key_set(),
        issuer="bvgconnect-auth",
        audience="bvgconnect",
        clock=clock,
        revocations=revocations,
    )
    with TestClient(make_app(verifier), raise_server_exceptions=False) as client:
        yield World(clock, mint, revocations, verifier, client)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


UPLOAD = f"/employers/{OWN}/lists"

# -- happy paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "claims"),
    [
        ("POST", UPLOAD, {}),
        ("POST", UPLOAD, {"kind": "connector", "level": 3, "topics": ["mutations"]}),
        ("GET", f"/employers/{OWN}/invoices", {"topics": ["contributions"]}),
        ("PUT", f"/employers/{OWN}/bank", {"kind": "admin", "level": 3, "topics": ["users"]}),
        ("GET", "/messages", {"topics": ["messages"]}),
        ("GET", "/me/coverage", {"kind": "private", "level": 1, "topics": []}),
        ("GET", "/operator/affiliations", {"kind": "operator", "level": 3, "topics": []}),
    ],
    ids=["upload", "connector", "invoices", "admin-bank-L3", "messages", "private-L1", "operator"],
)
def test_a_valid_token_may_use_its_functions(
    world: World, method: str, path: str, claims: dict[str, Any]
) -> None:
    sub = str(uuid.uuid4())
    response = world.client.request(
        method, path, headers=bearer(world.mint.mint(sub=sub, **claims))
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user_id"] == sub
    assert body["kind"] == claims.get("kind", "connect")
    assert body["employer_no"] == (None if claims.get("kind") == "operator" else OWN)


def test_the_principal_carries_what_the_token_says(world: World) -> None:
    token = world.mint.mint(kind="private", level=1, topics=[], cid="cert-1")
    principal = world.verifier.verify(token)
    assert principal.ahv == TEST_AHV
    assert principal.level == 1 and principal.methods == ("pwd",)
    assert principal.credential_id == "cert-1"
    assert principal.expires_at - principal.issued_at == 600


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer", "bEaReR"])
def test_the_scheme_is_case_insensitive(world: World, scheme: str) -> None:
    token = world.mint.mint()
    response = world.client.post(UPLOAD, headers={"Authorization": f"{scheme}  {token} "})
    assert response.status_code == 200


def test_a_list_audience_containing_ours_is_accepted(world: World) -> None:
    token = world.mint.mint(aud=["bvgconnect", "elsewhere"])
    assert world.client.post(UPLOAD, headers=bearer(token)).status_code == 200


def test_clock_skew_within_the_leeway_is_tolerated(world: World) -> None:
    expired_10_s_ago = world.mint.mint(now=NOW - timedelta(seconds=610))
    issued_10_s_ahead = world.mint.mint(now=NOW + timedelta(seconds=10))
    for token in (expired_10_s_ago, issued_10_s_ahead):
        assert world.client.post(UPLOAD, headers=bearer(token)).status_code == 200


def test_tokens_of_every_published_key_are_accepted_during_a_rotation() -> None:
    clock = FixedClock(NOW)
    old, new = TokenMint(kid="2025-02", clock=clock), TokenMint(kid="2025-03", clock=clock)
    verifier = TokenVerifier(
        old.key_set(new), issuer="bvgconnect-auth", audience="bvgconnect", clock=clock
    )
    assert verifier.verify(old.mint()).kind == verifier.verify(new.mint()).kind == "connect"


# -- the attack table ----------------------------------------------------------------------

HeaderFactory = Callable[[TokenMint], list[tuple[str, str]]]


def auth(make: Callable[[TokenMint], str]) -> HeaderFactory:
    return lambda mint: [("Authorization", f"Bearer {make(mint)}")]


def raw(value: str) -> HeaderFactory:
    return lambda mint: [("Authorization", value)]


def with_header(**fields: Any) -> Callable[[TokenMint], str]:
    return lambda m: m.sign_raw(
        {"alg": "EdDSA", "typ": "at+jwt", "kid": m.kid} | fields, m.claims()
    )


def without_header_field(name: str) -> Callable[[TokenMint], str]:
    def make(m: TokenMint) -> str:
        header = {"alg": "EdDSA", "typ": "at+jwt", "kid": m.kid}
        del header[name]
        return m.sign_raw(header, m.claims())

    return make


def embedded_attacker_key(m: TokenMint) -> str:
    attacker = TokenMint(kid=m.kid, clock=m.clock)
    return attacker.sign(attacker.claims(), headers={"jwk": attacker.jwk(), "jku": "http://x/"})


def rs256_label(m: TokenMint) -> str:
    return m.sign_raw({"alg": "RS256", "typ": "at+jwt", "kid": m.kid}, m.claims())


def padded(m: TokenMint) -> str:
    header, claims, signature = m.mint().split(".")
    return f"{header}.{claims}.{signature}=="


def signature_of_another_token(m: TokenMint) -> str:
    header, claims, _ = m.mint(employer_no=OTHER).split(".")
    return f"{header}.{claims}.{m.mint().split('.')[2]}"


ATTACKS: list[tuple[str, HeaderFactory, str]] = [
    ("no header", lambda m: [], "auth.missing_token"),
    ("empty header", raw(""), "auth.missing_token"),
    ("scheme only", raw("Bearer"), "auth.missing_token"),
    ("scheme and blanks", raw("Bearer    "), "auth.missing_token"),
    ("basic scheme", raw("Basic dXNlcjpwYXNz"), "auth.missing_token"),
    ("token without scheme", lambda m: [("Authorization", m.mint())], "auth.missing_token"),
    ("two headers", lambda m: [("Authorization", f"Bearer {m.mint()}")] * 2, "auth.invalid_token"),
    ("garbage", raw("Bearer garbage"), "auth.invalid_token"),
    ("two parts", raw("Bearer aaa.bbb"), "auth.invalid_token"),
    ("four parts", raw("Bearer aaa.bbb.ccc.ddd"), "auth.invalid_token"),
    ("not base64", raw("Bearer a$a.b%b.c&c"), "auth.invalid_token"),
    ("not json", raw("Bearer YWJj.YWJj.YWJj"), "auth.invalid_token"),
    ("json array header", raw(f"Bearer {b64url_json([1])}.e30.AAAA"), "auth.invalid_token"),
    ("sql injection", raw("Bearer ' OR 1=1 --"), "auth.invalid_token"),
    ("log4shell", raw("Bearer ${jndi:ldap://evil/a}"), "auth.invalid_token"),
    ("huge", raw("Bearer " + "A" * 100_000), "auth.invalid_token"),
    ("padding", auth(padded), "auth.invalid_token"),
    ("alg none", auth(lambda m: m.alg_none()), "auth.invalid_token"),
    ("alg None", auth(lambda m: m.alg_none(alg="None")), "auth.invalid_token"),
    ("alg NONE + sig", auth(lambda m: m.alg_none(alg="NONE") + "AAAA"), "auth.invalid_token"),
    ("hs256, raw public key", auth(lambda m: m.hs256_with_public_key()), "auth.invalid_token"),
    (
        "hs256, public key PEM",
        auth(lambda m: m.hs256_with_public_key(m.public_pem)),
        "auth.invalid_token",
    ),
    (
        "hs256, public key x",
        auth(lambda m: m.hs256_with_public_key(m.jwk()["x"].encode())),
        "auth.invalid_token",
    ),
    ("rs256 label", auth(rs256_label), "auth.invalid_token"),
    ("another key", auth(lambda m: m.signed_by_other_key()), "auth.invalid_token"),
    ("embedded jwk/jku", auth(embedded_attacker_key), "auth.invalid_token"),
    ("unknown kid", auth(with_header(kid="nobody")), "auth.invalid_token"),
    ("kid not a string", auth(with_header(kid=7)), "auth.invalid_token"),
    ("no kid", auth(without_header_field("kid")), "auth.invalid_token"),
    ("no typ", auth(without_header_field("typ")), "auth.invalid_token"),
    ("id token typ", auth(with_header(typ="JWT")), "auth.invalid_token"),
    ("crit header", auth(with_header(crit=["exp"])), "auth.invalid_token"),
    ("signature swapped", auth(signature_of_another_token), "auth.invalid_token"),
    ("expired", auth(lambda m: m.expired()), "auth.token_expired"),
    ("lifetime 15 min + 1 s", auth(lambda m: m.mint(lifetime_s=901)), "auth.invalid_token"),
    ("lifetime a day", auth(lambda m: m.mint(lifetime_s=86_400)), "auth.invalid_token"),
    (
        "issued in the future",
        auth(lambda m: m.mint(now=NOW + timedelta(hours=1))),
        "auth.invalid_token",
    ),
    (
        "nbf in the future",
        auth(lambda m: m.mint(nbf=int(NOW.timestamp()) + 300)),
        "auth.invalid_token",
    ),
    ("exp before iat", auth(lambda m: m.mint(lifetime_s=-60)), "auth.invalid_token"),
    ("wrong issuer", auth(lambda m: m.mint(iss="evil-auth")), "auth.invalid_token"),
    ("wrong audience", auth(lambda m: m.mint(aud="other-suite")), "auth.invalid_token"),
    ("no audience", auth(lambda m: m.mint(aud=None)), "auth.invalid_token"),
    (
        "tampered employer",
        auth(lambda m: m.tampered(m.mint(employer_no=OTHER), emp=OWN)),
        "auth.invalid_token",
    ),
    (
        "tampered level",
        auth(lambda m: m.tampered(m.mint(topics=["mutations"]), acr="3", amr=["x509"])),
        "auth.invalid_token",
    ),
    (
        "tampered expiry",
        auth(lambda m: m.tampered(m.expired(), exp=int(NOW.timestamp()) + 60)),
        "auth.invalid_token",
    ),
    ("sub not a uuid", auth(lambda m: m.mint(sub="admin")), "auth.invalid_token"),
    (
        "sub upper-case uuid",
        auth(lambda m: m.mint(sub=str(uuid.uuid4()).upper())),
        "auth.invalid_token",
    ),
    ("unknown kind", auth(lambda m: m.mint(kind="root")), "auth.invalid_token"),
    ("kind a list", auth(lambda m: m.sign(m.claims() | {"kind": ["admin"]})), "auth.invalid_token"),
    ("acr a list", auth(lambda m: m.mint(acr=["3"])), "auth.invalid_token"),
    ("acr 4", auth(lambda m: m.mint(acr="4")), "auth.invalid_token"),
    ("no employer", auth(lambda m: m.mint(employer_no=None)), "auth.invalid_token"),
    ("employer a string", auth(lambda m: m.mint(emp=str(OWN))), "auth.invalid_token"),
    ("employer true", auth(lambda m: m.mint(emp=True)), "auth.invalid_token"),
    (
        "operator with employer",
        auth(lambda m: m.mint(kind="operator", emp=OWN)),
        "auth.invalid_token",
    ),
    ("private without ahv", auth(lambda m: m.mint(kind="private", ahv=None)), "auth.invalid_token"),
    ("ahv on a connect user", auth(lambda m: m.mint(ahv=TEST_AHV)), "auth.invalid_token"),
    ("iat huge", auth(lambda m: m.mint(iat=10**400, exp=10**400 + 60)), "auth.invalid_token"),
    ("no jti", auth(lambda m: m.mint(jti=None)), "auth.invalid_token"),
    ("no sid", auth(lambda m: m.mint(sid=None)), "auth.invalid_token"),
    ("amr empty", auth(lambda m: m.mint(amr=[])), "auth.invalid_token"),
    (
        "topics a string",
        auth(lambda m: m.sign(m.claims() | {"topics": "mutations"})),
        "auth.invalid_token",
    ),
]


@pytest.mark.parametrize(("headers", "code"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_attacks_are_refused_with_401(world: World, headers: HeaderFactory, code: str) -> None:
    sent = headers(world.mint)
    response = world.client.post(UPLOAD, headers=sent)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == code
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert set(response.json()) == {"code", "message"}
    for _, value in sent:  # the token is never echoed
        if len(value) > 12:
            assert value.removeprefix("Bearer ") not in response.text


def test_a_missing_token_gets_the_plain_challenge(world: World) -> None:
    response = world.client.post(UPLOAD)
    assert response.headers["www-authenticate"] == "Bearer"
    bad = world.client.post(UPLOAD, headers=bearer("garbage"))
    assert bad.headers["www-authenticate"] == 'Bearer error="invalid_token"'


# -- employer, kind, topic, level ----------------------------------------------------------


def test_another_employers_data_is_refused_exactly_as_a_missing_employers(world: World) -> None:
    token = world.mint.mint()  # employer OWN
    other = world.client.post(f"/employers/{OTHER}/lists", headers=bearer(token))
    missing = world.client.post(f"/employers/{MISSING}/lists", headers=bearer(token))
    assert other.status_code == missing.status_code == 403
    assert other.json() == missing.json()
    assert other.json()["code"] == "access.denied"
    assert dict(other.headers) == dict(missing.headers)


@pytest.mark.parametrize("path_employer", ["abc", "-1", "+4711", "4711.0", "٤٧١١", "9" * 40])
def test_a_malformed_employer_in_the_path_is_refused_not_crashed(
    world: World, path_employer: str
) -> None:
    response = world.client.post(
        f"/employers/{path_employer}/lists", headers=bearer(world.mint.mint())
    )
    assert response.status_code == 403
    assert response.json()["code"] == "access.denied"


def test_a_missing_topic_is_refused(world: World) -> None:
    token = world.mint.mint(topics=["messages"])
    response = world.client.post(UPLOAD, headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["code"] == "access.topic"
    assert "mutations" in response.json()["message"]


def test_level_2_on_a_level_3_function_asks_for_a_step_up(world: World) -> None:
    token = world.mint.mint(kind="admin", level=2, topics=["users"])
    response = world.client.put(f"/employers/{OWN}/bank", headers=bearer(token))
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "access.step_up_required"
    assert body["required_level"] == 3 and body["current_level"] == 2
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_user_authentication", acr_values="3"'
    )


def test_a_private_user_at_level_1_cannot_use_an_employer_function(world: World) -> None:
    token = world.mint.mint(kind="private", level=1, topics=["mutations"])
    response = world.client.post(UPLOAD, headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["code"] == "access.denied"  # not a step-up: no level would help


@pytest.mark.parametrize("path", [UPLOAD, f"/employers/{OWN}/invoices", "/messages"])
def test_an_operator_cannot_use_an_employer_function(world: World, path: str) -> None:
    token = world.mint.mint(kind="operator", level=3, topics=["mutations", "contributions"])
    response = world.client.request(
        "GET" if "lists" not in path else "POST", path, headers=bearer(token)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "access.denied"


def test_employer_staff_cannot_use_operator_or_private_functions(world: World) -> None:
    token = world.mint.mint(kind="admin", level=3, topics=["users", "mutations"])
    for path in ("/operator/affiliations", "/me/coverage"):
        response = world.client.get(path, headers=bearer(token))
        assert response.status_code == 403 and response.json()["code"] == "access.denied"


#: A connect user's principal with nothing granted, signed in with a password alone.
WEAKEST = Principal(
    user_id=str(uuid.UUID(int=1)),
    kind="connect",
    employer_no=OWN,
    topics=frozenset(),
    methods=("pwd",),
    level=1,
    ahv=None,
    issued_at=0,
    expires_at=600,
    token_id="t",
    session_id="s",
    credential_id=None,
)


def test_the_checks_run_in_order_employer_kind_topic_level() -> None:
    requirement = POLICY["users.manage"]
    refusals = []
    for principal, employer_no in [
        (WEAKEST, OTHER),
        (WEAKEST, OWN),
        (replace(WEAKEST, kind="admin"), OWN),
        (replace(WEAKEST, kind="admin", topics=frozenset({"users"})), OWN),
    ]:
        with pytest.raises(AccessDenied) as refused:
            authorize(principal, requirement, employer_no=employer_no)
        refusals.append((refused.value.code, refused.value.message))
    assert refusals[0] == ("access.denied", "You may not access this employer's data.")
    assert refusals[1] == ("access.denied", "Your kind of account cannot use this function.")
    assert refusals[2][0] == "access.topic"
    assert refusals[3][0] == "access.step_up_required"


def test_an_operator_may_act_for_any_employer_where_the_policy_says_so() -> None:
    operator = replace(WEAKEST, kind="operator", employer_no=None, methods=("x509",), level=3)
    authorize(operator, POLICY["operator"], employer_no=OWN)
    with pytest.raises(AccessDenied):
        authorize(operator, POLICY["coverage.read"], employer_no=OWN)


@pytest.mark.parametrize(
    ("workers", "allowed"),
    [
        ((), True),  # the handler scopes by principal.ahv
        (("756.1234.5678.97",), True),
        (("7561234567897",), True),
        (("756.1234.5678.97", "756.9217.0769.85"), False),
        (("756.9217.0769.85",), False),
        (("",), False),
    ],
    ids=["none-named", "own", "own-compact", "own-and-other", "other", "empty"],
)
def test_a_private_user_may_name_only_their_own_ahv_number(
    workers: tuple[str, ...], allowed: bool
) -> None:
    private = replace(WEAKEST, kind="private", ahv="756.1234.5678.97")
    if allowed:
        authorize(private, POLICY["private.read_own"], employer_no=OWN, workers=workers)
        return
    with pytest.raises(AccessDenied) as refused:
        authorize(private, POLICY["private.read_own"], employer_no=OWN, workers=workers)
    assert refused.value.status == 403 and refused.value.code == "access.denied"


# -- revocations ---------------------------------------------------------------------------


def user_changed(
    user_id: str,
    *,
    status: str = "active",
    topics: list[str] | None = None,
    revoked: list[str] | None = None,
    at: datetime = NOW,
) -> UserChanged:
    payload = UserChangedPayload.model_validate(
        {
            "user_id": user_id,
            "kind": "connect",
            "status": status,
            "topics": topics if topics is not None else ["mutations", "messages"],
            "revoked_credential_ids": revoked or [],
            "changed_at": at,
        }
    )
    return UserChanged.new(
        occurred_at=at, employer_no=OWN, correlation_id="user-admin-1", payload=payload
    )


def test_a_deregistered_users_still_valid_token_is_refused(world: World) -> None:
    user = str(uuid.uuid4())
    token = world.mint.mint(sub=user, now=NOW - timedelta(minutes=2))
    assert world.client.post(UPLOAD, headers=bearer(token)).status_code == 200  # now cached
    apply_user_changed(world.revocations, user_changed(user, status="deregistered", topics=[]))
    response = world.client.post(UPLOAD, headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["code"] == "auth.token_revoked"
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    others = world.mint.mint(now=NOW - timedelta(minutes=2))
    assert world.client.post(UPLOAD, headers=bearer(others)).status_code == 200


def test_a_revoked_certificate_is_refused(world: World) -> None:
    user = str(uuid.uuid4())
    token = world.mint.mint(sub=user, kind="connector", level=3, cid="sha256:ab12", now=NOW)
    assert world.client.post(UPLOAD, headers=bearer(token)).status_code == 200
    event = user_changed(user, revoked=["sha256:ab12"], at=NOW + timedelta(seconds=5))
    apply_user_changed(world.revocations, event)
    response = world.client.post(UPLOAD, headers=bearer(token))
    assert response.json()["code"] == "auth.token_revoked"
    renewed = world.mint.mint(
        sub=user, kind="connector", level=3, cid="sha256:cd34", now=NOW + timedelta(seconds=6)
    )
    assert world.client.post(UPLOAD, headers=bearer(renewed)).status_code == 200


def test_a_withdrawn_topic_is_lost_by_tokens_issued_before(world: World) -> None:
    user = str(uuid.uuid4())
    token = world.mint.mint(sub=user, topics=["mutations", "contributions"], now=NOW)
    assert world.client.post(UPLOAD, headers=bearer(token)).status_code == 200
    world.clock.advance(timedelta(minutes=1))
    withdrawn = user_changed(user, topics=["contributions"], at=NOW + timedelta(seconds=30))
    apply_user_changed(world.revocations, withdrawn)
    response = world.client.post(UPLOAD, headers=bearer(token))
    assert response.status_code == 403 and response.json()["code"] == "access.topic"
    invoices = world.client.get(f"/employers/{OWN}/invoices", headers=bearer(token))
    assert invoices.status_code == 200 and invoices.json()["topics"] == ["contributions"]


def test_a_change_counts_only_for_tokens_issued_before_it(world: World) -> None:
    user = str(uuid.uuid4())
    world.revocations.revoke_user(user, NOW - timedelta(minutes=5))
    world.revocations.set_topics(user, [], NOW - timedelta(minutes=5))
    token = world.mint.mint(sub=user)  # issued after: a re-registered user, re-granted topics
    assert world.client.post(UPLOAD, headers=bearer(token)).status_code == 200


def test_an_older_topic_change_arriving_late_does_not_win() -> None:
    revocations = Revocations()
    user = uuid.uuid4()
    revocations.set_topics(user, ["mutations"], NOW)
    revocations.set_topics(user, [], NOW - timedelta(minutes=1))
    principal = TokenVerifier(
        (mint := TokenMint(clock=FixedClock(NOW))).key_set(),
        issuer="bvgconnect-auth",
        audience="bvgconnect",
        clock=FixedClock(NOW + timedelta(minutes=1)),
        revocations=revocations,
    ).verify(
        mint.mint(sub=str(user), topics=["mutations", "messages"], now=NOW - timedelta(minutes=2))
    )
    assert principal.topics == {"mutations"}


def test_old_revocations_are_forgotten() -> None:
    revocations = Revocations()
    for i in range(2048):
        revocations.revoke_user(uuid.UUID(int=i), NOW + timedelta(seconds=i))
    assert len(revocations._users) < 2048


# -- the cache -----------------------------------------------------------------------------


def test_a_cached_token_still_expires(world: World) -> None:
    token = world.mint.mint(lifetime_s=600)
    assert world.client.post(UPLOAD, headers=bearer(token)).status_code == 200
    world.clock.advance(timedelta(seconds=600 + 30))
    response = world.client.post(UPLOAD, headers=bearer(token))
    assert response.json()["code"] == "auth.token_expired"


def test_a_cached_token_of_a_withdrawn_key_is_refused() -> None:
    clock = FixedClock(NOW)
    mint = TokenMint(clock=clock)
    keys = RefreshingKeySet(
        lambda: json.dumps(served).encode(), clock=clock, min_interval_s=10, max_age_s=60
    )
    served: dict[str, Any] = mint.jwks()
    keys.load_now()
    verifier = TokenVerifier(keys, issuer="bvgconnect-auth", audience="bvgconnect", clock=clock)
    token = mint.mint()
    verifier.verify(token)
    served = {"keys": []}
    clock.advance(timedelta(seconds=61))
    keys._refresh_blocking(None)
    with pytest.raises(AccessDenied, match="unknown key"):
        verifier.verify(token)


def test_the_cache_is_bounded() -> None:
    clock = FixedClock(NOW)
    mint = TokenMint(clock=clock)
    verifier = TokenVerifier(
        mint.key_set(), issuer="bvgconnect-auth", audience="bvgconnect", clock=clock, cache_size=3
    )
    for _ in range(10):
        verifier.verify(mint.mint())
    assert len(verifier._cache) == 3


# -- keys ----------------------------------------------------------------------------------


def test_a_jwks_with_private_key_material_is_refused() -> None:
    mint = TokenMint()
    leaked = mint.jwk() | {"d": b64url(b"\x01" * 32)}
    with pytest.raises(JwksError, match="private key"):
        KeySet.from_jwks({"keys": [leaked]})


@pytest.mark.parametrize(
    ("jwks", "problem"),
    [
        ({}, "list `keys`"),
        ({"keys": "x"}, "list `keys`"),
        ({"keys": [1]}, "object"),
        ({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}]}, "kid"),
        ({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "short", "kid": "a"}]}, "`x`"),
    ],
)
def test_malformed_jwks_are_refused(jwks: dict[str, Any], problem: str) -> None:
    with pytest.raises(JwksError, match=problem):
        KeySet.from_jwks(jwks)


def test_duplicate_key_ids_are_refused_and_other_key_types_skipped() -> None:
    a, b = TokenMint(kid="same"), TokenMint(kid="same")
    with pytest.raises(JwksError, match="twice"):
        KeySet.from_jwks(a.jwks(b))
    rsa = {"kty": "RSA", "kid": "rsa-1", "n": "AQAB", "e": "AQAB"}
    enc = a.jwk() | {"kid": "enc", "use": "enc"}
    assert KeySet.from_jwks({"keys": [rsa, enc, a.jwk()]}).key_ids == {"same"}


class CountingJwks:
    """A JWKS endpoint in memory: what it serves, and how often it was asked."""

    def __init__(self, served: dict[str, Any]) -> None:
        self.served: dict[str, Any] | None = served
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        if self.served is None:
            raise OSError("connection refused")
        return json.dumps(self.served).encode()


def refreshing(clock: FixedClock, endpoint: CountingJwks) -> RefreshingKeySet:
    return RefreshingKeySet(endpoint, clock=clock, min_interval_s=30, max_age_s=3600)


async def test_keys_are_loaded_when_first_needed_and_again_for_a_new_kid() -> None:
    clock = FixedClock(NOW)
    old, new = TokenMint(kid="k1", clock=clock), TokenMint(kid="k2", clock=clock)
    endpoint = CountingJwks(old.jwks())
    verifier = TokenVerifier(
        refreshing(clock, endpoint), issuer="bvgconnect-auth", audience="bvgconnect", clock=clock
    )
    await verifier.verify_async(old.mint())
    assert endpoint.calls == 1
    endpoint.served = old.jwks(new)  # auth rotates
    clock.advance(timedelta(seconds=31))
    assert (await verifier.verify_async(new.mint())).kind == "connect"
    assert endpoint.calls == 2


async def test_made_up_key_ids_cause_at_most_one_load_per_interval() -> None:
    clock = FixedClock(NOW)
    mint = TokenMint(kid="k1", clock=clock)
    endpoint = CountingJwks(mint.jwks())
    verifier = TokenVerifier(
        refreshing(clock, endpoint), issuer="bvgconnect-auth", audience="bvgconnect", clock=clock
    )
    await verifier.verify_async(mint.mint())
    for i in range(200):
        with pytest.raises(AccessDenied, match="unknown key"):
            await verifier.verify_async(mint.sign(mint.claims(), headers={"kid": f"junk-{i}"}))
        clock.advance(timedelta(seconds=1))
    assert endpoint.calls == 1 + 200 // 30


async def test_a_failed_load_keeps_the_keys_and_no_keys_at_all_is_a_503() -> None:
    clock = FixedClock(NOW)
    mint = TokenMint(clock=clock)
    endpoint = CountingJwks(mint.jwks())
    keys = refreshing(clock, endpoint)
    verifier = TokenVerifier(keys, issuer="bvgconnect-auth", audience="bvgconnect", clock=clock)
    await verifier.verify_async(mint.mint())
    endpoint.served = None  # auth is down
    clock.advance(timedelta(hours=2))  # the keys are stale: a load is tried, and fails
    assert (await verifier.verify_async(mint.mint())).kind == "connect"
    assert endpoint.calls == 2

    down = CountingJwks(mint.jwks())
    down.served = None
    cold = TokenVerifier(
        refreshing(clock, down), issuer="bvgconnect-auth", audience="bvgconnect", clock=clock
    )
    with pytest.raises(AccessDenied) as refused:
        await cold.verify_async(mint.mint())
    assert refused.value.status == 503 and refused.value.code == "auth.unavailable"


async def test_concurrent_first_requests_share_one_load() -> None:
    clock = FixedClock(NOW)
    mint = TokenMint(clock=clock)
    endpoint = CountingJwks(mint.jwks())
    verifier = TokenVerifier(
        refreshing(clock, endpoint), issuer="bvgconnect-auth", audience="bvgconnect", clock=clock
    )
    principals = await asyncio.gather(*(verifier.verify_async(mint.mint()) for _ in range(20)))
    assert len(principals) == 20
    assert endpoint.calls == 1


def test_unreachable_keys_answer_503_not_401() -> None:
    clock = FixedClock(NOW)
    down = CountingJwks({"keys": []})
    down.served = None
    verifier = TokenVerifier(
        refreshing(clock, down), issuer="bvgconnect-auth", audience="bvgconnect", clock=clock
    )
    with TestClient(make_app(verifier), raise_server_exceptions=False) as client:
        response = client.post(UPLOAD, headers=bearer(TokenMint(clock=clock).mint()))
    assert response.status_code == 503
    assert response.json()["code"] == "auth.unavailable"
    assert response.headers["retry-after"] == "30"


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, type[_JwksHandler]]]:
    handler = type("Handler", (_JwksHandler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json", handler
    finally:
        server.shutdown()
        server.server_close()


async def test_keys_are_fetched_from_a_url(jwks_server: tuple[str, type[_JwksHandler]]) -> None:
    url, handler = jwks_server
    clock = FixedClock(NOW)
    mint = TokenMint(clock=clock)
    handler.body = json.dumps(mint.jwks()).encode()
    settings = Settings(auth_jwks_url=url)
    verifier = build_token_verifier(settings, clock)
    assert (await verifier.verify_async(mint.mint())).employer_no == OWN
    handler.body = b"{" * 70_000
    with pytest.raises(JwksError, match="larger"):
        fetch_url(url, timeout_s=5)


def test_keys_are_read_from_a_file(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    mint = TokenMint(clock=clock)
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(mint.jwks()))
    verifier = build_token_verifier(Settings(auth_jwks_file=path), clock)
    assert verifier.verify(mint.mint()).employer_no == OWN
    path.write_text("not json")
    with pytest.raises(JwksError, match="not JSON"):
        build_token_verifier(Settings(auth_jwks_file=path), clock)
    with pytest.raises(JwksError, match="cannot read the JWKS file"):
        build_token_verifier(Settings(auth_jwks_file=tmp_path / "missing.json"), clock)


def test_a_verifier_needs_a_key_source() -> None:
    with pytest.raises(JwksError, match="BVG_AUTH_JWKS_URL"):
        build_token_verifier(Settings(), FixedClock(NOW))
    with pytest.raises(JwksError, match="http"):
        RefreshingKeySet.from_url("file:///etc/passwd", clock=FixedClock(NOW))


# -- the policy table ----------------------------------------------------------------------


def test_the_policy_covers_the_function_matrix() -> None:
    assert set(POLICY) >= {
        "messages.read",
        "list.template",
        "list.validate",
        "list.upload",
        "list.report",
        "coverage.read",
        "invoices.read",
        "reminders.read",
        "employer.change_bank_or_address",
        "users.manage",
        "topics.waive",
        "connector.register",
        "private.read_own",
        "operator",
    }
    check_policy(POLICY)


def test_level_1_is_never_enough_for_an_employer_function() -> None:
    for requirement in POLICY.values():
        if "private" not in requirement.kinds:
            assert requirement.level >= 2
    with pytest.raises(ValueError, match="level 1"):
        check_policy({"list.upload": Requirement("mutations", 1, frozenset({"connect"}))})


def test_an_unknown_function_fails_when_the_route_is_defined() -> None:
    with pytest.raises(KeyError):
        require("list.delete")
    with pytest.raises(KeyError):
        require("password.change", "private.delete")


@pytest.mark.parametrize(
    ("kind", "level", "status"),
    [("connect", 2, 200), ("connect", 1, 403), ("private", 1, 200), ("connector", 3, 403)],
    ids=["connect-L2", "connect-L1", "private-L1", "connector"],
)
def test_alternatives_apply_by_kind_of_principal(kind: str, level: int, status: int) -> None:
    clock = FixedClock(NOW)
    mint = TokenMint(clock=clock)
    verifier = TokenVerifier(
        mint.key_set(), issuer="bvgconnect-auth", audience="bvgconnect", clock=clock
    )
    app = FastAPI()
    install_token_verifier(app, verifier)

    @app.post("/password")
    async def change(
        principal: Annotated[
            Principal, Depends(require("password.change", "private.password_change"))
        ],
    ) -> dict[str, str]:
        return {"kind": principal.kind}

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/password", headers=bearer(mint.mint(kind=kind, level=level)))
    assert response.status_code == status, response.text


def test_lifetime_limit_is_15_minutes() -> None:
    assert MAX_LIFETIME_S == 900


# -- properties ----------------------------------------------------------------------------

_header_values = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda s: s.encode("utf-8")),
    st.text(max_size=300).map(lambda s: b"Bearer " + s.encode("utf-8")),
    st.lists(
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.+/"),
        min_size=1,
        max_size=5,
    ).map(lambda parts: b"Bearer " + ".".join(parts).encode()),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(_header_values, max_size=3))
def test_any_authorization_header_is_answered_without_a_server_error(
    world: World, values: list[bytes]
) -> None:
    headers = [(b"authorization", value) for value in values]
    response = world.client.post(UPLOAD, headers=headers)
    assert response.status_code in (401, 403), response.text
    assert response.json()["code"].startswith(("auth.", "access."))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
_claim_names = st.sampled_from(
    [
        "iss",
        "aud",
        "sub",
        "emp",
        "kind",
        "topics",
        "amr",
        "acr",
        "ahv",
        "iat",
        "exp",
        "nbf",
        "jti",
        "sid",
        "cid",
    ]
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.dictionaries(_claim_names, _json, max_size=4))
def test_signed_claims_of_any_shape_are_accepted_or_refused_never_crash(
    world: World, changes: dict[str, Any]
) -> None:
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": world.mint.kid}
    token = world.mint.sign_raw(header, world.mint.claims() | changes)
    try:
        principal = world.verifier.verify(token)
    except AccessDenied as refused:
        assert refused.status == 401
    else:
        assert principal.kind in {"connect", "admin", "connector", "private", "operator"}


def test_cleared_revocations_are_those_of_a_new_process() -> None:
    revocations = Revocations()
    user = uuid.uuid4()
    revocations.revoke_user(user, NOW)
    revocations.revoke_credential("cert", NOW)
    revocations.set_topics(user, [], NOW)
    revocations.clear()
    assert not revocations._users and not revocations._credentials and not revocations._topics
