"""Real list workbooks for tests and benchmarks (TEMPLATE.md).

`sample_row` makes a valid `Mutationen` row, `build_list` writes small workbooks with openpyxl,
`write_big_list` writes 100,000+ rows straight into the xlsx zip (openpyxl would take minutes),
and the `build_*` helpers at the end make the files an upload must refuse.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from xml.sax.saxutils import escape

from openpyxl import Workbook as OpenpyxlWorkbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from stdnum import ean
from stdnum.ch import ssn

from services.intake.model import (
    ASSIGNMENT_COLUMNS,
    ASSIGNMENTS_SHEET,
    COLUMNS,
    MUTATIONS_SHEET,
    Cell,
)
from services.pricing.domain import RowInput, price

#: A row as tests write it: values by column letter (missing letters are empty) or in order.
Row = Mapping[str, Cell] | Sequence[Cell]

LETTERS: tuple[str, ...] = tuple(column.letter for column in COLUMNS)
HEADERS: tuple[str, ...] = tuple(column.header for column in COLUMNS)
DATE_FORMAT = "DD.MM.YYYY"
EMPLOYER_NO = 1001

_LAST_NAMES = ("MÜLLER", "MEIER", "SCHMID", "KELLER", "WEBER", "HUBER", "FAVRE", "ROSSI")
_FIRST_NAMES = ("ANNA", "LUCA", "MARIE", "NOAH", "LEA", "DAVID", "SOFIA", "JONAS", "ELENA")
_TOWNS = (("8001", "ZÜRICH"), ("3011", "BERN"), ("1201", "GENÈVE"), ("6900", "LUGANO"))


def ahv_number(serial: int) -> str:
    """A valid AHVN13 (756.dddd.dddd.dd, EAN-13 check digit) for a serial below 10**9."""
    body = f"756{serial % 10**9:09d}"
    return str(ssn.format(body + ean.calc_check_digit(body)))


@lru_cache(maxsize=64)
def _declared(
    year: int, month: int, birth_date: date, female: bool, hours: str, wage: str
) -> tuple[float, float]:
    priced = price(
        RowInput(year, month, birth_date, "F" if female else "M", Decimal(hours), Decimal(wage))
    )
    return float(priced.premium_total), float(priced.insured_wage)


def sample_row(i: int = 0, *, year: int = 2025, month: int = 3) -> dict[str, Cell]:
    """A valid `Mutationen` row for the period year-month, distinct by `i` (AHV number, name).

    Premium (I) and insured wage (J) are what pricing computes, so no `declared.*` warning.
    """
    female = i % 2 == 1
    birth_date = date(1965 + i % 35, 1 + i % 12, 1 + i % 28)
    hours = ("160.00", "120.50", "86.25")[i % 3]
    wage = ("4800.00", "3615.00", "2587.50")[i % 3]
    premium, insured = _declared(year, month, birth_date, female, hours, wage)
    postcode, town = _TOWNS[i % len(_TOWNS)]
    return {
        "A": _LAST_NAMES[i % len(_LAST_NAMES)],
        "B": _FIRST_NAMES[i % len(_FIRST_NAMES)],
        "C": f"BAHNHOFSTRASSE {1 + i % 200}",
        "E": postcode,
        "F": town,
        "H": EMPLOYER_NO,
        "I": premium,
        "J": insured,
        "N": 0,
        "P": 1,
        "Q": ahv_number(i + 1),
        "R": 1 + i % 2,
        "S": birth_date,
        "T": 2 if female else 1,
        "U": float(hours),
        "V": float(wage),
        "W": date(year - 1, 1 + i % 12, 1),
        "Y": "J",
        "AA": "N",
        "AB": "N",
    }


def row_values(row: Row, letters: Sequence[str] = LETTERS) -> list[Cell]:
    """The row as a list in column order; a mapping's missing letters become None."""
    if isinstance(row, Mapping):
        unknown = set(row) - set(letters)
        if unknown:
            raise ValueError(f"unknown columns {sorted(unknown)}")
        return [row.get(letter) for letter in letters]
    return list(row)


