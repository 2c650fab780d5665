"""Typed SQL of the intake service: uploads as received, reports, the list in force."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from contracts.values import Language
from services.runtime.db import Connection
from services.runtime.telemetry import inject

from .model import Finding

Channel = Literal["http", "kafka"]
FileKind = Literal["xlsx", "json"]

#: NOTIFY channel that wakes the checkers when an upload is stored.
UPLOADS_CHANNEL = "intake_uploads"

#: Row languages are kept as one character per row (reports.row_languages).
LANGUAGE_CHARS: dict[Language, str] = {"de": "d", "fr": "f", "it": "i", "en": "e"}
CHAR_LANGUAGES: dict[str, Language] = {v: k for k, v in LANGUAGE_CHARS.items()}


@dataclass(frozen=True, slots=True)
class Upload:
    """A file or submission as stored, with what is known of its check."""

    upload_id: uuid.UUID
    employer_no: int
    period: str
    channel: Channel
    file_kind: FileKind
    sha256: str
    size_bytes: int
    received_at: datetime
    received_by: str
    language: str
    state: Literal["received", "checked"]


_UPLOAD_COLUMNS = (
    "upload_id, employer_no, period, channel, file_kind, sha256, size_bytes, received_at, "
    "received_by, language, state"
)


def _upload(record: Any) -> Upload:
    return Upload(
        upload_id=record["upload_id"],
        employer_no=record["employer_no"],
        period=record["period"],
        channel=record["channel"],
        file_kind=record["file_kind"],
        sha256=record["sha256"],
        size_bytes=record["size_bytes"],
        received_at=record["received_at"],
        received_by=record["received_by"],
        language=record["language"].strip(),
        state=record["state"],
    )


async def store_upload(
    conn: Connection,
    *,
    upload_id: uuid.UUID,
    employer_no: int,
    period: str,
    channel: Channel,
    file_kind: FileKind,
    sha256: str,
    content: bytes,
    received_at: datetime,
    received_by: str,
    language: str,
    submission_id: str | None = None,
) -> tuple[Upload, bool]:
    """Keep the bytes as received (RULES §7); the same file again is the same upload.

    Returns the upload and whether it is new.
    """
    record = await conn.fetchrow(
        f"""
        INSERT INTO uploads (upload_id, employer_no, period, channel, file_kind, sha256,
                             size_bytes, content, received_at, received_by, language,
                             submission_id, trace_headers)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (employer_no, period, sha256) DO NOTHING
        RETURNING {_UPLOAD_COLUMNS}
        """,
        upload_id,
        employer_no,
        period,
        channel,
        file_kind,
        sha256,
        len(content),
        content,
        received_at,
        received_by,
        language,
        submission_id,
        # the W3C trace headers of the receipt: the checker continues that trace
        json.dumps(inject()),
    )
    if record is not None:
        await conn.execute("SELECT pg_notify($1, '')", UPLOADS_CHANNEL)
        return _upload(record), True
    existing = await conn.fetchrow(
        f"SELECT {_UPLOAD_COLUMNS} FROM uploads "
        "WHERE employer_no = $1 AND period = $2 AND sha256 = $3",
        employer_no,
        period,
        sha256,
    )
    assert existing is not None
    return _upload(existing), False


async def claim_next_unchecked(conn: Connection) -> tuple[Upload, bytes, dict[str, str]] | None:
    """Lock the oldest upload still to be checked; other checkers skip it. Returns the
    upload, its bytes and the trace headers of its receipt."""
    record = await conn.fetchrow(
        f"""
        SELECT {_UPLOAD_COLUMNS}, content, trace_headers FROM uploads
        WHERE state = 'received'
        ORDER BY received_at, upload_id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
        """
    )
    if record is None:
        return None
    headers = record["trace_headers"]
    trace_headers = json.loads(headers) if isinstance(headers, str) else {}
    return _upload(record), bytes(record["content"]), trace_headers


async def get_upload(conn: Connection, employer_no: int, upload_id: uuid.UUID) -> Upload | None:
    record = await conn.fetchrow(
        f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE employer_no = $1 AND upload_id = $2",
        employer_no,
        upload_id,
    )
    return None if record is None else _upload(record)


async def upload_content(conn: Connection, upload_id: uuid.UUID) -> bytes:
    content = await conn.fetchval("SELECT content FROM uploads WHERE upload_id = $1", upload_id)
    return bytes(content)


async def employer_language(conn: Connection, employer_no: int) -> str | None:
    language: str | None = await conn.fetchval(
        "SELECT language FROM employers WHERE employer_no = $1", employer_no
    )
    return language


async def list_in_force(conn: Connection, employer_no: int, period: str) -> uuid.UUID | None:
    upload_id: uuid.UUID | None = await conn.fetchval(
        "SELECT upload_id FROM list_versions WHERE employer_no = $1 AND period = $2",
        employer_no,
        period,
    )
    return upload_id


async def is_invoiced(conn: Connection, employer_no: int, period: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM invoiced_periods WHERE employer_no = $1 AND period = $2)",
            employer_no,
            period,
        )
    )


async def mark_invoiced(
    conn: Connection, employer_no: int, periods: Sequence[str], invoice_id: uuid.UUID
) -> None:
    await conn.executemany(
        "INSERT INTO invoiced_periods (employer_no, period, invoice_id) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        [(employer_no, period, invoice_id) for period in periods],
    )


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """What is stored of a check besides its findings."""

    upload_id: uuid.UUID
    status: Literal["ok", "faulty", "unreadable"]
    row_count: int
    error_count: int
    warning_count: int
    counts_by_code: dict[str, int]
    on_time: bool
    due_date: date
    received_on: date
    replaces_upload_id: uuid.UUID | None
    row_languages: str
    rows_priced: int
    checked_at: datetime


async def save_report(
    conn: Connection, report: ReportRecord, findings: Sequence[Finding], *, accepted: bool
) -> None:
    """Store the check of an upload; an error-free list becomes the list in force."""
    await conn.execute(
        """
        INSERT INTO reports (upload_id, status, row_count, error_count, warning_count,
                             counts_by_code, on_time, due_date, received_on,
                             replaces_upload_id, row_languages, checked_at)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12)
        """,
        report.upload_id,
        report.status,
        report.row_count,
        report.error_count,
        report.warning_count,
        json.dumps(report.counts_by_code),
        report.on_time,
        report.due_date,
        report.received_on,
        report.replaces_upload_id,
        report.row_languages,
        report.checked_at,
    )
    if findings:
        await conn.copy_records_to_table(
            "findings",
            columns=("upload_id", "sheet", "row_no", "col", "code", "severity", "message"),
            records=[
                (report.upload_id, f.sheet, f.row, f.column, f.code, f.severity, f.message)
                for f in findings
            ],
        )
    await conn.execute(
        "UPDATE uploads SET state = 'checked' WHERE upload_id = $1", report.upload_id
    )
    if accepted:
        upload = await conn.fetchrow(
            "SELECT employer_no, period FROM uploads WHERE upload_id = $1", report.upload_id
        )
        assert upload is not None
        await conn.execute(
            """
            INSERT INTO list_versions (employer_no, period, upload_id, accepted_on)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (employer_no, period) DO UPDATE
                SET upload_id = EXCLUDED.upload_id, accepted_on = EXCLUDED.accepted_on
            """,
            upload["employer_no"],
            upload["period"],
            report.upload_id,
            report.received_on,
        )


async def get_report(conn: Connection, upload_id: uuid.UUID) -> ReportRecord | None:
    record = await conn.fetchrow("SELECT * FROM reports WHERE upload_id = $1", upload_id)
    if record is None:
        return None
    return ReportRecord(
        upload_id=record["upload_id"],
        status=record["status"],
        row_count=record["row_count"],
        error_count=record["error_count"],
        warning_count=record["warning_count"],
        counts_by_code=json.loads(record["counts_by_code"]),
        on_time=record["on_time"],
        due_date=record["due_date"],
        received_on=record["received_on"],
        replaces_upload_id=record["replaces_upload_id"],
        row_languages=record["row_languages"],
        rows_priced=record["rows_priced"],
        checked_at=record["checked_at"],
    )


async def get_findings(
    conn: Connection, upload_id: uuid.UUID, *, offset: int = 0, limit: int | None = None
) -> list[Finding]:
    records = await conn.fetch(
        "SELECT sheet, row_no, col, code, severity, message FROM findings "
        "WHERE upload_id = $1 ORDER BY finding_id OFFSET $2 LIMIT $3",
        upload_id,
        offset,
        limit,
    )
    return [
        Finding(
            code=r["code"],
            severity=r["severity"],
            message=r["message"],
            row=r["row_no"],
            column=r["col"],
            sheet=r["sheet"],
        )
        for r in records
    ]


async def count_findings(conn: Connection, upload_id: uuid.UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM findings WHERE upload_id = $1", upload_id
    )
    return count


#: Priced rows (`UnitOfWork.defer_rows`: one statement for a batch's rows; arrays of upload
#: ids, row numbers and each row's warnings as JSON): each counted once, its declared-versus-
#: computed warnings added once, and each report updated once for all its rows.
RECORD_PRICED_ROWS = """
    WITH input AS (
        SELECT DISTINCT ON (upload_id, row_no) *
        FROM unnest($1::uuid[], $2::integer[], $3::jsonb[]) AS i(upload_id, row_no, found)
    ), priced AS (
        INSERT INTO priced_rows (upload_id, row_no)
        SELECT upload_id, row_no FROM input
        ON CONFLICT DO NOTHING RETURNING upload_id, row_no
    ), added AS (
        INSERT INTO findings (upload_id, sheet, row_no, col, code, severity, message)
        SELECT p.upload_id, NULL, p.row_no, f.col, f.code, 'warning', f.message
        FROM priced p JOIN input i USING (upload_id, row_no),
             jsonb_to_recordset(i.found) AS f(col text, code text, message text)
        ON CONFLICT DO NOTHING
        RETURNING upload_id, code
    ), rows_of AS (
        SELECT upload_id, count(*) AS n FROM priced GROUP BY upload_id
    ), codes AS (
        SELECT upload_id, sum(n) AS warnings, jsonb_object_agg(code, n) AS by_code
        FROM (SELECT upload_id, code, count(*) AS n FROM added GROUP BY upload_id, code) AS a
        GROUP BY upload_id
    )
    UPDATE reports r SET
        rows_priced = r.rows_priced + c.n,
        warning_count = r.warning_count + COALESCE(k.warnings, 0),
        counts_by_code = r.counts_by_code || COALESCE((
            SELECT jsonb_object_agg(e.key, COALESCE((r.counts_by_code ->> e.key)::int, 0)
                                           + e.value::int)
            FROM jsonb_each_text(k.by_code) AS e
        ), '{}'::jsonb)
    FROM rows_of c LEFT JOIN codes k USING (upload_id)
    WHERE r.upload_id = c.upload_id
