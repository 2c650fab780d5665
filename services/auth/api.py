"""HTTP API of auth: logins (password, SMS, TOTP, certificate), refresh, JWKS, employers,
users and the audit log (ACCESS.md, RULES §11).

Login answers never tell whether a user ID exists: an unknown user and a wrong password get
the same answer after the same Argon2 work.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from pydantic import BaseModel, Field

from contracts.events.auth import EmployerChangedPayload
from contracts.values import AccessTopic
from services.runtime.access import Principal, RefreshingKeySet, require, token_verifier_of
from services.runtime.errors import ApiError
from services.runtime.handlers import business_day
from services.runtime.service import Runtime, get_runtime

from . import certs, domain, store
from .sms import FileSmsGateway, HttpSmsGateway, SmsGateway
from .tokens import MAX_LIFETIME_S, KeyRing, Link, LinkRefused, verify_link

log = logging.getLogger("bvgconnect.auth")
router = APIRouter(tags=["auth"])

EmployerNo = Annotated[int, Path(ge=1, le=99_999_999, description="Employer number.")]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Operator = Annotated[Principal, Depends(require("operator"))]
UserAdmin = Annotated[Principal, Depends(require("users.manage"))]

HASHER = PasswordHasher(
    time_cost=domain.ARGON2_TIME_COST,
    memory_cost=domain.ARGON2_MEMORY_KIB,
    parallelism=domain.ARGON2_PARALLELISM,
)
#: Verified against when the user ID is unknown, so both cost the same (no existence leak).
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))

Login = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@+-]+$")]
Secret = Annotated[str, Field(min_length=1, max_length=256)]


# -- the parts of the service a request needs ----------------------------------------------


@dataclass
class AuthParts:
    keys: KeyRing
    sms: SmsGateway
    policy: domain.PasswordPolicy


#: By the runtime's id, with a weak reference to tell a new runtime that got a dead one's id.
_PARTS: dict[int, tuple[weakref.ref[Runtime], AuthParts]] = {}


def parts_of(runtime: Runtime) -> AuthParts:
    """The signing key (settings' folder, default the data folder's development key, as
    `bvgconnect up` and `token` use) and the SMS gateway of this runtime."""
    entry = _PARTS.get(id(runtime))
    found = entry[1] if entry is not None and entry[0]() is runtime else None
    if found is None:
        s = runtime.settings
        folder = s.auth_signing_key_dir or s.data_dir / "auth-dev-key"
        sms: SmsGateway = (
            HttpSmsGateway(s.auth_sms_gateway_url)
            if s.auth_sms_gateway_url
            else FileSmsGateway(s.data_dir / "sms-outbox.jsonl")
        )
        found = AuthParts(
            keys=KeyRing.load_or_create(folder, runtime.clock.now()),
            sms=sms,
            policy=domain.PasswordPolicy(max_age_days=s.auth_password_max_age_days),
        )
        _PARTS[id(runtime)] = (weakref.ref(runtime), found)
    return found


def _pool(runtime: Runtime) -> Any:
    assert runtime.pool is not None
    return runtime.pool


def _source(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _refused() -> ApiError:
    return ApiError(
        401,
        "auth.login_failed",
        "The user ID or the credential is wrong, or the account cannot sign in.",
    )


class Throttled(ApiError):
    def __init__(self, verdict: domain.Verdict) -> None:
        if verdict.locked:
            super().__init__(
                429,
                "auth.locked",
                f"Too many failed sign-ins: locked for {verdict.retry_after_s} seconds. "
                "If this was not you, change your password.",
                headers={"Retry-After": str(verdict.retry_after_s)},
            )
        else:
            super().__init__(
                429,
                "auth.slow_down",
                f"Too many failed sign-ins: try again in {verdict.retry_after_s} seconds.",
                headers={"Retry-After": str(verdict.retry_after_s)},
            )


# -- brute force ---------------------------------------------------------------------------


def _keys(login: str, source: str) -> tuple[tuple[str, domain.Throttle], ...]:
    return (
        (f"user:{login.lower()}", domain.USER_THROTTLE),
        (f"addr:{source}", domain.ADDRESS_THROTTLE),
    )


async def _check_throttle(conn: Any, login: str, source: str, now: datetime) -> ApiError | None:
    for key, throttle in _keys(login, source):
        failures, last = await store.throttle_state(conn, key)
        verdict = domain.judge_attempt(failures, last, now, throttle)
        if not verdict.allowed:
            await store.audit(
                conn,
                at=now,
                actor=login,
                action="login",
                outcome="throttled" if not verdict.locked else "locked",
                source=source,
            )
            return Throttled(verdict)
    return None


async def _fail(
    runtime: Runtime, conn: Any, login: str, source: str, now: datetime, user: store.User | None
) -> None:
    """Count a failure per user and per address; a fresh lockout is told to the owner."""
    for key, throttle in _keys(login, source):
        failures = await store.record_failure(conn, key, now, throttle.window.total_seconds())
        if failures == throttle.lock_after:
            await store.audit(
                conn,
                at=now,
                actor=login,
                action="lockout",
                outcome="locked",
                employer_no=user.employer_no if user else None,
                user_id=user.user_id if user else None,
                source=source,
                detail={"key": key.split(":", 1)[0]},
            )
            if user is not None and user.phone and key.startswith("user:"):
                await parts_of(runtime).sms.send(
                    user.phone,
                    "bvgconnect: your account was locked after repeated failed sign-ins. "
                    "If this was not you, change your password.",
                    at=now,
                )
    await store.audit(
        conn,
        at=now,
        actor=login,
        action="login",
        outcome="failed",
        employer_no=user.employer_no if user else None,
        user_id=user.user_id if user else None,
        source=source,
    )


# -- tokens --------------------------------------------------------------------------------


async def _session(
    runtime: Runtime,
    conn: Any,
    user: store.User,
    methods: tuple[str, ...],
    now: datetime,
    *,
    session_id: str | None = None,
    credential_id: str | None = None,
) -> dict[str, Any]:
    """An access token (≤ 15 minutes) and a single-use refresh token for the user."""
    topics = await store.enabled_topics(conn, user.employer_no)
    if topics is None or user.status != "active":
        raise _refused()
    granted = sorted(set(user.topics) & set(topics))
    level = domain.level_of(methods)
    sid = session_id or uuid.uuid4().hex
    token = (
        parts_of(runtime)
        .keys.current(now)
        .issue(
            now=now,
            user_id=user.user_id,
            kind=user.token_kind,
            employer_no=user.employer_no,
            topics=granted,
            level=level,
            ahv=user.ahv if user.kind == "private" else None,
            session_id=sid,
            methods=list(methods),
            credential_id=credential_id,
        )
    )
    refresh = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, user_id, session_id, methods, expires_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        _sha256(refresh),
        user.user_id,
        sid,
        list(methods),
        now + timedelta(seconds=runtime.settings.auth_refresh_lifetime_s),
    )
    body: dict[str, Any] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": MAX_LIFETIME_S,
        "refresh_token": refresh,
        "level": level,
        "topics": granted,
    }
    if user.password_changed_at is not None and domain.password_expired(
        user.password_changed_at, now, policy=parts_of(runtime).policy
    ):
        body["password_expired"] = True
    return body


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@router.get("/.well-known/jwks.json", summary="The public keys access tokens are signed with")
async def jwks(runtime: RuntimeDep) -> dict[str, list[dict[str, str]]]:
    return parts_of(runtime).keys.jwks(runtime.clock.now())


# -- logins --------------------------------------------------------------------------------


class PasswordLogin(BaseModel):
    login: Login
    password: Secret


class CodeLogin(BaseModel):
    challenge_id: uuid.UUID
    code: Annotated[str, Field(min_length=1, max_length=16)]


class Refresh(BaseModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=256)]


async def _verify_password(user: store.User | None, password: str) -> bool:
    """Argon2id in a worker thread; the same work for an unknown user."""
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        await asyncio.to_thread(HASHER.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return False
    return user is not None and user.password_hash is not None


async def _first_factor(
    runtime: Runtime, conn: Any, body: PasswordLogin, source: str, now: datetime
) -> ApiError | dict[str, Any] | tuple[store.User, str, uuid.UUID, str]:
    """The password check; a refusal is returned, so that its failure count commits."""
    code = ""
    user = await store.user_by_login(conn, body.login)
    ok = await _verify_password(user, body.password)
    if not ok or user is None or user.status != "active" or user.kind == "connector":
        await _fail(runtime, conn, body.login, source, now, user)
        return _refused()
    await store.clear_failures(conn, f"user:{body.login.lower()}")
    if user.password_hash and HASHER.check_needs_rehash(user.password_hash):
        new_hash = await asyncio.to_thread(HASHER.hash, body.password)
        await conn.execute(
            "UPDATE users SET password_hash = $2 WHERE user_id = $1", user.user_id, new_hash
        )
    if user.totp_secret:
        method = "totp"
        code_hash = None
    elif user.phone:
        method = "sms"
        code = domain.new_sms_code()
        code_hash = _sha256(code)
    elif domain.may_stop_at_level_1(user.kind):
        await store.audit_user(
            conn,
            user,
            at=now,
            action="login",
            outcome="ok",
            source=source,
            detail={"level": 1},
        )
        return await _session(runtime, conn, user, ("pwd",), now)
    else:
        await _fail(runtime, conn, body.login, source, now, user)
        return _refused()
    challenge_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO challenges (challenge_id, user_id, method, code_hash, issued_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        challenge_id,
        user.user_id,
        method,
        code_hash,
        now,
    )
    await store.audit_user(
        conn,
        user,
        at=now,
        action="login.password",
        outcome="ok",
        source=source,
        detail={"next": method},
    )
    return user, method, challenge_id, code


@router.post("/login/password", summary="First factor: user ID and password")
async def login_password(
    body: PasswordLogin, request: Request, runtime: RuntimeDep
) -> dict[str, Any]:
    """Level 1 for a private user; else a challenge for the second factor (sms or totp)."""
    now, source = runtime.clock.now(), _source(request)
    refusal: ApiError | None = None
    async with runtime.unit_of_work() as uow:
        conn = uow.conn
        refusal = await _check_throttle(conn, body.login, source, now)
        if refusal is None:
            result = await _first_factor(runtime, conn, body, source, now)
            if isinstance(result, ApiError):
                refusal = result
    if refusal is not None:  # after the commit: the failure counts and is audited
        raise refusal
    if isinstance(result, dict):
        return result
    assert not isinstance(result, ApiError)
    user, method, challenge_id, code = result

    if method == "sms":
        assert user.phone is not None
        await parts_of(runtime).sms.send(
            user.phone, f"bvgconnect sign-in code: {code} (valid 5 minutes)", at=now
        )
    answer: dict[str, Any] = {"challenge_id": str(challenge_id), "method": method}
    if method == "totp" and not user.totp_confirmed:
        answer["enrolment"] = True
    if user.kind == "private":
        answer["level_1_allowed"] = True
    return answer


async def _challenge(conn: Any, challenge_id: uuid.UUID, method: str) -> Any:
    return await conn.fetchrow(
        "SELECT * FROM challenges WHERE challenge_id = $1 AND method = $2 FOR UPDATE",
        challenge_id,
        method,
    )


@router.post("/login/sms", summary="Second factor: the SMS passcode")
async def login_sms(body: CodeLogin, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    now, source = runtime.clock.now(), _source(request)
    async with runtime.unit_of_work() as uow:
        conn = uow.conn
        row = await _challenge(conn, body.challenge_id, "sms")
        if row is None:
            raise _refused()
        user = await store.user_by_id(conn, row["user_id"])
        assert user is not None
        why = domain.sms_code_usable(row["issued_at"], row["tries"], row["used"], now)
        if why is None and domain.codes_equal(_sha256(body.code), row["code_hash"]):
            await conn.execute(
                "UPDATE challenges SET used = true WHERE challenge_id = $1", body.challenge_id
            )
            await store.audit_user(
                conn,
                user,
                at=now,
                action="login",
                outcome="ok",
                source=source,
                detail={"level": 2, "method": "sms"},
            )
            return await _session(runtime, conn, user, ("pwd", "sms"), now)
        await conn.execute(
            "UPDATE challenges SET tries = tries + 1 WHERE challenge_id = $1", body.challenge_id
        )
        await store.audit_user(
            conn,
            user,
            at=now,
            action="login.sms",
            outcome=f"failed:{why or 'code'}",
            source=source,
        )
    raise ApiError(
        401,
        f"auth.sms_{why}" if why else "auth.login_failed",
        {
            "used": "This code was used already; sign in again.",
            "expired": "The SMS code has expired; sign in again for a new one.",
            "tries": "Too many wrong codes; sign in again for a new one.",
        }.get(why or "", "The code is wrong."),
    )


@router.post("/login/totp", summary="Second factor: the one-time password (TOTP)")
async def login_totp(body: CodeLogin, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """The first correct code after enrolment confirms it; a code once accepted is refused."""
    now, source = runtime.clock.now(), _source(request)
    async with runtime.unit_of_work() as uow:
        conn = uow.conn
        row = await _challenge(conn, body.challenge_id, "totp")
        if row is None:
            raise _refused()
        user = await store.user_by_id(conn, row["user_id"])
        assert user is not None and user.totp_secret is not None
        why = domain.sms_code_usable(row["issued_at"], row["tries"], row["used"], now)
        step = (
            domain.totp_match(user.totp_secret, body.code, now, user.totp_last_step)
            if why is None
            else None
        )
        if step is not None:
            await conn.execute(
                "UPDATE challenges SET used = true WHERE challenge_id = $1", body.challenge_id
            )
            await conn.execute(
                "UPDATE users SET totp_last_step = $2, totp_confirmed = true WHERE user_id = $1",
                user.user_id,
                step,
            )
            await store.audit_user(
                conn,
                user,
                at=now,
                action="login",
                outcome="ok",
                source=source,
                detail={"level": 2, "method": "totp", "enrolment": not user.totp_confirmed},
            )
            return await _session(runtime, conn, user, ("pwd", "otp"), now)
        await conn.execute(
            "UPDATE challenges SET tries = tries + 1 WHERE challenge_id = $1", body.challenge_id
        )
        await store.audit_user(
            conn,
            user,
            at=now,
            action="login.totp",
            outcome="failed",
            source=source,
        )
    raise ApiError(401, "auth.otp_invalid", "The one-time password is wrong or was used already.")


ClientCert = Annotated[
    str | None,
    Header(
        alias="X-Client-Cert",
        description="The client certificate, URL-encoded PEM, as the TLS terminator forwards it.",
    ),
]


async def _client_certificate(
    request: Request,
    runtime: Runtime,
    now: datetime,
    header: str | None,
    *,
    action: str,
    actor: str = "certificate",
) -> str:
    """The fingerprint of the valid client certificate in `X-Client-Cert`; a refusal is
    audited (committed) and raised as 401 `auth.certificate_refused`."""
    try:
        return certs.verify_client_certificate(header or "", runtime.settings, now)
    except certs.CertificateRefused as exc:
        async with runtime.unit_of_work() as uow:
            await store.audit(
                uow.conn,
                at=now,
                actor=actor,
                action=action,
                outcome=f"failed:{exc.reason}",
                source=_source(request),
            )
        raise ApiError(401, "auth.certificate_refused", str(exc)) from None


@router.post("/login/certificate", summary="Level 3: the client certificate (TLS terminator)")
async def login_certificate(
    request: Request, runtime: RuntimeDep, x_client_cert: ClientCert = None
) -> dict[str, Any]:
    """The TLS terminator verified the TLS handshake (proof of the private key) and passes the
    client certificate URL-encoded in `X-Client-Cert`; it must strip that header from
    clients. Here: chain, validity, CRL, and the binding to one user by SHA-256 fingerprint."""
    now, source = runtime.clock.now(), _source(request)
    fingerprint = await _client_certificate(
        request, runtime, now, x_client_cert, action="login.certificate"
    )
    async with runtime.unit_of_work() as uow:
        conn = uow.conn
        user = await store.user_by_fingerprint(conn, fingerprint)
        if user is not None and user.status == "active":
            await store.audit_user(
                conn,
                user,
                at=now,
                action="login",
                outcome="ok",
                source=source,
                detail={"level": 3, "method": "x509"},
            )
            return await _session(runtime, conn, user, ("x509",), now, credential_id=fingerprint)
        await store.audit(
            conn,
            at=now,
            actor="certificate",
            action="login.certificate",
            outcome="failed:unbound",
            source=source,
        )
    raise _refused()


@router.post(
    "/login/step-up",
    summary="Level 2 → 3: present the client certificate bound to the signed-in user",
)
async def step_up(
    request: Request,
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(require("session.step_up"))],
    x_client_cert: ClientCert = None,
) -> dict[str, Any]:
    """ACCESS.md: a function that needs a higher level asks for a step-up. The certificate
    (in `X-Client-Cert`, as for `/login/certificate`) must be bound to the same user; the new
    session keeps the session id and carries every method used (`amr` pwd, otp|sms, x509)."""
    now, source = runtime.clock.now(), _source(request)
    user_id = uuid.UUID(principal.user_id)
    fingerprint = await _client_certificate(
        request, runtime, now, x_client_cert, action="step-up", actor=principal.user_id
    )
    async with runtime.unit_of_work() as uow:
        conn = uow.conn
        user = await store.user_by_id(conn, user_id)
        bound = await store.user_by_fingerprint(conn, fingerprint)
        if user is not None and bound is not None and bound.user_id == user.user_id:
            methods = (*principal.methods, "x509")
            if methods in domain.LEVEL_BY_METHODS and user.status == "active":
                await store.audit_user(
                    conn,
                    user,
                    at=now,
                    action="step-up",
                    outcome="ok",
                    source=source,
                    detail={"from_level": principal.level, "level": 3},
                )
                return await _session(
                    runtime,
                    conn,
                    user,
                    methods,
                    now,
                    session_id=principal.session_id or None,
                    credential_id=fingerprint,
                )
        await store.audit(
            conn,
            at=now,
            actor=user.login if user is not None else principal.user_id,
            action="step-up",
            outcome="failed:unbound",
            employer_no=principal.employer_no,
            user_id=user_id,
            source=source,
        )
    raise ApiError(
        403,
        "auth.step_up_refused",
        "This certificate is not bound to your account, or your account cannot step up.",
    )


@router.post("/token/refresh", summary="A new access token for a refresh token (single use)")
async def refresh(body: Refresh, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """Re-reads the user, so a deregistration or a withdrawn topic applies at once."""
    now = runtime.clock.now()
    async with runtime.unit_of_work() as uow:
        conn = uow.conn
        row = await conn.fetchrow(
            "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL "
            "AND expires_at > $2 RETURNING user_id, session_id, methods",
            _sha256(body.refresh_token),
            now,
        )
        if row is None:
            raise ApiError(401, "auth.refresh_invalid", "The refresh token is not valid.")
        user = await store.user_by_id(conn, row["user_id"])
        if user is None or user.status != "active":
            raise ApiError(401, "auth.refresh_invalid", "The refresh token is not valid.")
        methods = tuple(row["methods"])
        credential = user.cert_fingerprint if "x509" in methods else None
        if "x509" in methods and credential is None:
            raise ApiError(401, "auth.refresh_invalid", "The refresh token is not valid.")
        return await _session(
            runtime,
            conn,
            user,
            methods,
            now,
            session_id=row["session_id"],
            credential_id=credential,
        )


# -- own password (every user with a password) ---------------------------------------------


class PasswordChange(BaseModel):
    old_password: Secret
    new_password: Annotated[str, Field(min_length=1, max_length=256)]


@router.post("/me/password", summary="Change one's own password (old and new)")
async def change_password(
    body: PasswordChange,
    request: Request,
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(require("password.change", "private.password_change"))],
) -> dict[str, Any]:
    """ACCESS.md: the terms ask for regular change. The old password is checked as at sign-in
    (a failure counts towards the lockout); the new one meets the same policy and is hashed
    with the current Argon2id parameters. Every refresh token of the user is revoked: other
    sessions end when their access token does (≤ 15 minutes)."""
    now, source = runtime.clock.now(), _source(request)
    refusal: ApiError | None = None
    async with runtime.unit_of_work() as uow:
        conn = uow.conn
        user = await store.user_by_id(conn, uuid.UUID(principal.user_id))
        if user is None or user.status != "active" or user.password_hash is None:
            raise _refused()
        refusal = await _check_throttle(conn, user.login, source, now)
        if refusal is None and not await _verify_password(user, body.old_password):
            await _fail(runtime, conn, user.login, source, now, user)
            await store.audit_user(
                conn, user, at=now, action="password.change", outcome="failed", source=source
            )
            refusal = ApiError(401, "auth.password_wrong", "The current password is wrong.")
    if refusal is not None:  # after the commit: the failure counts and is audited
        raise refusal
    problems = domain.password_problems(
        body.new_password, login=user.login, policy=parts_of(runtime).policy
    )
    if body.new_password == body.old_password:
        problems.append("must differ from the current password")
    if problems:
        raise ApiError(422, "auth.weak_password", "The password needs: " + "; ".join(problems))
    new_hash = await asyncio.to_thread(HASHER.hash, body.new_password)
    async with runtime.unit_of_work() as uow:
        conn = uow.conn
        await conn.execute(
            "UPDATE users SET password_hash = $2, password_changed_at = $3, changed_at = $3 "
            "WHERE user_id = $1",
            user.user_id,
            new_hash,
            now,
        )
        revoked = await conn.fetchval(
            "WITH r AS (UPDATE refresh_tokens SET used_at = $2 WHERE user_id = $1 "
            "AND used_at IS NULL AND expires_at > $2 RETURNING 1) SELECT count(*) FROM r",
            user.user_id,
            now,
        )
        await store.clear_failures(conn, f"user:{user.login.lower()}")
        await store.audit_user(
            conn,
            user,
            at=now,
            action="password.change",
            outcome="ok",
            source=source,
            detail={"refresh_tokens_revoked": revoked},
        )
    return {"password_changed_at": now.isoformat(), "refresh_tokens_revoked": revoked}


# -- signing keys (operators) ----------------------------------------------------------------


@router.post("/keys/rotate", summary="The next signing key becomes active (operator)")
async def rotate_signing_key(
    request: Request, runtime: RuntimeDep, principal: Operator
) -> dict[str, Any]:
    """The next key, published since the previous rotation, signs from now on; a new next
    key is published. The old key's private half is discarded; its public half stays in the
    JWKS until every access token signed with it has expired, and verifies invitation links
    until they have. This process's own verifier reads the new JWKS at once."""
    now = runtime.clock.now()
    keys = parts_of(runtime).keys
    retired = keys.rotate(now, keep_for=domain.INVITATION_LIFETIME)
    own = token_verifier_of(request.app).keys
    if isinstance(own, RefreshingKeySet):
        try:
            await asyncio.to_thread(own.load_now)
        except (OSError, ValueError) as exc:  # the new key is active; the verifier retries
            log.warning("own JWKS not reloaded after rotation: %s", type(exc).__name__)
    async with runtime.unit_of_work() as uow:
        await store.audit(
            uow.conn,
            at=now,
            actor=principal.user_id,
            action="key.rotate",
            outcome="ok",
            source=_source(request),
            detail={"kid": keys.active.kid, "retired_kid": retired.kid},
        )
    return {
        "kid": keys.active.kid,
        "retired_kid": retired.kid,
        "retired_published_until": retired.published_until.isoformat(),
    }


