"""Every sample in infra/events/ runs through ``handler`` on a migrated database and gets the expected result; the
WebSocket samples are exactly what the app's event builder (``websockets_app.aws_lambda.events``) makes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from infra import invoke
from infra.handlers import handler
from tests.events import FakeLambdaContext, connect_event, disconnect_event, message_event
from websockets_app.models import WebSocketSession

pytestmark = pytest.mark.django_db
CONNECTION_ID = "L0SM9cOFvHcCIhw="

# The WebSocket samples, each as the app's event builder makes it: a browser's $connect with its session cookie and
# ?channel=&ws_token=, a message for $default and one for the ping route, and a $disconnect.
WEBSOCKET_SAMPLES = {
    "connect": lambda: connect_event(
        query={"channel": "lobby", "ws_token": "Zx8vQ2bJt3mK9pLw4nR7sT1uY6hC0dFgAeBiNoPqS5U"},
        cookie="sessionid=k2j3h4g5f6d7s8a9q0w1e2r3t4y5u6i7; csrftoken=A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6",
    ),
    "message-default": lambda: message_event({"action": "ping"}),
    "message-route": lambda: message_event({"action": "ping", "text": "hello"}, route_key="ping"),
    "disconnect": lambda: disconnect_event(),
}


@pytest.fixture(autouse=True)
def sample_hosts(settings, keep_test_connection):
    settings.ALLOWED_HOSTS = invoke.sample_hosts()


def run(name: str) -> dict:
    event = invoke.load(name)
    if name == "connect":
        invoke.issue_sample_token(event)
    return handler(event, FakeLambdaContext())


def test_every_sample_file_is_listed_and_every_listed_sample_exists():
    files = {path.stem for path in Path(invoke.EVENTS_DIR).glob("*.json")}
    assert files == set(invoke.SAMPLES)


@pytest.mark.parametrize("name", list(WEBSOCKET_SAMPLES))
def test_each_websocket_sample_is_what_the_event_builder_makes(name):
    assert invoke.load(name) == WEBSOCKET_SAMPLES[name]()


def test_connect_is_accepted_and_recorded_in_its_channel():
    # Cookie and ?channel=&ws_token= as a browser sends them, the token issued to that session just before.
    assert run("connect")["statusCode"] == 200
    session = WebSocketSession.objects.get(connection_id=CONNECTION_ID)
    assert (session.channel_name, session.connected, session.user.username) == ("lobby", True, invoke.SAMPLE_USER)


def test_the_connect_sample_without_its_token_issued_is_refused():
    assert handler(invoke.load("connect"), FakeLambdaContext())["statusCode"] == 403
    assert not WebSocketSession.objects.exists()


@pytest.mark.parametrize("name", ["message-default", "message-route"])
def test_messages_are_routed_to_the_ping_handler(name):
    run("connect")
    result = run(name)
    assert (result["statusCode"], json.loads(result["body"])) == (200, {"pong": True})


def test_disconnect_marks_the_session_gone():
    run("connect")
    assert run("disconnect")["statusCode"] == 200
    assert WebSocketSession.objects.get(connection_id=CONNECTION_ID).connected is False


def test_http_get_serves_the_home_page():
    result = run("http-get")
    assert result["statusCode"] == 200
    assert result["headers"]["content-type"].startswith("text/html")


def test_http_post_passes_csrf_and_reaches_the_admin_login():
    result = run("http-post")
    assert result["statusCode"] == 200  # a wrong password: the form again, not a CSRF 403
    assert "Please enter the correct username and password" in result["body"]


@pytest.mark.parametrize(
    ("name", "jobs"),
    [
        ("schedule-sessions", ["sessions"]),
        ("schedule-tokens", ["tokens"]),
        ("schedule-stale", ["stale"]),
        ("schedule-all", ["history", "sessions", "stale", "tokens"]),
    ],
)
def test_schedules_run_their_jobs(name, jobs):
    result = run(name)
    assert result["ok"] is True
    assert sorted(result["jobs"]) == jobs
    assert all(job["exit_code"] == 0 for job in result["jobs"].values())


def test_the_stale_schedule_marks_a_session_past_two_hours():
    run("connect")
    WebSocketSession.objects.update(created_on=timezone.now() - timedelta(hours=3))
    assert "Marked 1 stale" in run("schedule-stale")["jobs"]["stale"]["output"]


def test_manage_migrates_and_reports_the_output():
    result = run("manage")
    assert result["exit_code"] == 0
    assert "No migrations to apply." in result["output"]


def test_the_sqs_batch_gets_a_partial_batch_response(management_stub):
    event = invoke.load("sqs-batch")
    [good, bad] = event["Records"]
    body = json.loads(good["body"])
    good["body"] = json.dumps({**body, "endpoint": management_stub.url})  # this machine's Management API stub
    result = handler(event, FakeLambdaContext())
    # The unreadable record can never succeed: logged and dropped rather than handed back to SQS.
    assert result == {"batchItemFailures": []}
    assert sorted(management_stub.stub.delivered) == sorted(body["connections"])
    assert bad["body"] == "not a fan-out batch"


def test_invoke_lists_samples_and_their_functions(capsys):
    assert invoke.main(["--function", "connect", "sqs-batch"]) == 0
    assert capsys.readouterr().out.split() == ["WebSocketFunction", "FanoutFunction"]
    assert invoke.main(["--list"]) == 0
    assert capsys.readouterr().out.split() == list(invoke.SAMPLES)


def test_invoke_runs_a_sample_in_process_and_prints_its_result(capsys):
    assert invoke.main(["manage"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("--- manage (ManageFunction)\n")
    assert '"exit_code": 0' in out


def test_invoke_refuses_an_unknown_sample(capsys):
    with pytest.raises(SystemExit):
        invoke.main(["nope"])
    assert "no sample event 'nope'" in capsys.readouterr().err


def test_every_sample_function_is_in_the_template():
    template = (Path(invoke.__file__).resolve().parents[1] / "template.yaml").read_text()
    for function in set(invoke.SAMPLES.values()):
        assert f"\n  {function}:\n    Type: AWS::Serverless::Function" in template
