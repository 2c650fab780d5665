"""The employer's tasks and messages inbox (issue 8): what the foundation tells the employer
through the platform (connect terms of use), each in one topic of ACCESS.md.

A message is a text key with parameters, rendered in the employer's language when read
(de/fr/it; en and unknown fall back to German, like the letters). The parameters never hold
personal data; a coverage finding names its worker only in `worker_ahv` (the one reference
the event carries), which is shown to the employer and never logged.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal

from services.runtime.db import Connection

MessageTopic = Literal["mutations", "contributions", "reminders"]
Kind = Literal["list.faulty", "list.unreadable", "coverage.finding", "invoice.issued", "reminder"]

#: Which topic each kind belongs to, and whether it is a task (needs the employer's action).
KINDS: Final[dict[str, tuple[MessageTopic, bool]]] = {
    "list.faulty": ("mutations", True),
    "list.unreadable": ("mutations", True),
    "coverage.finding": ("mutations", True),
    "invoice.issued": ("contributions", False),
    "reminder": ("reminders", True),
}

#: The topics that have messages.
KINDS_BY_TOPIC: Final[frozenset[str]] = frozenset(t for t, _ in KINDS.values())

#: subject and body per kind and language; `{name}` are the message's parameters.
TEXTS: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "list.faulty": {
        "de": (
            "Liste {period} fehlerhaft",
            "Die Liste {period} hat {error_count} Fehler und gilt nicht als geliefert "
            "(Art. 22.1). Bitte korrigieren und neu einreichen.",
        ),
        "fr": (
            "Liste {period} erronée",
            "La liste {period} contient {error_count} erreur(s) et n'est pas considérée comme "
            "livrée (art. 22.1). Veuillez la corriger et la soumettre à nouveau.",
        ),
        "it": (
            "Lista {period} errata",
            "La lista {period} contiene {error_count} errore/i e non è considerata consegnata "
            "(art. 22.1). Vogliate correggerla e inviarla di nuovo.",
        ),
    },
    "list.unreadable": {
        "de": (
            "Liste {period} nicht lesbar",
            "Die Liste {period} konnte nicht gelesen werden und gilt nicht als geliefert "
            "(Art. 22.1). Bitte die Vorlage verwenden und neu einreichen.",
        ),
        "fr": (
            "Liste {period} illisible",
            "La liste {period} n'a pas pu être lue et n'est pas considérée comme livrée "
            "(art. 22.1). Veuillez utiliser le modèle et la soumettre à nouveau.",
        ),
        "it": (
            "Lista {period} illeggibile",
            "La lista {period} non ha potuto essere letta e non è considerata consegnata "
            "(art. 22.1). Vogliate usare il modello e inviarla di nuovo.",
        ),
    },
    "coverage.finding": {
        "de": (
            "Abklärung {period}: {code}",
            "Für die Periode {period} weicht eine Meldung von den Regeln ab ({code}, "
            "{article}). Bitte prüfen und korrigieren.",
        ),
        "fr": (
            "Clarification {period} : {code}",
            "Pour la période {period}, une annonce diffère des règles ({code}, {article}). "
            "Veuillez vérifier et corriger.",
        ),
        "it": (
            "Chiarimento {period}: {code}",
            "Per il periodo {period} una notifica diverge dalle regole ({code}, {article}). "
            "Vogliate verificare e correggere.",
        ),
    },
    "invoice.issued": {
        "de": (
            "Rechnung {invoice_no}",
            "Rechnung {invoice_no} vom {invoice_date} über CHF {total}, fällig am {due_date}.",
        ),
        "fr": (
            "Facture {invoice_no}",
            "Facture {invoice_no} du {invoice_date} de CHF {total}, échue le {due_date}.",
        ),
        "it": (
            "Fattura {invoice_no}",
            "Fattura {invoice_no} del {invoice_date} di CHF {total}, scadente il {due_date}.",
        ),
    },
    "reminder": {
        "de": (
            "Mahnung: {step_name}",
            "{step_name} vom {dated} ({what}). Der Brief liegt bei.",
        ),
        "fr": (
            "Rappel : {step_name}",
            "{step_name} du {dated} ({what}). La lettre est jointe.",
        ),
        "it": (
            "Richiamo: {step_name}",
            "{step_name} del {dated} ({what}). La lettera è allegata.",
        ),
    },
}

_STEP_NAMES: Final[dict[str, dict[str, str]]] = {
    "reminder_1": {"de": "1. Mahnung", "fr": "1er rappel", "it": "1° richiamo"},
    "reminder_2": {"de": "2. Mahnung", "fr": "2e rappel", "it": "2° richiamo"},
    "termination": {
        "de": "Kündigung des Anschlusses",
        "fr": "Résiliation de l'affiliation",
        "it": "Disdetta dell'affiliazione",
    },
}

_WHAT: Final[dict[str, dict[str, str]]] = {
    "data": {"de": "Liste {period}", "fr": "liste {period}", "it": "lista {period}"},
    "payment": {"de": "offener Saldo", "fr": "solde ouvert", "it": "saldo aperto"},
}


def language_of(language: str | None) -> str:
    return language if language in ("de", "fr", "it") else "de"


def render(kind: str, params: dict[str, Any], language: str | None) -> tuple[str, str]:
    """Subject and body of a message in `language` (German for en and unknown ones)."""
    lang = language_of(language)
    values = dict(params)
    if kind == "reminder":
        step = str(params.get("step", ""))
        values["step_name"] = _STEP_NAMES.get(step, {}).get(lang, step)
        what = _WHAT.get(str(params.get("track", "")), {}).get(lang, "")
        values["what"] = what.format(period=params.get("period") or "")
    subject, body = TEXTS[kind][lang]
    return subject.format(**values), body.format(**values)


@dataclass(frozen=True, slots=True)
class NewMessage:
    message_id: uuid.UUID
    employer_no: int
    kind: Kind
    params: dict[str, Any]
    created_on: date
    worker_ahv: str | None = None
    upload_id: uuid.UUID | None = None
    invoice_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None
    step: str | None = None

    def args(self) -> tuple[Any, ...]:
        topic, is_task = KINDS[self.kind]
        return (
            self.message_id,
            self.employer_no,
            topic,
            self.kind,
            is_task,
            self.kind,
            json.dumps(self.params, default=str),
            self.worker_ahv,
            self.upload_id,
            self.invoice_id,
            self.case_id,
            self.step,
            self.created_on,
        )


#: One message; its id is derived from its cause, so a redelivered event writes nothing new.
SAVE_MESSAGE = """
    INSERT INTO messages (message_id, employer_no, topic, kind, is_task, text_key, params,
                          worker_ahv, upload_id, invoice_id, case_id, step, created_on)
    VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13)
    ON CONFLICT (message_id) DO NOTHING