# -- employers (operators) ------------------------------------------------------------------


@router.put("/employers/{employer_no}", summary="Affiliate or change an employer (operator)")
async def put_employer(
    employer_no: EmployerNo,
    body: EmployerChangedPayload,
    request: Request,
    runtime: RuntimeDep,
    principal: Operator,
) -> dict[str, Any]:
    now = runtime.clock.now()
    async with runtime.unit_of_work() as uow:
        await store.save_employer(uow, employer_no, body, now=now)
        await store.audit(
            uow.conn,
            at=now,
            actor=principal.user_id,
            action="employer.change",
            outcome="ok",
            employer_no=employer_no,
            source=_source(request),
        )
    return {"employer_no": employer_no, "status": body.status}


# -- users (employer admins) ----------------------------------------------------------------


class NewUser(BaseModel):
    login: Login
    password: Annotated[str, Field(min_length=1, max_length=256)]
    kind: Literal["connect", "connector"] = "connect"
    admin: bool = False
    topics: list[AccessTopic] = Field(default_factory=list, max_length=5)
    phone: Annotated[str | None, Field(pattern=r"^\+[0-9]{8,15}$")] = None
    second_factor: Literal["sms", "totp", "certificate"] = "totp"
    certificate_fingerprint: Annotated[str | None, Field(pattern=r"^[0-9a-f]{64}$")] = None


