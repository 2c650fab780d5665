"""camt.054 credit notifications as Swiss banks deliver them, for tests and benchmarks.

Shaped after the Swiss Payment Standards (SPS) examples for QR-bill payments: a group header,
one notification for the creditor's QR-IBAN, entries with amount, direction, status, booking and
value date, bank transaction code and details per transaction (references, amounts, debtor,
remittance information with the QR reference). Version `"08"` writes camt.054.001.08 (SPS 2022+),
`"04"` camt.054.001.04 (SPS 2016-2021); they differ where the banks' files differ: the status
(`<Sts><Cd>BOOK</Cd></Sts>` against `<Sts>BOOK</Sts>`), the debtor (`Dbtr/Pty/Nm` against
`Dbtr/Nm`) and the agent's BIC (`BICFI` against `BIC`). Any other version string writes that
namespace with the .08 layout, for files a parser must refuse.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal, TypedDict
from xml.sax.saxutils import escape, quoteattr

from stdnum.ch import esr

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.{version}"
#: The QR-IBAN of the SIX QR-bill examples: the foundation's account in the files.
CREDITOR_IBAN = "CH4431999123000889012"
VALUE_DATE = date(2025, 1, 31)
CREATED_AT = "2025-01-31T18:05:12.345+01:00"

TxAmount = Literal["Amt", "AmtDtls", "both", "none"]
Write = Callable[[str], None]


class CreditSpec(TypedDict, total=False):
    """One transaction of the file; every key is optional.

    `amount` is written as given (a string such as "12.345" too); `None` writes no amount at
    all. `reference_type` "QRR" writes `Tp/CdOrPrtry/Prtry`, "SCOR" `Tp/CdOrPrtry/Cd`, `None`
    no `Tp`. `acct_svcr_ref` and `entry_ref` default to generated bank references; `None` leaves
    them out. `tx_amount` says where the transaction repeats its amount: `TxDtls/Amt`,
    `AmtDtls/TxAmt/Amt` (and `InstdAmt`), both (default) or neither. `details=False` writes an
    entry without `NtryDtls`.
    """

    amount: Decimal | str | None
    currency: str
    reference: str | None
    reference_type: str | None
    unstructured: str | None
    value_date: date
    booking_date: date | None
    debit: bool
    reversal: bool
    status: str
    acct_svcr_ref: str | None
    entry_ref: str | None
    end_to_end_id: str | None
    debtor: str
    tx_amount: TxAmount
    details: bool


def qr_reference(serial: int) -> str:
    """A valid 27-digit QR reference: 26 digits of `serial`, then the mod-10-recursive check."""
    body = f"{serial:026d}"
    return body + esr.calc_check_digit(body)


def sample_credits(
    count: int, *, first_serial: int = 1, value_date: date = VALUE_DATE
) -> list[CreditSpec]:
    """`count` QR payments of varied amounts (0.05 to about 25,000 CHF), all booked in CHF."""
    return [
        {
            "amount": str(Decimal((serial * 7919) % 2_500_000 + 5).scaleb(-2)),
            "reference": qr_reference(100_000 + serial),
            "reference_type": "QRR",
            "value_date": value_date,
        }
        for serial in range(first_serial, first_serial + count)
    ]


def mixed_credits() -> list[CreditSpec]:
    """What a real day brings besides clean QR payments, in this order: two QR payments, a
    debit (the bank's fee), a reversal of an earlier credit, a valid QR reference of no invoice
    of ours, a free-text payment without reference, and a creditor reference (ISO 11649)."""
    return [
        {"amount": "1250.40", "reference": qr_reference(1), "reference_type": "QRR"},
        {"amount": "310.00", "reference": qr_reference(2), "reference_type": "QRR"},
        {"amount": "4.50", "debit": True, "reference": None, "unstructured": "Gebuehren Januar"},
        {
            "amount": "99.95",
            "debit": True,
            "reversal": True,
            "reference": qr_reference(3),
            "reference_type": "QRR",
        },
        {"amount": "77.70", "reference": qr_reference(987_654_321), "reference_type": "QRR"},
        {"amount": "15.00", "reference": None, "unstructured": "Rechnung 2025-01 Muster"},
        {"amount": "420.00", "reference": "RF18539007547034", "reference_type": "SCOR"},
    ]


def write_camt054(
    credits: Sequence[CreditSpec],
    *,
    version: str = "08",
    batched: bool = False,
    batch_size: int = 100,
    message_id: str = "CAMT054-20250131-0001",
    created_at: str = CREATED_AT,
    account_iban: str | None = CREDITOR_IBAN,
) -> bytes:
    """A camt.054 file of the given transactions.

    Unbatched, each transaction is an entry of its own. Batched (`batched=True`), consecutive
    transactions with the same direction, reversal flag, status, currency and dates share one
    entry (up to `batch_size`), whose amount is their sum, as banks batch QR payments.
    """
    out: list[str] = []
    w = out.append
    w('<?xml version="1.0" encoding="UTF-8"?>\n')
    w(
        f'<Document xmlns="{NAMESPACE.format(version=version)}"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
    )
    w("<BkToCstmrDbtCdtNtfctn>\n<GrpHdr>")
    w(f"<MsgId>{escape(message_id)}</MsgId><CreDtTm>{created_at}</CreDtTm>")
    w("<MsgPgntn><PgNb>1</PgNb><LastPgInd>true</LastPgInd></MsgPgntn>")
    w("<AddtlInf>SPS/2.1/PROD</AddtlInf></GrpHdr>\n")
    w(f"<Ntfctn><Id>{escape(message_id)}-N1</Id><CreDtTm>{created_at}</CreDtTm>")
    if account_iban is not None:
        w(f"<Acct><Id><IBAN>{account_iban}</IBAN></Id><Ccy>CHF</Ccy>")
        w("<Ownr><Nm>Stiftung 2. Saeule swissstaffing</Nm></Ownr></Acct>\n")
    serial = itertools.count(1)
    for entry_no, group in enumerate(_entries(credits, batched, batch_size), 1):
        _write_entry(w, group, entry_no, serial, message_id, version)
    w("</Ntfctn>\n</BkToCstmrDbtCdtNtfctn>\n</Document>\n")
    return "".join(out).encode()


def _entries(
    credits: Sequence[CreditSpec], batched: bool, batch_size: int
) -> Iterator[list[CreditSpec]]:
    if not batched:
        yield from ([c] for c in credits)
        return

    def key(c: CreditSpec) -> tuple[object, ...]:
        return (
            c.get("debit", False),
            c.get("reversal", False),
            c.get("status", "BOOK"),
            c.get("currency", "CHF"),
            c.get("value_date", VALUE_DATE),
            c.get("booking_date", c.get("value_date", VALUE_DATE)),
            c.get("details", True),
        )

    for _, run in itertools.groupby(credits, key=key):
        items = list(run)
        for start in range(0, len(items), batch_size):
            yield items[start : start + batch_size]


def _total(group: list[CreditSpec]) -> str | None:
    if len(group) == 1:
        amount = group[0].get("amount", "100.00")
        return None if amount is None else str(amount)
    total = Decimal(0)
    for c in group:
        try:
            total += Decimal(str(c.get("amount", "100.00")))
        except InvalidOperation:
            continue  # the test file's bad amount shows in its transaction only
    return str(total)


def _amt(amount: str, currency: str) -> str:
    return f"<Amt Ccy={quoteattr(currency)}>{escape(amount)}</Amt>"


def _bank_code(debit: bool) -> str:
    family, sub = ("ICDT", "AUTT") if debit else ("RCDT", "VCOM")
    return (
        f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>{sub}</SubFmlyCd>"
        "</Fmly></Domn></BkTxCd>"
    )


def _write_entry(
    w: Write,
    group: list[CreditSpec],
    entry_no: int,
    serial: Iterator[int],
    message_id: str,
    version: str,
) -> None:
    head = group[0]
    debit = head.get("debit", False)
    currency = head.get("currency", "CHF")
    value_date = head.get("value_date", VALUE_DATE)
    booking_date = head.get("booking_date", value_date)
    status = head.get("status", "BOOK")
    w("<Ntry>")
    w(f"<NtryRef>{CREDITOR_IBAN}</NtryRef>")  # SPS: the QR-IBAN, the same on every entry
    total = _total(group)
    if total is not None:
        w(_amt(total, currency))
    w(f"<CdtDbtInd>{'DBIT' if debit else 'CRDT'}</CdtDbtInd>")
    w(f"<RvslInd>{'true' if head.get('reversal', False) else 'false'}</RvslInd>")
    w(f"<Sts>{status}</Sts>" if version == "04" else f"<Sts><Cd>{status}</Cd></Sts>")
    if booking_date is not None:
        w(f"<BookgDt><Dt>{booking_date.isoformat()}</Dt></BookgDt>")
    w(f"<ValDt><Dt>{value_date.isoformat()}</Dt></ValDt>")
    entry_ref = head.get("entry_ref", f"{message_id}-E{entry_no:06d}")
    if entry_ref is not None:
        w(f"<AcctSvcrRef>{escape(entry_ref)}</AcctSvcrRef>")
    w(_bank_code(debit))
    if head.get("details", True):
        w("<NtryDtls>")
        if len(group) > 1:
            w(f"<Btch><NbOfTxs>{len(group)}</NbOfTxs>")
            if total is not None:
                w(f"<TtlAmt Ccy={quoteattr(currency)}>{total}</TtlAmt>")
            w(f"<CdtDbtInd>{'DBIT' if debit else 'CRDT'}</CdtDbtInd></Btch>")
        for spec in group:
            _write_transaction(w, spec, next(serial), message_id, version)
        w("</NtryDtls>")
    w("<AddtlNtryInf>QR-Zahlungen</AddtlNtryInf>" if not debit else "")
    w("</Ntry>\n")


def _write_transaction(
    w: Write, spec: CreditSpec, serial: int, message_id: str, version: str
) -> None:
    debit = spec.get("debit", False)
    amount = spec.get("amount", "100.00")
    currency = spec.get("currency", "CHF")
    where = spec.get("tx_amount", "both")
    w("<TxDtls><Refs>")
    w(f"<MsgId>{escape(message_id)}-{serial:06d}</MsgId>")
    ref = spec.get("acct_svcr_ref", f"{message_id}-T{serial:06d}")
    if ref is not None:
        w(f"<AcctSvcrRef>{escape(ref)}</AcctSvcrRef>")
    e2e = spec.get("end_to_end_id", f"E2E-{serial:09d}")
    if e2e is not None:
        w(f"<EndToEndId>{escape(e2e)}</EndToEndId>")
    w("</Refs>")
    if amount is not None and where in ("Amt", "both"):
        w(_amt(str(amount), currency))
        w(f"<CdtDbtInd>{'DBIT' if debit else 'CRDT'}</CdtDbtInd>")
    if amount is not None and where in ("AmtDtls", "both"):
        w(f"<AmtDtls><InstdAmt>{_amt(str(amount), currency)}</InstdAmt>")
        w(f"<TxAmt>{_amt(str(amount), currency)}</TxAmt></AmtDtls>")
    w(_bank_code(debit))
    name = escape(spec.get("debtor", f"Personalverleih {serial} AG"))
    address = (
        "<PstlAdr><StrtNm>Bahnhofstrasse</StrtNm><BldgNb>1</BldgNb><PstCd>8001</PstCd>"
        "<TwnNm>Zuerich</TwnNm><Ctry>CH</Ctry></PstlAdr>"
    )
    party = f"<Nm>{name}</Nm>{address}"
    w("<RltdPties><Dbtr>")
    w(party if version == "04" else f"<Pty>{party}</Pty>")
    w("</Dbtr><DbtrAcct><Id><IBAN>CH9300762011623852957</IBAN></Id></DbtrAcct></RltdPties>")
    bic = "BIC" if version == "04" else "BICFI"
    w(f"<RltdAgts><DbtrAgt><FinInstnId><{bic}>UBSWCHZH80A</{bic}></FinInstnId></DbtrAgt>")
    w("</RltdAgts>")
    reference = spec.get("reference")
    unstructured = spec.get("unstructured")
    if reference is not None or unstructured is not None:
        w("<RmtInf>")
        if unstructured is not None:
            w(f"<Ustrd>{escape(unstructured)}</Ustrd>")
        if reference is not None:
            w("<Strd><CdtrRefInf>")
            kind = spec.get("reference_type", "QRR")
            if kind == "SCOR":
                w("<Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>")
            elif kind is not None:
                w(f"<Tp><CdOrPrtry><Prtry>{escape(kind)}</Prtry></CdOrPrtry></Tp>")
            w(f"<Ref>{escape(reference)}</Ref></CdtrRefInf></Strd>")
        w("</RmtInf>")
    w("<RltdDts><AccptncDtTm>2025-01-31T09:12:00</AccptncDtTm></RltdDts></TxDtls>")


def billion_laughs(levels: int = 10) -> bytes:
    """The entity-expansion bomb: 10 levels of 10 references expand to 10**levels "lol"s."""
    lines = ['<?xml version="1.0"?>', "<!DOCTYPE Document [", '<!ENTITY lol0 "lol">']
    for n in range(1, levels):
        refs = f"&lol{n - 1};" * 10
        lines.append(f'<!ENTITY lol{n} "{refs}">')
    lines.append("]>")
    lines.append(
        f'<Document xmlns="{NAMESPACE.format(version="08")}"><BkToCstmrDbtCdtNtfctn>'
        f"<GrpHdr><MsgId>&lol{levels - 1};</MsgId></GrpHdr></BkToCstmrDbtCdtNtfctn></Document>"
    )
    return "\n".join(lines).encode()
