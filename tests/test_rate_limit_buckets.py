"""What the connection rate limit stores: one counter row per client, user and time bucket, not one per attempt;
and which addresses count as one client (an IPv6 network, an IPv4-mapped IPv6 address)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import F
from django.utils import timezone

from tests.events import SOURCE_IP, connect_event
from websockets_app.models import ConnectionRateLimit
from websockets_app.rate_limits import (
    ConnectionLimits,
    RateLimited,
    admit_connection,
    bucket_seconds,
    mark_refused,
    rate_limited_address,
    record_refused_connection,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection", "ws_test_views")]

ONE_PER_WINDOW = ConnectionLimits(ip_attempts=1, user_attempts=None, window_seconds=60)


@pytest.fixture
def one_bucket(monkeypatch):
    """Freeze the clock in the middle of a bucket, so that a test's attempts cannot straddle two buckets."""
    frozen = timezone.now().replace(second=3, microsecond=0)
    monkeypatch.setattr("websockets_app.rate_limits.timezone.now", lambda: frozen)
    return frozen


# -- storage grows with clients and buckets, not with attempts -------------------------------------------------------


def test_a_flood_of_refused_connects_from_one_ip_is_one_row(settings, one_bucket, websocket_handler):
    settings.WEBSOCKETS = {"CONNECT_RATE_LIMIT_IP_ATTEMPTS": 5, "ALLOWED_ORIGINS": ["https://example.com"]}
    statuses = [websocket_handler(connect_event(f"flood-{n}="), None)["statusCode"] for n in range(200)]

    assert statuses == [403] * 200  # the Origin check refuses every one
    row = ConnectionRateLimit.objects.get()
    assert (row.ip_address, row.user, row.successful, row.refused) == (SOURCE_IP, None, 0, 200)


def test_admitted_and_over_the_limit_attempts_share_the_row(settings, one_bucket, websocket_handler):
    settings.WEBSOCKETS = {"CONNECT_RATE_LIMIT_IP_ATTEMPTS": 3}
    statuses = [websocket_handler(connect_event(f"c{n}="), None)["statusCode"] for n in range(50)]

    assert statuses == [200] * 3 + [429] * 47
    assert list(ConnectionRateLimit.objects.values_list("successful", "refused")) == [(3, 47)]
    assert ConnectionRateLimit.objects.totals() == {"successful": 3, "refused": 47}


def test_each_bucket_and_each_user_has_its_own_row(django_user_model, one_bucket, monkeypatch):
    ada = django_user_model.objects.create_user("ada")
    limits = ConnectionLimits(ip_attempts=None, user_attempts=None, window_seconds=60)
    for _ in range(3):
        admit_connection(SOURCE_IP, None, limits)
        admit_connection(SOURCE_IP, ada, limits)
    later = one_bucket + timedelta(seconds=bucket_seconds(60))
    monkeypatch.setattr("websockets_app.rate_limits.timezone.now", lambda: later)
    admit_connection(SOURCE_IP, ada, limits)

    rows = ConnectionRateLimit.objects.order_by("bucket_start", F("user").asc(nulls_first=True))
    assert [(r.user, r.bucket_start, r.last_attempt, r.successful) for r in rows] == [
        (None, one_bucket.replace(second=0), one_bucket, 3),
        (ada, one_bucket.replace(second=0), one_bucket, 3),
        (ada, one_bucket.replace(second=6), later, 1),
    ]


def test_buckets_are_a_tenth_of_the_window():
    assert [bucket_seconds(w) for w in (1, 9, 10, 60, 42, 3600, 86400)] == [1, 1, 1, 6, 4, 360, 8640]


@pytest.mark.parametrize(("seconds_later", "admitted"), [(1, False), (59, False), (60, False), (61, True)])
def test_an_attempt_counts_for_the_window_after_its_buckets_last_attempt(
    one_bucket, monkeypatch, seconds_later, admitted
):
    admit_connection(SOURCE_IP, None, ONE_PER_WINDOW)
    later = one_bucket + timedelta(seconds=seconds_later)
    monkeypatch.setattr("websockets_app.rate_limits.timezone.now", lambda: later)
    if admitted:
        assert admit_connection(SOURCE_IP, None, ONE_PER_WINDOW).successful
    else:
        with pytest.raises(RateLimited):
            admit_connection(SOURCE_IP, None, ONE_PER_WINDOW)


def test_mark_refused_moves_one_attempt_from_successful_to_refused_once(one_bucket):
    limits = ConnectionLimits(ip_attempts=None, user_attempts=None, window_seconds=60)
    first, second = admit_connection(SOURCE_IP, None, limits), admit_connection(SOURCE_IP, None, limits)
    mark_refused(first)
    mark_refused(first)  # a second call changes nothing

    assert (first.successful, second.successful) == (False, True)
    assert list(ConnectionRateLimit.objects.values_list("successful", "refused")) == [(1, 1)]


