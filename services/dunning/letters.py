"""Letters of the ladders as PDF in the employer's language (de, fr, it; Art. 27: German
where there is no translation), with the legal basis, amounts and deadlines. The same letter
gives the same bytes (fixed creation date)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Final

from fpdf import FPDF

from contracts.values import Track

from . import domain

FONT: Final = "Helvetica"

_TITLES: dict[str, dict[str, str]] = {
    "de": {
        "reminder_1": "1. Mahnung",
        "reminder_2": "2. Mahnung (eingeschrieben)",
        "termination": "Kündigung des Anschlussvertrages",
    },
    "fr": {
        "reminder_1": "1er rappel",
        "reminder_2": "2e rappel (recommandé)",
        "termination": "Résiliation de la convention d'affiliation",
    },
    "it": {
        "reminder_1": "1° richiamo",
        "reminder_2": "2° richiamo (raccomandata)",
        "termination": "Disdetta del contratto d'affiliazione",
    },
}

_BODY: dict[str, dict[str, str]] = {
    "de": {
        "data": "Die Mutationsliste der Periode {period} (fällig am {due}) ist nicht oder "
        "fehlerhaft eingegangen (Art. 22.1).",
        "payment": "Ihr Kontostand von CHF {amount} ist offen; fällig seit {due} (Art. 23.1).",
        "deadline": "Frist: {deadline}.",
        "fee": "Gebühr: CHF {fee}, zahlbar innert 30 Tagen.",
        "effective": "Der Anschlussvertrag endet am {effective}.",
        "basis": "Rechtsgrundlage: {article} der Richtlinien der Stiftung.",
    },
    "fr": {
        "data": "La liste des mutations de la période {period} (échue le {due}) n'est pas "
        "parvenue ou est erronée (art. 22.1).",
        "payment": "Votre solde de CHF {amount} est ouvert ; échu depuis le {due} (art. 23.1).",
        "deadline": "Délai : {deadline}.",
        "fee": "Frais : CHF {fee}, payables dans les 30 jours.",
        "effective": "La convention d'affiliation prend fin le {effective}.",
        "basis": "Base légale : {article} des directives de la fondation.",
    },
    "it": {
        "data": "La lista delle mutazioni del periodo {period} (scaduta il {due}) non è "
        "pervenuta o è errata (art. 22.1).",
        "payment": "Il vostro saldo di CHF {amount} è aperto; scaduto dal {due} (art. 23.1).",
        "deadline": "Termine: {deadline}.",
        "fee": "Spese: CHF {fee}, pagabili entro 30 giorni.",
        "effective": "Il contratto d'affiliazione termina il {effective}.",
        "basis": "Base legale: {article} delle direttive della fondazione.",
    },
}


@dataclass(frozen=True, slots=True)
class Letter:
    employer_no: int
    employer_name: str
    language: str
    track: Track
    step: domain.StepName
    dated: date
    due: date
    period: str | None
    amount: Decimal | None
    fee: Decimal
    article: str
    deadline: date | None
    effective: date | None


def language_of(language: str) -> str:
    return language if language in _TITLES else "de"


def _d(day: date) -> str:
    return f"{day:%d.%m.%Y}"


def render_letter_pdf(letter: Letter) -> bytes:
    lang = language_of(letter.language)
    words = _BODY[lang]
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_creation_date(datetime.combine(letter.dated, time(), tzinfo=UTC))
    pdf.set_creator("bvgconnect")
    pdf.set_lang(lang)
    pdf.add_page()
    pdf.set_font(FONT, size=10)
    pdf.multi_cell(0, 5, f"{letter.employer_name}\n{letter.employer_no}")
    pdf.ln(10)
    pdf.multi_cell(0, 5, _d(letter.dated))
    pdf.ln(5)
    pdf.set_font(FONT, "B", 13)
    pdf.multi_cell(0, 7, _TITLES[lang][letter.step])
    pdf.set_font(FONT, size=10)
    pdf.ln(3)
    text = [
        words[letter.track].format(
            period=letter.period or "", due=_d(letter.due), amount=letter.amount or ""
        )
    ]
    if letter.deadline is not None:
        text.append(words["deadline"].format(deadline=_d(letter.deadline)))
    if letter.fee > 0:
        text.append(words["fee"].format(fee=letter.fee))
    if letter.effective is not None:
        text.append(words["effective"].format(effective=_d(letter.effective)))
    text.append(words["basis"].format(article=letter.article))
    pdf.multi_cell(0, 5, "\n\n".join(text))
    return bytes(pdf.output())
