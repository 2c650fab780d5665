"""Safe reading of an uploaded monthly list (TEMPLATE.md: `file.unreadable`, `file.too_large`).

Everything that could hurt happens before calamine sees the bytes: the size limit, the file
type by its magic bytes, and one streaming pass over every zip member that enforces the
declared sizes (a member that inflates past its header is a zip bomb), the sum, the member
count and the compression ratio. Calamine then reads only the list sheet and `Einsätze`.
"""

from __future__ import annotations

import html
import io
import itertools
import posixpath
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any, cast

from python_calamine import CalamineSheet, CalamineWorkbook, PasswordError, SheetTypeEnum

from services.intake.model import (
    ASSIGNMENTS_SHEET,
    MUTATIONS_SHEET,
    Cell,
    CellRange,
    Sheet,
    Workbook,
)

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "UnreadableFile",
    "check_file",
    "find_sheet",
    "list_sheet_name",
    "read_workbook",
]


@dataclass(frozen=True, slots=True)
class Limits:
    """Configured limits of an upload (TEMPLATE.md: default 20 MB / 200,000 rows)."""

    max_bytes: int = 20 * 1024 * 1024
    #: Data rows (rows after the header row) of the list sheet and of `Einsätze`.
    max_rows: int = 200_000
    #: Sum of the zip members' uncompressed sizes (zip bombs).
    max_uncompressed: int = 400 * 1024 * 1024
    #: Members of the zip; Excel writes a few dozen.
    max_members: int = 2_000
    #: Uncompressed : compressed of one member above 1 MiB. Real sheet XML compresses below
    #: 30 times (even a million formatted empty rows); deflate's ceiling is about 1032.
    max_ratio: int = 500


DEFAULT_LIMITS = Limits()


class UnreadableFile(Exception):
    """The upload is not a readable list.

    `code` is "file.unreadable" or "file.too_large" (TEMPLATE.md); `reason` a stable key for
    the message ("not_xlsx", "corrupt", "encrypted", "legacy_xls", "macros", "too_big",
    "too_many_rows", "uncompressed_too_big"); `detail` English for humans, no personal data.
    """

    def __init__(self, code: str, reason: str, detail: str) -> None:
        super().__init__(f"{code}/{reason}: {detail}")
        self.code = code
        self.reason = reason
        self.detail = detail


def _unreadable(reason: str, detail: str) -> UnreadableFile:
    return UnreadableFile("file.unreadable", reason, detail)


def _too_large(reason: str, detail: str) -> UnreadableFile:
    return UnreadableFile("file.too_large", reason, detail)


_OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")
_RATIO_FLOOR = 1024 * 1024
_IN_CHUNK = 64 * 1024
_OUT_CHUNK = 1024 * 1024
#: Cheap hint of a formula element (`<f>`, `<f t="shared"…/>`, `<x:f>`); false hits only cost
#: the exact scan of `_formulas_without_value`. A regex here is three times faster than `in`.
_FORMULA_HINT = re.compile(rb"f[\s>/]")