# -- which addresses are one client ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "counted_as"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("::ffff:cb00:7107", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"),
        ("2001:DB8:1:2::ffff", "2001:db8:1:2::"),
        ("fe80::1%eth0", "fe80::"),
        ("::1", "::"),
    ],
)
def test_the_address_a_limit_counts(address, counted_as):
    assert rate_limited_address(address) == counted_as


def test_two_addresses_in_one_ipv6_64_share_a_limit():
    admit_connection("2001:db8:1:2::1", None, ONE_PER_WINDOW)
    with pytest.raises(RateLimited):
        admit_connection("2001:db8:1:2:ffff:ffff:ffff:ffff", None, ONE_PER_WINDOW)


def test_addresses_in_different_ipv6_64s_do_not_share_a_limit():
    admit_connection("2001:db8:1:2::1", None, ONE_PER_WINDOW)
    assert admit_connection("2001:db8:1:3::1", None, ONE_PER_WINDOW).successful


def test_an_ipv4_mapped_address_shares_the_ipv4_address_limit():
    admit_connection("198.51.100.9", None, ONE_PER_WINDOW)
    with pytest.raises(RateLimited):
        admit_connection("::ffff:198.51.100.9", None, ONE_PER_WINDOW)
    assert admit_connection("::ffff:198.51.100.10", None, ONE_PER_WINDOW).successful


def test_refused_attempts_from_one_ipv6_network_count_together(settings):
    settings.WEBSOCKETS = {"CONNECT_RATE_LIMIT_IP_ATTEMPTS": 2}
    record_refused_connection("2001:db8:7::1")
    record_refused_connection("2001:db8:7::2")
    with pytest.raises(RateLimited):
        admit_connection("2001:db8:7::3")
    assert list(ConnectionRateLimit.objects.values_list("ip_address", flat=True)) == ["2001:db8:7::"]


def test_the_ipv6_prefix_length_is_a_setting(settings):
    settings.WEBSOCKETS = {"CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH": 48}
    assert rate_limited_address("2001:db8:1:2::1") == rate_limited_address("2001:db8:1:ffff::1") == "2001:db8:1::"
    settings.WEBSOCKETS = {"CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH": 128}
    assert rate_limited_address("2001:db8:1:2::1") == "2001:db8:1:2::1"


def test_a_lambda_connect_from_an_ipv6_network_is_limited_as_one_client(settings, websocket_handler):
    settings.WEBSOCKETS = {"CONNECT_RATE_LIMIT_IP_ATTEMPTS": 2}

    def connect_from(address: str, connection_id: str) -> int:
        event = connect_event(connection_id)
        event["requestContext"]["identity"]["sourceIp"] = address
        return websocket_handler(event, None)["statusCode"]

    assert [connect_from(f"2001:db8:5:6::{n:x}", f"v6-{n}=") for n in range(1, 4)] == [200, 200, 429]
    assert connect_from("2001:db8:5:7::1", "other=") == 200


# -- the migration from one row per attempt --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_folds_the_windows_attempts_into_buckets_and_drops_older_ones():
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    buckets_migration = next(key for key in graph.nodes if key[1].endswith("_rate_limit_buckets"))
    (before,) = (node for node in graph.node_map[buckets_migration].parents if node.key[0] == "websockets_app")
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate([before.key])
    try:
        old_apps = MigrationExecutor(connection).loader.project_state([before.key]).apps
        user = old_apps.get_model(settings.AUTH_USER_MODEL).objects.create(username="ada")
        attempt = old_apps.get_model("websockets_app", "ConnectionRateLimit").objects.create
        recent = timezone.now().replace(second=33, microsecond=0) - timedelta(minutes=1)  # mid-bucket, in the window
        for address, ok, who in [
            ("203.0.113.7", True, None),
            ("203.0.113.7", False, None),
            ("203.0.113.7", False, None),
            ("::ffff:203.0.113.7", False, None),
            ("2001:db8:1:2::1", False, None),
            ("2001:db8:1:2::2", True, None),
            ("203.0.113.7", True, user),
        ]:
            attempt(ip_address=address, successful=ok, user=who, attempt_time=recent + timedelta(seconds=30))
        attempt(ip_address="198.51.100.1", successful=False, attempt_time=timezone.now() - timedelta(days=2))

        MigrationExecutor(connection).migrate([buckets_migration])
        new_model = (
            MigrationExecutor(connection)
            .loader.project_state([buckets_migration])
            .apps.get_model("websockets_app", "ConnectionRateLimit")
        )
        rows = new_model.objects.order_by("ip_address", "user_id").values_list(
            "ip_address", "user_id", "bucket_start", "last_attempt", "successful", "refused"
        )
    finally:
        MigrationExecutor(connection).migrate(leaves)

    bucket = recent + timedelta(seconds=30) - timedelta(seconds=3)  # 60 s window: 6 s buckets
    assert sorted(rows, key=lambda row: (row[0], row[1] or 0)) == [
        ("2001:db8:1:2::", None, bucket, recent + timedelta(seconds=30), 1, 1),
        ("203.0.113.7", None, bucket, recent + timedelta(seconds=30), 1, 3),
        ("203.0.113.7", user.pk, bucket, recent + timedelta(seconds=30), 1, 0),
    ]