class UserChange(BaseModel):
    topics: list[AccessTopic] | None = Field(default=None, max_length=5)
    status: Literal["active", "deregistered"] | None = None
    revoke_certificate: bool = False


def _user_json(user: store.User) -> dict[str, Any]:
    return {
        "user_id": str(user.user_id),
        "login": user.login,
        "kind": user.kind,
        "admin": user.admin,
        "status": user.status,
        "topics": sorted(user.topics),
        "totp": user.totp_confirmed,
        "sms": user.phone is not None,
        "certificate": user.cert_fingerprint is not None,
    }


@router.get("/employers/{employer_no}/users", summary="The employer's users (admin, level 3)")
async def list_users(
    employer_no: EmployerNo, runtime: RuntimeDep, principal: UserAdmin
) -> list[dict[str, Any]]:
    async with _pool(runtime).acquire() as conn:
        return [_user_json(u) for u in await store.users_of(conn, employer_no)]


@router.post(
    "/employers/{employer_no}/users", status_code=201, summary="Add a user (admin, level 3)"
)
async def add_user(
    employer_no: EmployerNo,
    body: NewUser,
    request: Request,
    runtime: RuntimeDep,
    principal: UserAdmin,
) -> dict[str, Any]:
    now = runtime.clock.now()
    problems = domain.password_problems(
        body.password, login=body.login, policy=parts_of(runtime).policy
    )
    if problems:
        raise ApiError(422, "auth.weak_password", "The password needs: " + "; ".join(problems))
    if body.second_factor == "sms" and body.phone is None:
        raise ApiError(422, "request.invalid", "An SMS second factor needs a phone number.")
    if body.second_factor == "certificate" and body.certificate_fingerprint is None:
        raise ApiError(422, "request.invalid", "A certificate needs its SHA-256 fingerprint.")
    password_hash = await asyncio.to_thread(HASHER.hash, body.password)
    secret = domain.new_totp_secret() if body.second_factor == "totp" else None
    async with runtime.unit_of_work() as uow:
        conn = uow.conn
        enabled = await store.enabled_topics(conn, employer_no)
        if enabled is None:
            raise ApiError(404, "not_found", "No such employer.")
        topics = sorted(set(body.topics) & set(enabled))
        user_id = uuid.uuid4()
        inserted = await conn.fetchval(
            """
            INSERT INTO users (user_id, employer_no, login, kind, status, topics, password_hash,
                               created_at, admin, password_changed_at, phone, totp_secret,
                               cert_fingerprint, changed_at)
            VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $7, $9, $10, $11, $7)
            ON CONFLICT DO NOTHING RETURNING 1
            """,
            user_id,
            employer_no,
            body.login,
            body.kind,
            topics,
            password_hash,
            now,
            body.admin,
            body.phone,
            secret,
            body.certificate_fingerprint,
        )
        if inserted is None:
            raise ApiError(409, "auth.login_taken", "This user ID or certificate is taken.")
        user = await store.user_by_id(conn, user_id)
        assert user is not None
        uow.publish(store.user_changed(user, now=now))
        await store.audit(
            conn,
            at=now,
            actor=principal.user_id,
            action="user.add",
            outcome="ok",
            employer_no=employer_no,
            user_id=user_id,
            source=_source(request),
            detail={"topics": topics},
        )
    answer = _user_json(user)
    if secret is not None:
        answer["otpauth_uri"] = domain.totp_uri(secret, body.login)
    return answer