def build_list(
    rows: Iterable[Row] = (),
    *,
    assignments: Iterable[Row] | None = None,
    week_headers: Sequence[Cell] = (),
    sheet_name: str = MUTATIONS_SHEET,
    headers: Sequence[str] = HEADERS,
    extra_sheets: Sequence[str] = (),
) -> bytes:
    """An xlsx made with openpyxl: the list sheet, optionally `Einsätze` and empty extra sheets.

    Dates get the format DD.MM.YYYY so they are date cells, as Excel writes them.
    """
    book = OpenpyxlWorkbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = sheet_name
    _append(sheet, headers, [row_values(row) for row in rows])
    if assignments is not None:
        letters = [column.letter for column in ASSIGNMENT_COLUMNS]
        letters += [get_column_letter(len(letters) + 1 + k) for k in range(len(week_headers))]
        einsaetze = book.create_sheet(ASSIGNMENTS_SHEET)
        _append(
            einsaetze,
            [*(column.header for column in ASSIGNMENT_COLUMNS), *week_headers],
            [row_values(row, letters) for row in assignments],
        )
    for name in extra_sheets:
        book.create_sheet(name)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _append(sheet: Worksheet, headers: Sequence[Cell], rows: list[list[Cell]]) -> None:
    sheet.append(list(headers))
    for values in rows:
        sheet.append(values)
    for row in sheet.iter_rows(min_row=1):
        for cell in row:
            if isinstance(cell.value, date):
                cell.number_format = DATE_FORMAT


# -- big lists, written straight into the zip ----------------------------------------------
_EPOCH = date(1899, 12, 30)

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="{main}"/>'
    "{sheets}"
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
_MAIN_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
_MAIN_XLSM = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
_SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="DD.MM.YYYY"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border/></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<dimension ref="A1:{last}"/><sheetData>'
)


class _SharedStrings:
    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.index)
        return found

    def xml(self) -> bytes:
        items = "".join(f'<si><t xml:space="preserve">{escape(s)}</t></si>' for s in self.index)
        return (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            f'count="{len(self.index)}" uniqueCount="{len(self.index)}">{items}</sst>'
        ).encode()


def _cell_xml(ref: str, value: Cell, strings: _SharedStrings) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    if isinstance(value, datetime):
        serial = (value - datetime(1899, 12, 30)) / timedelta(days=1)
        return f'<c r="{ref}" s="1"><v>{serial!r}</v></c>'
    if isinstance(value, date):
        return f'<c r="{ref}" s="1"><v>{(value - _EPOCH).days}</v></c>'
    return f'<c r="{ref}" t="s"><v>{strings(value)}</v></c>'


#: Rows of the fast writer have at most this many columns.
_COLUMN_LETTERS = tuple(get_column_letter(k + 1) for k in range(256))


def _sheet_xml(
    out: zipfile.ZipFile,
    part: str,
    header: Sequence[Cell],
    rows: Iterable[Sequence[Cell]],
    n_rows: int,
    strings: _SharedStrings,
) -> None:
    letters = _COLUMN_LETTERS
    with out.open(part, "w") as sink:
        last = letters[max(len(header), 1) - 1]
        sink.write(_SHEET_HEAD.format(last=f"{last}{n_rows + 1}").encode())
        chunk: list[str] = []
        for r, values in enumerate(_chain(header, rows)):
            number = r + 1
            cells = "".join(
                _cell_xml(f"{letter}{number}", value, strings)
                for letter, value in zip(letters, values, strict=False)
            )
            chunk.append(f'<row r="{number}">{cells}</row>')
            if len(values) > len(letters):
                raise ValueError(f"row {number} has more than {len(letters)} columns")
            if len(chunk) >= 2000:
                sink.write("".join(chunk).encode())
                chunk.clear()
        chunk.append("</sheetData></worksheet>")
        sink.write("".join(chunk).encode())


def _chain(header: Sequence[Cell], rows: Iterable[Sequence[Cell]]) -> Iterable[Sequence[Cell]]:
    yield header
    yield from rows


