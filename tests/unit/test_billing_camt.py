"""camt.054 credit notifications (RULES §8, Art. 21; Swiss Payment Standards camt.054 .04/.08)."""

from __future__ import annotations

import resource
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.ch import esr

from services.billing import camt
from services.billing.camt import CamtError, Credit, Notification, parse_camt054
from tests.support.camt import (
    CREDITOR_IBAN,
    VALUE_DATE,
    CreditSpec,
    TxAmount,
    billion_laughs,
    mixed_credits,
    qr_reference,
    sample_credits,
    write_camt054,
)

D = Decimal
VERSIONS = ("04", "08")
NS08 = b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">'


def parse(
    credits: list[CreditSpec],
    *,
    version: str = "08",
    batched: bool = False,
    message_id: str = "CAMT054-20250131-0001",
    account_iban: str | None = CREDITOR_IBAN,
) -> Notification:
    data = write_camt054(
        credits,
        version=version,
        batched=batched,
        message_id=message_id,
        account_iban=account_iban,
    )
    return parse_camt054(data)


def refused(data: bytes, code: str, match: str | None = None) -> CamtError:
    with pytest.raises(CamtError, match=match) as caught:
        parse_camt054(data)
    assert caught.value.code == code
    assert caught.value.message == str(caught.value)
    return caught.value


# -- what a credit is ----------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS, ids=["camt.054.001.04", "camt.054.001.08"])
def test_several_entries_give_one_credit_each(version: str) -> None:
    credits = sample_credits(3)
    credits[1]["booking_date"] = date(2025, 2, 3)  # booked on Monday, value Friday
    notification = parse(credits, version=version, message_id="MSG-1")

    assert notification.message_id == "MSG-1"
    assert notification.created_at == datetime(
        2025, 1, 31, 18, 5, 12, 345000, tzinfo=timezone(timedelta(hours=1))
    )
    assert notification.skipped == ()
    assert [c.amount for c in notification.credits] == [D(str(c["amount"])) for c in credits]
    assert [c.qr_reference for c in notification.credits] == [c["reference"] for c in credits]
    first, second, _ = notification.credits
    assert first == Credit(
        booking_id="MSG-1-T000001",
        amount=D("79.24"),
        currency="CHF",
        value_date=VALUE_DATE,
        booking_date=VALUE_DATE,
        qr_reference=qr_reference(100_001),
        creditor_account=CREDITOR_IBAN,
        end_to_end_id="E2E-000000001",
    )
    assert second.booking_date == date(2025, 2, 3)
    assert second.value_date == VALUE_DATE


@pytest.mark.parametrize("version", VERSIONS, ids=["camt.054.001.04", "camt.054.001.08"])
def test_a_batched_entry_gives_one_credit_per_transaction(version: str) -> None:
    credits = sample_credits(5)
    data = write_camt054(credits, version=version, batched=True, batch_size=3)
    assert data.count(b"<Ntry>") == 2 and data.count(b"<TxDtls>") == 5

    notification = parse_camt054(data)

    assert [c.amount for c in notification.credits] == [D(str(c["amount"])) for c in credits]
    assert [c.qr_reference for c in notification.credits] == [c["reference"] for c in credits]
    assert len({c.booking_id for c in notification.credits}) == 5


@pytest.mark.parametrize("batched", [False, True], ids=["entry-each", "batched"])
@pytest.mark.parametrize("version", VERSIONS, ids=["camt.054.001.04", "camt.054.001.08"])
def test_both_versions_read_alike(version: str, batched: bool) -> None:
    reference = parse(mixed_credits(), version="08", batched=False)
    notification = parse(mixed_credits(), version=version, batched=batched)
    assert notification.credits == reference.credits
    assert len(notification.skipped) == 2


def test_a_debit_and_a_reversal_are_skipped_without_personal_data() -> None:
    notification = parse(mixed_credits())

    assert [c.amount for c in notification.credits] == [
        D("1250.40"),
        D("310.00"),
        D("77.70"),
        D("15.00"),
        D("420.00"),
    ]
    debit, reversal = notification.skipped
    assert "entry 3" in debit and "debit" in debit
    assert "entry 4" in reversal and "reversal" in reversal
    for reason in notification.skipped:
        assert (
            "Personalverleih" not in reason and "CH93" not in reason and "Gebuehren" not in reason
        )