@router.patch(
    "/employers/{employer_no}/users/{user_id}",
    summary="Grant or withdraw topics, deregister, revoke the certificate (admin, level 3)",
)
async def change_user(
    employer_no: EmployerNo,
    user_id: uuid.UUID,
    body: UserChange,
    request: Request,
    runtime: RuntimeDep,
    principal: UserAdmin,
) -> dict[str, Any]:
    now = runtime.clock.now()
    async with runtime.unit_of_work() as uow:
        conn = uow.conn
        user = await store.user_by_id(conn, user_id)
        if user is None or user.employer_no != employer_no:
            raise ApiError(404, "not_found", "No such user.")
        enabled = await store.enabled_topics(conn, employer_no) or []
        topics = user.topics if body.topics is None else sorted(set(body.topics) & set(enabled))
        status = body.status or user.status
        revoked = (
            [user.cert_fingerprint] if body.revoke_certificate and user.cert_fingerprint else []
        )
        await conn.execute(
            "UPDATE users SET topics = $2, status = $3, changed_at = $4, "
            "cert_fingerprint = CASE WHEN $5 THEN NULL ELSE cert_fingerprint END "
            "WHERE user_id = $1",
            user_id,
            topics,
            status,
            now,
            bool(revoked),
        )
        if status == "deregistered":
            await conn.execute(
                "UPDATE refresh_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
                user_id,
                now,
            )
        changed = await store.user_by_id(conn, user_id)
        assert changed is not None
        uow.publish(store.user_changed(changed, now=now, revoked=revoked))
        action = "user.deregister" if status == "deregistered" else "user.grant"
        await store.audit(
            conn,
            at=now,
            actor=principal.user_id,
            action=action,
            outcome="ok",
            employer_no=employer_no,
            user_id=user_id,
            source=_source(request),
            detail={"topics": topics, "revoked_credentials": len(revoked)},
        )
    return _user_json(changed)


