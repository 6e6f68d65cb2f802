from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.aws import REGION
from websockets_app import provisioning
from websockets_app.models import ApiGateway, ConnectionRateLimit, WebSocketSession, WebSocketToken

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def user():
    return get_user_model().objects.create_user("bob")


class TestClearWebSocketSessions:
    def test_deletes_only_disconnected_sessions_in_one_query(self, make_session, django_assert_num_queries):
        live = make_session()
        for _ in range(3):
            make_session(connected=False)
        with django_assert_num_queries(1):
            output = run("clearWebSocketSessions")
        assert output == "Deleted 3 disconnected WebSocket session(s).\n"
        assert list(WebSocketSession.objects.all()) == [live]

    def test_is_idempotent(self, make_session):
        make_session(connected=False)
        run("clearWebSocketSessions")
        assert run("clearWebSocketSessions") == "Deleted 0 disconnected WebSocket session(s).\n"


class TestCleanupWebSocketTokens:
    @pytest.fixture
    def records(self, user):
        now = timezone.now()
        for i, age in enumerate((10, 299, 301, 4000)):
            WebSocketToken.objects.create(
                token_hash=WebSocketToken.hash_token(str(i)), user=user, created_at=now - timedelta(seconds=age)
            )
        for days in (1, 6, 8, 30):
            ago = now - timedelta(days=days)
            ConnectionRateLimit.objects.create(ip_address="192.0.2.1", bucket_start=ago, last_attempt=ago, refused=1)

    def test_deletes_old_tokens_and_old_attempts_in_one_query_each(self, records, django_assert_num_queries):
        with django_assert_num_queries(2):
            output = run("cleanupWebSocketTokens", "--token-age", "300", "--rate-limit-age", "7")
        assert output.splitlines() == [
            "Deleted 2 WebSocket token(s) older than 300 seconds.",
            "Deleted 2 rate-limit record(s) older than 7 day(s).",
        ]
        assert WebSocketToken.objects.count() == 2
        assert ConnectionRateLimit.objects.count() == 2

    def test_defaults_are_300_seconds_and_7_days(self, records):
        assert "older than 300 seconds" in run("cleanupWebSocketTokens")
        assert (WebSocketToken.objects.count(), ConnectionRateLimit.objects.count()) == (2, 2)

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--token-age", "30"], "--token-age must be at least 60 seconds (the token expiry"),
            (["--token-age", "-1"], "--token-age must be at least 60 seconds"),
            (["--rate-limit-age", "0"], "--rate-limit-age must be at least 1 day"),
            (["--token-age", "soon"], "invalid int value: 'soon'"),
        ],
    )
    def test_bad_arguments_are_refused_and_nothing_is_deleted(self, records, args, message):
        with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
            run("cleanupWebSocketTokens", *args)
        assert (WebSocketToken.objects.count(), ConnectionRateLimit.objects.count()) == (4, 4)

    def test_token_age_floor_follows_the_expiry_setting(self, records, settings):
        settings.WEBSOCKETS = {"TOKEN_EXPIRY_SECONDS": 3600}
        with pytest.raises(CommandError, match="3600 seconds"):
            run("cleanupWebSocketTokens", "--token-age", "300")