@pytest.mark.parametrize(
    ("reference", "kind", "expected"),
    [
        (qr_reference(42), "QRR", qr_reference(42)),
        (qr_reference(987_654_321), "QRR", qr_reference(987_654_321)),  # valid, not ours: kept
        (esr.format(qr_reference(42)), "QRR", qr_reference(42)),  # printed in blocks
        (qr_reference(42), None, qr_reference(42)),  # untyped, but a valid QR reference
        (qr_reference(42)[:26] + "1", "QRR", None),  # wrong check digit (it is 0)
        ("12345", "QRR", None),  # short forms are not QR references
        ("RF18539007547034", "SCOR", None),  # ISO 11649 creditor reference
        (qr_reference(42), "SCOR", None),  # typed as SCOR: not read as QR even if it checks
        ("RF18539007547034", None, None),
        (qr_reference(42), "IPI", None),
    ],
    ids=[
        "qrr",
        "qrr-unknown-to-us",
        "qrr-with-spaces",
        "untyped-valid-qr",
        "qrr-bad-check-digit",
        "qrr-too-short",
        "scor-creditor-reference",
        "scor-typed-27-digits",
        "untyped-creditor-reference",
        "other-proprietary-type",
    ],
)
def test_qr_reference(reference: str, kind: str | None, expected: str | None) -> None:
    [credit] = parse([{"reference": reference, "reference_type": kind}]).credits
    assert credit.qr_reference == expected


def test_free_text_only_has_no_qr_reference() -> None:
    [credit] = parse([{"reference": None, "unstructured": qr_reference(42)}]).credits
    assert credit.qr_reference is None


@given(digits=st.text(alphabet="0123456789", min_size=26, max_size=26), last=st.integers(0, 9))
def test_the_qr_check_agrees_with_stdnum(digits: str, last: int) -> None:
    for candidate in (digits + str(last), digits + esr.calc_check_digit(digits)):
        assert camt._is_qr_reference(candidate) == esr.is_valid(candidate)


# -- amounts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "batched", "amount"),
    [
        ("Amt", False, "12.30"),
        ("AmtDtls", True, "12.30"),
        ("none", False, "12.30"),
    ],
    ids=["txdtls-amt", "amtdtls-txamt-in-a-batch", "lone-txdtls-takes-the-entry-amount"],
)
def test_where_the_amount_comes_from(where: TxAmount, batched: bool, amount: str) -> None:
    credits: list[CreditSpec] = [
        {"amount": amount, "tx_amount": where},
        {"amount": "1.00", "tx_amount": where},
    ]
    notification = parse(credits, batched=batched)
    assert [c.amount for c in notification.credits] == [D(amount), D("1.00")]


def test_an_entry_without_details_is_one_credit() -> None:
    [credit] = parse([{"amount": "5.00", "details": False}]).credits
    assert credit.amount == D("5.00")
    assert credit.booking_id == "CAMT054-20250131-0001-E000001/1"
    assert credit.qr_reference is None and credit.end_to_end_id is None


@pytest.mark.parametrize(
    ("written", "read"),
    [("100.5", "100.50"), ("100", "100.00"), ("0100.500", "100.50"), ("0.05", "0.05")],
    ids=["one-decimal", "no-decimals", "trailing-zeros", "five-rappen"],
)
def test_amounts_are_exact_at_rappen_scale(written: str, read: str) -> None:
    [credit] = parse([{"amount": written}]).credits
    assert credit.amount == D(read)
    assert str(credit.amount) == read


@pytest.mark.parametrize(
    ("amount", "match"),
    [
        ("12.345", "more decimals than CHF"),
        ("1.123456", "more digits than ISO 20022"),
        ("1234567890123456789", "more digits than ISO 20022"),
        ("-5.00", "not an amount"),
        ("+5.00", "not an amount"),
        ("1e3", "not an amount"),
        ("NaN", "not an amount"),
        ("5,00", "not an amount"),
        ("", "not an amount"),
        ("١٢.٣٠", "not an amount"),  # Arabic-Indic digits, which Decimal() would accept
    ],
    ids=[
        "too-many-decimals-for-chf",
        "too-many-decimals-for-iso",
        "too-many-digits",
        "negative",
        "signed",
        "exponent",
        "nan",
        "decimal-comma",
        "empty",
        "non-ascii-digits",
    ],
)
def test_a_bad_amount_is_invalid(amount: str, match: str) -> None:
    refused(write_camt054([{"amount": amount}]), "camt.invalid", match)