"""


@dataclass(frozen=True, slots=True)
class UploadSummary:
    upload_id: uuid.UUID
    period: str
    channel: Channel
    received_at: datetime
    state: str
    status: str | None
    row_count: int | None
    in_force: bool


async def list_uploads(
    conn: Connection, employer_no: int, period: str | None, *, limit: int
) -> list[UploadSummary]:
    records = await conn.fetch(
        """
        SELECT u.upload_id, u.period, u.channel, u.received_at, u.state, r.status, r.row_count,
               v.upload_id IS NOT NULL AS in_force
        FROM uploads u
        LEFT JOIN reports r ON r.upload_id = u.upload_id
        LEFT JOIN list_versions v ON v.upload_id = u.upload_id
        WHERE u.employer_no = $1 AND ($2::text IS NULL OR u.period = $2)
        ORDER BY u.received_at DESC, u.upload_id
        LIMIT $3
        """,
        employer_no,
        period,
        limit,
    )
    return [
        UploadSummary(
            upload_id=r["upload_id"],
            period=r["period"],
            channel=r["channel"],
            received_at=r["received_at"],
            state=r["state"],
            status=r["status"],
            row_count=r["row_count"],
            in_force=r["in_force"],
        )
        for r in records
    ]


async def save_part(
    conn: Connection,
    *,
    employer_no: int,
    submission_id: str,
    part_no: int,
    part_count: int,
    period: str,
    language: str,
    rows_json: str,
    received_at: datetime,
) -> None:
    """Keep one part of a connector's submission; a part sent twice is kept once."""
    await conn.execute(
        """
        INSERT INTO submission_parts (employer_no, submission_id, part_no, part_count, period,
                                      language, rows, received_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
        ON CONFLICT DO NOTHING
        """,
        employer_no,
        submission_id,
        part_no,
        part_count,
        period,
        language,
        rows_json,
        received_at,
    )


