"""Texts of the employer's inbox: every kind renders in de/fr/it, en falls back to German,
and no text can carry an AHV number (its parameters never hold one)."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

import pytest

from services.dunning import messages

PARAMS: dict[str, dict[str, Any]] = {
    "list.faulty": {"period": "2025-03", "error_count": 2, "status": "faulty"},
    "list.unreadable": {"period": "2025-03", "error_count": 1, "status": "unreadable"},
    "coverage.finding": {
        "period": "2025-03",
        "code": "exit.missing",
        "severity": "error",
        "article": "Art. 4",
        "cost_to_employer": True,
    },
    "invoice.issued": {
        "invoice_no": "2025-0001",
        "invoice_date": "2025-04-30",
        "due_date": "2025-05-30",
        "total": "1234.50",
        "periods": ["2025-03"],
    },
    "reminder": {
        "track": "data",
        "step": "reminder_2",
        "period": "2025-03",
        "dated": "2025-05-10",
        "fee": "300.00",
    },
}


def test_every_kind_has_texts_in_every_language() -> None:
    assert set(messages.TEXTS) == set(messages.KINDS) == set(PARAMS)
    for texts in messages.TEXTS.values():
        assert set(texts) == {"de", "fr", "it"}


@pytest.mark.parametrize("kind", sorted(PARAMS))
@pytest.mark.parametrize("language", ["de", "fr", "it", "en", None])
def test_renders_without_leftover_placeholders(kind: str, language: str | None) -> None:
    subject, body = messages.render(kind, PARAMS[kind], language)
    assert subject and body
    assert "{" not in subject + body
    assert not re.search(r"756\.\d{4}", subject + body)


def test_english_and_unknown_fall_back_to_german() -> None:
    german = messages.render("reminder", PARAMS["reminder"], "de")
    assert messages.render("reminder", PARAMS["reminder"], "en") == german
    assert german[0] == "Mahnung: 2. Mahnung"
    assert messages.render("reminder", PARAMS["reminder"], "fr")[0] == "Rappel : 2e rappel"


def test_a_payment_reminder_names_the_balance_not_a_period() -> None:
    params = dict(PARAMS["reminder"], track="payment", period=None, step="termination")
    _, body = messages.render("reminder", params, "it")
    assert body.startswith("Disdetta dell'affiliazione del 2025-05-10 (saldo aperto)")


def test_topic_and_task_follow_the_kind() -> None:
    row = messages.NewMessage(
        message_id=uuid.uuid4(),
        employer_no=1001,
        kind="invoice.issued",
        params=PARAMS["invoice.issued"],
        created_on=date(2025, 4, 30),
    ).args()
    assert row[2:6] == ("contributions", "invoice.issued", False, "invoice.issued")
    assert {"mutations", "contributions", "reminders"} == messages.KINDS_BY_TOPIC