@pytest.mark.parametrize(
    ("credits", "batched", "match"),
    [
        ([{"amount": None}], False, "no amount"),
        ([{"tx_amount": "none"}, {"tx_amount": "none"}], True, "batched entry has no amount"),
    ],
    ids=["entry-without-amt", "batched-transaction-without-amount"],
)
def test_a_missing_amount_is_invalid(credits: list[CreditSpec], batched: bool, match: str) -> None:
    refused(write_camt054(credits, batched=batched), "camt.invalid", match)


def test_a_missing_currency_is_invalid() -> None:
    data = write_camt054(sample_credits(1)).replace(b' Ccy="CHF"', b"", 1)
    refused(data, "camt.invalid", "currency")


# -- entries left out ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"debit": True}, "debit"),
        ({"reversal": True}, "reversal"),
        ({"status": "PDNG"}, "not booked (status 'PDNG')"),
        ({"status": "INFO"}, "not booked (status 'INFO')"),
        ({"currency": "EUR"}, "in 'EUR', not CHF"),
        ({"amount": "0.00"}, "nothing to book"),
    ],
    ids=["debit", "reversal", "pending", "info", "other-currency", "zero-amount"],
)
@pytest.mark.parametrize("version", VERSIONS, ids=["camt.054.001.04", "camt.054.001.08"])
def test_entries_that_are_not_payments_are_skipped(
    version: str, spec: CreditSpec, reason: str
) -> None:
    notification = parse([*sample_credits(1), spec], version=version)
    assert len(notification.credits) == 1
    [skipped] = notification.skipped
    assert skipped.startswith("entry 2") and reason in skipped


def test_a_debit_transaction_inside_a_credit_entry_is_skipped() -> None:
    data = write_camt054(sample_credits(2), batched=True)
    data = data.replace(
        b"</Amt><CdtDbtInd>CRDT</CdtDbtInd><AmtDtls>",
        b"</Amt><CdtDbtInd>DBIT</CdtDbtInd><AmtDtls>",
        1,
    )
    notification = parse_camt054(data)
    assert len(notification.credits) == 1
    assert notification.skipped == (
        "entry 1, transaction 1: a debit transaction in a credit entry",
    )


# -- booking id ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "booking_id"),
    [
        ({}, "MSG-7-T000001"),
        ({"acct_svcr_ref": None}, "MSG-7-E000001/1"),
        ({"acct_svcr_ref": None, "entry_ref": None}, "MSG-7/1/1"),
    ],
    ids=["transaction-reference", "entry-reference-and-position", "message-entry-position"],
)
def test_booking_id_rule(spec: CreditSpec, booking_id: str) -> None:
    [credit] = parse([spec], message_id="MSG-7").credits
    assert credit.booking_id == booking_id


def test_booking_id_of_a_batch_without_transaction_references() -> None:
    credits: list[CreditSpec] = [{"acct_svcr_ref": None} for _ in range(3)]
    notification = parse(credits, batched=True, message_id="MSG-7")
    assert [c.booking_id for c in notification.credits] == [
        "MSG-7-E000001/1",
        "MSG-7-E000001/2",
        "MSG-7-E000001/3",
    ]


def test_the_same_file_twice_gives_the_same_booking_ids() -> None:
    data = write_camt054(mixed_credits(), batched=True)
    assert parse_camt054(data) == parse_camt054(data)


def test_a_booking_id_twice_in_one_file_is_invalid() -> None:
    credits: list[CreditSpec] = [{"acct_svcr_ref": "SAME"}, {"acct_svcr_ref": "SAME"}]
    refused(write_camt054(credits), "camt.invalid", "occurs twice")


def test_end_to_end_id_notprovided_is_none() -> None:
    credits: list[CreditSpec] = [{"end_to_end_id": "NOTPROVIDED"}, {"end_to_end_id": None}]
    assert [c.end_to_end_id for c in parse(credits).credits] == [None, None]


# -- the file around the entries -----------------------------------------------------------


def test_two_notifications_keep_their_accounts() -> None:
    one = write_camt054(sample_credits(2), account_iban="CH4431999123000889012")
    two = write_camt054(sample_credits(1, first_serial=9), account_iban="CH0930000001250096871")
    second = two[two.index(b"<Ntfctn>") : two.index(b"</Ntfctn>") + len(b"</Ntfctn>")]
    second = second.replace(b"-T0000", b"-X0000")
    data = one.replace(b"</Ntfctn>", b"</Ntfctn>\n" + second)
    notification = parse_camt054(data)
    assert [c.creditor_account for c in notification.credits] == [
        "CH4431999123000889012",
        "CH4431999123000889012",
        "CH0930000001250096871",
    ]


