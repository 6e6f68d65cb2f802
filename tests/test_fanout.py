"""Large sends through SQS: batching within SQS's limits (moto's SQS), the message format, and the consumer."""

import base64
import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from websockets_app.messaging import aws_clients, fanout
from websockets_app.messaging.fanout.batches import FanoutFormatError, decode_message, split_into_messages
from websockets_app.messaging.fanout.consumer import handle_fanout_batch
from websockets_app.messaging.results import Target
from websockets_app.models import WebSocketSession

REGION = "eu-west-1"


@pytest.fixture
def queue_url(aws_credentials):
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION).create_queue(QueueName="fanout")["QueueUrl"]


@pytest.fixture
def fanout_settings(settings, management_stub, queue_url):
    settings.WEBSOCKETS = {
        **settings.WEBSOCKETS,
        "FANOUT_QUEUE_URL": queue_url,
        "FANOUT_THRESHOLD": 3,
        "FANOUT_BATCH_SIZE": 2,
    }
    return settings


def receive_all(queue_url):
    sqs = boto3.client("sqs", region_name=REGION)
    messages = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        messages.extend(batch)
    return messages


def sqs_event(messages):
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "eventSource": "aws:sqs",
            }
            for m in messages
        ]
    }


def test_a_large_send_is_queued_in_batches_and_nothing_is_posted(fanout_settings, management_stub, make_session):
    ids = [f"live-{n}" for n in range(7)]
    for connection_id in ids:
        make_session(connection_id=connection_id, channel_name="big")

    result = WebSocketSession.objects.in_channel("big").send_message({"hello": "all"})

    assert (result.queued, result.batches, result.sent, result.failed) == (7, 4, [], [])
    assert "7 queued in 4 batches" in str(result)
    assert management_stub.stub.requests == []
    batches = [decode_message(m["Body"]) for m in receive_all(fanout_settings.WEBSOCKETS["FANOUT_QUEUE_URL"])]
    assert sorted(cid for batch in batches for cid in batch.connection_ids) == ids
    assert all(len(batch.connection_ids) <= 2 for batch in batches)
    assert {(batch.endpoint, batch.region, batch.payload) for batch in batches} == {
        (management_stub.url, REGION, b'{"hello":"all"}')
    }
    assert WebSocketSession.objects.filter(connected=True).count() == 7


def test_sends_up_to_the_threshold_stay_inline(fanout_settings, management_stub, make_session):
    for n in range(3):
        make_session(connection_id=f"live-{n}")
    result = WebSocketSession.objects.send_message("x")
    assert (len(result.sent), result.queued) == (3, 0)
    assert receive_all(fanout_settings.WEBSOCKETS["FANOUT_QUEUE_URL"]) == []


def test_without_a_queue_large_sends_are_inline(settings, management_stub, make_session):
    settings.WEBSOCKETS = {**settings.WEBSOCKETS, "FANOUT_THRESHOLD": 1}
    for n in range(4):
        make_session(connection_id=f"live-{n}")
    assert len(WebSocketSession.objects.send_message("x").sent) == 4


def test_a_queue_that_refuses_is_reported_per_connection(fanout_settings, make_session):
    fanout_settings.WEBSOCKETS = {
        **fanout_settings.WEBSOCKETS,
        "FANOUT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/missing",
    }
    for n in range(4):
        make_session(connection_id=f"live-{n}")
    result = WebSocketSession.objects.send_message("x")
    assert result.queued == 0
    assert len(result.failed) == 4
    assert all(f.code.startswith("QueueError:") for f in result.failed)


def test_entries_sqs_rejects_are_reported_with_their_connections(settings, aws_credentials):
    settings.WEBSOCKETS = {"FANOUT_BATCH_SIZE": 2}
    targets = [Target(f"c{n}", "https://e.test/s", REGION) for n in range(4)]  # two messages, one call
    with Stubber(aws_clients.client("sqs", REGION)) as stubber:
        stubber.add_response(
            "send_message_batch",
            {
                "Successful": [{"Id": "0", "MessageId": "m0", "MD5OfMessageBody": "x"}],
                "Failed": [{"Id": "1", "SenderFault": False, "Code": "InternalError", "Message": "try later"}],
            },
        )
        queued, failed = fanout.batches.enqueue(
            "https://sqs.eu-west-1.amazonaws.com/123456789012/fanout", targets, b"x"
        )
        stubber.assert_no_pending_responses()
    assert queued == 1
    assert [(f.connection_id, f.code, f.message) for f in failed] == [
        ("c2", "QueueError:InternalError", "try later"),
        ("c3", "QueueError:InternalError", "try later"),
    ]


