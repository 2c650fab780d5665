"""Pure pieces of the runtime: settings errors, redaction, JSON logs, HTTP errors."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError

from services.registry import all_specs, spec_of
from services.runtime.consumer import is_transient
from services.runtime.db import quote_ident, redact_dsn
from services.runtime.errors import ApiError, install_error_handlers
from services.runtime.settings import Settings, describe_error, env_name, suite_ports
from services.runtime.telemetry import JsonFormatter, redact


@pytest.mark.parametrize(
    ("field", "variable"),
    [
        ("database_url", "DATABASE_URL"),
        ("kafka_bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS"),
        ("http_port", "BVG_HTTP_PORT"),
    ],
)
def test_env_name_of_each_setting(field: str, variable: str) -> None:
    assert env_name(field) == variable


def test_malformed_setting_is_described_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BVG_TOPIC_PARTITIONS", "many")
    with pytest.raises(ValidationError) as caught:
        Settings()
    line = describe_error(caught.value)
    assert line.startswith("setting BVG_TOPIC_PARTITIONS is malformed:")
    assert "\n" not in line


def test_database_and_broker_are_read_without_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://a@h/db")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k:9092")
    settings = Settings()
    assert settings.database_url == "postgresql://a@h/db"
    assert settings.kafka_bootstrap_servers == "k:9092"


def test_suite_ports_follow_the_base() -> None:
    assert suite_ports(9000) == {
        "auth": 9001,
        "intake": 9002,
        "coverage": 9003,
        "pricing": 9004,
        "billing": 9005,
        "dunning": 9006,
    }


def test_dsn_password_is_redacted() -> None:
    assert redact_dsn("postgresql://bvg:s3cret@db:5432/x") == "postgresql://bvg:***@db:5432/x"
    assert redact_dsn("postgresql://bvg@db/x") == "postgresql://bvg@db/x"


@pytest.mark.parametrize("bad", ["Auth", "a-b", "x;drop", "", "1abc"])
def test_schema_names_are_checked(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid schema name"):
        quote_ident(bad)


@pytest.mark.parametrize("ahv", ["756.1234.5678.97", "7561234567897", "756 1234 5678 97"])
def test_ahv_numbers_never_reach_a_log_line(ahv: str) -> None:
    assert "1234" not in redact(f"row of {ahv} refused")


def test_json_log_line_carries_trace_id_and_no_ahv() -> None:
    tracer = TracerProvider().get_tracer("t")
    record = logging.LogRecord("x", logging.INFO, "f", 1, "AHV %s bad", ("756.1234.5678.97",), None)
    record.event_id = "e-1"
    with tracer.start_as_current_span("s") as span:
        line = json.loads(JsonFormatter("intake").format(record))
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert "5678" not in line["message"] and line["event_id"] == "e-1"
    assert line["service"] == "intake"


def test_transient_errors_are_told_from_event_faults() -> None:
    assert is_transient(ConnectionRefusedError())
    assert is_transient(TimeoutError())
    assert not is_transient(ValueError("bad event"))
    assert not is_transient(KeyError("x"))


def test_http_errors_are_json_with_a_stable_code() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/refuse")
    async def refuse() -> None:
        raise ApiError(409, "list.duplicate", "This list was uploaded already.")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("756.1234.5678.97 internal detail")

    @app.get("/typed/{n}")
    async def typed(n: int) -> dict[str, int]:
        return {"n": n}

    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/refuse").json() == {
        "code": "list.duplicate",
        "message": "This list was uploaded already.",
    }
    boom_answer = client.get("/boom")
    assert boom_answer.status_code == 500 and boom_answer.json()["code"] == "internal"
    assert "756" not in boom_answer.text and "Traceback" not in boom_answer.text
    invalid = client.get("/typed/abc")
    assert invalid.status_code == 422 and invalid.json()["code"] == "request.invalid"
    assert client.get("/nowhere").json()["code"] == "not_found"


def test_every_service_subscribes_to_what_the_catalogue_says_it_consumes() -> None:
    from contracts.catalogue import consumed_by, produced_by

    for spec in all_specs():
        subscribed = {s.topic for s in spec.subscriptions}
        assert subscribed == {t.name for t in consumed_by(spec.name)}, spec.name
        assert {m.TOPIC for m in spec.produces} == {t.name for t in produced_by(spec.name)}


def test_unknown_service_is_refused() -> None:
    with pytest.raises(KeyError, match="unknown service"):
        spec_of("payroll")


def test_collector_pauses_from_several_threads_leave_it_as_it_was() -> None:
    """Two overlapping pauses (the checker and an API thread) must not leave the collector
    off: the second one must not restore the "off" it saw."""
    import gc
    import threading

    from services.runtime.gcpause import collector_paused

    assert gc.isenabled()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with collector_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with collector_paused():
            second_in.set()
            first_out.wait(5)
            assert not gc.isenabled()  # still paused while this job runs

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert gc.isenabled()


async def test_read_body_stops_one_byte_past_the_limit() -> None:
    from starlette.requests import Request

    from services.runtime.http import read_body

    def request(chunks: list[bytes]) -> Request:
        messages = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]

        async def receive() -> dict[str, object]:
            return messages.pop(0)

        return Request({"type": "http", "method": "POST", "headers": []}, receive)

    assert await read_body(request([b"ab", b"cd"]), 10) == b"abcd"
    assert await read_body(request([b"abcdef", b"ghijkl", b"never read"]), 7) == b"abcdefgh"