def test_no_account_iban() -> None:
    [credit] = parse(sample_credits(1), account_iban=None).credits
    assert credit.creditor_account is None


@pytest.mark.parametrize("chunk", [64, 997, 4096])
def test_the_result_does_not_depend_on_chunk_boundaries(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_camt054(mixed_credits() + sample_credits(40), batched=True, batch_size=7)
    whole = parse_camt054(data)
    monkeypatch.setattr(camt, "_CHUNK", chunk)
    assert parse_camt054(data) == whole


def test_a_file_over_many_chunks_keeps_every_entry_in_order() -> None:
    credits = sample_credits(500)
    data = write_camt054(credits)
    assert len(data) > 20 * camt._CHUNK
    notification = parse_camt054(data)
    assert [c.qr_reference for c in notification.credits] == [c["reference"] for c in credits]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ((b"<ValDt><Dt>2025-01-31</Dt></ValDt>", b""), "no value date"),
        ((b"<ValDt><Dt>2025-01-31</Dt>", b"<ValDt><Dt>2025-02-30</Dt>"), "not a date"),
        ((b"<ValDt><Dt>2025-01-31</Dt>", b"<ValDt><Dt>31.01.2025</Dt>"), "not a date"),
        ((b"<Sts><Cd>BOOK</Cd></Sts>", b""), "no status"),
        (
            (b"<CdtDbtInd>CRDT</CdtDbtInd><RvslInd>", b"<CdtDbtInd>CR</CdtDbtInd><RvslInd>"),
            "CdtDbtInd",
        ),
        ((b"<MsgId>CAMT054-20250131-0001</MsgId>", b""), "no message id"),
        (
            (
                b"<CreDtTm>2025-01-31T18:05:12.345+01:00</CreDtTm><MsgPgntn>",
                b"<CreDtTm>yesterday</CreDtTm><MsgPgntn>",
            ),
            "CreDtTm",
        ),
    ],
    ids=[
        "no-value-date",
        "impossible-date",
        "swiss-date",
        "no-status",
        "bad-direction",
        "no-msgid",
        "bad-creation-time",
    ],
)
def test_a_broken_entry_or_header_is_invalid(edit: tuple[bytes, bytes], match: str) -> None:
    data = write_camt054(sample_credits(1))
    assert edit[0] in data
    refused(data.replace(*edit, 1), "camt.invalid", match)


def test_value_date_as_date_time() -> None:
    data = write_camt054(sample_credits(1)).replace(
        b"<ValDt><Dt>2025-01-31</Dt>", b"<ValDt><DtTm>2025-01-31T23:59:59+01:00</DtTm>"
    )
    [credit] = parse_camt054(data).credits
    assert credit.value_date == date(2025, 1, 31)


def test_no_group_header_is_invalid() -> None:
    data = write_camt054(sample_credits(1))
    start, end = data.index(b"<GrpHdr>"), data.index(b"</GrpHdr>") + len(b"</GrpHdr>")
    refused(data[:start] + data[end:], "camt.invalid", "group header")


# -- refusals: unreadable, unsupported -----------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not xml at all",
        NS08 + b"<unclosed></Document>",
        write_camt054(sample_credits(3))[:-200],  # truncated mid-file
        b"\xff\xfe\x00garbage",
        b'<?xml version="1.0" encoding="rot13"?><Document/>',
        b'<?xml version="1.0" encoding="no-such-codec"?><Document/>',
        b'<?xml version="1.0" encoding="shift_jis"?><Document/>',
        NS08 + b"&undefined;</Document>",
    ],
    ids=[
        "empty",
        "text",
        "mismatched-tags",
        "truncated",
        "binary",
        "text-codec",
        "unknown-codec",
        "multi-byte-codec",
        "undefined-entity",
    ],
)
def test_malformed_xml_is_unreadable(data: bytes) -> None:
    refused(data, "camt.unreadable")


@pytest.mark.parametrize("encoding", ["UTF-16", "ISO-8859-1"])
def test_other_encodings_read_alike(encoding: str) -> None:
    credits = mixed_credits()
    credits[0]["debtor"] = "Bäckerei Müller & Söhne"
    text = write_camt054(credits).decode()
    data = text.replace('encoding="UTF-8"', f'encoding="{encoding}"').encode(encoding)
    assert parse_camt054(data) == parse_camt054(text.encode())


