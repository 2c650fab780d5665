"""Settings of one service process (pydantic-settings, prefix `BVG_`).

Built in the app factory, never at import. `DATABASE_URL` and `KAFKA_BOOTSTRAP_SERVERS`
are read without prefix, as the deployment world names them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_NAMES = ("auth", "intake", "coverage", "pricing", "billing", "dunning")
ServiceName = Literal["auth", "intake", "coverage", "pricing", "billing", "dunning"]


def suite_ports(base: int = 8100) -> dict[str, int]:
    """HTTP port of each service in the embedded suite: auth base+1 … dunning base+6."""
    return {name: base + i for i, name in enumerate(SERVICE_NAMES, start=1)}


#: The ports of `bvgconnect up` with the default base.
DEFAULT_PORTS: dict[str, int] = suite_ports()


class Settings(BaseSettings):
    """Everything a service process needs to know about its surroundings."""

    model_config = SettingsConfigDict(env_prefix="BVG_", extra="ignore", frozen=True)

    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_URL", "BVG_DATABASE_URL"),
        description="PostgreSQL DSN; empty means the embedded server in the data folder.",
    )
    kafka_bootstrap_servers: str = Field(
        default="",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "BVG_KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port[,host:port]; empty means the embedded broker.",
    )
    data_dir: Path = Field(default=Path(".bvgconnect"), description="Embedded data folder.")
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP API binds to.")
    http_port: int = Field(default=0, ge=0, le=65535, description="0: the service's default.")
    http_port_base: int = Field(
        default=8100, ge=1024, le=65000, description="`bvgconnect up`: services on base+1..+6."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    otlp_endpoint: str = Field(default="", description="OTLP/HTTP traces endpoint; empty: none.")
    topic_prefix: str = Field(
        default="", pattern=r"^[A-Za-z0-9._-]*$", description="Prefix for every topic (tests)."
    )
    topic_partitions: int = Field(default=6, ge=1, le=1000)
    topic_replication: int = Field(default=1, ge=1, le=10)
    consumer_max_records: int = Field(default=500, ge=1, le=10000)
    # An idle suite's cost is its polling: at 20 ms (wait and timeout) six idle services
    # and Tansu kept half a core busy, at these values a third, for an idle latency p95 of
    # 23 ms (benchmarks/README.md). Records that are there are returned without waiting.
    consumer_batch_timeout_ms: int = Field(
        default=200, ge=0, le=10000, description="Longest wait of the consumer loop for records."
    )
    consumer_fetch_max_wait_ms: int = Field(
        default=40, ge=0, le=10000, description="Longest wait of an empty fetch (idle latency)."
    )
    consumer_heartbeat_ms: int = Field(default=500, ge=50, le=60000)
    consumer_session_timeout_ms: int = Field(
        default=6000, ge=1000, le=300000, description="Group session; Kafka's minimum is 6 s."
    )
    retry_attempts: int = Field(default=3, ge=1, le=20, description="Tries before the DLQ.")
    retry_backoff_ms: int = Field(default=200, ge=0, le=60000, description="First retry delay.")
    outbox_batch_size: int = Field(default=1000, ge=1, le=10000)
    outbox_poll_ms: int = Field(default=1000, ge=10, le=60000, description="Relay fallback poll.")
    outbox_retention_h: float = Field(
        default=168, ge=0, le=87600, description="Keep published outbox rows this long."
    )
    inbox_retention_h: float = Field(
        default=720,
        ge=1,
        le=87600,
        description="Remember handled event ids this long; keep it above the broker's retention.",
    )
    db_pool_min: int = Field(default=2, ge=1, le=100)
    db_pool_max: int = Field(default=10, ge=1, le=100)
    db_connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    kafka_connect_timeout_s: float = Field(default=10.0, gt=0, le=120)
    migrate_on_start: bool = Field(default=True, description="Apply migrations at start-up.")
    shutdown_drain_s: float = Field(default=10.0, ge=0, le=300, description="Outbox drain time.")

    # -- Access tokens: local bearer-token verification (services/runtime/access.py) ----------
    auth_issuer: str = Field(
        default="bvgconnect-auth", min_length=1, description="`iss` every access token must carry."
    )
    auth_audience: str = Field(
        default="bvgconnect", min_length=1, description="`aud` every access token must carry."
    )
    auth_jwks_url: str = Field(
        default="",
        pattern=r"^(https?://\S+)?$",
        description="JWKS of the auth service, e.g. http://127.0.0.1:8101/.well-known/jwks.json; "
        "takes precedence over the file.",
    )
    auth_jwks_file: Path | None = Field(
        default=None, description="A JWKS file, read instead of a URL (development, tests)."
    )
    auth_jwks_refresh_s: float = Field(
        default=30,
        ge=1,
        le=3600,
        description="At most one JWKS fetch per this many seconds (an unknown `kid` asks for one).",
    )
    auth_jwks_max_age_s: float = Field(
        default=3600, ge=60, le=86400, description="Fetch the JWKS again after this long."
    )
    auth_token_leeway_s: int = Field(
        default=30, ge=0, le=120, description="Clock skew allowed on `iat` and `exp`."
    )
    auth_token_cache_size: int = Field(
        default=10000, ge=0, le=1000000, description="Verified tokens remembered; 0: none."
    )

    # -- auth: signing key, SMS gateway, password age (services/auth) ----------------------
    auth_signing_key_dir: Path | None = Field(
        default=None,
        description="Folder of auth's Ed25519 signing key (created if empty); default: "
        "<BVG_DATA_DIR>/auth-dev-key, the folder `bvgconnect up` and `token` use.",
    )
    auth_sms_gateway_url: str = Field(
        default="",
        pattern=r"^(https?://\S+)?$",
        description="HTTP SMS gateway (production); empty: SMS go to a file in the data folder.",
    )
    auth_password_max_age_days: int = Field(
        default=365, ge=0, le=3650, description="Maximum password age; 0 disables it."
    )
    auth_trust_anchors_file: Path | None = Field(
        default=None, description="PEM file of the CA certificates client certificates chain to."
    )
    auth_crl_file: Path | None = Field(
        default=None, description="PEM file of the certificate revocation lists of those CAs."
    )
    auth_refresh_lifetime_s: int = Field(
        default=8 * 3600, ge=60, le=7 * 86400, description="Lifetime of a refresh token."
    )

    # -- billing: the foundation as payee, and when invoices go out (RULES §8) ---------------
    billing_qr_iban: str = Field(
        default="CH4431999123000889012",
        pattern=r"^[A-Z]{2}[0-9A-Z]{13,32}$",
        description="The foundation's QR-IBAN (without spaces); the default is SIX's example.",
    )
    billing_creditor_name: str = Field(default="Sammelstiftung bvgconnect", max_length=70)
    billing_creditor_street: str = Field(default="Bahnhofplatz", max_length=70)
    billing_creditor_house_no: str = Field(default="1", max_length=16)
    billing_creditor_postcode: str = Field(default="3011", max_length=16)
    billing_creditor_town: str = Field(default="Bern", max_length=35)
    billing_creditor_country: str = Field(default="CH", pattern=r"^[A-Z]{2}$")
    billing_collective_cutoff: str = Field(
        default="04-30",
        pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
        description="MM-DD: the January-March invoice goes out on this day if a list is missing.",
    )
    billing_pending_max_days: int = Field(
        default=30,
        ge=1,
        le=366,
        description="Fees, corrections and interest waiting longer than this for an invoice get "
        "one of their own.",
    )

    # -- intake: limits of an uploaded list (TEMPLATE.md `file.too_large`) -------------------
    intake_max_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Largest list file accepted, bytes."
    )
    intake_max_rows: int = Field(default=200_000, ge=1, description="Most data rows in a list.")
    intake_check_poll_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How often the checker looks for unchecked uploads when nothing woke it.",
    )
    intake_max_uncompressed_bytes: int = Field(
        default=400 * 1024 * 1024,
        ge=1024,
        description="Largest uncompressed size of an xlsx's parts (guards against zip bombs).",
    )

    # -- dunning: notices to outside bodies by e-mail (RULES §9, Art. 22.3) -------------------
    smtp_host: str | None = Field(
        default=None, description="SMTP server for notices; unset or empty: notices stay pending."
    )
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = Field(default="dunning@bvgconnect.ch", min_length=3, max_length=200)
    smtp_timeout_s: float = Field(default=10.0, gt=0, le=300, description="Per SMTP session.")
    notice_catch_all_email: str = Field(
        default="meldungen@aeis.ch",
        min_length=3,
        max_length=200,
        description="Catch-all institution (Stiftung Auffangeinrichtung BVG); verify in operation.",
    )
    notice_association_email: str = Field(
        default="mahnwesen@verband.example.ch",
        min_length=3,
        max_length=200,
        description="The employers' association that gets copies of 2nd reminders.",
    )
    notice_retry_base_s: float = Field(
        default=5.0, gt=0, le=3600, description="First retry delay of a notice (doubles, ≤ 1 h)."
    )


def env_name(field: str) -> str:
    """The environment variable that sets a settings field (for error messages)."""
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        return first if isinstance(first, str) else field.upper()
    return f"BVG_{field.upper()}"


def describe_error(error: ValidationError) -> str:
    """One line naming the malformed setting, its variable and why."""
    first = error.errors()[0]
    loc = first.get("loc") or ("?",)
    field = str(loc[0])
    name = env_name(field) if field in Settings.model_fields else field
    return f"setting {name} is malformed: {first.get('msg', 'invalid value')}"