def write_big_list(
    n_rows: int,
    *,
    row: Callable[[int], Row] = sample_row,
    headers: Sequence[str] = HEADERS,
    assignments: Sequence[Row] = (),
    compresslevel: int = 1,
) -> bytes:
    """An xlsx with `n_rows` data rows `row(0) … row(n_rows-1)` on sheet `Mutationen`.

    Written as Excel writes it (shared strings, date style), without openpyxl: 100,000 rows
    of 28 columns take a few seconds instead of minutes.
    """
    strings = _SharedStrings()
    sheets = [MUTATIONS_SHEET] + ([ASSIGNMENTS_SHEET] if assignments else [])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as out:
        _sheet_xml(
            out,
            "xl/worksheets/sheet1.xml",
            headers,
            (row_values(row(i)) for i in range(n_rows)),
            n_rows,
            strings,
        )
        if assignments:
            letters = [column.letter for column in ASSIGNMENT_COLUMNS]
            _sheet_xml(
                out,
                "xl/worksheets/sheet2.xml",
                [column.header for column in ASSIGNMENT_COLUMNS],
                [row_values(a, letters) for a in assignments],
                len(assignments),
                strings,
            )
        _package(out, sheets, _MAIN_XLSX)
        out.writestr("xl/sharedStrings.xml", strings.xml())
    return buffer.getvalue()


def _package(out: zipfile.ZipFile, sheets: Sequence[str], main_type: str) -> None:
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{k + 1}.xml" ContentType="{_SHEET_TYPE}"/>'
        for k in range(len(sheets))
    )
    out.writestr("[Content_Types].xml", _CONTENT_TYPES.format(main=main_type, sheets=overrides))
    out.writestr("_rels/.rels", _ROOT_RELS)
    entries = "".join(
        f'<sheet name="{escape(name)}" sheetId="{k + 1}" r:id="rId{k + 1}"/>'
        for k, name in enumerate(sheets)
    )
    out.writestr(
        "xl/workbook.xml",
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'xmlns:r="{_REL}"><sheets>{entries}</sheets></workbook>',
    )
    rels = "".join(
        f'<Relationship Id="rId{k + 1}" Type="{_REL}/worksheet" '
        f'Target="worksheets/sheet{k + 1}.xml"/>'
        for k in range(len(sheets))
    )
    n = len(sheets)
    rels += f'<Relationship Id="rId{n + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
    rels += (
        f'<Relationship Id="rId{n + 2}" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
    )
    out.writestr(
        "xl/_rels/workbook.xml.rels",
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f"{rels}</Relationships>",
    )
    out.writestr("xl/styles.xml", _STYLES)


