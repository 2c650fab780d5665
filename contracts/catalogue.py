"""Every topic of the suite: its event model, Kafka key, producer and consumers.

Topic = `<service>.<event>.v<major>` (ARCHITECTURE "Contracts"); a breaking change is a new
major, hence a new topic and a new row here. Producers outside the six services: `connector`
(payroll systems submitting lists) and `clock` (the scheduler, or `bvgconnect clock tick`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from contracts.envelope import Envelope, RowsEvent
from contracts.events import auth, billing, clock, coverage, dunning, intake, pricing

KeyKind = Literal["employer_no", "employer_no:ahv"]


@dataclass(frozen=True)
class Topic:
    """One Kafka topic and the event it carries."""

    name: str
    model: type[Envelope]
    key: KeyKind
    producer: str
    consumers: tuple[str, ...]
    description: str
    #: Replaced by a newer major (topics are never removed): nobody publishes or consumes
    #: it any more; its model and baseline stay, the record of what it carried.
    retired: bool = False

    @property
    def dlq(self) -> str:
        """Dead-letter topic for messages that failed after bounded retries."""
        return f"{self.name}.dlq"


def _topic(
    model: type[Envelope],
    key: KeyKind,
    producer: str,
    consumers: tuple[str, ...],
    *,
    retired: bool = False,
) -> Topic:
    return Topic(
        name=model.TOPIC,
        model=model,
        key=key,
        producer=producer,
        consumers=consumers,
        description=(model.__doc__ or "").strip(),
        retired=retired,
    )


_E: KeyKind = "employer_no"
_W: KeyKind = "employer_no:ahv"

CATALOGUE: tuple[Topic, ...] = (
    _topic(auth.EmployerChanged, _E, "auth", ("intake", "pricing", "billing", "dunning")),
    _topic(auth.UserChanged, _E, "auth", ("intake", "billing", "dunning")),
    _topic(intake.ListSubmitted, _E, "connector", ("intake",)),
    _topic(intake.ListReceived, _E, "intake", ("dunning",)),
    _topic(intake.RowsValidated, _E, "intake", ("coverage",)),
    _topic(intake.ListChecked, _E, "intake", ("coverage", "pricing", "dunning")),
    _topic(coverage.RowsAssessed, _E, "coverage", ("pricing",)),
    _topic(coverage.CoverageChanges, _E, "coverage", ("dunning",)),
    _topic(coverage.CoverageFinding, _W, "coverage", ("dunning",)),
    _topic(pricing.RowsPriced, _E, "pricing", ("billing", "intake")),
    _topic(pricing.ListPriced, _E, "pricing", ("billing",)),
    _topic(pricing.PricingFeeCharged, _E, "pricing", ("billing",)),
    _topic(billing.InvoiceIssued, _E, "billing", ("intake", "dunning")),
    _topic(billing.InvoiceDue, _E, "billing", ("dunning",)),
    _topic(billing.PaymentReceived, _E, "billing", ("dunning",)),
    _topic(billing.BalanceChanged, _E, "billing", ("dunning",)),
    _topic(dunning.ReminderEscalated, _E, "dunning", ()),
    _topic(dunning.DunningFeeCharged, _E, "dunning", ("billing",)),
    _topic(dunning.AffiliationTerminated, _E, "dunning", ("auth",)),
    _topic(dunning.NotificationSent, _E, "dunning", ()),
    _topic(clock.DayStarted, _E, "clock", ("auth", "billing", "dunning", "intake")),
    # one row per event, until the parts of lists (v2) replaced them
    _topic(intake.RowValidated, _W, "intake", (), retired=True),
    _topic(coverage.RowAssessed, _W, "coverage", (), retired=True),
    _topic(coverage.CoverageChanged, _W, "coverage", (), retired=True),
    _topic(pricing.RowPriced, _W, "pricing", (), retired=True),
)

_BY_NAME = {t.name: t for t in CATALOGUE}

#: Row events that travel packed: the part event (`RowsEvent`) each is a row of. A producer
#: publishes the row events; its outbox writes the parts (retired topics: v1 of each).
PACKED: dict[type[Envelope], type[RowsEvent]] = {
    t.model.ROW_MODEL: t.model for t in CATALOGUE if issubclass(t.model, RowsEvent)
}


def topic(name: str) -> Topic:
    """The topic called `name`; KeyError naming the known topics if there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"unknown topic {name!r}; known topics: {', '.join(sorted(_BY_NAME))}"
        ) from None


def topic_of(model_or_event: type[Envelope] | Envelope) -> Topic:
    """The topic an event class, or an event, is published on."""
    model = model_or_event if isinstance(model_or_event, type) else type(model_or_event)
    found = topic(model.TOPIC)
    if found.model is not model:
        raise KeyError(f"{model.__name__} is not the model of topic {found.name!r}")
    return found


def produced_by(service: str) -> tuple[Topic, ...]:
    """Topics `service` publishes, in catalogue order (retired ones not)."""
    return tuple(t for t in CATALOGUE if t.producer == service and not t.retired)


def consumed_by(service: str) -> tuple[Topic, ...]:
    """Topics `service` subscribes to, in catalogue order."""
    return tuple(t for t in CATALOGUE if service in t.consumers)


def parse(topic_name: str, data: bytes) -> Envelope:
    """Validate a message's JSON value with its topic's model (pydantic.ValidationError if bad)."""
    return topic(topic_name).model.model_validate_json(data)