def read_workbook(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Workbook:
    """The list sheet and `Einsätze` of an xlsx upload, or `UnreadableFile`.

    The list sheet is `Mutationen`, or the only worksheet of the workbook (TEMPLATE.md);
    without either `Workbook.mutations` is None (the checks report `file.no_sheet`).
    Cells are as calamine reads them ("" for empty); times and durations become text.
    Rows are as long as the sheet's widest row, which may be shorter than COLUMNS.
    """
    archive = _checked(data, limits)
    try:
        return _read(archive, data, limits)
    except UnreadableFile:
        raise
    except PasswordError:
        raise _unreadable("encrypted", "workbook is password-protected") from None
    except BaseException as error:
        # calamine raises many types, and Rust panics as pyo3's PanicException (a BaseException)
        if isinstance(error, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        raise _unreadable("corrupt", f"workbook cannot be read ({type(error).__name__})") from None


def check_file(data: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    """The checks `read_workbook` makes before parsing anything, for other readers (openpyxl):
    size, file type, macros, zip structure and real sizes. Raises `UnreadableFile`."""
    _checked(data, limits)


def list_sheet_name(worksheets: Sequence[str]) -> str | None:
    """Which worksheet holds the list: `Mutationen`, else the only one (TEMPLATE.md) unless
    that is `Einsätze`."""
    found = find_sheet(worksheets, MUTATIONS_SHEET)
    if found is None and len(worksheets) == 1 and find_sheet(worksheets, ASSIGNMENTS_SHEET) is None:
        return worksheets[0]
    return found


def find_sheet(names: Iterable[str], wanted: str) -> str | None:
    """The sheet named `wanted`, also with other case, spaces around or decomposed umlauts."""
    names = list(names)
    if wanted in names:
        return wanted
    return next((name for name in names if _key(name) == _key(wanted)), None)


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip().casefold()


def _checked(data: bytes, limits: Limits) -> _Archive:
    try:
        if len(data) > limits.max_bytes:
            raise _too_large("too_big", f"file has {len(data)} bytes, limit {limits.max_bytes}")
        if data[:8] == _OLE2:
            # Office wraps a password-protected xlsx in an OLE2 container with this stream.
            if _ENCRYPTION_INFO in data:
                raise _unreadable("encrypted", "workbook is password-protected")
            raise _unreadable("legacy_xls", "OLE2 compound file (Excel 97-2003 .xls)")
        if data[:2] != b"PK":
            raise _unreadable("not_xlsx", "not a zip archive")
        return _checked_archive(data, limits)
    except UnreadableFile:
        raise
    except Exception as error:
        raise _unreadable(
            "corrupt", f"zip archive cannot be read ({type(error).__name__})"
        ) from None


def _read(archive: _Archive, data: bytes, limits: Limits) -> Workbook:
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    worksheets = [meta.name for meta in book.sheets_metadata if meta.typ == SheetTypeEnum.WorkSheet]
    list_name = list_sheet_name(worksheets)
    assignments_name = find_sheet(worksheets, ASSIGNMENTS_SHEET)
    parts = _sheet_parts(archive.zip) if archive.with_formulas else {}

    def sheet(name: str | None) -> Sheet | None:
        if name is None:
            return None
        part = parts.get(name)
        return _read_sheet(
            book,
            name,
            limits,
            archive.zip.read(part) if part in archive.with_formulas else None,
        )

    return Workbook(tuple(book.sheet_names), sheet(list_name), sheet(assignments_name))


# -- the archive --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Archive:
    zip: zipfile.ZipFile
    #: Members that contain a formula element.
    with_formulas: frozenset[str]


def _checked_archive(data: bytes, limits: Limits) -> _Archive:
    """The zip, checked before anyone parses it: structure, macros, sizes, real sizes."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except Exception:
        raise _unreadable("corrupt", "zip archive is truncated or damaged") from None
    if len(members) > limits.max_members:
        raise _too_large("uncompressed_too_big", f"{len(members)} zip members")
    names = {info.filename for info in members}
    if len(names) != len(members):
        raise _unreadable("corrupt", "zip archive names a member twice")
    if "xl/workbook.xml" not in names:
        raise _unreadable("not_xlsx", "zip archive without xl/workbook.xml")
    view = memoryview(data)
    if "xl/vbaProject.bin" in names or (
        "[Content_Types].xml" in names
        and b"macroenabled" in _small_member(view, archive, "[Content_Types].xml").lower()
    ):
        raise _unreadable("macros", "macro-enabled workbook (.xlsm)")
    declared = sum(info.file_size for info in members)
    if declared > limits.max_uncompressed:
        raise _too_large(
            "uncompressed_too_big",
            f"members inflate to {declared} bytes, limit {limits.max_uncompressed}",
        )
    for info in members:
        if info.file_size > _RATIO_FLOOR and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise _too_large("uncompressed_too_big", "a zip member is compressed suspiciously")
    with_formulas = frozenset(info.filename for info in members if _inflate_checked(view, info))
    return _Archive(archive, with_formulas)


def _small_member(view: memoryview, archive: zipfile.ZipFile, name: str) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > _RATIO_FLOOR:
        raise _unreadable("corrupt", f"{name} is implausibly large")
    out = bytearray()
    _inflate_checked(view, info, out)
    return bytes(out)


def _has_formula(chunk: bytes) -> bool:
    return _FORMULA_HINT.search(chunk) is not None


def _inflate_checked(
    view: memoryview, info: zipfile.ZipInfo, sink: bytearray | None = None
) -> bool:
    """Inflates one member in chunks without keeping it (unless `sink`), verifying that it
    yields exactly its declared size; True when it contains a formula element."""
    if info.flag_bits & 0x1:
        raise _unreadable("encrypted", "zip members are encrypted")
    offset = info.header_offset
    header = bytes(view[offset : offset + 30])
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise _unreadable("corrupt", "zip member header is damaged")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    start = offset + 30 + name_length + extra_length
    raw = view[start : start + info.compress_size]
    if len(raw) < info.compress_size:
        raise _unreadable("corrupt", "zip archive is truncated")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise _unreadable("corrupt", "stored zip member with inconsistent sizes")
        if sink is not None:
            sink += raw
        return _has_formula(bytes(raw))
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise _unreadable("corrupt", f"unsupported zip compression {info.compress_type}")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    produced = 0
    position = 0
    formula = False
    previous = b""
    try:
        while not inflater.eof:
            if inflater.unconsumed_tail:
                chunk = inflater.decompress(inflater.unconsumed_tail, _OUT_CHUNK)
            elif position < len(raw):
                chunk = inflater.decompress(raw[position : position + _IN_CHUNK], _OUT_CHUNK)
                position += _IN_CHUNK
            else:
                chunk = inflater.flush()
                if not inflater.eof:
                    raise _unreadable("corrupt", "zip member is truncated")
            produced += len(chunk)
            if produced > info.file_size:
                # the header understates the size: the classic zip bomb
                raise _too_large("uncompressed_too_big", "zip member inflates past its header")
            if not formula and chunk:
                formula = _has_formula(chunk) or _has_formula(previous + chunk[:1])
                previous = chunk[-1:]
            if sink is not None:
                sink += chunk
    except zlib.error:
        raise _unreadable("corrupt", "zip member is damaged") from None
    if produced != info.file_size:
        raise _unreadable("corrupt", "zip member is shorter than its header")
    return formula


# -- sheets -------------------------------------------------------------------------------
def _read_sheet(
    book: CalamineWorkbook, name: str, limits: Limits, xml_with_formulas: bytes | None
) -> Sheet:
    sheet = book.get_sheet_by_name(name)
    end = sheet.end
    rows_to_read = None
    # calamine keeps only cells with a value, so `end` ignores formatted empty rows; but cells
    # with empty text (formulas filled down returning "") count, so look before rejecting
    if end is not None and end[0] > limits.max_rows:
        last = _last_row_with_data(sheet, end[0])
        if last > limits.max_rows:
            raise _too_many_rows(last, limits)
        rows_to_read = last + 1
    raw = [] if rows_to_read == 0 else sheet.to_python(skip_empty_area=False, nrows=rows_to_read)
    while raw and _is_empty(raw[-1]):
        raw.pop()
    if len(raw) - 1 > limits.max_rows:
        raise _too_many_rows(len(raw) - 1, limits)
    kinds = set(map(type, itertools.chain.from_iterable(raw)))
    if time in kinds or timedelta in kinds:
        for row in raw:
            for k, value in enumerate(row):
                if isinstance(value, time | timedelta):
                    row[k] = _as_text(value)
    merged = tuple(
        CellRange(first_row, first_col, last_row, last_col)
        for (first_row, first_col), (last_row, last_col) in sheet.merged_cell_ranges or ()
    )
    formulas = (
        frozenset() if xml_with_formulas is None else _formulas_without_value(xml_with_formulas)
    )
    # no time or timedelta is left
    return Sheet(name, cast(list[list[Cell]], raw), formulas, merged)


def _is_empty(row: list[Any]) -> bool:
    """Model.Cell: "" and whitespace-only text are empty."""
    return row.count("") == len(row) or all(
        value == "" or (type(value) is str and not value.strip()) for value in row
    )


def _last_row_with_data(sheet: CalamineSheet, end_row: int) -> int:
    """0-based index of the last row with a non-empty cell, streaming (rows are not kept)."""
    count = 0
    last = -1
    for index, row in enumerate(sheet.iter_rows()):
        count += 1
        if not _is_empty(row):
            last = index
    # iter_rows ends at `end_row`; where it starts differs between calamine versions
    return -1 if last < 0 else end_row - (count - 1 - last)


def _too_many_rows(count: int, limits: Limits) -> UnreadableFile:
    return _too_large("too_many_rows", f"{count} data rows, limit {limits.max_rows}")


def _as_text(value: time | timedelta) -> str:
    """A time of day as hh:mm[:ss], a duration ([h]:mm cells) as hours:mm[:ss]."""
    if isinstance(value, time):
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")
    sign = "-" if value < timedelta(0) else ""
    minutes, seconds = divmod(int(abs(value).total_seconds()), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{hours}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


_SHEET_ELEMENT = re.compile(rb"<(?:\w+:)?sheet\s([^>]*)>")
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\s([^>]*)>")
_ATTRIBUTE = re.compile(rb"""([\w:]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _attributes(text: bytes) -> dict[str, str]:
    """Attributes by local name (`r:id` → `id`), unescaped."""
    return {
        key.decode().rpartition(":")[2]: html.unescape(
            (double or single).decode("utf-8", "replace")
        )
        for key, double, single in _ATTRIBUTE.findall(text)
    }


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → its worksheet part (`xl/worksheets/sheet1.xml`), from the workbook's rels."""
    try:
        workbook = archive.read("xl/workbook.xml")
        rels = archive.read("xl/_rels/workbook.xml.rels")
    except KeyError:
        return {}
    targets: dict[str, str] = {}
    for match in _RELATIONSHIP.finditer(rels):
        attributes = _attributes(match.group(1))
        if "Id" in attributes and "Target" in attributes:
            target = attributes["Target"]
            path = target.lstrip("/") if target.startswith("/") else "xl/" + target
            targets[attributes["Id"]] = posixpath.normpath(path)
    parts: dict[str, str] = {}
    for match in _SHEET_ELEMENT.finditer(workbook):
        attributes = _attributes(match.group(1))
        part = targets.get(attributes.get("id", ""))
        if "name" in attributes and part is not None:
            parts[attributes["name"]] = part
    return parts


#: A formula element followed by no or an empty value and the end of its cell.
_FORMULA_WITHOUT_VALUE = re.compile(rb"<f(?:\s[^>]*)?(?:/>|>[^<]*</f>)\s*(<v\s*/>|<v></v>)?\s*</c>")
_PREFIXED_FORMULA_WITHOUT_VALUE = re.compile(
    rb"<\w+:f(?:\s[^>]*)?(?:/>|>[^<]*</\w+:f>)\s*(<\w+:v\s*/>|<\w+:v></\w+:v>)?\s*</\w+:c>"
)
_CELL_START = re.compile(rb"<(?:\w+:)?c(\s[^>]*)?>\s*\Z")
_REFERENCE = re.compile(rb"""\sr=["']([A-Z]{1,3})([0-9]{1,7})["']""")
_TEXT_RESULT = re.compile(rb"""\st=["']str["']""")


def _formulas_without_value(xml: bytes) -> frozenset[tuple[int, int]]:
    """0-based (row, column) of formula cells without a cached result, as openpyxl writes
    them: `<c r="B5"><f>…</f><v/></c>`, or no `<v>`. A formula whose result is empty text
    (`t="str"` and `<v></v>`) has a value. Cells without an `r` attribute are not located."""
    matches = _FORMULA_WITHOUT_VALUE.finditer(xml)
    if b":f" in xml:
        matches = itertools.chain(matches, _PREFIXED_FORMULA_WITHOUT_VALUE.finditer(xml))
    found = set()
    for match in matches:
        # a formula is the first child of its cell: the tag before it opens the cell
        start = xml.rfind(b"<", 0, match.start())
        cell = _CELL_START.match(xml, start, match.start()) if start >= 0 else None
        if cell is None:
            continue
        attributes = cell.group(1) or b""
        if match.group(1) is not None and _TEXT_RESULT.search(attributes):
            continue
        reference = _REFERENCE.search(attributes)
        if reference is not None:
            found.add((int(reference.group(2)) - 1, _column_index(reference.group(1))))
    return frozenset(found)


def _column_index(letters: bytes) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + letter - 64
    return index - 1