# -- private users: invitation links (employer admins), redemption (the worker) ------------


class NewInvitation(BaseModel):
    ahv: Annotated[
        str,
        Field(
            min_length=13,
            max_length=20,
            description="AHV number of the worker, `756.dddd.dddd.dd` or 13 digits.",
        ),
    ]


class Redemption(BaseModel):
    link_token: Annotated[str, Field(min_length=1, max_length=2048)]
    ahv: Annotated[
        str,
        Field(
            min_length=13,
            max_length=20,
            description="The worker's own AHV number, typed again: the link alone is not enough.",
        ),
    ]
    login: Login
    password: Annotated[str, Field(min_length=1, max_length=256)]
    second_factor: Literal["none", "totp"] = "none"


def _ahv_or_refuse(text: str) -> str:
    try:
        return domain.ahv_number(text)
    except domain.InvalidAhv:
        raise ApiError(
            422, "auth.ahv_invalid", "This is not a valid AHV number (756.dddd.dddd.dd)."
        ) from None


_LINK_REFUSALS: dict[str, tuple[int, str, str]] = {
    "malformed": (400, "auth.invitation_invalid", "This invitation link is not valid."),
    "signature": (400, "auth.invitation_invalid", "This invitation link is not valid."),
    "unknown": (400, "auth.invitation_invalid", "This invitation link is not valid."),
    "expired": (
        410,
        "auth.invitation_expired",
        "This invitation link has expired; ask your employer for a new one.",
    ),
    "used": (410, "auth.invitation_used", "This invitation link was used already."),
    "tries": (
        410,
        "auth.invitation_used",
        "This invitation link was used up by wrong AHV numbers; ask your employer for a new one.",
    ),
    "mismatch": (
        403,
        "auth.invitation_mismatch",
        "The AHV number does not match the invitation.",
    ),
}