# --- The message format and SQS's limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (b'{"text":"plain json"}', "text"),
        (('{"text":"' + "hello world " * 30 + 'Grüße"}').encode(), "text"),
        ("é€😀".encode() * 10, "base64"),  # escaped as JSON it would be longer than base64
        (bytes(range(256)), "base64"),
    ],
    ids=["json", "mostly-ascii", "mostly-non-ascii", "binary"],
)
def test_the_payload_round_trips_exactly(body, encoding):
    [(ids, text)] = split_into_messages([Target("c1", "https://e.test/s", REGION)], body, 10)
    document = json.loads(text)
    assert (document["v"], document["encoding"], ids) == (1, encoding, ["c1"])
    assert text.isascii()  # SQS accepts only some Unicode; plain ASCII is always safe
    assert decode_message(text).payload == body


@pytest.mark.parametrize(
    "body",
    [b"x" * 131072, "é".encode() * 65536, bytes(range(256)) * 512],
    ids=["ascii", "non-ascii", "binary"],
)
def test_every_message_and_every_batch_call_fits_in_sqs(body):
    targets = [Target(f"{n:0128d}", "https://e.test/s", REGION) for n in range(3000)]
    messages = list(split_into_messages(targets, body, 1000))
    assert all(len(text.encode()) <= fanout.batches.SQS_MAX_BYTES for _, text in messages)
    assert [cid for ids, _ in messages for cid in ids] == [t.connection_id for t in targets]
    for call in fanout.batches._group_for_calls(messages):
        assert len(call) <= 10
        assert sum(len(text.encode()) for _, text in call) <= fanout.batches.SQS_MAX_BYTES


def test_small_messages_share_batch_calls_of_ten():
    targets = [Target(f"c{n}", "https://e.test/s", REGION) for n in range(25)]
    calls = list(fanout.batches._group_for_calls(list(split_into_messages(targets, b"x", 1))))
    assert [len(call) for call in calls] == [10, 10, 5]


def test_batches_never_mix_endpoints():
    targets = [Target(f"c{n}", f"https://e{n % 2}.test/s", REGION) for n in range(6)]
    batches = [decode_message(text) for _, text in split_into_messages(targets, b"x", 10)]
    assert sorted((b.endpoint, b.connection_ids) for b in batches) == [
        ("https://e0.test/s", ["c0", "c2", "c4"]),
        ("https://e1.test/s", ["c1", "c3", "c5"]),
    ]


def valid_document(**changes):
    document = {"v": 1, "endpoint": "https://e.test/s", "region": REGION, "encoding": "text", "payload": "x"}
    return json.dumps({**document, "connections": ["c1"], **changes})


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1]",
        valid_document(v=2),
        valid_document(endpoint="file:///etc/passwd"),
        valid_document(region=None),
        valid_document(connections=[]),
        valid_document(connections=["ok", ""]),
        valid_document(encoding="rot13"),
        valid_document(encoding="base64", payload="***"),
        valid_document(payload=None),
    ],
)
def test_malformed_messages_are_refused(text):
    with pytest.raises(FanoutFormatError):
        decode_message(text)


def test_queue_region_comes_from_the_url(settings):
    settings.WEBSOCKETS = {"AWS_REGION": "ap-south-1"}
    assert fanout.batches.queue_region("https://sqs.us-west-2.amazonaws.com/1/q") == "us-west-2"
    assert fanout.batches.queue_region("http://localhost:4566/000000000000/q") == "ap-south-1"


# --- The consumer --------------------------------------------------------------------------------------------


