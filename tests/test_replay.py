"""Channels that survive reconnects: numbered channel sends, their history, and replay after a reconnect."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from project.wsgi import application
from tests.events import API_ID, DOMAIN, STAGE, message_event
from websockets_app.aws_lambda import make_websocket_handler
from websockets_app.checks import check_replay_settings
from websockets_app.limits import MAX_MESSAGE_BYTES
from websockets_app.messaging import PayloadError, replay, send_to_channel
from websockets_app.models import ApiGateway, ChannelMessage, ChannelSequence, WebSocketSession

# The app's own Lambda handler, as any project builds it (infra.handlers adds only wiring around it).
handler = make_websocket_handler(application)

pytestmark = pytest.mark.django_db

ROOM = "room-1"


def record_queries() -> int:
    """What numbering and keeping a message costs: one statement on PostgreSQL, two in one transaction on SQLite."""
    return 1 if connection.vendor == "postgresql" else 2


@pytest.fixture(autouse=True)
def _hosts(settings):
    settings.ALLOWED_HOSTS = [DOMAIN, "testserver"]


@pytest.fixture
def api(db) -> ApiGateway:
    return ApiGateway.objects.create(api_name="site", api_id=API_ID, stage_name=STAGE, region="eu-west-1")


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user("ada", password="pw")


def connect(api: ApiGateway, connection_id: str, channel: str = ROOM, user=None) -> WebSocketSession:
    """A connection as a $connect records it."""
    return WebSocketSession.objects.create(
        connection_id=connection_id, channel_name=channel, user=user, api_gateway=api
    )


def act(body: dict, connection_id: str) -> dict:
    return handler(message_event(body, connection_id=connection_id), None)


def posts(stub, connection_id: str) -> list[dict]:
    return [json.loads(body) for body in stub.stub.delivered.get(connection_id, [])]


def replayed(stub, connection_id: str) -> list[dict]:
    """The envelopes of every replay post a connection received, in order."""
    answers = posts(stub, connection_id)
    assert all(answer["type"] == "replay" and answer["channel"] == ROOM for answer in answers), answers
    return [envelope for answer in answers for envelope in answer["messages"]]


# -- numbered sends ------------------------------------------------------------------------------------------------


def test_a_replayable_send_numbers_the_message_and_sends_the_envelope(api, management_stub):
    connect(api, "ada=")
    connect(api, "away=", channel="room-2")
    first = send_to_channel(ROOM, {"text": "one"}, replay=True)
    second = send_to_channel(ROOM, {"text": "two"}, replay=True)
    other = send_to_channel("room-2", {"text": "elsewhere"}, replay=True)
    assert (first.seq, second.seq, other.seq) == (1, 2, 1)
    received = posts(management_stub, "ada=")
    assert [(m["seq"], m["channel"], m["data"]) for m in received] == [
        (1, ROOM, {"text": "one"}),
        (2, ROOM, {"text": "two"}),
    ]
    assert received[0]["id"] != received[1]["id"]
    assert list(received[0]) == ["seq", "id", "channel", "data"]
    # The history keeps the very bytes the connections received.
    bodies = [body.decode() for body in management_stub.stub.delivered["ada="]]
    assert list(ChannelMessage.objects.in_channel(ROOM).values_list("seq", "envelope")) == [
        (1, bodies[0]),
        (2, bodies[1]),
    ]


def test_a_plain_send_is_neither_numbered_nor_kept(api, management_stub):
    connect(api, "ada=")
    result = send_to_channel(ROOM, {"text": "plain"})
    assert result.seq is None
    assert posts(management_stub, "ada=") == [{"text": "plain"}]
    assert not ChannelMessage.objects.exists()
    assert not ChannelSequence.objects.exists()


def test_a_replayable_send_costs_one_query_more_than_a_plain_one_whatever_the_channel_size(
    api, management_stub, django_assert_num_queries
):
    for n in range(20):
        connect(api, f"peer-{n}=")
    send_to_channel(ROOM, {"warm": True}, replay=True)  # the counter row exists from here on
    with django_assert_num_queries(2):  # the channel's connections, their gateways
        send_to_channel(ROOM, {"text": "plain"})
    with django_assert_num_queries(2 + record_queries()):
        result = send_to_channel(ROOM, {"text": "numbered"}, replay=True)
    assert len(result.sent) == 20


def test_a_send_rolled_back_takes_its_number_back_with_it(api, management_stub):
    send_to_channel(ROOM, {"n": 1}, replay=True)

    def send_then_fail() -> None:
        with transaction.atomic():
            send_to_channel(ROOM, {"n": 2}, replay=True)
            raise RuntimeError("the caller's transaction fails after the send")

    with pytest.raises(RuntimeError):
        send_then_fail()
    assert send_to_channel(ROOM, {"n": 3}, replay=True).seq == 2
    assert list(ChannelMessage.objects.values_list("seq", flat=True)) == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_a_send_whose_history_row_fails_leaves_the_counter_as_it_was(api, management_stub):
    # Each database's own path, outside any test transaction: PostgreSQL's one statement, SQLite's transaction.
    send_to_channel(ROOM, {"n": 1}, replay=True)
    squatter = ChannelMessage.objects.create(channel_name=ROOM, seq=2, message_id="x", envelope="{}")
    with pytest.raises(IntegrityError):
        send_to_channel(ROOM, {"n": 2}, replay=True)
    assert ChannelSequence.objects.get(channel_name=ROOM).last_seq == 1
    squatter.delete()
    assert send_to_channel(ROOM, {"n": 2}, replay=True).seq == 2


def test_a_message_that_cannot_be_encoded_or_replayed_takes_no_number(api, management_stub):
    with pytest.raises(PayloadError):
        send_to_channel(ROOM, {"not json": object()}, replay=True)
    # It would fit in a post, but not inside a replay's wrapper.
    with pytest.raises(PayloadError, match="too large to be replayed"):
        send_to_channel(ROOM, "x" * (MAX_MESSAGE_BYTES - 100), replay=True)
    assert not ChannelSequence.objects.exists()
    assert send_to_channel(ROOM, {"n": 1}, replay=True).seq == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_senders_get_every_number_once_and_in_order(api, management_stub):
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def sender() -> None:
        from django.db import connection as thread_connection

        try:
            start.wait()
            for n in range(50):
                send_to_channel(ROOM, {"n": n}, replay=True)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=sender) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert list(ChannelMessage.objects.in_channel(ROOM).order_by("seq").values_list("seq", flat=True)) == list(
        range(1, 1001)
    )
    assert ChannelSequence.objects.get(channel_name=ROOM).last_seq == 1000


# -- resume --------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("keep_test_connection")
def test_a_connection_back_from_a_drop_gets_exactly_the_three_it_missed_in_order(api, ada, management_stub):
    connect(api, "ada=", user=ada)
    bob_before = connect(api, "bob-1=")
    for text in ("before 1", "before 2"):
        assert act({"action": "send", "text": text}, "ada=")["statusCode"] == 200
    seen = max(m["seq"] for m in posts(management_stub, "bob-1="))
    bob_before.connected = False  # the connection dropped
    bob_before.save()
    for text in ("missed 1", "missed 2", "missed 3"):
        assert act({"action": "send", "text": text}, "ada=")["statusCode"] == 200
    connect(api, "bob-2=")  # the reconnect
    assert (act({"action": "resume", "since": seen}, "bob-2="))["statusCode"] == 200
    envelopes = replayed(management_stub, "bob-2=")
    assert [(m["seq"], m["data"]["text"]) for m in envelopes] == [
        (seen + 1, "missed 1"),
        (seen + 2, "missed 2"),
        (seen + 3, "missed 3"),
    ]
    # The same envelopes the connected ones received: a client tells a repeat by seq and id.
    assert envelopes == posts(management_stub, "ada=")[2:]


@pytest.mark.usefixtures("keep_test_connection")
def test_a_resume_that_missed_nothing_gets_an_empty_replay(api, management_stub):
    connect(api, "bob=")
    send_to_channel(ROOM, {"n": 1}, replay=True)
    management_stub.stub.reset()
    assert act({"action": "resume", "since": 1}, "bob=")["statusCode"] == 200
    assert posts(management_stub, "bob=") == [{"type": "replay", "channel": ROOM, "messages": []}]


@pytest.mark.usefixtures("keep_test_connection")
def test_a_resume_on_a_channel_that_never_had_a_message_from_zero_is_empty(api, management_stub):
    connect(api, "bob=")
    assert act({"action": "resume", "since": 0}, "bob=")["statusCode"] == 200
    assert posts(management_stub, "bob=") == [{"type": "replay", "channel": ROOM, "messages": []}]


@pytest.mark.usefixtures("keep_test_connection")
def test_a_connection_that_missed_more_than_the_history_holds_gets_a_gap_notice(api, settings, management_stub):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "REPLAY_HISTORY_LENGTH": 3}
    for n in range(5):
        send_to_channel(ROOM, {"n": n}, replay=True)
    connect(api, "bob=")
    assert act({"action": "resume", "since": 1}, "bob=")["statusCode"] == 200
    assert posts(management_stub, "bob=") == [{"type": "gap", "channel": ROOM, "since": 1, "first": 3, "last": 5}]
    # Still held: the newest three are replayed, whether or not the cleanup job has run.
    management_stub.stub.reset()
    assert act({"action": "resume", "since": 2}, "bob=")["statusCode"] == 200
    assert [m["seq"] for m in replayed(management_stub, "bob=")] == [3, 4, 5]


@pytest.mark.usefixtures("keep_test_connection")
def test_history_older_than_the_age_limit_is_a_gap(api, settings, management_stub):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "REPLAY_HISTORY_MAX_AGE_SECONDS": 3600}
    for n in range(3):
        send_to_channel(ROOM, {"n": n}, replay=True)
    ChannelMessage.objects.filter(seq__lte=2).update(created_on=timezone.now() - timedelta(hours=2))
    connect(api, "bob=")
    assert act({"action": "resume", "since": 0}, "bob=")["statusCode"] == 200
    assert posts(management_stub, "bob=") == [{"type": "gap", "channel": ROOM, "since": 0, "first": 3, "last": 3}]


@pytest.mark.usefixtures("keep_test_connection")
def test_a_since_ahead_of_the_channel_is_a_gap(api, management_stub):
    send_to_channel(ROOM, {"n": 1}, replay=True)
    connect(api, "bob=")
    assert act({"action": "resume", "since": 7}, "bob=")["statusCode"] == 200
    assert posts(management_stub, "bob=") == [{"type": "gap", "channel": ROOM, "since": 7, "first": 1, "last": 1}]


@pytest.mark.usefixtures("keep_test_connection")
def test_more_missed_than_one_answer_holds_is_a_gap(api, settings, management_stub):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "REPLAY_MAX_MESSAGES": 2}
    for n in range(4):
        send_to_channel(ROOM, {"n": n}, replay=True)
    connect(api, "bob=")
    assert act({"action": "resume", "since": 1}, "bob=")["statusCode"] == 200
    assert posts(management_stub, "bob=")[0]["type"] == "gap"
    management_stub.stub.reset()
    assert act({"action": "resume", "since": 2}, "bob=")["statusCode"] == 200
    assert [m["seq"] for m in replayed(management_stub, "bob=")] == [3, 4]


@pytest.mark.usefixtures("keep_test_connection")
def test_a_replay_past_api_gateways_message_size_is_split_into_posts_in_order(api, management_stub):
    for n in range(7):
        send_to_channel(ROOM, {"n": n, "text": "x" * 40_000}, replay=True)
    connect(api, "bob=")
    assert act({"action": "resume", "since": 0}, "bob=")["statusCode"] == 200
    bodies = management_stub.stub.delivered["bob="]
    assert len(bodies) == 3
    assert all(len(body) <= MAX_MESSAGE_BYTES for body in bodies)
    # Every post but the last says more are coming, so the client holds live messages until the replay is whole.
    assert [json.loads(body).get("more", False) for body in bodies] == [True, True, False]
    assert [m["seq"] for m in replayed(management_stub, "bob=")] == list(range(1, 8))


@pytest.mark.usefixtures("keep_test_connection")
def test_a_replay_takes_four_queries_whatever_it_replays(api, management_stub, django_assert_num_queries):
    for n in range(30):
        send_to_channel(ROOM, {"n": n}, replay=True)
    connect(api, "bob=")
    # The session with its user and gateway, the message count, the resume count, the history with the counter.
    with django_assert_num_queries(4):
        assert act({"action": "resume", "since": 0}, "bob=")["statusCode"] == 200
    assert len(replayed(management_stub, "bob=")) == 30


@pytest.mark.usefixtures("keep_test_connection")
@pytest.mark.parametrize("since", [-1, "3", 1.5, True, None, [1], 2**63])
def test_a_bad_since_is_a_400_that_changes_nothing(api, management_stub, since):
    send_to_channel(ROOM, {"n": 1}, replay=True)
    session = connect(api, "bob=")
    management_stub.stub.reset()
    body = {"action": "resume"} if since is None else {"action": "resume", "since": since}
    assert act(body, "bob=")["statusCode"] == 400
    assert not management_stub.stub.delivered
    session.refresh_from_db()
    assert (session.resume_count, session.request_count) == (0, 1)


@pytest.mark.usefixtures("keep_test_connection")
def test_a_resume_without_a_channel_is_a_400(api, management_stub):
    session = connect(api, "bob=", channel="")
    assert act({"action": "resume", "since": 0}, "bob=")["statusCode"] == 400
    assert not management_stub.stub.delivered
    session.refresh_from_db()
    assert session.resume_count == 0


@pytest.mark.usefixtures("keep_test_connection")
def test_a_connection_may_resume_only_so_many_times(api, settings, management_stub):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "REPLAY_RESUMES_PER_CONNECTION": 2}
    send_to_channel(ROOM, {"n": 1}, replay=True)
    session = connect(api, "bob=")
    management_stub.stub.reset()
    assert [act({"action": "resume", "since": 0}, "bob=")["statusCode"] for _ in range(3)] == [200, 200, 429]
    assert len(posts(management_stub, "bob=")) == 2
    session.refresh_from_db()
    assert session.resume_count == 2
    connect(api, "bob-again=")  # a new connection resumes again
    assert act({"action": "resume", "since": 0}, "bob-again=")["statusCode"] == 200


@pytest.mark.usefixtures("keep_test_connection", "ws_test_views")
def test_resume_and_presence_are_not_selectable_on_views_that_did_not_opt_in(api, management_stub):
    connect(api, "bob=")
    for action in ("resume", "presence"):
        answer = act({"action": action, "since": 0}, "bob=")
        assert (answer["statusCode"], json.loads(answer["body"])["handler"]) == (200, "default")
        assert act({"handler": action, "since": 0}, "bob=")["statusCode"] == 400
    assert not management_stub.stub.delivered


# -- cleanup and settings --------------------------------------------------------------------------------------------


def test_the_cleanup_command_deletes_what_no_resume_can_use_in_one_delete(
    api, settings, management_stub, django_assert_num_queries
):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "REPLAY_HISTORY_LENGTH": 3, "REPLAY_HISTORY_MAX_AGE_SECONDS": 3600}
    for n in range(5):
        send_to_channel(ROOM, {"n": n}, replay=True)
    for n in range(2):
        send_to_channel("room-2", {"n": n}, replay=True)
    ChannelMessage.objects.filter(channel_name="room-2", seq=1).update(created_on=timezone.now() - timedelta(hours=2))
    with django_assert_num_queries(1):
        assert replay.trim() == 3
    assert list(ChannelMessage.objects.values_list("channel_name", "seq")) == [
        (ROOM, 3),
        (ROOM, 4),
        (ROOM, 5),
        ("room-2", 2),
    ]
    assert send_to_channel(ROOM, {"n": 5}, replay=True).seq == 6  # numbers go on from the counter


def test_the_cleanup_command_prints_its_count(management_stub, capsys):
    send_to_channel(ROOM, {"n": 1}, replay=True)
    ChannelMessage.objects.update(created_on=timezone.now() - timedelta(days=2))
    call_command("trimChannelHistory")
    assert "Deleted 1 channel history message(s)." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("REPLAY_HISTORY_LENGTH", 0),
        ("REPLAY_HISTORY_LENGTH", "500"),
        ("REPLAY_HISTORY_MAX_AGE_SECONDS", 10),
        ("REPLAY_MAX_MESSAGES", None),
        ("REPLAY_RESUMES_PER_CONNECTION", True),
        ("PRESENCE_SWEEP_NOTICES", "yes"),
    ],
)
def test_bad_replay_settings_are_reported_by_the_system_checks(settings, key, value):
    settings.WEBSOCKETS = {key: value}
    [error] = check_replay_settings()
    assert key in error.msg
    assert error.id.startswith("websockets_app.E04")


def test_the_default_replay_settings_pass_the_checks(settings):
    settings.WEBSOCKETS = {}
    assert check_replay_settings() == []


# -- through the testing toolkit, as a user of the app would test it ------------------------------------------------


def test_a_vanished_connection_resumes_and_gets_exactly_the_three_it_missed(ws_client, ada):
    first = ws_client.connect(user=ada, query={"channel": ROOM})
    send_to_channel(ROOM, {"n": 0}, replay=True)
    [seen] = first.received
    first.vanish()  # the phone went through a tunnel: no $disconnect
    for n in (1, 2, 3):
        send_to_channel(ROOM, {"n": n}, replay=True)
    back = ws_client.connect(user=ada, query={"channel": ROOM})
    back.send({"action": "resume", "since": seen["seq"]})
    assert back.last_status == 200
    [replay] = back.received
    assert (replay["type"], replay["channel"]) == ("replay", ROOM)
    assert [(m["seq"], m["data"]) for m in replay["messages"]] == [(2, {"n": 1}), (3, {"n": 2}), (4, {"n": 3})]
    assert first.received == [seen]  # nothing reached the lost connection


def test_a_connection_that_missed_more_than_history_holds_gets_the_gap_notice(ws_client, ada, settings):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "REPLAY_HISTORY_LENGTH": 3}
    first = ws_client.connect(user=ada, query={"channel": ROOM})
    send_to_channel(ROOM, {"n": 0}, replay=True)
    first.vanish()
    for n in range(1, 6):
        send_to_channel(ROOM, {"n": n}, replay=True)
    back = ws_client.connect(user=ada, query={"channel": ROOM})
    back.send({"action": "resume", "since": 1})
    assert back.received == [{"type": "gap", "channel": ROOM, "since": 1, "first": 4, "last": 6}]