@dataclass(frozen=True, slots=True)
class Part:
    part_no: int
    part_count: int
    period: str
    language: str
    rows_json: str
    received_at: datetime


async def submission_parts(conn: Connection, employer_no: int, submission_id: str) -> list[Part]:
    """Every part of a submission received so far, in part order (locked: one assembler)."""
    records = await conn.fetch(
        """
        SELECT part_no, part_count, period, language, rows::text AS rows_json, received_at
        FROM submission_parts WHERE employer_no = $1 AND submission_id = $2
        ORDER BY part_no FOR UPDATE
        """,
        employer_no,
        submission_id,
    )
    return [
        Part(
            part_no=r["part_no"],
            part_count=r["part_count"],
            period=r["period"],
            language=r["language"].strip(),
            rows_json=r["rows_json"],
            received_at=r["received_at"],
        )
        for r in records
    ]


async def assembled_upload(
    conn: Connection, employer_no: int, submission_id: str
) -> uuid.UUID | None:
    upload_id: uuid.UUID | None = await conn.fetchval(
        "SELECT upload_id FROM submissions WHERE employer_no = $1 AND submission_id = $2",
        employer_no,
        submission_id,
    )
    return upload_id


async def mark_assembled(
    conn: Connection, employer_no: int, submission_id: str, upload_id: uuid.UUID
) -> None:
    """The submission is an upload now; its parts are no longer needed."""
    await conn.execute(
        "INSERT INTO submissions (employer_no, submission_id, upload_id) VALUES ($1, $2, $3)",
        employer_no,
        submission_id,
        upload_id,
    )
    await conn.execute(
        "DELETE FROM submission_parts WHERE employer_no = $1 AND submission_id = $2",
        employer_no,
        submission_id,
    )