def test_the_consumer_delivers_each_batch_and_marks_the_gone(fanout_settings, management_stub, make_session):
    ids = ["live-1", "gone-2", "live-3", "denied-4", "live-5", "forbidden-6"]
    for connection_id in ids:
        make_session(connection_id=connection_id)
    WebSocketSession.objects.send_message({"n": 1})
    messages = receive_all(fanout_settings.WEBSOCKETS["FANOUT_QUEUE_URL"])

    response = handle_fanout_batch(sqs_event(messages), None)

    # AccessDenied will not improve by retrying: reported in the logs, not handed back to SQS.
    assert response == {"batchItemFailures": []}
    assert dict(management_stub.stub.delivered) == {cid: [b'{"n":1}'] for cid in ("live-1", "live-3", "live-5")}
    assert set(WebSocketSession.objects.filter(connected=False).values_list("connection_id", flat=True)) == {
        "gone-2",
        "forbidden-6",
    }


def test_the_consumer_hands_back_only_records_nothing_of_which_arrived(fanout_settings, management_stub, make_session):
    management_stub.stub.throttle_times = 100  # throttled beyond SEND_MAX_ATTEMPTS

    def batch(*ids):
        return json.dumps(
            {
                "v": 1,
                "endpoint": management_stub.url,
                "region": REGION,
                "encoding": "base64",
                "payload": base64.b64encode(b"hi").decode(),
                "connections": list(ids),
            }
        )

    event = {
        "Records": [
            {"messageId": "fine", "body": batch("live-1", "live-2")},
            {"messageId": "all-throttled", "body": batch("throttle-3", "throttle-4")},
            # Handing these back would post to live-5 again, or post again what a 500 may have delivered.
            {"messageId": "partly-throttled", "body": batch("live-5", "throttle-6")},
            {"messageId": "server-error", "body": batch("broken-7")},
            {"messageId": "unreadable", "body": "{"},  # can never succeed: logged and dropped
        ]
    }
    response = handle_fanout_batch(event, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "all-throttled"}]}
    assert sorted(management_stub.stub.delivered) == ["live-1", "live-2", "live-5"]


def test_an_empty_event_has_no_failures():
    assert handle_fanout_batch({"Records": []}, None) == {"batchItemFailures": []}


def throttled_batch(management_stub, ids, requeues=0):
    document = {
        "v": 1,
        "endpoint": management_stub.url,
        "region": REGION,
        "encoding": "text",
        "payload": "hi",
        "connections": list(ids),
    }
    return json.dumps({**document, **({"requeues": requeues} if requeues else {})})


def test_the_unreached_part_of_a_partly_delivered_record_is_queued_again(
    fanout_settings, management_stub, caplog, monkeypatch
):
    monkeypatch.setattr(fanout.consumer, "requeue_delay", lambda requeues: 0)  # visible at once, for the test
    management_stub.stub.throttle_times = 100  # throttled beyond SEND_MAX_ATTEMPTS
    queue_url = fanout_settings.WEBSOCKETS["FANOUT_QUEUE_URL"]
    event = {"Records": [{"messageId": "partly", "body": throttled_batch(management_stub, ["live-1", "throttle-2"])}]}

    assert handle_fanout_batch(event, None) == {"batchItemFailures": []}

    assert sorted(management_stub.stub.delivered) == ["live-1"]  # never posted to again
    [message] = receive_all(queue_url)
    again = decode_message(message["Body"])
    assert (again.connection_ids, again.payload, again.requeues) == (["throttle-2"], b"hi", 1)
    assert "not delivered to" not in caplog.text


def test_a_batch_queued_again_too_often_is_given_up_and_logged(fanout_settings, management_stub, caplog):
    from websockets_app.messaging.fanout.batches import MAX_REQUEUES

    management_stub.stub.throttle_times = 100
    body = throttled_batch(management_stub, ["live-1", "throttle-2"], requeues=MAX_REQUEUES)

    assert handle_fanout_batch({"Records": [{"messageId": "tired", "body": body}]}, None) == {"batchItemFailures": []}

    assert receive_all(fanout_settings.WEBSOCKETS["FANOUT_QUEUE_URL"]) == []
    assert "1 of 2 connections were not delivered to" in caplog.text


def test_batches_put_back_wait_longer_each_time_within_what_sqs_allows():
    assert [fanout.consumer.requeue_delay(n) for n in range(6)] == [5, 10, 20, 40, 80, 160]
    assert fanout.consumer.requeue_delay(20) == 900


@pytest.mark.parametrize("requeues", [-1, True, "1", 99])
def test_a_batch_with_a_bad_requeue_count_is_refused(requeues):
    with pytest.raises(FanoutFormatError):
        decode_message(valid_document(requeues=requeues))
