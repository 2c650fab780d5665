"""camt.054 credit notifications of the simulated bank: QR payments only (SPS, version .08)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"


@dataclass(frozen=True, slots=True)
class Credit:
    reference: str
    amount: Decimal
    value_date: date
    #: The bank's reference of the booking: the same credit again books nothing.
    bank_reference: str


def write(credits: Sequence[Credit], *, message_id: str, iban: str, created: date) -> bytes:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<Document xmlns="{NAMESPACE}"><BkToCstmrDbtCdtNtfctn><GrpHdr>',
        f"<MsgId>{escape(message_id)}</MsgId><CreDtTm>{created.isoformat()}T18:00:00</CreDtTm>",
        "</GrpHdr>",
        f"<Ntfctn><Id>{escape(message_id)}-N1</Id><CreDtTm>{created.isoformat()}T18:00:00</CreDtTm>",
        f"<Acct><Id><IBAN>{escape(iban)}</IBAN></Id><Ccy>CHF</Ccy></Acct>",
    ]
    for n, c in enumerate(credits, 1):
        amount = f'<Amt Ccy="CHF">{c.amount:.2f}</Amt>'
        out += [
            f"<Ntry><NtryRef>{escape(iban)}</NtryRef>{amount}<CdtDbtInd>CRDT</CdtDbtInd>",
            "<RvslInd>false</RvslInd><Sts><Cd>BOOK</Cd></Sts>",
            f"<BookgDt><Dt>{c.value_date.isoformat()}</Dt></BookgDt>",
            f"<ValDt><Dt>{c.value_date.isoformat()}</Dt></ValDt>",
            f"<AcctSvcrRef>{escape(message_id)}-E{n:06d}</AcctSvcrRef>",
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>VCOM</SubFmlyCd></Fmly>",
            "</Domn></BkTxCd><NtryDtls><TxDtls><Refs>",
            f"<AcctSvcrRef>{escape(c.bank_reference)}</AcctSvcrRef></Refs>",
            f"{amount}<CdtDbtInd>CRDT</CdtDbtInd>",
            "<RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Prtry>QRR</Prtry></CdOrPrtry></Tp>",
            f"<Ref>{escape(c.reference)}</Ref></CdtrRefInf></Strd></RmtInf>",
            "</TxDtls></NtryDtls></Ntry>\n",
        ]
    out.append("</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>\n")
    return "".join(out).encode()