def write_sheet_xml(
    sheet_xml: str,
    *,
    sheet_name: str = MUTATIONS_SHEET,
    shared_strings: Sequence[str] = (),
    macro_enabled: bool = False,
) -> bytes:
    """A one-sheet xlsx whose worksheet XML is `sheet_xml` as given (`<sheetData>…</sheetData>`
    and whatever follows it), for cells no writer makes: formulas without a cached value,
    error values, cells without a style."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr(
            "xl/worksheets/sheet1.xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"{sheet_xml}</worksheet>",
        )
        _package(out, [sheet_name], _MAIN_XLSM if macro_enabled else _MAIN_XLSX)
        strings = _SharedStrings()
        for text in shared_strings:
            strings(text)
        out.writestr("xl/sharedStrings.xml", strings.xml())
    return buffer.getvalue()


# -- files an upload must refuse -----------------------------------------------------------
def build_xlsm(rows: Iterable[Row] = ()) -> bytes:
    """A macro-enabled workbook (.xlsm): a list with `xl/vbaProject.bin` and the
    macroEnabled content type, as Excel saves it."""
    plain = zipfile.ZipFile(io.BytesIO(build_list(rows)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info in plain.infolist():
            data = plain.read(info)
            if info.filename == "[Content_Types].xml":
                data = data.replace(
                    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                    _MAIN_XLSM.encode(),
                ).replace(
                    b"</Types>",
                    b'<Default Extension="bin" '
                    b'ContentType="application/vnd.ms-office.vbaProject"/></Types>',
                )
            out.writestr(info.filename, data)
        # an OLE2 container, as the real vbaProject.bin is
        out.writestr("xl/vbaProject.bin", build_ole2({"VBA": b"\0" * 4096}))
    return buffer.getvalue()


def build_encrypted_container(package: bytes = b"") -> bytes:
    """An OLE2 compound file as Office writes a password-protected xlsx: streams
    `EncryptionInfo` and `EncryptedPackage` (the content here is not real ciphertext)."""
    info = struct.pack("<HHI", 4, 4, 0x40) + b"<encryption/>"
    return build_ole2({"EncryptionInfo": info, "EncryptedPackage": package or b"\x5a" * 5000})


def build_ole2(streams: Mapping[str, bytes]) -> bytes:
    """A minimal valid OLE2 compound file (CFB version 3, 512-byte sectors) holding the given
    streams in the root storage. Streams are padded to 4096 bytes, so no mini stream is needed."""
    sector = 512
    end_of_chain, fat_sector, free = 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    names = list(streams)
    if len(names) > 3:
        raise ValueError("at most 3 streams fit in the one directory sector")
    data = [streams[name].ljust(4096, b"\0") for name in names]
    fat: list[int] = [fat_sector, end_of_chain]  # sector 0: FAT, sector 1: directory
    starts: list[int] = []
    for blob in data:
        count = len(blob) // sector + (1 if len(blob) % sector else 0)
        start = len(fat)
        starts.append(start)
        fat.extend(range(start + 1, start + count))
        fat.append(end_of_chain)
    if len(fat) > sector // 4:
        raise ValueError("streams too large for one FAT sector")
    fat += [free] * (sector // 4 - len(fat))

    def entry(name: str, kind: int, start: int, size: int, child: int, right: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBB", len(encoded), kind, 1)  # name length, type, black
            + struct.pack("<III", free, right, child)  # left, right sibling, child
            + b"\0" * 16  # CLSID
            + b"\0" * 4  # state bits
            + b"\0" * 16  # creation and modification time
            + struct.pack("<IQ", start, size)
        )

    directory = entry("Root Entry", 5, end_of_chain, 0, 1 if names else free, free)
    for k, name in enumerate(names):
        right = k + 2 if k + 1 < len(names) else free
        directory += entry(name, 2, starts[k], len(streams[name]), free, right)
    directory = directory.ljust(sector, b"\0")
    header = (
        bytes.fromhex("D0CF11E0A1B11AE1")
        + b"\0" * 16
        + struct.pack("<HHHH", 0x3E, 3, 0xFFFE, 9)  # minor, major, byte order, sector shift
        + struct.pack("<H", 6)  # mini sector shift
        + b"\0" * 6
        + struct.pack("<II", 0, 1)  # directory sectors (0 in v3), FAT sectors
        + struct.pack("<II", 1, 0)  # first directory sector, transaction
        + struct.pack("<III", 4096, end_of_chain, 0)  # mini cutoff, first mini FAT, count
        + struct.pack("<II", end_of_chain, 0)  # first DIFAT sector, count
        + struct.pack("<I", 0)  # DIFAT[0]: the FAT is sector 0
        + struct.pack("<I", free) * 108
    )
    assert len(header) == sector
    fat_bytes = struct.pack(f"<{sector // 4}I", *fat)
    return header + fat_bytes + directory + b"".join(data)


def build_zip_bomb(member_size: int) -> bytes:
    """A valid list workbook plus one member that inflates to `member_size` bytes of zeros
    (honestly declared in the zip headers, as zip bombs made with ordinary tools are)."""
    plain = zipfile.ZipFile(io.BytesIO(build_list([sample_row()])))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in plain.infolist():
            out.writestr(info.filename, plain.read(info))
        with out.open("xl/media/padding.bin", "w", force_zip64=True) as sink:
            block = b"\0" * (1024 * 1024)
            left = member_size
            while left > 0:
                sink.write(block[: min(left, len(block))])
                left -= len(block)
    return buffer.getvalue()


def build_understated_zip(real_size: int, declared_size: int) -> bytes:
    """A list workbook plus a member of `real_size` zero bytes whose zip headers (local and
    central) declare only `declared_size`: the zip bomb that defeats header-only checks."""
    plain = zipfile.ZipFile(io.BytesIO(build_list([sample_row()])))
    buffer = io.BytesIO()
    name = "xl/media/padding.bin"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info in plain.infolist():
            out.writestr(info.filename, plain.read(info))
        out.writestr(name, b"\0" * real_size)
    data = bytearray(buffer.getvalue())
    local = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(name).header_offset
    struct.pack_into("<I", data, local + 22, declared_size)
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        (length,) = struct.unpack_from("<H", data, central + 28)
        if data[central + 46 : central + 46 + length] == name.encode():
            struct.pack_into("<I", data, central + 24, declared_size)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    return bytes(data)


def build_png() -> bytes:
    """A real one-pixel PNG image (what an upload named .xlsx sometimes is)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
