"""Events published by auth: employers (tenants) and users, for the others' projections."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, Field

from contracts.envelope import PAYLOAD_FIELD, TYPE_FIELD, VERSION_FIELD, Envelope
from contracts.values import AccessTopic, Canton, Fraction, Language, Payload


class PostalAddress(Payload):
    """Structured postal address, as QR-bills require since 2025."""

    street: str = Field(min_length=1, max_length=70, description="Street name.")
    house_no: str | None = Field(
        default=None, max_length=16, description="House number; null if the address has none."
    )
    postcode: str = Field(min_length=1, max_length=16, description="Postcode, e.g. `8004`.")
    town: str = Field(min_length=1, max_length=35, description="Town.")
    country: str = Field(
        pattern=r"^[A-Z]{2}$", description="Country, ISO 3166-1 alpha-2 code, e.g. `CH`."
    )


class EmployerChangedPayload(Payload):
    """The employer's current master data; the employer number is the envelope's `employer_no`."""

    name: str = Field(min_length=1, max_length=70, description="Legal name of the employer.")
    address: PostalAddress = Field(description="Postal address of the employer.")
    canton: Canton = Field(description="Canton of the employer's seat (selects the labour office).")
    language: Language = Field(description="Correspondence language.")
    enabled_topics: list[AccessTopic] = Field(
        description="Topics the foundation enabled for this employer (ACCESS.md)."
    )
    status: Literal["affiliated", "terminated"] = Field(description="Affiliation status.")
    affiliated_from: date = Field(description="First day of the affiliation.")
    affiliated_until: date | None = Field(
        description="Last day of the affiliation; null while open-ended."
    )
    employer_share: Fraction = Field(
        default=Decimal("0.5"),
        description="Employer's part of the total premium (plan split, RULES §3.6; at least ½).",
    )


class EmployerChanged(Envelope):
    """An employer was affiliated, or its data or affiliation changed."""

    TOPIC: ClassVar[str] = "auth.employer-changed.v1"
    type: Annotated[Literal["auth.employer-changed"], TYPE_FIELD] = "auth.employer-changed"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[EmployerChangedPayload, PAYLOAD_FIELD]


class UserChangedPayload(Payload):
    """What token verifiers need to know about a user; no names, no personal data."""

    user_id: uuid.UUID = Field(description="Id of the user.")
    kind: Literal["connect", "connector", "private"] = Field(
        description="connect user, connector (machine principal) or private user (a worker)."
    )
    status: Literal["active", "deregistered"] = Field(
        description="A deregistered user's tokens are refused from now on."
    )
    topics: list[AccessTopic] = Field(description="Topics granted to the user.")
    revoked_credential_ids: list[str] = Field(
        description="Credentials (e.g. certificates) revoked with this change; refuse tokens "
        "issued on them."
    )
    changed_at: AwareDatetime = Field(description="When the change took effect.")


class UserChanged(Envelope):
    """A user was added, changed, granted or revoked topics, or deregistered."""

    TOPIC: ClassVar[str] = "auth.user-changed.v1"
    type: Annotated[Literal["auth.user-changed"], TYPE_FIELD] = "auth.user-changed"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[UserChangedPayload, PAYLOAD_FIELD]
