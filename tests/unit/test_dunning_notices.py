"""Notices to outside bodies: the labour offices' data file and the retry schedule."""

from __future__ import annotations

import re

from services.dunning import notices


def test_every_canton_has_a_labour_office_with_an_email_and_address() -> None:
    offices = notices.labour_offices()
    assert sorted(offices) == sorted(notices.CANTONS)
    assert len(offices) == 26
    for office in offices.values():
        assert office.name
        assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", office.email)
        assert re.search(r"\b\d{4} \S", office.address)  # postcode and town


def test_labour_office_of_an_unknown_canton_is_none() -> None:
    assert notices.labour_office_email("ZH") == notices.labour_offices()["ZH"].email
    assert notices.labour_office_email(None) is None
    assert notices.labour_office_email("XX") is None


def test_backoff_doubles_from_the_base_and_is_capped_at_an_hour() -> None:
    assert [notices.backoff_s(5, n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert notices.backoff_s(5, 20) == notices.MAX_BACKOFF_S == 3600
    assert notices.backoff_s(5, 10_000) == 3600


def test_error_is_class_and_short_reason() -> None:
    error = notices.short_error(ConnectionRefusedError(111, "Connection refused"))
    assert error.startswith("ConnectionRefusedError: ")
    assert len(notices.short_error(OSError("x" * 1000))) <= 200


def test_the_catch_all_notice_cites_art_11_and_carries_the_letter() -> None:
    from datetime import date
    from decimal import Decimal

    from services.dunning import letters
    from services.runtime.settings import Settings

    letter = letters.Letter(
        employer_no=1001,
        employer_name="Muster AG",
        language="fr",
        track="data",
        step="termination",
        dated=date(2025, 5, 25),
        due=date(2025, 4, 15),
        period="2025-03",
        amount=None,
        fee=Decimal("0.00"),
        article="Art. 22.2-3",
        deadline=None,
        effective=date(2025, 6, 30),
    )
    pdf = letters.render_letter_pdf(letter)
    message = notices.build_message(
        Settings(), "meldungen@auffang.test", "catch_all", letter, pdf, "n-1"
    )
    assert message["To"] == "meldungen@auffang.test"
    text = message.get_body(("plain",))
    assert text is not None
    assert "Art. 11 Abs. 3bis BVG" in text.get_content()
    assert "30.06.2025" in text.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == pdf