def _link_refused(reason: str) -> ApiError:
    status, code, message = _LINK_REFUSALS[reason]
    return ApiError(status, code, message)


@router.post(
    "/employers/{employer_no}/invitations",
    status_code=201,
    summary="Invite a worker to connect@Private: a single-use link token (admin, level 3)",
)
async def invite_private_user(
    employer_no: EmployerNo,
    body: NewInvitation,
    request: Request,
    runtime: RuntimeDep,
    principal: UserAdmin,
) -> dict[str, Any]:
    """RULES §11: the foundation provides the link; the employer's admin asks for it and
    hands it to the worker. The token names the invitation only, never the AHV number."""
    now = runtime.clock.now()
    ahv = _ahv_or_refuse(body.ahv)
    expires_at = now + domain.INVITATION_LIFETIME
    invitation_id = uuid.uuid4()
    async with runtime.unit_of_work() as uow:
        conn = uow.conn
        if await store.enabled_topics(conn, employer_no) is None:
            raise ApiError(404, "not_found", "No such employer.")
        if await store.private_user_of(conn, employer_no, ahv) is not None:
            raise ApiError(
                409,
                "auth.private_user_exists",
                "This worker is registered already; deregister that account first.",
            )
        await conn.execute(
            "INSERT INTO invitations (invitation_id, employer_no, ahv, expires_at, created_at, "
            "created_by) VALUES ($1, $2, $3, $4, $5, $6)",
            invitation_id,
            employer_no,
            ahv,
            expires_at,
            now,
            principal.user_id,
        )
        await store.audit(
            conn,
            at=now,
            actor=principal.user_id,
            action="invitation.create",
            outcome="ok",
            employer_no=employer_no,
            source=_source(request),
            detail={"invitation_id": str(invitation_id)},
        )
    key = parts_of(runtime).keys.current(now)
    token = key.issue_link(
        now=now, invitation_id=invitation_id, employer_no=employer_no, expires_at=expires_at
    )
    return {
        "invitation_id": str(invitation_id),
        "link_token": token,
        "expires_at": expires_at.isoformat(),
    }


