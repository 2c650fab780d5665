"""Value types the events share, and the base of every payload.

Money and other decimals travel as JSON strings ("123.45", never floats: STYLE "Money");
they are read from strings or numbers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

DECIMAL_PATTERN = r"^-?\d+(\.\d+)?$"


def _plain_decimal(value: Decimal) -> str:
    """Fixed-point text: `Decimal("1E+2")` becomes "100", never exponent notation."""
    return format(value, "f")


_AS_STRING = PlainSerializer(
    _plain_decimal,
    return_type=Annotated[str, StringConstraints(pattern=DECIMAL_PATTERN)],
    when_used="json",
)

#: An amount in CHF, signed (corrections are negative); a decimal string in JSON.
Money = Annotated[Decimal, Field(allow_inf_nan=False), _AS_STRING]
#: Hours worked or insured, signed (corrections are negative); a decimal string in JSON.
Hours = Annotated[Decimal, Field(allow_inf_nan=False), _AS_STRING]
#: A share between 0 and 1 (a rate, the employer's part of a premium); a decimal string in JSON.
Fraction = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False), _AS_STRING]

#: AHV number (AHVN13) with dots; the EAN-13 check digit is checked by intake (`stdnum.ch.ssn`).
Ahv = Annotated[str, StringConstraints(pattern=r"^756\.\d{4}\.\d{4}\.\d{2}$")]
#: Pay period, a calendar month.
Period = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
#: A stable machine-readable code such as `ahv.checksum` or `exit.missing`.
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")]
#: Hex SHA-256 digest.
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
#: Free text of bounded length (names, reasons, messages).
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]

Language = Literal["de", "fr", "it", "en"]
Canton = Literal[
    "AG", "AI", "AR", "BE", "BL", "BS", "FR", "GE", "GL", "GR", "JU", "LU", "NE",
    "NW", "OW", "SG", "SH", "SO", "SZ", "TG", "TI", "UR", "VD", "VS", "ZG", "ZH",
]  # fmt: skip
#: Need-to-know topics of the platform (ACCESS.md "Topics").
AccessTopic = Literal["mutations", "contributions", "reminders", "users", "messages"]
#: Coverage start rules (RULES §6, Art. 3).
StartRule = Literal["S1", "S2", "S3", "S4", "S5", "S6"]
#: Coverage end rules (RULES §6, Art. 4-5).
EndRule = Literal["E1", "E2", "E3", "E4", "E5"]
Severity = Literal["error", "warning"]
#: Dunning ladders: missing or faulty list (Art. 22), unpaid contributions (Art. 23).
Track = Literal["data", "payment"]
#: Outside bodies that receive copies and notices (RULES §9).
Recipient = Literal["catch_all", "labour_office", "association"]


class Payload(BaseModel):
    """Base of every payload and nested object: immutable; unknown fields are ignored, so an
    added optional field does not break a consumer that has not been updated yet (tolerant
    reader)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
