"""Operator and scheduled entry points: allow-listed management commands and cleanup jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from infra import cleanup
from infra.handlers import cleanup_handler, handler, manage_handler
from tests.events import schedule_event
from websockets_app.models import ConnectionRateLimit, WebSocketSession

# The handlers run inside the test transaction, so they must not recycle its connection.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection")]


def test_an_allowed_command_runs_and_its_output_is_captured():
    result = manage_handler({"manage": "showmigrations websockets_app"}, None)
    assert result["exit_code"] == 0
    assert "[X] 0001_initial" in result["output"]


def test_the_serverless_wsgi_form_runs_the_same_way():
    result = handler({"_serverless-wsgi": {"command": "manage", "data": "showmigrations websockets_app"}}, None)
    assert result["exit_code"] == 0
    assert "0001_initial" in result["output"]


def test_a_failing_command_reports_its_exit_code_and_error():
    result = manage_handler({"manage": "showmigrations no_such_app"}, None)
    assert result["exit_code"] == 2  # what showmigrations exits with
    assert "No installed app with label 'no_such_app'" in result["output"]


def test_a_command_error_is_reported_with_its_exit_code(settings):
    settings.LAMBDA_MANAGE_COMMANDS = ["migrate <name>"]
    result = manage_handler({"manage": "migrate no_such_app"}, None)
    assert result["exit_code"] == 1
    assert "CommandError: No installed app with label 'no_such_app'." in result["output"]


def test_bad_arguments_are_a_command_error_not_a_crash(settings):
    settings.LAMBDA_MANAGE_COMMANDS = ["showmigrations [--no-such-option]"]  # allowed here, unknown to the command
    result = manage_handler({"manage": "showmigrations --no-such-option"}, None)
    assert result["exit_code"] != 0
    assert "unrecognized arguments" in result["output"]


@pytest.mark.parametrize(
    ("command_line", "message"),
    [
        ("shell -c 'import os'", "'shell' is not allowed here"),
        ("dbshell", "'dbshell' is not allowed here"),
        ("flush --noinput", "'flush' is not allowed here"),
        ("", "The command line is empty."),
        ("   ", "The command line is empty."),
        ("migrate 'unclosed", "Cannot parse the command line"),
        (["migrate"], "Expected a command line string"),
        (None, "Expected a command line string"),
    ],
)
def test_anything_not_allowed_is_refused_with_a_clear_message(command_line, message):
    result = manage_handler({"manage": command_line}, None)
    assert result["exit_code"] == 2
    assert message in result["output"]


def test_the_allow_list_is_a_setting(settings):
    settings.LAMBDA_MANAGE_COMMANDS = ["check"]
    assert manage_handler({"manage": "check"}, None)["exit_code"] == 0
    assert "not allowed" in manage_handler({"manage": "migrate"}, None)["output"]


def test_an_allowed_name_that_is_no_command_is_refused(settings):
    settings.LAMBDA_MANAGE_COMMANDS = ["nosuchcommand"]
    result = manage_handler({"manage": "nosuchcommand"}, None)
    assert (result["exit_code"], result["output"]) == (2, "Unknown command 'nosuchcommand'.")


def test_the_command_line_is_split_not_run_by_a_shell(settings):
    settings.LAMBDA_MANAGE_COMMANDS = ["check"]
    result = manage_handler({"manage": "check; rm -rf /"}, None)
    assert result["exit_code"] == 2
    assert "'check;' is not allowed" in result["output"]


# -- cleanup --------------------------------------------------------------------------------------------------------


@pytest.fixture
def old_records(make_session):
    make_session(connected=False)
    make_session(connected=True)
    month_ago = timezone.now() - timedelta(days=30)
    ConnectionRateLimit.objects.create(ip_address="203.0.113.1", bucket_start=month_ago, last_attempt=month_ago)


def test_a_named_job_runs_its_command_only(old_records):
    result = cleanup_handler(schedule_event("sessions"), None)
    assert result["ok"] is True
    assert list(result["jobs"]) == ["sessions"]
    assert "Deleted 1 disconnected WebSocket session(s)." in result["jobs"]["sessions"]["output"]
    assert WebSocketSession.objects.count() == 1
    assert ConnectionRateLimit.objects.count() == 1


def test_the_bare_scheduled_event_runs_every_job(old_records):
    result = handler(schedule_event(), None)
    assert sorted(result["jobs"]) == ["history", "sessions", "stale", "tokens"]
    assert WebSocketSession.objects.count() == 1
    assert ConnectionRateLimit.objects.count() == 0


def test_cleanup_jobs_are_idempotent(old_records):
    cleanup_handler(schedule_event("sessions"), None)
    again = cleanup_handler(schedule_event("sessions"), None)
    assert "Deleted 0 disconnected" in again["jobs"]["sessions"]["output"]


def test_an_unknown_job_is_a_clear_error_that_runs_nothing(old_records):
    result = cleanup_handler({"cleanup": "everything"}, None)
    assert result == {
        "ok": False,
        "error": "Unknown cleanup job 'everything'. Known jobs: sessions, tokens, stale, history, all.",
    }
    assert WebSocketSession.objects.count() == 2


def test_a_failing_job_fails_the_invocation(monkeypatch):
    monkeypatch.setattr(cleanup, "run_command_line", lambda *args, **kwargs: {"exit_code": 1, "output": "boom"})
    with pytest.raises(cleanup.CleanupFailed, match="sessions"):
        cleanup_handler({"cleanup": "sessions"}, None)


def test_the_stale_job_marks_sessions_past_the_connection_limit(make_session):
    stale = make_session()
    WebSocketSession.objects.filter(pk=stale.pk).update(created_on=timezone.now() - timedelta(hours=3))
    fresh = make_session()
    result = cleanup_handler(schedule_event("stale"), None)
    assert "Marked 1 stale WebSocket session(s)" in result["jobs"]["stale"]["output"]
    assert list(WebSocketSession.objects.connected()) == [fresh]
    again = cleanup_handler(schedule_event("stale"), None)
    assert "Marked 0 stale" in again["jobs"]["stale"]["output"]


def test_a_schedule_sets_the_options_of_its_job(old_records):
    event = {"cleanup": "tokens", "options": {"token_age": 600, "rate_limit_age": 60}}
    result = cleanup_handler(event, None)
    assert result["jobs"]["tokens"]["output"].splitlines() == [
        "Deleted 0 WebSocket token(s) older than 600 seconds.",
        "Deleted 0 rate-limit record(s) older than 60 day(s).",
    ]
    assert ConnectionRateLimit.objects.count() == 1  # 30 days old: kept under a 60-day age


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"cleanup": "sessions", "options": {"max_age": 9000}}, "'sessions' takes no option max_age. Allowed: none."),
        ({"cleanup": "tokens", "options": {"token-age": 600}}, "takes no option token-age"),
        ({"cleanup": "tokens", "options": {"token_age": "600; rm"}}, "'token_age' must be an integer"),
        ({"cleanup": "tokens", "options": {"token_age": True}}, "'token_age' must be an integer"),
        ({"cleanup": "tokens", "options": ["--token-age", "600"]}, "must be an object of integer values"),
        ({"cleanup": "all", "options": {"token_age": 600}}, "Options need a named job"),
    ],
)
def test_bad_options_are_a_clear_error_that_runs_nothing(old_records, event, message):
    result = cleanup_handler(event, None)
    assert result["ok"] is False
    assert message in result["error"]
    assert (WebSocketSession.objects.count(), ConnectionRateLimit.objects.count()) == (2, 1)


def test_options_the_command_refuses_fail_the_invocation(old_records):
    with pytest.raises(cleanup.CleanupFailed, match="tokens"):
        cleanup_handler({"cleanup": "tokens", "options": {"token_age": 1}}, None)
    assert ConnectionRateLimit.objects.count() == 1