async def _audit_refused_link(runtime: Runtime, source: str, now: datetime, reason: str) -> None:
    """A link token refused before any invitation is known (committed at once)."""
    async with runtime.unit_of_work() as uow:
        await store.audit(
            uow.conn,
            at=now,
            actor="invitation",
            action="invitation.redeem",
            outcome=f"failed:{reason}",
            source=source,
        )


@router.post(
    "/invitations/redeem",
    status_code=201,
    summary="Register as a private user with an invitation link (the worker)",
)
async def redeem_invitation(
    body: Redemption, request: Request, runtime: RuntimeDep
) -> dict[str, Any]:
    """The worker chooses a user ID and a password (and, if they like, a TOTP app) and
    becomes a private user bound to the invitation's AHV number: level 1 with the password,
    level 2 with TOTP (ACCESS.md)."""
    now, source = runtime.clock.now(), _source(request)
    keys = parts_of(runtime).keys.public_keys(now)
    try:
        link = verify_link(body.link_token, keys, now=now, issuer=runtime.settings.auth_issuer)
    except LinkRefused as exc:
        await _audit_refused_link(runtime, source, now, exc.reason)
        raise _link_refused(exc.reason) from None
    ahv = _ahv_or_refuse(body.ahv)
    problems = domain.password_problems(
        body.password, login=body.login, policy=parts_of(runtime).policy
    )
    if problems:
        raise ApiError(422, "auth.weak_password", "The password needs: " + "; ".join(problems))
    async with runtime.unit_of_work() as uow:  # before the Argon2 work: a spent link is cheap
        why = await _invitation_refusal(uow.conn, link, ahv, now, source)
    if why is not None:  # after the commit: a wrong AHV number counts
        raise _link_refused(why)
    password_hash = await asyncio.to_thread(HASHER.hash, body.password)
    secret = domain.new_totp_secret() if body.second_factor == "totp" else None
    refusal: ApiError | None = None
    user: store.User | None = None
    async with runtime.unit_of_work() as uow:
        conn = uow.conn
        why = await _invitation_refusal(conn, link, ahv, now, source)  # redeemed meanwhile?
        if why is not None:
            refusal = _link_refused(why)
        else:
            user = await _add_private_user(
                uow, link.employer_no, ahv, body.login, password_hash, secret, now
            )
            if user is None:
                raise ApiError(
                    409,
                    "auth.login_taken",
                    "This user ID is taken, or this worker is registered already.",
                )
            await conn.execute(
                "UPDATE invitations SET used_at = $2, user_id = $3 WHERE invitation_id = $1",
                link.invitation_id,
                now,
                user.user_id,
            )
            await store.audit_user(
                conn,
                user,
                at=now,
                action="invitation.redeem",
                outcome="ok",
                source=source,
                detail={"invitation_id": str(link.invitation_id), "totp": secret is not None},
            )
    if refusal is not None:
        raise refusal
    assert user is not None
    answer = _user_json(user)
    if secret is not None:
        answer["otpauth_uri"] = domain.totp_uri(secret, body.login)
    return answer