"""

_COLUMNS = (
    "m.message_id, m.topic, m.kind, m.is_task, m.text_key, m.params, m.worker_ahv, "
    "m.upload_id, m.invoice_id, m.case_id, m.step, m.created_on, m.read_at, m.done_at, "
    "e.language"
)


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _view(employer_no: int, r: Any) -> dict[str, Any]:
    params = json.loads(r["params"]) if isinstance(r["params"], str) else dict(r["params"])
    subject, body = render(r["text_key"], params, r["language"])
    refs: dict[str, Any] = {}
    if r["upload_id"] is not None:
        refs["upload_id"] = str(r["upload_id"])
    if r["invoice_id"] is not None:
        refs["invoice_id"] = str(r["invoice_id"])
    if r["case_id"] is not None:
        refs["case_id"] = str(r["case_id"])
        refs["step"] = r["step"]
        refs["letter"] = f"/employers/{employer_no}/cases/{r['case_id']}/letters/{r['step']}.pdf"
    if r["worker_ahv"] is not None:
        refs["worker_ahv"] = r["worker_ahv"]
    return {
        "message_id": str(r["message_id"]),
        "topic": r["topic"],
        "kind": r["kind"],
        "task": r["is_task"],
        "subject": subject,
        "body": body,
        "params": params,
        "references": refs,
        "created_on": r["created_on"].isoformat(),
        "read_at": _iso(r["read_at"]),
        "done_at": _iso(r["done_at"]),
    }


async def listed(
    conn: Connection,
    employer_no: int,
    topics: frozenset[str],
    *,
    topic: str | None = None,
    unread: bool | None = None,
    tasks: bool | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The employer's messages in `topics` (the caller's), newest first, at most `limit`."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM messages m LEFT JOIN employers e USING (employer_no) "
        "WHERE m.employer_no = $1 AND m.topic = ANY($2::text[]) "
        "AND ($3::text IS NULL OR m.topic = $3) "
        "AND ($4::boolean IS NULL OR (m.read_at IS NULL) = $4) "
        "AND ($5::boolean IS NULL OR m.is_task = $5) "
        "ORDER BY m.created_on DESC, m.kind, m.message_id LIMIT $6",
        employer_no,
        sorted(topics),
        topic,
        unread,
        tasks,
        limit,
    )
    return [_view(employer_no, r) for r in rows]


async def one(
    conn: Connection, employer_no: int, topics: frozenset[str], message_id: uuid.UUID
) -> dict[str, Any] | None:
    """The message, if it is the employer's and in one of `topics`; locked for an update."""
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM messages m LEFT JOIN employers e USING (employer_no) "
        "WHERE m.message_id = $1 AND m.employer_no = $2 AND m.topic = ANY($3::text[]) "
        "FOR UPDATE OF m",
        message_id,
        employer_no,
        sorted(topics),
    )
    return None if r is None else _view(employer_no, r)


