"""The operator allow-list covers a command's arguments: ``migrate`` only moves forward unless a setting says more."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command
from django.db.migrations.recorder import MigrationRecorder

from infra import commands
from infra.checks import check_lambda_manage_commands
from infra.handlers import manage_handler

# The handlers tidy connections as Django does after a request; these tests run inside a test transaction.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection")]


def applied_websockets_migrations() -> int:
    return MigrationRecorder.Migration.objects.filter(app="websockets_app").count()


@pytest.mark.parametrize(
    "command_line",
    [
        "migrate websockets_app zero",
        "migrate auth zero",
        "migrate websockets_app 0001",
        "migrate websockets_app",
        "migrate --fake websockets_app zero",
        "migrate --fake",
        "migrate --run-syncdb",
        "migrate --noinput --fake-initial",
        "migrate --database other",
        "migrate --no",  # argparse would expand the prefix to --noinput; the allow-list does not
        "migrate --noinput --noinput",
        "migrate --plan=websockets_app",
        "migrate --settings project.other",
        "check --deploy extra",
        "markStaleWebSocketSessions --max-age -5",
        "markStaleWebSocketSessions --max-age",
        "cleanupWebSocketTokens --token-age 600 --token-age 700",
    ],
)
def test_arguments_the_default_allow_list_does_not_name_are_refused_and_nothing_runs(command_line, monkeypatch):
    ran = []
    monkeypatch.setattr(commands, "call_command", lambda *args, **kwargs: ran.append(args))
    before = applied_websockets_migrations()
    result = manage_handler({"manage": command_line}, None)
    assert result["exit_code"] == 2
    assert "is not allowed here" in result["output"]
    assert ran == []
    assert applied_websockets_migrations() == before


@pytest.mark.parametrize(
    "command_line",
    [
        "migrate",
        "migrate --noinput",
        "migrate --check",
        "migrate --plan",
        "migrate --plan --noinput",
        "migrate --noinput --check --plan",
        "migrate --no-input",
        "showmigrations",
        "showmigrations websockets_app",
        "showmigrations --plan",
        "check",
        "check --deploy",
        "clearsessions",
        "cleanupWebSocketTokens --token-age 600",
        "cleanupWebSocketTokens --rate-limit-age=30 --token-age 600",
        "markStaleWebSocketSessions --max-age 7200",
    ],
)
def test_what_the_default_allow_list_names_runs(command_line, monkeypatch):
    ran = []
    monkeypatch.setattr(commands, "call_command", lambda name, *args, **kwargs: ran.append((name, *args)))
    result = manage_handler({"manage": command_line}, None)
    assert result["exit_code"] == 0, result["output"]
    assert ran
    assert ran[0][0] == command_line.split()[0]


def test_a_forward_migrate_still_runs_for_real():
    result = manage_handler({"manage": "migrate --noinput"}, None)
    assert result["exit_code"] == 0, result["output"]
    assert "No migrations to apply" in result["output"]


def test_a_destructive_command_needs_an_entry_that_names_its_arguments(settings):
    settings.LAMBDA_MANAGE_COMMANDS = ["migrate [--noinput]", "migrate <name> zero"]
    ran = []
    original = commands.call_command
    commands.call_command = lambda name, *args, **kwargs: ran.append((name, *args))
    try:
        assert manage_handler({"manage": "migrate chat zero"}, None)["exit_code"] == 0
        assert manage_handler({"manage": "migrate chat 0001"}, None)["exit_code"] == 2
        assert manage_handler({"manage": "migrate chat zero --fake"}, None)["exit_code"] == 2
    finally:
        commands.call_command = original
    assert ran == [("migrate", "chat", "zero")]


def test_a_plain_name_allows_the_command_without_arguments_only(settings, monkeypatch):
    settings.LAMBDA_MANAGE_COMMANDS = ["migrate"]
    monkeypatch.setattr(commands, "call_command", lambda *args, **kwargs: None)
    assert manage_handler({"manage": "migrate"}, None)["exit_code"] == 0
    refused = manage_handler({"manage": "migrate websockets_app zero"}, None)
    assert refused["exit_code"] == 2
    assert "'migrate websockets_app zero' is not allowed here" in refused["output"]
    assert "Allowed for migrate: migrate" in refused["output"]


def test_a_command_line_over_4_kb_is_refused_before_it_is_parsed(monkeypatch):
    def no_parsing(*args, **kwargs):
        raise AssertionError("the line was parsed")

    monkeypatch.setattr(commands.shlex, "split", no_parsing)
    started = time.perf_counter()
    result = manage_handler({"manage": "migrate " + "a" * 1_000_000}, None)
    assert time.perf_counter() - started < 0.5
    assert result == {"exit_code": 2, "output": "The command line is longer than 4096 bytes."}
    assert manage_handler({"manage": "migrate " + "é" * 2045}, None)["exit_code"] == 2  # bytes, not characters


def test_a_4_kb_command_line_is_still_parsed(monkeypatch):
    line = "migrate --noinput" + " " * (4096 - len("migrate --noinput"))
    monkeypatch.setattr(commands, "call_command", lambda *args, **kwargs: None)
    assert manage_handler({"manage": line}, None)["exit_code"] == 0


@pytest.mark.parametrize(
    ("entries", "fragment"),
    [
        (["migrate [--noinput"], "unbalanced"),
        (["migrate <anything>"], "unknown placeholder <anything>"),
        (["migrate [--noinput] [--noinput]"], "twice"),
        (["[--noinput]"], "command name"),
        ([""], "command name"),
        ("migrate", "a list"),
        ([["migrate"]], "a string"),
        (["migrate [--a <int> <int>]"], "one option"),
    ],
)
def test_a_malformed_allow_list_entry_is_a_system_check_error_and_refuses_everything(
    entries, fragment, settings, monkeypatch
):
    settings.LAMBDA_MANAGE_COMMANDS = entries
    errors = check_lambda_manage_commands()
    assert [error.id for error in errors] == ["infra.E001"]
    assert fragment in errors[0].msg
    monkeypatch.setattr(commands, "call_command", lambda *args, **kwargs: None)
    result = manage_handler({"manage": "migrate"}, None)
    assert result["exit_code"] == 2
    assert "LAMBDA_MANAGE_COMMANDS" in result["output"]


def test_the_default_allow_list_passes_the_system_check():
    assert check_lambda_manage_commands() == []


def test_call_command_gets_the_checked_arguments_not_the_raw_line(monkeypatch):
    ran = []
    monkeypatch.setattr(commands, "call_command", lambda name, *args, **kwargs: ran.append((name, *args)))
    manage_handler({"manage": "cleanupWebSocketTokens --token-age=600"}, None)
    assert ran == [("cleanupWebSocketTokens", "--token-age", "600")]


def test_the_real_commands_accept_what_the_allow_list_passes():
    call_command("check")  # sanity: the app's commands are registered
    result = manage_handler({"manage": "cleanupWebSocketTokens --token-age=600 --rate-limit-age 30"}, None)
    assert result["exit_code"] == 0, result["output"]
