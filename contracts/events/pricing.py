"""Events of pricing: contributions per row and per list, correction fees (RULES §2-§4)."""

from __future__ import annotations

import builtins
import uuid
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from contracts.envelope import (
    PAYLOAD_FIELD,
    ROWS_PER_EVENT,
    TYPE_FIELD,
    VERSION_FIELD,
    Envelope,
    PartPayload,
    RowsEvent,
)
from contracts.values import Ahv, Fraction, Money, Payload, Period, Text


class PricingFinding(Payload):
    """Declared value differs from the computed one by more than 0.10 (a warning)."""

    code: Literal["declared.insured_wage", "declared.premium"] = Field(
        description="Check code (TEMPLATE.md)."
    )
    message: Text = Field(description="Human sentence in English.")
    declared: Money = Field(description="Value the employer declared.")
    computed: Money = Field(description="Value computed, and billed.")


class RowPricedPayload(Payload):
    """Every amount of one priced row; not subject means every amount is 0.00."""

    upload_id: uuid.UUID = Field(description="Id of the upload the row belongs to.")
    period: Period = Field(description="Pay period of the row.")
    row_no: int = Field(ge=2, description="Spreadsheet row number in the list.")
    ahv: Ahv = Field(description="AHV number of the worker.")
    bvg_age: int = Field(description="Year of the period minus birth year (RULES §5).")
    subject: bool = Field(description="Whether the row is subject to contributions.")
    hourly_base_wage: Money = Field(description="Base wage ÷ hours, to the Rappen (Art. 13.1).")
    insured_hourly_wage: Money = Field(description="Capped, coordinated hourly wage (Art. 15).")
    insured_wage: Money = Field(description="Insured wage of the insured hours, to 10 Rp. (J).")
    rate: Fraction = Field(description="Total contribution rate as a fraction (Art. 17.3).")
    premium_total: Money = Field(description="Total premium, to 10 Rp. (I; Art. 17).")
    employer_share: Money = Field(description="Employer's part of the premium.")
    employee_share: Money = Field(description="Worker's part of the premium.")
    savings_part: Money = Field(description="Part of the premium credited to savings.")
    parameter_version: str = Field(
        min_length=1, max_length=50, description="Version of the parameter tables used."
    )
    findings: list[PricingFinding] = Field(description="Declared-versus-computed findings.")


class RowPriced(Envelope):
    """A row was priced."""

    TOPIC: ClassVar[str] = "pricing.row-priced.v1"
    WORKER_KEYED: ClassVar[bool] = True
    type: Annotated[Literal["pricing.row-priced"], TYPE_FIELD] = "pricing.row-priced"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[RowPricedPayload, PAYLOAD_FIELD]


class RowsPricedPayload(PartPayload):
    """The contributions of each row of a part of a list (the part of
    `coverage.row-assessed` it answers)."""

    rows: list[RowPricedPayload] = Field(
        min_length=1, max_length=ROWS_PER_EVENT, description="The part's rows, in list order."
    )


class RowsPriced(RowsEvent):
    """The contributions of each row of a part of a list, for billing and for the check
    report; keyed by employer. Replaces v1 (one row per event)."""

    TOPIC: ClassVar[str] = "pricing.row-priced.v2"
    ROW_MODEL: ClassVar[builtins.type[Envelope]] = RowPriced
    type: Annotated[Literal["pricing.row-priced"], TYPE_FIELD] = "pricing.row-priced"
    version: Annotated[Literal[2], VERSION_FIELD] = 2
    payload: Annotated[RowsPricedPayload, PAYLOAD_FIELD]


class ListTotals(Payload):
    """Sums over every priced row of a list."""

    insured_wage: Money = Field(description="Sum of insured wages.")
    premium_total: Money = Field(description="Sum of total premiums.")
    employer_share: Money = Field(description="Sum of employer shares.")
    employee_share: Money = Field(description="Sum of worker shares.")


class ListPricedPayload(Payload):
    """Every row of a list is priced."""

    upload_id: uuid.UUID = Field(description="Id of the upload.")
    period: Period = Field(description="Pay period of the list.")
    row_count: int = Field(ge=0, description="Rows priced.")
    totals: ListTotals = Field(description="Totals of the list.")
    correction_fee_id: uuid.UUID | None = Field(
        default=None,
        description="`fee_id` of the Art. 24 correction fee this list's rows caused "
        "(`pricing.fee-charged`, published with this event), if any: billing invoices the "
        "list together with it.",
    )


class ListPriced(Envelope):
    """Every row of a list is priced; billing may invoice it."""

    TOPIC: ClassVar[str] = "pricing.list-priced.v1"
    type: Annotated[Literal["pricing.list-priced"], TYPE_FIELD] = "pricing.list-priced"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[ListPricedPayload, PAYLOAD_FIELD]


class PricingFeeChargedPayload(Payload):
    """A correction fee: CHF 10 per corrected row and month (Art. 24)."""

    fee_id: uuid.UUID = Field(description="Id of the fee; billing books it once.")
    kind: Literal["correction"] = Field(description="Kind of fee.")
    amount: Money = Field(description="Amount in CHF.")
    article: str = Field(
        min_length=1, max_length=50, description="Source of the fee, e.g. `Art. 24`."
    )
    period: Period = Field(description="Pay period of the corrected list.")
    reason: Text = Field(description="Why the fee is charged, in English.")
    upload_id: uuid.UUID = Field(description="Id of the upload whose rows were corrected.")
    row_count: int = Field(ge=1, description="Rows corrected.")


class PricingFeeCharged(Envelope):
    """Pricing charged a fee for correcting an employer's figures."""

    TOPIC: ClassVar[str] = "pricing.fee-charged.v1"
    type: Annotated[Literal["pricing.fee-charged"], TYPE_FIELD] = "pricing.fee-charged"
    version: Annotated[Literal[1], VERSION_FIELD] = 1
    payload: Annotated[PricingFeeChargedPayload, PAYLOAD_FIELD]