def test_billion_laughs_is_refused_before_expanding() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    refused(billion_laughs(), "camt.unreadable", "DTD")
    assert time.perf_counter() - started < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024  # KiB


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
        b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://example.invalid/camt.dtd"><d/>',
        b'<?xml version="1.0"?><!DOCTYPE d><d/>',
    ],
    ids=["external-entity", "external-dtd", "any-doctype"],
)
def test_dtds_and_external_entities_are_unreadable(data: bytes) -> None:
    refused(data, "camt.unreadable", "DTD")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
            b"<BkToCstmrStmt><GrpHdr><MsgId>X</MsgId></GrpHdr></BkToCstmrStmt></Document>",
            "a 'camt.053.001.08' message",
        ),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09">'
            b"<CstmrCdtTrfInitn/></Document>",
            "a 'pain.001.001.09' message",
        ),
        (write_camt054(sample_credits(1), version="02"), "version 'camt.054.001.02' is not read"),
        (write_camt054(sample_credits(1), version="10"), "version 'camt.054.001.10' is not read"),
        (b"<Document><BkToCstmrDbtCdtNtfctn/></Document>", "not an ISO 20022 message"),
        (
            b'<Notification xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"/>',
            "not an ISO 20022 message",
        ),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">'
            b"<BkToCstmrStmt/></Document>",
            "not a debit/credit notification",
        ),
    ],
    ids=[
        "camt.053",
        "pain.001",
        "camt.054.001.02",
        "camt.054.001.10",
        "no-namespace",
        "other-root",
        "other-message-element",
    ],
)
def test_another_message_is_unsupported(data: bytes, match: str) -> None:
    refused(data, "camt.unsupported", match)


def test_a_second_message_in_the_document_is_invalid() -> None:
    data = write_camt054(sample_credits(1))
    data = data.replace(b"</Document>", b"<BkToCstmrDbtCdtNtfctn/></Document>")
    refused(data, "camt.invalid", "more than one message")


@pytest.mark.parametrize(
    ("where", "name"),
    [(b"<AddtlNtryInf>", "'Ntry'"), (b"<AddtlInf>", "'GrpHdr'")],
    ids=["in-an-entry", "in-the-header"],
)
def test_an_element_flood_is_refused_once_a_part_outgrows_the_limit(
    where: bytes, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(camt, "MAX_PART_BYTES", 256 * 1024)
    data = write_camt054(sample_credits(3)).replace(where, b"<a/>" * 100_000 + where, 1)
    refused(data, "camt.invalid", f"One {name} element of the file is larger than 0.25 MiB")


def test_a_large_batch_below_the_limit_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(camt, "MAX_PART_BYTES", 256 * 1024)
    data = write_camt054(sample_credits(150), batched=True, batch_size=150)
    assert 150_000 < len(data) < 256 * 1024
    assert len(parse_camt054(data).credits) == 150


def test_a_file_over_the_limit_is_not_read() -> None:
    data = write_camt054(sample_credits(10))
    with pytest.raises(CamtError) as caught:
        parse_camt054(data, max_bytes=len(data) - 1)
    assert caught.value.code == "camt.unreadable" and "more than" in caught.value.message
    assert len(parse_camt054(data, max_bytes=len(data)).credits) == 10


# -- nothing but CamtError -----------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2_000))
def test_random_bytes_raise_nothing_but_camt_error(data: bytes) -> None:
    try:
        parse_camt054(data)
    except CamtError as exc:
        assert exc.code in ("camt.unreadable", "camt.unsupported", "camt.invalid")


_VALID = write_camt054(mixed_credits(), batched=True)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=len(_VALID)),
    position=st.integers(min_value=0, max_value=len(_VALID) - 1),
    byte=st.integers(min_value=0, max_value=255),
)
def test_damaged_files_raise_nothing_but_camt_error(cut: int, position: int, byte: int) -> None:
    damaged = bytearray(_VALID[:cut] if cut < position else _VALID)
    if position < len(damaged):
        damaged[position] = byte
    try:
        notification = parse_camt054(bytes(damaged))
    except CamtError:
        return
    assert all(c.amount > 0 and c.currency == "CHF" for c in notification.credits)