class TestMarkStaleWebSocketSessions:
    @pytest.fixture
    def sessions(self, make_session):
        """Connected for 1 h, 2 h + 1 min and 5 h; one disconnected 5 h ago."""
        now = timezone.now()
        rows = {}
        for name, age, connected in [("fresh", 1, True), ("just", 2.02, True), ("old", 5, True), ("gone", 5, False)]:
            session = make_session(connected=connected)
            WebSocketSession.objects.filter(pk=session.pk).update(created_on=now - timedelta(hours=age))
            rows[name] = session.pk
        return rows

    def connected(self) -> set[int]:
        return set(WebSocketSession.objects.connected().values_list("pk", flat=True))

    def test_marks_sessions_past_the_two_hour_limit_in_one_update(self, sessions, django_assert_num_queries):
        with django_assert_num_queries(1):
            output = run("markStaleWebSocketSessions")
        assert output == "Marked 2 stale WebSocket session(s) older than 7200 seconds disconnected.\n"
        assert self.connected() == {sessions["fresh"]}
        assert WebSocketSession.objects.count() == 4  # marked, not deleted: clearWebSocketSessions deletes them

    def test_is_idempotent(self, sessions):
        run("markStaleWebSocketSessions")
        assert run("markStaleWebSocketSessions").startswith("Marked 0 stale")

    def test_a_longer_max_age_marks_fewer(self, sessions):
        assert run("markStaleWebSocketSessions", "--max-age", str(3 * 3600)).startswith("Marked 1 stale")
        assert self.connected() == {sessions["fresh"], sessions["just"]}

    @pytest.mark.parametrize(
        ("args", "message"),
        [(["--max-age", "7199"], "--max-age must be at least 7200 seconds"), (["--max-age", "x"], "invalid int")],
    )
    def test_an_age_under_the_limit_is_refused_and_nothing_is_marked(self, sessions, args, message):
        with pytest.raises(CommandError, match=message):
            run("markStaleWebSocketSessions", *args)
        assert len(self.connected()) == 3


PROVISIONING_COMMANDS = ["createApiGateway", "createCustomDomain", "updateApiGateway", "deleteApiGateway"]


class TestProvisioningCommands:
    @pytest.mark.parametrize("command", PROVISIONING_COMMANDS)
    def test_pk_is_required(self, command):
        with pytest.raises(CommandError, match="--pk"):
            run(command)

    @pytest.mark.parametrize("command", PROVISIONING_COMMANDS)
    def test_unknown_pk_is_a_clear_error(self, command):
        with pytest.raises(CommandError, match="No ApiGateway with pk=999"):
            run(command, "--pk", "999")

    def test_create_api_gateway_reports_a_failed_precondition(self, make_gateway):
        gateway = make_gateway(api_name="chat")
        with pytest.raises(CommandError, match=r"Create API Gateway failed for 'chat': .*target base endpoint"):
            run("createApiGateway", "--pk", str(gateway.pk))

    def test_create_custom_domain_reports_a_failed_precondition(self, make_gateway):
        gateway = make_gateway(api_name="chat")
        with pytest.raises(CommandError, match="Create Custom Domain failed for 'chat': Create API Gateway"):
            run("createCustomDomain", "--pk", str(gateway.pk))

    @pytest.mark.parametrize(
        ("command", "function", "step"),
        [
            ("createApiGateway", "create_api_gateway", "Create API Gateway"),
            ("createCustomDomain", "create_custom_domain", "Create Custom Domain"),
            ("updateApiGateway", "update_api_gateway", "Update API Gateway"),
        ],
    )
    def test_success_is_reported(self, make_gateway, monkeypatch, command, function, step):
        calls = []
        monkeypatch.setattr(provisioning, function, calls.append)
        gateway = make_gateway(api_name="chat")
        assert run(command, "--pk", str(gateway.pk)) == f"{step} succeeded for 'chat'.\n"
        assert calls == [gateway]

    def test_exit_status_is_non_zero_on_failure(self, tmp_path):
        """Through the real command line, as an operator or a scheduler runs it, on a database of its own."""
        env = {"DJANGO_DEBUG": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "PATH": ""}

        def manage(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60
            )

        assert manage("migrate", "--noinput").returncode == 0
        result = manage("createApiGateway", "--pk", "1")
        assert result.returncode == 1
        assert result.stderr.strip() == "CommandError: No ApiGateway with pk=1."

        create_row = "from websockets_app.models import ApiGateway; ApiGateway.objects.create(api_name='bare')"
        assert manage("shell", "-c", create_row).returncode == 0
        result = manage("createApiGateway", "--pk", "1")
        assert result.returncode == 1
        assert result.stderr.strip() == (
            "CommandError: Create API Gateway failed for 'bare': API Gateway 'bare' needs a target base endpoint first."
        )