async def mark(
    conn: Connection, message_id: uuid.UUID, what: Literal["read", "done"], at: datetime
) -> None:
    """Set read (and, for done, read too); an earlier timestamp is kept."""
    if what == "read":
        sql = "UPDATE messages SET read_at = coalesce(read_at, $2) WHERE message_id = $1"
    else:
        sql = (
            "UPDATE messages SET read_at = coalesce(read_at, $2), done_at = coalesce(done_at, $2) "
            "WHERE message_id = $1"
        )
    await conn.execute(sql, message_id, at)


#: Art. 22.1: an ok list of the period fulfils the tasks of its faulty or unreadable lists.
SETTLE_LIST_TASKS = """
    UPDATE messages SET done_at = $3
    WHERE employer_no = $1 AND kind IN ('list.faulty', 'list.unreadable')
      AND params->>'period' = $2 AND done_at IS NULL
"""

#: A case closed by delivery or payment fulfils the reminder tasks of its steps (a terminated
#: case does not: the employer still owes the list or the balance).
SETTLE_CASE_TASKS = """
    UPDATE messages m SET done_at = $3
    FROM cases c
    WHERE m.case_id = c.case_id AND c.employer_no = $1 AND c.track = $2
      AND c.close_reason IN ('delivered', 'paid') AND m.kind = 'reminder' AND m.done_at IS NULL
"""


Settle = Callable[[Connection], Awaitable[None]]


def settle_list(employer_no: int, period: str, at: datetime) -> Settle:
    """The step that marks the period's list tasks done (for `uow.after_writes`)."""

    async def run(conn: Connection) -> None:
        await conn.execute(SETTLE_LIST_TASKS, employer_no, period, at)

    return run


def settle_cases(employer_no: int, track: str, at: datetime) -> Settle:
    """The step that marks the reminders of the employer's settled cases done."""

    async def run(conn: Connection) -> None:
        await conn.execute(SETTLE_CASE_TASKS, employer_no, track, at)

    return run
