"""Powertools logs and EMF metrics around each Lambda invocation."""

from __future__ import annotations

import inspect
import io
import json
import logging
import sys
import time

import pytest
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from infra import commands, observability
from infra.handlers import handler, manage_handler
from tests.events import CONNECTION_ID, DOMAIN, FakeLambdaContext, connect_event, message_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection")]


@pytest.fixture(autouse=True)
def _hosts(settings):
    settings.ALLOWED_HOSTS = [DOMAIN]
    settings.ROOT_URLCONF = "tests.ws_urls"  # views without tokens: these tests are about what gets logged


@pytest.fixture
def log_output():
    """What the JSON log handlers write, read from a buffer that uses the shared Powertools formatter."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(observability.logger.registered_formatter)
    loggers = [logging.getLogger(), logging.getLogger(observability.SERVICE)]
    for each in loggers:
        each.addHandler(handler)
    yield buffer
    for each in loggers:
        each.removeHandler(handler)


def json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def emf_metrics(lines: list[dict]) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in lines:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            assert directive["Namespace"] == observability.NAMESPACE
            for metric in directive["Metrics"]:
                found[metric["Name"]] = sum(line[metric["Name"]])
    return found


def test_websocket_events_are_counted_in_emf(capfd):
    handler(connect_event(), FakeLambdaContext())
    handler(message_event({"action": "ping"}), FakeLambdaContext())
    handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    metrics = emf_metrics(json_lines(capfd.readouterr().out))
    assert metrics["Connects"] == 1
    assert metrics["Messages"] == 1
    assert metrics["MessagesRejected"] == 1


def test_a_refused_connect_is_counted_as_rejected(capfd):
    handler(connect_event(query={"channel": "\n"}), FakeLambdaContext())
    metrics = emf_metrics(json_lines(capfd.readouterr().out))
    assert metrics == {"ConnectsRejected": 1} or metrics == {"ConnectsRejected": 1, "ColdStart": 1}


def test_the_first_invocation_of_a_container_reports_a_cold_start(capfd, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", True)
    handler(connect_event(), FakeLambdaContext())
    handler(message_event({}), FakeLambdaContext())
    metrics = emf_metrics(json_lines(capfd.readouterr().out))
    assert metrics["ColdStart"] == 1


def test_an_events_details_ride_in_its_count_document_not_in_a_line_of_their_own(capfd, log_output, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", False)
    handler(connect_event(), FakeLambdaContext())
    (document,) = emf_documents(capfd.readouterr().out)
    assert document["Connects"] == [1.0]
    assert document["message"] == "WebSocket CONNECT $connect -> 200"
    assert (document["event_type"], document["route_key"], document["status"]) == ("CONNECT", "$connect", 200)
    assert document["duration_ms"] >= 0
    assert document["correlation_id"] == document["connection_id"] == CONNECTION_ID
    assert document["lambda_request_id"] == FakeLambdaContext.aws_request_id
    assert document["invocation"] == "websocket"
    assert not [line for line in json_lines(log_output.getvalue()) if "WebSocket CONNECT" in line.get("message", "")]


def test_an_events_details_do_not_carry_the_previous_invocations_keys(capfd, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", False)
    handler(connect_event(), FakeLambdaContext())
    handler({"requestContext": {"eventType": "MESSAGE", "routeKey": "$default"}}, None)
    first, second = emf_documents(capfd.readouterr().out)
    assert first["connection_id"] == CONNECTION_ID
    assert (second["connection_id"], second["lambda_request_id"], second["correlation_id"]) == (None, "", None)


@pytest.mark.parametrize("cold_start", [False, True], ids=["alone", "with-cold-start"])
def test_a_token_in_an_events_details_is_redacted(capfd, monkeypatch, cold_start):
    monkeypatch.setattr(observability, "_cold_start", cold_start)
    secret = "s3cr3t-token-value"
    event = {"requestContext": {"eventType": "MESSAGE", "connectionId": "abc=", "routeKey": f"x?ws_token={secret}"}}
    handler(event, FakeLambdaContext())
    out = capfd.readouterr().out
    assert secret not in out
    (document,) = emf_documents(out)
    assert document["route_key"] == "x?ws_token=***"


def test_djangos_own_log_lines_carry_the_same_keys(log_output):
    handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    refusal = next(
        line for line in json_lines(log_output.getvalue()) if line.get("message", "").startswith("WebSocket request")
    )
    assert refusal["correlation_id"] == "unknown="
    assert refusal["invocation"] == "websocket"


def test_keys_do_not_leak_into_the_next_invocation(log_output):
    handler(connect_event(), FakeLambdaContext())
    manage_handler({"manage": "check"}, None)
    finished = next(
        line for line in json_lines(log_output.getvalue()) if line.get("message", "").startswith("Management command")
    )
    assert "connection_id" not in finished
    assert finished.get("correlation_id") is None


def test_an_unexpected_exception_in_a_command_is_reported_not_raised(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(commands, "call_command", explode)
    result = manage_handler({"manage": "check"}, None)
    assert result == {"exit_code": 1, "output": "RuntimeError: disk full\n"}


def test_djangos_json_log_handler_shares_the_powertools_formatter():
    json_handlers = [
        handler
        for handler in logging.getLogger().handlers
        if handler.formatter is observability.logger.registered_formatter
    ]
    assert json_handlers, "the root JSON handler should format with the Powertools logger's formatter"


def test_a_lone_surrogate_in_an_event_is_logged_escaped_not_lost():
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "from infra.handlers import handler\n"
        "event = {'requestContext': {'eventType': 'MESSAGE', 'connectionId': 'abc=', 'routeKey': '\\ud800x'}}\n"
        "print(handler(event, None)['statusCode'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        env={"PATH": "/usr/bin:/bin", "DJANGO_DEBUG": "1", "DJANGO_SETTINGS_MODULE": "project.settings"},
        capture_output=True,
        text=True,
        errors="backslashreplace",
        check=True,
    )
    assert "Logging error" not in done.stderr
    assert "\\ud800x" in done.stdout
    assert done.stdout.strip().endswith("400")


def emf_documents(text: str) -> list[dict]:
    return [line for line in json_lines(text) if "_aws" in line]


def _powertools_document(metric: str, timestamp: int, metadata: dict | None = None) -> str:
    expected = AmazonCloudWatchEMFProvider(namespace=observability.NAMESPACE, service=observability.SERVICE)
    expected.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    for key, value in (metadata or {}).items():
        expected.add_metadata(key=key, value=value)
    expected.set_timestamp(timestamp)
    return json.dumps(expected.serialize_metric_set(), separators=(",", ":"))


def test_a_lone_event_count_is_the_document_powertools_prints_byte_for_byte(capfd, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", False)
    handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    (line,) = [line for line in capfd.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    document = json.loads(line)
    metadata = {key: value for key, value in document.items() if key not in ("_aws", "service", "MessagesRejected")}
    assert metadata["route_key"] == "$default"
    assert line == _powertools_document("MessagesRejected", document["_aws"]["Timestamp"], metadata)
    assert abs(document["_aws"]["Timestamp"] - time.time() * 1000) < 60_000


def test_the_count_document_without_details_is_the_one_powertools_prints():
    timestamp = int(time.time() * 1000)
    assert observability._count_document("Messages", timestamp) == _powertools_document("Messages", timestamp)
    assert observability._count_document("Messages", timestamp, {}) == _powertools_document("Messages", timestamp)


def test_the_event_is_one_line_and_leaves_nothing_to_flush(capsys, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", False)
    powertools_handler = observability.logger.registered_handler
    previous = powertools_handler.setStream(sys.stdout)  # the log lines and the metrics in one stream, in order
    try:
        handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    finally:
        powertools_handler.setStream(previous)
    lines = json_lines(capsys.readouterr().out)
    assert [line["message"] for line in lines if "WebSocket MESSAGE" in line.get("message", "")] == [
        "WebSocket MESSAGE $default -> 403"
    ]
    assert "_aws" in next(line for line in lines if line.get("message") == "WebSocket MESSAGE $default -> 403")
    assert observability.metrics.metric_set == {}
    assert observability.metrics.metadata_set == {}


def test_an_event_count_shares_the_document_of_other_metrics_of_its_invocation(capfd, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", True)
    handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    (document,) = emf_documents(capfd.readouterr().out)
    assert {m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]} == {"ColdStart", "MessagesRejected"}
    assert (document["message"], document["connection_id"]) == ("WebSocket MESSAGE $default -> 403", "unknown=")
    assert observability.metrics.metadata_set == {}


def test_an_event_count_carries_a_dimension_added_during_its_invocation(capfd, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", False)
    original = observability.record_websocket_event

    def with_dimension(*args, **kwargs):
        observability.metrics.add_dimension(name="tenant", value="blue")
        original(*args, **kwargs)

    monkeypatch.setattr(observability, "record_websocket_event", with_dimension)
    handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    (document,) = emf_documents(capfd.readouterr().out)
    assert document["tenant"] == "blue"
    assert document["MessagesRejected"] == [1.0]


def test_no_event_count_is_printed_while_metrics_are_disabled(capfd, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", False)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    try:
        handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
        assert emf_documents(capfd.readouterr().out) == []
    finally:
        observability.metrics.provider.clear_metrics()  # Powertools keeps what it did not print


def test_while_metrics_are_disabled_the_details_are_the_events_log_line(capfd, log_output, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", False)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    try:
        handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    finally:
        observability.metrics.provider.clear_metrics()
    assert emf_documents(capfd.readouterr().out) == []
    event_line = next(
        line for line in json_lines(log_output.getvalue()) if line.get("message", "").startswith("WebSocket MESSAGE")
    )
    function, line = event_line["location"].split(":")
    source = inspect.getsourcelines(observability)[0]
    assert function == "record_websocket_event"
    assert "_log_event(" in source[int(line) - 1]
    assert (event_line["level"], event_line["duration_ms"] >= 0) == ("INFO", True)
    assert (event_line["status"], event_line["correlation_id"]) == (403, "unknown=")


@pytest.fixture
def logger_at_warning(monkeypatch):
    monkeypatch.setattr(observability.logger._logger, "level", logging.WARNING)
    observability.logger._logger.manager._clear_cache()
    yield
    monkeypatch.undo()
    observability.logger._logger.manager._clear_cache()


@pytest.mark.usefixtures("logger_at_warning")
@pytest.mark.parametrize("cold_start", [False, True], ids=["alone", "with-cold-start"])
def test_an_events_details_follow_the_loggers_level(capfd, monkeypatch, cold_start):
    monkeypatch.setattr(observability, "_cold_start", cold_start)
    handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    (document,) = emf_documents(capfd.readouterr().out)
    assert document["MessagesRejected"] == [1.0]
    assert "message" not in document
    assert "connection_id" not in document


@pytest.mark.usefixtures("logger_at_warning")
def test_the_event_line_follows_the_loggers_level(log_output, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", False)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    try:
        handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    finally:
        observability.metrics.provider.clear_metrics()
    assert not [line for line in json_lines(log_output.getvalue()) if line.get("level") == "INFO"]


def test_metrics_in_powertools_dev_mode_follow_powertools(capfd, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", False)
    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # dev mode, metrics explicitly on
    handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    (document,) = emf_documents(capfd.readouterr().out)
    assert document["MessagesRejected"] == [1.0]