class TestProvisioningAgainstAws:
    @pytest.fixture
    def gateway(self, make_gateway) -> ApiGateway:
        return make_gateway(api_name="site", target_base_endpoint="https://www.example.com/ws/", region=REGION)

    @pytest.fixture
    def created(self, aws, gateway) -> ApiGateway:
        aws.expect_deployment(gateway)
        run("createApiGateway", "--pk", str(gateway.pk))
        gateway.refresh_from_db()
        return gateway

    def test_create_prints_each_step_then_the_outcome(self, aws, gateway):
        aws.expect_deployment(gateway)
        lines = run("createApiGateway", "--pk", str(gateway.pk)).splitlines()
        gateway.refresh_from_db()
        assert lines[0] == f"  created API {gateway.api_id}"
        assert "  created the $connect route" in lines
        assert lines[-2] == "  deployed dep1 to stage production"
        assert lines[-1] == "Create API Gateway succeeded for 'site'."
        assert gateway.api_created

    def test_quiet_output_is_the_outcome_only(self, aws, gateway):
        aws.expect_deployment(gateway)
        out = StringIO()
        call_command("createApiGateway", "--pk", str(gateway.pk), verbosity=0, stdout=out)
        assert out.getvalue() == "Create API Gateway succeeded for 'site'.\n"

    def test_an_aws_failure_is_a_command_error_naming_the_code(self, aws, gateway):
        aws.fail(aws.apigw, "CreateApi", "AccessDeniedException", message="not allowed")
        with pytest.raises(CommandError) as failure:
            run("createApiGateway", "--pk", str(gateway.pk))
        assert str(failure.value) == (
            "Create API Gateway failed for 'site': create API failed: AccessDeniedException (not allowed)"
        )
        assert failure.value.returncode == 1

    def test_update_reports_what_it_changed(self, aws, created):
        aws.expect_stage_update(created)
        aws.expect_deployment(created)
        output = run("updateApiGateway", "--pk", str(created.pk))
        assert "  updated the $default integration\n" in output
        assert output.endswith("Update API Gateway succeeded for 'site'.\n")

    def test_delete_with_noinput_deletes(self, aws, created):
        output = run("deleteApiGateway", "--pk", str(created.pk), "--noinput")
        assert output.splitlines() == [f"  deleted API {created.api_id}", "Delete API Gateway succeeded for 'site'."]
        assert aws.apigw.get_apis()["Items"] == []

    @pytest.mark.parametrize("answer", ["no", "", EOFError])
    def test_delete_asks_and_anything_but_yes_stops_it(self, aws, created, monkeypatch, answer):
        def reply(prompt: str) -> str:
            assert f"API {created.api_id} of 'site'" in prompt
            if answer is EOFError:
                raise EOFError
            return answer

        monkeypatch.setattr("builtins.input", reply)
        with pytest.raises(CommandError, match="Not confirmed; nothing was deleted"):
            run("deleteApiGateway", "--pk", str(created.pk))
        assert len(aws.apigw.get_apis()["Items"]) == 1

    def test_delete_goes_ahead_on_yes(self, aws, created, monkeypatch):
        monkeypatch.setattr("builtins.input", lambda prompt: "yes")
        assert run("deleteApiGateway", "--pk", str(created.pk)).endswith("Delete API Gateway succeeded for 'site'.\n")
        assert aws.apigw.get_apis()["Items"] == []


def test_token_age_floor_follows_the_token_rate_limit_window(db, settings):
    settings.WEBSOCKETS = {"TOKEN_RATE_LIMIT_WINDOW_SECONDS": 900}
    with pytest.raises(CommandError, match="at least 900 seconds"):
        run("cleanupWebSocketTokens", "--token-age", "300")