async def _invitation_refusal(
    conn: Any, link: Link, ahv: str, now: datetime, source: str
) -> str | None:
    """Why the invitation cannot be redeemed with this AHV number now (audited), or None.
    Locks the invitation's row; a wrong number counts a try."""
    row = await conn.fetchrow(
        "SELECT employer_no, ahv, expires_at, used_at, tries FROM invitations "
        "WHERE invitation_id = $1 FOR UPDATE",
        link.invitation_id,
    )
    if row is None or row["employer_no"] != link.employer_no:
        why: str | None = "unknown"
    else:
        why = domain.invitation_usable(row["expires_at"], row["used_at"], row["tries"], now)
    if why is None and row is not None and not domain.codes_equal(ahv, row["ahv"]):
        await conn.execute(
            "UPDATE invitations SET tries = tries + 1 WHERE invitation_id = $1",
            link.invitation_id,
        )
        why = "mismatch"
    if why is None and await store.enabled_topics(conn, link.employer_no) is None:
        why = "unknown"  # the employer's affiliation ended meanwhile
    if why is not None:
        await store.audit(
            conn,
            at=now,
            actor="invitation",
            action="invitation.redeem",
            outcome=f"failed:{why}",
            employer_no=link.employer_no if row is not None else None,
            source=source,
            detail={"invitation_id": str(link.invitation_id)},
        )
    return why


async def _add_private_user(
    uow: Any,
    employer_no: int,
    ahv: str,
    login: str,
    password_hash: str,
    totp_secret: str | None,
    now: datetime,
) -> store.User | None:
    """The new private user (no topics: ACCESS.md's own-data function needs none), published
    as `auth.user-changed`; None if the login is taken or the worker registered already."""
    conn = uow.conn
    user_id = uuid.uuid4()
    inserted = await conn.fetchval(
        """
        INSERT INTO users (user_id, employer_no, login, kind, status, topics, password_hash,
                           created_at, password_changed_at, totp_secret, ahv, changed_at)
        VALUES ($1, $2, $3, 'private', 'active', '{}', $4, $5, $5, $6, $7, $5)
        ON CONFLICT DO NOTHING RETURNING 1
        """,
        user_id,
        employer_no,
        login,
        password_hash,
        now,
        totp_secret,
        ahv,
    )
    if inserted is None:
        return None
    user = await store.user_by_id(conn, user_id)
    assert user is not None
    uow.publish(store.user_changed(user, now=now))
    return user


# -- topic waivers (employer admins) ---------------------------------------------------------


@router.post(
    "/employers/{employer_no}/topics/{topic}/waiver",
    summary="Waive a topic: effective from the first day of the next month (admin, level 3)",
)
async def waive_topic(
    employer_no: EmployerNo,
    topic: AccessTopic,
    request: Request,
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(require("topics.waive"))],
) -> dict[str, Any]:
    """ACCESS.md: received on the business date; takes effect on the first of the next month,
    applied by the clock (`clock.day-started`)."""
    now = runtime.clock.now()
    async with runtime.unit_of_work() as uow:
        conn = uow.conn
        received = await business_day(conn, fallback=now)
        effective = domain.waiver_effective(received)
        await conn.execute(
            "INSERT INTO waivers (employer_no, topic, received_on, effective_on) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (employer_no, topic) DO NOTHING",
            employer_no,
            topic,
            received,
            effective,
        )
        row = await conn.fetchrow(
            "SELECT received_on, effective_on FROM waivers WHERE employer_no = $1 AND topic = $2",
            employer_no,
            topic,
        )
        await store.audit(
            conn,
            at=now,
            actor=principal.user_id,
            action="topic.waive",
            outcome="received",
            employer_no=employer_no,
            source=_source(request),
            detail={"topic": topic},
        )
    assert row is not None
    return {
        "topic": topic,
        "received_on": row["received_on"].isoformat(),
        "effective_on": row["effective_on"].isoformat(),
    }


# -- audit log (operators) -----------------------------------------------------------------


@router.get("/audit", summary="The audit log, newest first (operator)")
async def audit_log(
    runtime: RuntimeDep,
    principal: Operator,
    employer_no: Annotated[int | None, Query(ge=1, le=99_999_999)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    async with _pool(runtime).acquire() as conn:
        rows = await conn.fetch(
            "SELECT at, actor, action, employer_no, outcome, source, user_id, detail "
            "FROM audit_log WHERE ($1::integer IS NULL OR employer_no = $1) "
            "AND ($2::text IS NULL OR action = $2) ORDER BY id DESC LIMIT $3",
            employer_no,
            action,
            limit,
        )
    return [
        {
            "at": r["at"].isoformat(),
            "actor": r["actor"],
            "action": r["action"],
            "employer_no": r["employer_no"],
            "outcome": r["outcome"],
            "source": r["source"],
            "user_id": str(r["user_id"]) if r["user_id"] else None,
        }
        for r in rows
    ]
