"""Static checks of docker-compose.yml and deploy/ (no Docker engine needed).

The production-like stack cannot run here; these tests keep it consistent with the code:
every service present and running itself, env only of known settings, images pinned,
Prometheus and Grafana pointing at the metrics the runtime really exports.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from pydantic import AliasChoices

from services.runtime.settings import SERVICE_NAMES, Settings, env_name

#: Every metric a service's /metrics exposes, as named in the exposition (counters with
#: `_total`), with its type. Histograms also expose `_bucket`, `_sum` and `_count`.
#: The runtime's own (services/runtime/telemetry.py) and FastStream's Prometheus middleware
#: (default prefix `faststream`). A live test can check these against a running /metrics.
EXPORTED_METRICS: dict[str, str] = {
    "bvg_events_consumed_total": "counter",
    "bvg_handler_seconds": "histogram",
    "bvg_outbox_published_total": "counter",
    "bvg_outbox_pending": "gauge",
    "bvg_consumer_lag": "gauge",
    "bvg_dlq_messages_total": "counter",
    "bvg_dlq_size": "gauge",
    "bvg_lists_checked_total": "counter",
    "bvg_list_findings_total": "counter",
    "bvg_lists_received_total": "counter",
    "bvg_lists_late_total": "counter",
    "bvg_coverage_changes_total": "counter",
    "bvg_invoices_issued_total": "counter",
    "bvg_invoiced_chf_total": "counter",
    "bvg_open_balance_chf": "gauge",
    "bvg_reminders_total": "counter",
    "faststream_received_messages_total": "counter",
    "faststream_received_messages_size_bytes": "histogram",
    "faststream_received_messages_in_process": "gauge",
    "faststream_received_processed_messages_total": "counter",
    "faststream_received_processed_messages_duration_seconds": "histogram",
    "faststream_received_processed_messages_exceptions_total": "counter",
    "faststream_published_messages_total": "counter",
    "faststream_published_messages_duration_seconds": "histogram",
    "faststream_published_messages_exceptions_total": "counter",
}

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
PROMETHEUS_FILE = DEPLOY / "prometheus.yml"
DASHBOARD_FILE = DEPLOY / "grafana" / "dashboards" / "bvgconnect.json"
DATASOURCES_DIR = DEPLOY / "grafana" / "provisioning" / "datasources"
INIT_SQL = DEPLOY / "postgres" / "init.sql"

HTTP_PORT = 8000
#: The metrics each required dashboard panel must be built on.
REQUIRED_PANEL_METRICS = {
    "bvg_events_consumed_total",
    "bvg_handler_seconds_bucket",
    "bvg_outbox_pending",
    "bvg_outbox_published_total",
    "bvg_consumer_lag",
    "bvg_dlq_messages_total",
    "bvg_lists_checked_total",
    "bvg_list_findings_total",
    "bvg_lists_received_total",
    "bvg_lists_late_total",
    "bvg_coverage_changes_total",
    "bvg_invoiced_chf_total",
    "bvg_invoices_issued_total",
    "bvg_open_balance_chf",
    "bvg_reminders_total",
    "bvg_dlq_size",
}
_METRIC_TOKEN = re.compile(r"\b(?:bvg|faststream)_[A-Za-z0-9_]+\b")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?::?-)(?P<default>[^}]*))?\}")


def series_names(metrics: dict[str, str]) -> set[str]:
    """The sample names a query may use: histograms by their `_bucket/_sum/_count` series."""
    names: set[str] = set()
    for name, kind in metrics.items():
        if kind == "histogram":
            names.update(name + suffix for suffix in _HISTOGRAM_SUFFIXES)
        else:
            names.add(name)
    return names


def known_env_vars() -> set[str]:
    """Every environment variable that sets a `Settings` field."""
    known: set[str] = set()
    for field, info in Settings.model_fields.items():
        known.add(env_name(field))
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            known.update(choice for choice in alias.choices if isinstance(choice, str))
        else:
            known.add(f"BVG_{field.upper()}")
    return known


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = _load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    assert isinstance(data.get("services"), dict), "docker-compose.yml has no services"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's `environment`, in either compose form (mapping or KEY=VALUE list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {key: value for key, value in pairs}
    assert isinstance(env, dict)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def interpolate(value: str) -> str:
    """Compose variable substitution as with an empty environment: the defaults."""
    return _VARIABLE.sub(lambda m: m.group("default") or "", value)


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """`depends_on` targets with their condition (short list form: service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {str(name): "service_started" for name in deps}
    return {
        str(name): str((spec or {}).get("condition", "service_started"))
        for name, spec in deps.items()
    }


def is_pinned(image: str) -> bool:
    """A digest, or an explicit tag other than `latest` carrying a version (major.minor...)."""
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.split(":", 1)[1]
    return tag != "latest" and "$" not in tag and bool(re.search(r"\d+\.\d+", tag))


# --- docker-compose.yml ------------------------------------------------------------------


def test_every_service_present_and_runs_itself(services: dict[str, dict[str, Any]]) -> None:
    for name in SERVICE_NAMES:
        assert name in services, f"service {name} missing from docker-compose.yml"
        assert services[name].get("command") == ["run", name], f"{name} does not run {name}"
    assert services["migrate"].get("command") == ["migrate"]


def test_services_share_one_pinned_image_built_from_the_dockerfile(
    services: dict[str, dict[str, Any]],
) -> None:
    images = {services[name].get("image") for name in (*SERVICE_NAMES, "migrate")}
    assert len(images) == 1, f"the services use several images: {images}"
    (image,) = images
    assert isinstance(image, str) and image.startswith("bvgconnect:") and is_pinned(image)
    for name in (*SERVICE_NAMES, "migrate"):
        build = services[name].get("build")
        assert isinstance(build, dict), f"{name} is not built from deploy/Dockerfile"
        assert (COMPOSE_FILE.parent / build.get("context", ".")).resolve() == ROOT
        assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE


def test_service_env_uses_only_known_settings(services: dict[str, dict[str, Any]]) -> None:
    known = known_env_vars()
    for name in (*SERVICE_NAMES, "migrate"):
        env = environment(services[name])
        unknown = {key for key in env if key not in known and not key.startswith("OTEL_")}
        assert not unknown, f"{name} sets variables no setting reads: {sorted(unknown)}"
        for key in (env_name("database_url"), env_name("kafka_bootstrap_servers")):
            assert env.get(key), f"{name} lacks {key}"


def test_service_env_values_are_valid_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each service's environment, with compose's defaults, passes the settings validation."""
    known = known_env_vars()
    for name in SERVICE_NAMES:
        with monkeypatch.context() as patch:
            for key in known:
                patch.delenv(key, raising=False)
            for key, value in environment(services[name]).items():
                patch.setenv(key, interpolate(value))
            settings = Settings()
        assert settings.http_host == "0.0.0.0"
        assert settings.http_port == HTTP_PORT
        assert settings.topic_replication == 3
        assert settings.log_format == "json"
        assert settings.otlp_endpoint == "http://otel-collector:4318/v1/traces"
        assert not settings.migrate_on_start, f"{name} migrates; the migrate job does that"


def test_each_service_connects_with_its_own_role(services: dict[str, dict[str, Any]]) -> None:
    for name in SERVICE_NAMES:
        url = interpolate(environment(services[name])[env_name("database_url")])
        match = re.match(r"postgres(?:ql)?://([^:@/]+)[:@]", url)
        assert match, f"{name}: DATABASE_URL is not a PostgreSQL URL: {url}"
        assert match.group(1) == name, f"{name} connects as role {match.group(1)}"
        assert "@postgres:5432/" in url


def test_services_wait_for_migrate_and_probe_readyz(services: dict[str, dict[str, Any]]) -> None:
    for name in SERVICE_NAMES:
        service = services[name]
        assert depends_on(service).get("migrate") == "service_completed_successfully", name
        test = service.get("healthcheck", {}).get("test")
        assert isinstance(test, list) and test[:2] == ["CMD", "python"], name
        assert f"127.0.0.1:{HTTP_PORT}/readyz" in " ".join(test), name
        assert service.get("restart") in {"unless-stopped", "always", "on-failure"}, name
    assert services["migrate"].get("restart", "no") == "no"


def test_every_image_is_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} has no image"
        assert is_pinned(str(image)), f"{name}: image {image} is not pinned"


def test_every_depends_on_target_exists(services: dict[str, dict[str, Any]]) -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert condition in conditions, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"


def test_kafka_is_a_three_node_kraft_cluster(services: dict[str, dict[str, Any]]) -> None:
    nodes = {name: s for name, s in services.items() if name.startswith("kafka")}
    assert len(nodes) >= 3
    ids = set()
    for name, node in nodes.items():
        assert str(node["image"]).startswith("apache/kafka:"), name
        env = environment(node)
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller", name
        assert len(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == len(nodes), name
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3", name
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3", name
        ids.add(env["KAFKA_NODE_ID"])
    assert len(ids) == len(nodes), "KRaft node ids collide"
    servers = environment(services["auth"])["KAFKA_BOOTSTRAP_SERVERS"].split(",")
    assert {server.split(":")[0] for server in servers} == set(nodes)


def test_postgres_is_16_or_newer_and_runs_init_sql(services: dict[str, dict[str, Any]]) -> None:
    image = str(services["postgres"]["image"])
    match = re.match(r"postgres:(\d+)", image)
    assert match and int(match.group(1)) >= 16, image
    mounts = [str(v) for v in services["postgres"].get("volumes", [])]
    assert any(
        m.startswith("./deploy/postgres/init.sql:/docker-entrypoint-initdb.d/") for m in mounts
    )


def test_mounted_config_files_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE_FILE.parent / source).exists(), f"{name} mounts missing {source}"


# --- deploy/Dockerfile -------------------------------------------------------------------


def test_dockerfile_pinned_non_root_entrypoint() -> None:
    lines = [
        line.strip()
        for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    stages: set[str] = set()
    bases = []
    for line in lines:
        if line.upper().startswith("FROM "):
            parts = line.split()
            image = next(p for p in parts[1:] if not p.startswith("--"))
            if image not in stages:
                bases.append(image)
            if len(parts) >= 4 and parts[-2].upper() == "AS":
                stages.add(parts[-1])
    assert bases, "Dockerfile has no FROM"
    for image in bases:
        assert is_pinned(image), f"FROM {image} is not pinned"
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image
    users = [line.split(None, 1)[1] for line in lines if line.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "image runs as root"
    assert 'ENTRYPOINT ["bvgconnect"]' in lines
    assert 'CMD ["run", "auth"]' in lines
    assert not any(line.upper().startswith("HEALTHCHECK") for line in lines)
    assert any(re.match(r"RUN .*pip install \.", line) for line in lines)


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".git", ".venv", ".bvgconnect", "tests"):
        assert entry in ignored


# --- Prometheus, Grafana, collector ------------------------------------------------------


def test_prometheus_scrapes_exactly_the_six_services() -> None:
    config = _load_yaml(PROMETHEUS_FILE)
    targets: list[str] = []
    for job in config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics", job["job_name"]
        for static in job.get("static_configs", []):
            targets.extend(static["targets"])
    assert sorted(targets) == sorted(f"{name}:{HTTP_PORT}" for name in SERVICE_NAMES)


def _query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that query something (rows only group panels)."""
    return [panel for panel in dashboard["panels"] if panel.get("type") != "row"]


def _dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    queries: list[str] = []
    for panel in _query_panels(dashboard):
        queries.extend(str(target["expr"]) for target in panel.get("targets", []))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        queries.append(str(query.get("query", "") if isinstance(query, dict) else query or ""))
    return queries


def test_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    allowed = series_names(EXPORTED_METRICS)
    used: set[str] = set()
    for query in _dashboard_queries(dashboard):
        used.update(_METRIC_TOKEN.findall(query))
    assert not used - allowed, f"dashboard queries unknown metrics: {sorted(used - allowed)}"
    assert used >= REQUIRED_PANEL_METRICS, f"missing panels for {REQUIRED_PANEL_METRICS - used}"
    for panel in _query_panels(dashboard):
        assert panel.get("title") and panel.get("targets"), panel.get("id")


def test_dashboard_datasources_are_provisioned() -> None:
    provisioned: set[str] = set()
    for path in DATASOURCES_DIR.glob("*.y*ml"):
        provisioned.update(ds["uid"] for ds in _load_yaml(path)["datasources"])
    dashboard = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    for panel in _query_panels(dashboard):
        assert panel["datasource"]["uid"] in provisioned, panel["title"]


def test_collector_forwards_otlp_http_to_jaeger() -> None:
    config = _load_yaml(DEPLOY / "otel-collector.yaml")
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    traces = config["service"]["pipelines"]["traces"]
    assert "otlp" in traces["receivers"]
    for exporter in traces["exporters"]:
        assert config["exporters"][exporter]["endpoint"].startswith("jaeger:")


def test_compose_sends_the_services_spans_to_jaeger(services: dict[str, dict[str, Any]]) -> None:
    """Service → OTLP/HTTP → otel-collector (this config) → OTLP/gRPC → Jaeger, statically."""
    config = _load_yaml(DEPLOY / "otel-collector.yaml")
    collector = services["otel-collector"]
    config_path = next(
        arg.split("=", 1)[1] for arg in collector["command"] if arg.startswith("--config=")
    )
    mounts = [str(volume) for volume in collector.get("volumes", [])]
    assert any(m.startswith(f"./deploy/otel-collector.yaml:{config_path}") for m in mounts)
    receiver = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    for name in SERVICE_NAMES:
        endpoint = interpolate(environment(services[name])[env_name("otlp_endpoint")])
        url = urlparse(endpoint)
        assert (url.scheme, url.hostname, url.path) == ("http", "otel-collector", "/v1/traces")
        assert url.port == int(receiver.rsplit(":", 1)[1]), name
        assert "otel-collector" in depends_on(services[name]), name
    pipeline = config["service"]["pipelines"]["traces"]
    assert "otlp" in pipeline["receivers"]
    assert set(pipeline.get("processors", [])) <= set(config.get("processors", {}))
    assert pipeline["exporters"], "the traces pipeline exports nowhere"
    for exporter in pipeline["exporters"]:
        assert exporter.split("/")[0] == "otlp", exporter  # Jaeger takes OTLP natively
        assert config["exporters"][exporter]["endpoint"] == "jaeger:4317", exporter
    jaeger = services["jaeger"]
    assert str(jaeger["image"]).startswith("jaegertracing/all-in-one:")
    assert environment(jaeger).get("COLLECTOR_OTLP_ENABLED") == "true"
    assert "jaeger" in depends_on(collector)
    # the services can export over OTLP/HTTP (the package ships the exporter)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    from services.runtime.telemetry import make_tracer_provider

    provider = make_tracer_provider("intake", otlp_endpoint="http://otel-collector:4318/v1/traces")
    assert provider.sampler.get_description().startswith("ParentBased")
    provider.shutdown()
    assert OTLPSpanExporter is not None


def test_exported_metrics_match_the_runtime() -> None:
    """EXPORTED_METRICS agrees with what the runtime and FastStream register."""
    from faststream.prometheus.container import MetricsContainer
    from prometheus_client import CollectorRegistry

    from services.runtime.telemetry import Metrics

    def exposed(registry: CollectorRegistry) -> dict[str, str]:
        found: dict[str, str] = {}
        for family in registry.collect():
            name = family.name + "_total" if family.type == "counter" else family.name
            found[name] = family.type
        return found

    runtime = exposed(Metrics.create().registry)
    assert runtime == {k: v for k, v in EXPORTED_METRICS.items() if k.startswith("bvg_")}
    registry = CollectorRegistry()
    MetricsContainer(registry, custom_label_names=())
    faststream = exposed(registry)
    assert faststream == {k: v for k, v in EXPORTED_METRICS.items() if k.startswith("faststream_")}


# --- deploy/postgres/init.sql ------------------------------------------------------------


def test_init_sql_creates_a_role_and_schema_per_service() -> None:
    sql = INIT_SQL.read_text(encoding="utf-8")
    for name in SERVICE_NAMES:
        assert re.search(rf"^CREATE ROLE {name} LOGIN\b", sql, re.M), f"no role {name}"
        assert re.search(rf"^CREATE SCHEMA {name} AUTHORIZATION {name};", sql, re.M), name
        assert re.search(rf"^ALTER ROLE {name} SET search_path = {name};", sql, re.M), name


# --- with a Docker engine ----------------------------------------------------------------


@pytest.mark.docker
def test_docker_compose_config_is_valid() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed")
    info = subprocess.run([docker, "info"], capture_output=True, timeout=30, check=False)
    if info.returncode != 0:
        pytest.skip("no Docker engine answers (docker info failed)")
    version = subprocess.run(
        [docker, "compose", "version"], capture_output=True, timeout=30, check=False
    )
    if version.returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
