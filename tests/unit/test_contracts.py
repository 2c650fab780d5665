"""Contracts: examples, generated files, compatibility, catalogue, descriptions, money."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

from contracts import (
    CATALOGUE,
    CoverageChanged,
    DayStarted,
    DayStartedPayload,
    Envelope,
    InvoiceDue,
    InvoiceDuePayload,
    ListTotals,
    Money,
    RowAssessed,
    RowPriced,
    RowsAssessed,
    RowsPriced,
    RowsValidated,
    RowValidated,
    Topic,
    consumed_by,
    parse,
    produced_by,
    topic,
    topic_of,
)
from contracts.catalogue import PACKED
from contracts.envelope import part_of
from contracts.events.coverage import CoverageChanges
from contracts.generate import (
    PACKAGE_DIR,
    check,
    dumps,
    export,
    incompatible_changes,
    load_baseline,
    topic_schema,
)

EXAMPLES = PACKAGE_DIR / "examples"
SERVICES = {"auth", "intake", "coverage", "pricing", "billing", "dunning"}
AHV_PATTERN = re.compile(r"^756\.\d{4}\.\d{4}\.\d{2}$")


def _examples() -> list[tuple[Topic, Path]]:
    return [(t, path) for t in CATALOGUE for path in sorted((EXAMPLES / t.name).glob("*.json"))]


def _example_params() -> list[Any]:
    return [pytest.param(t, path, id=f"{t.name}/{path.stem}") for t, path in _examples()]


def _strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every (key, string) pair in a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key)
    elif isinstance(value, str):
        yield key, value


# --- (1) examples ---------------------------------------------------------------------------


def test_every_topic_has_an_example() -> None:
    missing = [t.name for t in CATALOGUE if not list((EXAMPLES / t.name).glob("*.json"))]
    assert missing == []
    strays = sorted({p.name for p in EXAMPLES.iterdir()} - {t.name for t in CATALOGUE})
    assert strays == [], "example folders of unknown topics"


@pytest.mark.parametrize(("t", "path"), _example_params())
def test_example_validates_and_round_trips(t: Topic, path: Path) -> None:
    raw = path.read_bytes()
    event = parse(t.name, raw)
    assert isinstance(event, t.model)
    assert event.model_dump(mode="json") == json.loads(raw), "example is not in its wire form"
    assert parse(t.name, event.model_dump_json().encode()) == event
    assert topic_of(event) is t


def test_examples_use_valid_ahv_numbers_and_qr_references() -> None:
    ssn = pytest.importorskip("stdnum.ch.ssn")
    esr = pytest.importorskip("stdnum.ch.esr")
    seen = 0
    for _, path in _examples():
        for key, value in _strings(json.loads(path.read_bytes())):
            if AHV_PATTERN.match(value):
                assert ssn.is_valid(value), f"{path.name}: {value} has a wrong check digit"
                seen += 1
            if key == "qr_reference":
                assert esr.is_valid(value), f"{path.name}: {value} has a wrong check digit"
    assert seen > 0


# --- (2) generated files --------------------------------------------------------------------


def test_committed_files_match_the_models() -> None:
    problems = check()
    assert problems == [], (
        "generated contract files are out of date; run `bvgconnect contracts export` "
        "(python -m contracts.generate):\n" + "\n".join(problems)
    )


def test_export_is_deterministic_and_check_sees_edits(tmp_path: Path) -> None:
    first = {p.relative_to(tmp_path): p.read_bytes() for p in export(tmp_path)}
    second = {p.relative_to(tmp_path): p.read_bytes() for p in export(tmp_path)}
    assert set(second) <= set(first)  # baselines are written once only
    assert {k: first[k] for k in second} == second
    assert check(tmp_path) == []

    asyncapi = tmp_path / "asyncapi.json"
    assert asyncapi.read_bytes() == (PACKAGE_DIR / "asyncapi.json").read_bytes()
    asyncapi.write_text("{}\n")
    (tmp_path / "schemas" / "clock.day-started.v1.json").unlink()
    (tmp_path / "schemas" / "gone.v1.json").write_text("{}\n")
    assert check(tmp_path) == [
        "schemas/clock.day-started.v1.json: missing",
        "asyncapi.json: differs from the models",
        "schemas/gone.v1.json: no such topic in the catalogue",
    ]


def test_export_never_rewrites_a_baseline(tmp_path: Path) -> None:
    export(tmp_path)
    baseline = tmp_path / "baseline" / "clock.day-started.v1.json"
    baseline.write_text('{"frozen": true}\n')
    export(tmp_path)
    assert baseline.read_text() == '{"frozen": true}\n'


def test_asyncapi_has_a_channel_and_operations_per_topic() -> None:
    doc = json.loads((PACKAGE_DIR / "asyncapi.json").read_bytes())
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {t.name for t in CATALOGUE}
    expected_ops = sum(1 + len(t.consumers) for t in CATALOGUE)
    assert len(doc["operations"]) == expected_ops
    for message in doc["components"]["messages"].values():
        ref = message["payload"]["$ref"].removeprefix("#/components/schemas/")
        assert ref in doc["components"]["schemas"]
        assert "key" in message["bindings"]["kafka"]


# --- (3) compatibility of the current models ------------------------------------------------


@pytest.mark.parametrize("t", CATALOGUE, ids=lambda t: t.name)
def test_model_can_read_what_its_baseline_and_committed_schema_allowed(t: Topic) -> None:
    current = topic_schema(t)
    committed = json.loads((PACKAGE_DIR / "schemas" / f"{t.name}.json").read_bytes())
    for label, old in [("baseline", load_baseline(t)), ("committed schema", committed)]:
        changes = incompatible_changes(old, current)
        assert changes == [], (
            f"{t.name}: breaking change against its {label}; publish a new major "
            f"(new model, new topic) instead:\n" + "\n".join(changes)
        )


# --- (4) incompatible_changes itself --------------------------------------------------------


class _Address(BaseModel):
    town: str
    postcode: str | None = None


class _V1(BaseModel):
    version: Literal[1] = 1
    amount: int
    kind: Literal["a", "b"]
    note: str | None = None
    address: _Address
    items: list[_Address]


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(mode="serialization")


class _Removed(BaseModel):
    version: Literal[1] = 1
    amount: int
    kind: Literal["a", "b"]
    address: _Address
    items: list[_Address]


class _NowRequired(_Removed):
    note: str | None


class _AddedRequired(_V1):
    extra: str


class _TypeChanged(_Removed):
    amount: str  # type: ignore[assignment]
    note: str | None = None


class _Narrowed(_V1):
    kind: Literal["a"]


class _NewVersion(_V1):
    version: Literal[2] = 2  # type: ignore[assignment]


class _StrictAddress(BaseModel):
    town: str
    postcode: str


class _NestedRequired(_V1):
    address: _StrictAddress  # type: ignore[assignment]
    items: list[_StrictAddress]  # type: ignore[assignment]


class _AddedOptional(_V1):
    comment: str | None = None


class _Widened(_V1):
    kind: Literal["a", "b", "c"]  # type: ignore[assignment]
    amount: int | None  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        pytest.param(_Removed, ["note: property removed"], id="removed-property"),
        pytest.param(_NowRequired, ["note: property newly required"], id="newly-required"),
        pytest.param(_AddedRequired, ["extra: property newly required"], id="added-required"),
        pytest.param(
            _TypeChanged, ["amount: type changed, integer is now string"], id="type-changed"
        ),
        pytest.param(_Narrowed, ["kind: enum narrowed, ['b'] no longer allowed"], id="narrowed"),
        pytest.param(_NewVersion, ["version: const changed from 1 to 2"], id="version-const"),
        pytest.param(
            _NestedRequired,
            [
                "address.postcode: property newly required",
                "address.postcode: type changed, null is now string",
                "items[].postcode: property newly required",
                "items[].postcode: type changed, null is now string",
            ],
            id="nested-through-refs",
        ),
        pytest.param(_AddedOptional, [], id="added-optional-accepted"),
        pytest.param(_Widened, [], id="widened-accepted"),
        pytest.param(_V1, [], id="unchanged"),
    ],
)
def test_incompatible_changes(new: type[BaseModel], expected: list[str]) -> None:
    assert incompatible_changes(_schema(_V1), _schema(new)) == expected


def test_incompatible_changes_sees_narrowed_nullable_and_format() -> None:
    old = {"type": "object", "properties": {"d": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
    new = {"type": "object", "properties": {"d": {"type": "string", "format": "date"}}}
    assert incompatible_changes(old, new) == [
        "d: type changed, null is now string/date",
        "d: type changed, string is now string/date",
    ]


def test_incompatible_changes_of_a_real_event() -> None:
    old = topic_schema(topic("billing.invoice-due.v1"))
    new = json.loads(dumps(old))
    del new["$defs"]["InvoiceDuePayload"]["properties"]["open_amount"]
    new["$defs"]["InvoiceDuePayload"]["properties"]["due_date"]["format"] = "date-time"
    assert incompatible_changes(old, new) == [
        "payload.due_date: type changed, string/date is now string/date-time",
        "payload.open_amount: property removed",
    ]


# --- (5) catalogue --------------------------------------------------------------------------


@pytest.mark.parametrize("t", CATALOGUE, ids=lambda t: t.name)
def test_catalogue_entry_is_consistent(t: Topic) -> None:
    service_event, _, major = t.name.rpartition(".v")
    assert t.name == t.model.TOPIC
    assert t.model.model_fields["type"].default == service_event
    assert t.model.model_fields["version"].default == int(major)
    assert service_event.split(".")[0] == t.producer or t.producer in {"connector", "clock"}
    assert t.key == ("employer_no:ahv" if t.model.WORKER_KEYED else "employer_no")
    payload_type = t.model.model_fields["payload"].annotation
    assert isinstance(payload_type, type) and issubclass(payload_type, BaseModel)
    assert ("ahv" in payload_type.model_fields) or not t.model.WORKER_KEYED
    assert set(t.consumers) <= SERVICES and t.producer not in t.consumers
    assert t.description
    assert t.dlq == f"{t.name}.dlq"


def test_catalogue_names_and_models_are_unique() -> None:
    assert len({t.name for t in CATALOGUE}) == len(CATALOGUE)
    assert len({t.model for t in CATALOGUE}) == len(CATALOGUE)


def test_catalogue_lookups() -> None:
    assert topic("clock.day-started.v1").model is DayStarted
    with pytest.raises(KeyError, match=r"unknown topic 'clock\.day-started\.v9'.*known topics"):
        topic("clock.day-started.v9")
    assert topic_of(RowPriced).name == "pricing.row-priced.v1"
    with pytest.raises(KeyError, match="not the model"):

        class Impostor(DayStarted):
            TOPIC: ClassVar[str] = "clock.day-started.v1"

        topic_of(Impostor)
    assert [t.name for t in produced_by("coverage")] == [
        "coverage.row-assessed.v2",
        "coverage.changed.v2",
        "coverage.finding.v1",
    ]  # v1, retired, is no longer produced
    assert topic("coverage.row-assessed.v1").retired
    assert {t.name for t in consumed_by("auth")} == {
        "dunning.affiliation-terminated.v1",
        "clock.day-started.v1",
    }
    assert {t.name for t in consumed_by("pricing")} == {
        "auth.employer-changed.v1",
        "intake.list-checked.v1",
        "coverage.row-assessed.v2",
    }
    assert produced_by("nobody") == ()


def test_parse_refuses_a_message_of_another_topic() -> None:
    raw = (EXAMPLES / "clock.day-started.v1" / "business-day.json").read_bytes()
    with pytest.raises(ValidationError):
        parse("billing.invoice-due.v1", raw)
    with pytest.raises(KeyError):
        parse("no.such.v1", raw)


def test_partition_keys() -> None:
    row = next((EXAMPLES / "pricing.row-priced.v1").glob("*.json")).read_bytes()
    assert parse("pricing.row-priced.v1", row).partition_key() == "4711:756.1234.5678.97"
    tick = DayStarted.new(
        occurred_at=datetime(2025, 4, 15, 22, tzinfo=UTC),
        employer_no=0,
        correlation_id="clock-2025-04-16",
        payload=DayStartedPayload(business_date=date(2025, 4, 16)),
    )
    assert tick.partition_key() == "0"
    assert (tick.type, tick.version) == ("clock.day-started", 1)
    part = next((EXAMPLES / "pricing.row-priced.v2").glob("*.json")).read_bytes()
    assert parse("pricing.row-priced.v2", part).partition_key() == "4711"  # the employer's


# --- (5b) parts of lists --------------------------------------------------------------------


def _row(n: int, upload: uuid.UUID, period: str = "2025-03") -> RowPriced:
    raw = json.loads(next((EXAMPLES / "pricing.row-priced.v1").glob("*.json")).read_bytes())
    raw["event_id"] = str(uuid.uuid4())
    raw["payload"] |= {"row_no": n, "upload_id": str(upload), "period": period}
    return RowPriced.model_validate(raw)


def test_rows_travel_in_parts_of_a_hundred() -> None:
    assert (part_of(2), part_of(101), part_of(102), part_of(201), part_of(202)) == (1, 1, 2, 2, 3)
    assert {
        RowValidated: RowsValidated,
        RowAssessed: RowsAssessed,
        CoverageChanged: CoverageChanges,
        RowPriced: RowsPriced,
    } == PACKED
    for model in PACKED.values():
        assert model.model_fields["payload"].annotation is not None
        assert topic_of(model).key == "employer_no" and not model.WORKER_KEYED


def test_a_part_packs_and_unpacks_its_rows_in_list_order() -> None:
    upload = uuid.uuid4()
    rows = [_row(n, upload) for n in (5, 2, 101, 3)]
    part = RowsPriced.pack(uuid.uuid4(), rows)
    assert part.payload.part_no == 1 and [r.row_no for r in part.payload.rows] == [2, 3, 5, 101]
    wire = RowsPriced.model_validate_json(part.model_dump_json())
    assert wire == part
    unpacked = wire.unpack()
    assert [type(e) for e in unpacked] == [RowPriced] * 4
    assert [e.payload for e in unpacked] == [
        r.payload for r in sorted(rows, key=lambda r: r.payload.row_no)
    ]
    assert {(e.employer_no, e.correlation_id, e.occurred_at) for e in unpacked} == {
        (part.employer_no, part.correlation_id, part.occurred_at)
    }
    # as model_construct would build them, with ids uuid5(<part's id>, <row's index>)
    assert unpacked == [
        RowPriced.model_construct(
            event_id=uuid.uuid5(wire.event_id, str(index)),
            type="pricing.row-priced",
            version=1,
            occurred_at=wire.occurred_at,
            employer_no=wire.employer_no,
            correlation_id=wire.correlation_id,
            payload=row,
        )
        for index, row in enumerate(wire.payload.rows)
    ]
    assert unpacked[0].model_dump_json() == RowPriced.model_validate(unpacked[0]).model_dump_json()
    # the rows' ids are stable (derived from the part), and distinct
    assert [e.event_id for e in wire.unpack()] == [e.event_id for e in unpacked]
    assert len({e.event_id for e in unpacked}) == 4
    # an event of one row is handled as itself
    assert rows[0].unpack() == [rows[0]]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("other-upload", "not of the part's upload and period"),
        ("other-period", "not of the part's upload and period"),
        ("other-part", "not in part 1"),
        ("twice", "in the part twice"),
        ("too-many", "at most 100 items"),
        ("none", "at least 1 item"),
    ],
)
def test_a_part_refuses_rows_that_are_not_its_own(change: str, message: str) -> None:
    upload = uuid.uuid4()
    part = RowsPriced.pack(uuid.uuid4(), [_row(2, upload), _row(3, upload)])
    raw = part.model_dump(mode="json")
    rows = raw["payload"]["rows"]
    if change == "other-upload":
        rows[1]["upload_id"] = str(uuid.uuid4())
    elif change == "other-period":
        rows[1]["period"] = "2025-04"
    elif change == "other-part":
        rows[1]["row_no"] = 102
    elif change == "twice":
        rows[1]["row_no"] = 2
    elif change == "too-many":
        raw["payload"]["rows"] = [dict(rows[0], row_no=n) for n in range(2, 102)] + [
            dict(rows[0], row_no=103)
        ]
    else:
        raw["payload"]["rows"] = []
    with pytest.raises(ValidationError, match=message):
        RowsPriced.model_validate(raw)


# --- (6) descriptions -----------------------------------------------------------------------


@pytest.mark.parametrize("t", CATALOGUE, ids=lambda t: t.name)
def test_every_field_has_a_description(t: Topic) -> None:
    schema = topic_schema(t)
    objects = {t.model.__name__: schema, **schema.get("$defs", {})}
    missing = [
        f"{name}.{prop}"
        for name, obj in objects.items()
        for prop, spec in obj.get("properties", {}).items()
        if not spec.get("description")
    ]
    assert missing == []
    assert all(obj.get("description") for obj in objects.values()), "a model lacks a docstring"


# --- (7) money ------------------------------------------------------------------------------


def _decimal_properties(model: type[BaseModel]) -> Iterator[tuple[type[BaseModel], str]]:
    for name, info in model.model_fields.items():
        text = repr(info.annotation)
        if "Decimal" in text:
            yield model, name
        for nested in _nested_models(info.annotation):
            yield from _decimal_properties(nested)


def _nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in getattr(annotation, "__args__", ()):
        yield from _nested_models(arg)


def test_every_decimal_travels_as_a_string() -> None:
    found = 0
    for t in CATALOGUE:
        schema = topic_schema(t)
        for model, name in _decimal_properties(t.model):
            spec = schema["$defs"][model.__name__]["properties"][name]
            kinds = [s for s in spec.get("anyOf", [spec]) if s.get("type") != "null"]
            assert [k["type"] for k in kinds] == ["string"], f"{model.__name__}.{name}"
            found += 1
    assert found > 30


def test_money_serialises_as_plain_decimal_strings() -> None:
    due = InvoiceDue.new(
        occurred_at=datetime(2025, 5, 12, 5, tzinfo=UTC),
        employer_no=4711,
        correlation_id="invoice",
        payload=InvoiceDuePayload(
            invoice_id=uuid.UUID(int=1), due_date=date(2025, 5, 11), open_amount=Decimal("1E+2")
        ),
    )
    assert json.loads(due.model_dump_json())["payload"]["open_amount"] == "100"
    assert due.model_dump()["payload"]["open_amount"] == Decimal(100)  # Python mode keeps Decimal
    totals = ListTotals.model_validate(
        {
            "insured_wage": 2953.2,
            "premium_total": "177.20",
            "employer_share": 88,
            "employee_share": "-0.05",
        }
    )
    assert json.loads(totals.model_dump_json()) == {
        "insured_wage": "2953.2",
        "premium_total": "177.20",
        "employer_share": "88",
        "employee_share": "-0.05",
    }


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "12,50", "abc"])
def test_money_refuses_what_is_not_a_finite_amount(bad: str) -> None:
    class Amount(BaseModel):
        value: Money = Field(description="An amount.")

    with pytest.raises(ValidationError):
        Amount.model_validate({"value": bad})


def test_envelopes_are_frozen_and_tolerant_of_added_fields() -> None:
    raw = json.loads((EXAMPLES / "clock.day-started.v1" / "business-day.json").read_bytes())
    # A field added by a newer producer does not break an older consumer (tolerant reader).
    newer = {**raw, "unexpected": 1, "payload": {**raw["payload"], "added_later": "x"}}
    assert DayStarted.model_validate(newer) == DayStarted.model_validate(raw)
    with pytest.raises(ValidationError):
        DayStarted.model_validate({**raw, "payload": {}})
    event = DayStarted.model_validate(raw)
    with pytest.raises(ValidationError):
        event.employer_no = 1  # type: ignore[misc]
    assert isinstance(event, Envelope)


def test_incompatible_changes_with_several_enums_of_one_type() -> None:
    def rule(*enums: list[str]) -> dict[str, Any]:
        return {"anyOf": [{"type": "string", "enum": e} for e in enums]}

    start, end = ["S1", "S2"], ["E1", "E2"]
    assert incompatible_changes(rule(start, end), rule(start, end)) == []
    assert incompatible_changes(rule(start, end), rule(start, [*end, "E3"])) == []
    assert incompatible_changes(rule(start, end), rule(start, ["E1"])) == [
        "(root): enum narrowed, ['E2'] no longer allowed"
    ]
