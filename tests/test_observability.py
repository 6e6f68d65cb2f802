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


def test_log_lines_carry_the_connection_id_and_request_id(log_output):
    handler(connect_event(), FakeLambdaContext())
    event_line = next(
        line for line in json_lines(log_output.getvalue()) if line.get("message", "").startswith("WebSocket CONNECT")
    )
    assert event_line["correlation_id"] == CONNECTION_ID
    assert event_line["connection_id"] == CONNECTION_ID
    assert event_line["lambda_request_id"] == FakeLambdaContext.aws_request_id
    assert (event_line["status"], event_line["route_key"]) == (200, "$connect")


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


def test_a_lone_event_count_is_the_document_powertools_prints(capfd, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", False)
    handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    (document,) = emf_documents(capfd.readouterr().out)
    expected = AmazonCloudWatchEMFProvider(namespace=observability.NAMESPACE, service=observability.SERVICE)
    expected.add_metric(name="MessagesRejected", unit=MetricUnit.Count, value=1)
    expected.set_timestamp(document["_aws"]["Timestamp"])
    assert document == expected.serialize_metric_set()
    assert abs(document["_aws"]["Timestamp"] - time.time() * 1000) < 60_000


def test_the_event_log_line_comes_before_its_metric_and_keeps_its_message(capsys, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", False)
    powertools_handler = observability.logger.registered_handler
    previous = powertools_handler.setStream(sys.stdout)  # the log lines and the metrics in one stream, in order
    try:
        handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    finally:
        powertools_handler.setStream(previous)
    lines = json_lines(capsys.readouterr().out)
    event_line = next(i for i, line in enumerate(lines) if line.get("message") == "WebSocket MESSAGE $default -> 403")
    assert "_aws" in lines[event_line + 1]
    assert lines[event_line]["location"].startswith("record_websocket_event:")
    assert observability.metrics.metric_set == {}


def test_an_event_count_shares_the_document_of_other_metrics_of_its_invocation(capfd, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", True)
    handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    (document,) = emf_documents(capfd.readouterr().out)
    assert {m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]} == {"ColdStart", "MessagesRejected"}


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


def test_the_event_line_names_the_line_that_logs_it(log_output, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", False)
    handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    event_line = next(
        line for line in json_lines(log_output.getvalue()) if line.get("message", "").startswith("WebSocket MESSAGE")
    )
    function, line = event_line["location"].split(":")
    source = inspect.getsourcelines(observability)[0]
    assert function == "record_websocket_event"
    assert "_log_event(" in source[int(line) - 1]
    assert (event_line["level"], event_line["duration_ms"] >= 0) == ("INFO", True)


def test_the_event_line_follows_the_loggers_level(log_output, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", False)
    monkeypatch.setattr(observability.logger._logger, "level", logging.WARNING)
    observability.logger._logger.manager._clear_cache()
    try:
        handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    finally:
        observability.logger._logger.manager._clear_cache()
    assert not [line for line in json_lines(log_output.getvalue()) if line.get("level") == "INFO"]


def test_metrics_in_powertools_dev_mode_follow_powertools(capfd, monkeypatch):
    monkeypatch.setattr(observability, "_cold_start", False)
    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # dev mode, metrics explicitly on
    handler(message_event({}, connection_id="unknown="), FakeLambdaContext())
    (document,) = emf_documents(capfd.readouterr().out)
    assert document["MessagesRejected"] == [1.0]
