from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from websockets_app.models import (
    ApiGateway,
    ApiGatewayAdditionalRoute,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user("alice", "alice@example.com", "pw")


def make_token(user, raw: str = "raw-token", **fields) -> WebSocketToken:
    return WebSocketToken.objects.create(token_hash=WebSocketToken.hash_token(raw), user=user, **fields)


class TestApiGateway:
    def test_defaults_match_api_gateway_conventions(self, make_gateway):
        gw = make_gateway()
        assert gw.stage_name == "production"
        assert gw.route_selection_expression == "$request.body.action"
        assert gw.api_key_selection_expression == "$request.header.x-api-key"
        assert gw.tags == {}
        assert (gw.api_created, gw.custom_domain_created) == (False, False)

    def test_the_gateway_has_no_route_key_column(self):
        # Routes are the three built-in ones plus ApiGatewayAdditionalRoute rows; a gateway-wide key meant nothing.
        assert "route_key" not in {field.name for field in ApiGateway._meta.get_fields()}

    def test_blank_stage_name_is_saved_as_production(self, make_gateway):
        gw = make_gateway(stage_name="")
        gw.refresh_from_db()
        assert gw.stage_name == "production"

    def test_blank_stage_name_is_saved_as_production_with_update_fields(self, make_gateway):
        gw = make_gateway()
        gw.stage_name = ""
        gw.api_description = "changed"
        gw.save(update_fields=["api_description"])
        gw.refresh_from_db()
        assert (gw.stage_name, gw.api_description) == ("production", "changed")

    def test_save_without_target_endpoint_works(self, make_gateway):
        gw = make_gateway(target_base_endpoint="")
        gw.api_description = "saved again"
        gw.save()
        assert ApiGateway.objects.get(pk=gw.pk).target_base_endpoint == ""

    @pytest.mark.parametrize(
        "base", ["https://www.example.com/ws/", "https://www.example.com/ws", "https://www.example.com/ws//"]
    )
    @pytest.mark.parametrize(("route", "suffix"), [("$connect", "connect"), ("$default", "default"), ("chat", "chat")])
    def test_integration_uri_has_exactly_one_slash_before_the_route(self, make_gateway, base, route, suffix):
        gw = make_gateway(target_base_endpoint=base)
        assert gw.integration_uri(route) == f"https://www.example.com/ws/{suffix}"

    def test_integration_uri_without_target_is_a_clear_error(self, make_gateway):
        with pytest.raises(ValueError, match="no target base endpoint"):
            make_gateway(api_name="bare").integration_uri("$connect")

    def test_management_endpoint_is_built_from_api_id_region_and_stage(self, make_gateway):
        gw = make_gateway(api_id="a1b2c3", region="eu-west-2", stage_name="live", domain_name="ws.example.com")
        assert gw.management_endpoint_url == "https://a1b2c3.execute-api.eu-west-2.amazonaws.com/live"

    def test_management_endpoint_falls_back_to_the_configured_region(self, make_gateway, settings, monkeypatch):
        monkeypatch.delenv("AWS_REGION", raising=False)
        settings.WEBSOCKETS = {"AWS_REGION": "us-east-2"}
        gw = make_gateway(api_id="a1b2c3")
        assert gw.management_endpoint_url == "https://a1b2c3.execute-api.us-east-2.amazonaws.com/production"

    def test_management_endpoint_falls_back_to_the_lambda_region(self, make_gateway, settings, monkeypatch):
        settings.WEBSOCKETS = {}
        monkeypatch.setenv("AWS_REGION", "ap-south-1")
        assert make_gateway(api_id="q").management_endpoint_url.startswith("https://q.execute-api.ap-south-1.")

    def test_management_endpoint_setting_overrides_the_derived_url(self, make_gateway, settings):
        settings.WEBSOCKETS = {"MANAGEMENT_ENDPOINT_URL": "http://127.0.0.1:8001"}
        assert make_gateway().management_endpoint_url == "http://127.0.0.1:8001"

    def test_management_endpoint_needs_an_api_id(self, make_gateway):
        with pytest.raises(ValueError, match="no API id"):
            _ = make_gateway(region="eu-west-1").management_endpoint_url

    def test_management_endpoint_needs_a_region(self, make_gateway, settings, monkeypatch):
        settings.WEBSOCKETS = {}
        monkeypatch.delenv("AWS_REGION", raising=False)
        monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
        with pytest.raises(ValueError, match="region"):
            _ = make_gateway(api_id="x").management_endpoint_url

    def test_api_name_is_unique(self, make_gateway):
        make_gateway(api_name="same")
        with pytest.raises(IntegrityError), transaction.atomic():
            make_gateway(api_name="same")

    def test_api_id_and_stage_are_unique_together(self, make_gateway):
        make_gateway(api_id="abc", stage_name="prod")
        make_gateway(api_id="abc", stage_name="dev")
        with pytest.raises(IntegrityError), transaction.atomic():
            make_gateway(api_id="abc", stage_name="prod")

    def test_many_gateways_may_wait_for_an_api_id(self, make_gateway):
        make_gateway(api_id="")
        make_gateway(api_id="")
        assert ApiGateway.objects.filter(api_id="").count() == 2

    @pytest.mark.parametrize(
        "tags",
        [
            ["not", "a", "dict"],
            {"": "empty key"},
            {"aws:reserved": "x"},
            {"k": 1},
            {"k": "v" * 257},
            {f"k{i}": "v" for i in range(51)},
        ],
    )
    def test_invalid_tags_are_refused(self, make_gateway, tags):
        gw = make_gateway()
        gw.tags = tags
        with pytest.raises(ValidationError) as exc:
            gw.full_clean()
        assert "tags" in exc.value.message_dict

    def test_valid_tags_pass(self, make_gateway):
        gw = make_gateway(tags={"team": "web", "cost-centre": ""}, target_base_endpoint="https://x.test/ws/")
        gw.full_clean()

    @pytest.mark.parametrize(
        ("fields", "field", "message"),
        [
            ({"target_base_endpoint": "http://x.test/ws/"}, "target_base_endpoint", "over HTTPS"),
            ({"target_base_endpoint": ""}, "target_base_endpoint", "needs the target base endpoint"),
            ({"integration_type": "AWS_PROXY"}, "lambda_function_arn", "needs the Lambda function ARN"),
            ({"integration_type": "WEBSOCKET"}, "integration_type", "not a valid choice"),
            ({"lambda_function_arn": "my-function"}, "lambda_function_arn", "Enter a Lambda function ARN"),
            (
                {"lambda_function_arn": "arn:aws:lambda:eu-west-1:1234:function:site"},
                "lambda_function_arn",
                "Enter a Lambda function ARN",
            ),
            ({"certificate_arn": "arn:aws:acm:eu-west-1:123456789012:cert"}, "certificate_arn", "ACM certificate"),
            (
                {"domain_name": "ws.example.com", "hosted_zone_id": "/hostedzone/Z1D633PJN98FT9"},
                "hosted_zone_id",
                "without '/hostedzone/'",
            ),
            ({"hosted_zone_id": "Z1D633PJN98FT9"}, "hosted_zone_id", "only used with a custom domain"),
            ({"region": "Ireland"}, "region", "region name such as eu-west-1"),
        ],
    )
    def test_bad_provisioning_inputs_get_a_clear_error(self, make_gateway, fields, field, message):
        gw = make_gateway(target_base_endpoint="https://x.test/ws/")
        for name, value in fields.items():
            setattr(gw, name, value)
        with pytest.raises(ValidationError) as exc:
            gw.full_clean()
        assert message in " ".join(exc.value.message_dict[field])

    @pytest.mark.parametrize(
        "arn",
        [
            "arn:aws:lambda:eu-west-1:123456789012:function:site",
            "arn:aws:lambda:eu-west-1:123456789012:function:site:live",
            "arn:aws:lambda:us-gov-west-1:123456789012:function:site:$LATEST",
        ],
    )
    def test_a_lambda_gateway_with_a_function_arn_is_valid(self, make_gateway, arn):
        gw = make_gateway(integration_type="AWS_PROXY", lambda_function_arn=arn, region="eu-west-1")
        gw.full_clean()

    def test_lambda_integration_uri_invokes_the_function_in_the_apis_region(self, make_gateway):
        arn = "arn:aws:lambda:eu-west-1:123456789012:function:site"
        gw = make_gateway(integration_type="AWS_PROXY", lambda_function_arn=arn, region="eu-west-2")
        assert gw.lambda_integration_uri == (
            f"arn:aws:apigateway:eu-west-2:lambda:path/2015-03-31/functions/{arn}/invocations"
        )

    def test_lambda_integration_uri_needs_a_function(self, make_gateway):
        with pytest.raises(ValueError, match="no Lambda function ARN"):
            _ = make_gateway().lambda_integration_uri

    @pytest.mark.parametrize(
        "domain", ["https://ws.example.com", "ws.example.com/path", "WS.EXAMPLE.COM", "-ws.example.com", "ws..com"]
    )
    def test_invalid_domain_names_are_refused(self, make_gateway, domain):
        gw = make_gateway()
        gw.domain_name = domain
        with pytest.raises(ValidationError) as exc:
            gw.full_clean()
        assert "domain_name" in exc.value.message_dict

    def test_str_is_the_api_name(self, make_gateway):
        assert str(make_gateway(api_name="chat api")) == "chat api"


class TestAdditionalRoute:
    def make_route(self, gateway, **fields) -> ApiGatewayAdditionalRoute:
        fields = {"name": "Chat", "route_key": "chat", "integration_url": "https://x.test/ws/chat", **fields}
        return ApiGatewayAdditionalRoute.objects.create(api_gateway=gateway, **fields)

    def test_target_url_defaults_to_the_gateway_target_and_route_key(self, gateway):
        assert self.make_route(gateway, integration_url="").target_url() == "https://x.test/ws/chat"
        other = self.make_route(gateway, route_key="news", integration_url="https://news.test/ws/news")
        assert other.target_url() == "https://news.test/ws/news"

    def test_an_http_integration_url_is_refused(self, gateway):
        route = ApiGatewayAdditionalRoute(
            api_gateway=gateway, name="Chat", route_key="chat", integration_url="http://x.test/ws/chat"
        )
        with pytest.raises(ValidationError) as exc:
            route.full_clean()
        assert "over HTTPS" in exc.value.message_dict["integration_url"][0]

    def test_route_key_is_unique_per_gateway(self, gateway, make_gateway):
        self.make_route(gateway)
        self.make_route(make_gateway())  # the same key on another API is fine
        with pytest.raises(IntegrityError), transaction.atomic():
            self.make_route(gateway)

    @pytest.mark.parametrize("key", ["$connect", "$disconnect", "$default", "has space", "slash/route", "x" * 65, ""])
    def test_reserved_and_non_slug_route_keys_are_refused(self, gateway, key):
        route = ApiGatewayAdditionalRoute(
            api_gateway=gateway, name="n", route_key=key, integration_url="https://x.test/"
        )
        with pytest.raises(ValidationError) as exc:
            route.full_clean()
        assert "route_key" in exc.value.message_dict

    def test_new_routes_are_not_deployed(self, gateway):
        assert self.make_route(gateway).deployed is False

    def test_routes_go_with_their_gateway(self, gateway):
        self.make_route(gateway)
        gateway.delete()
        assert not ApiGatewayAdditionalRoute.objects.exists()

    def test_str_names_the_route_key(self, gateway):
        assert str(self.make_route(gateway)) == "Chat (chat)"


class TestWebSocketSession:
    def test_defaults(self, make_session):
        session = make_session()
        assert (session.connected, session.request_count, session.channel_name, session.user) == (True, 1, "", None)

    def test_connection_id_is_unique(self, make_session):
        make_session(connection_id="dup=")
        with pytest.raises(IntegrityError), transaction.atomic():
            make_session(connection_id="dup=")

    def test_queryset_filters(self, make_session):
        live = make_session(channel_name="room")
        gone = make_session(channel_name="room", connected=False)
        other = make_session(channel_name="other")
        assert set(WebSocketSession.objects.connected()) == {live, other}
        assert set(WebSocketSession.objects.disconnected()) == {gone}
        assert set(WebSocketSession.objects.in_channel("room").connected()) == {live}

    def test_older_than_uses_the_creation_time(self, make_session):
        old, new = make_session(), make_session()
        WebSocketSession.objects.filter(pk=old.pk).update(created_on=timezone.now() - timedelta(hours=3))
        assert list(WebSocketSession.objects.older_than(7200)) == [old]
        assert new not in WebSocketSession.objects.older_than(7200)

    def test_mark_disconnected_is_one_update_and_counts_only_live_rows(self, make_session, django_assert_num_queries):
        rows = [make_session(channel_name="room") for _ in range(5)]
        make_session(channel_name="room", connected=False)
        before = WebSocketSession.objects.get(pk=rows[0].pk).updated_on
        with django_assert_num_queries(1):
            count = WebSocketSession.objects.in_channel("room").mark_disconnected()
        assert count == 5
        assert not WebSocketSession.objects.connected().exists()
        assert WebSocketSession.objects.get(pk=rows[0].pk).updated_on > before

    def test_deleting_a_gateway_keeps_its_sessions(self, make_session, gateway):
        session = make_session()
        gateway.delete()
        session.refresh_from_db()
        assert session.api_gateway is None

    def test_deleting_a_user_deletes_their_sessions(self, make_session, user):
        make_session(user=user)
        user.delete()
        assert not WebSocketSession.objects.exists()

    def test_str_is_the_connection_id(self, make_session):
        assert str(make_session(connection_id="Zx1=")) == "Zx1="


class TestWebSocketToken:
    def test_only_the_sha256_of_the_token_is_stored(self, user):
        token = make_token(user, "s3cret")
        assert token.token_hash == hashlib.sha256(b"s3cret").hexdigest()
        assert "s3cret" not in {str(v) for v in token.__dict__.values()}

    def test_preview_is_a_prefix_of_the_hash(self, user):
        token = make_token(user)
        assert token.preview == token.token_hash[:10] + "…"
        assert str(token) == token.preview

    def test_a_hash_of_the_wrong_length_is_refused_by_the_database(self, user):
        with pytest.raises(IntegrityError), transaction.atomic():
            WebSocketToken.objects.create(token_hash="abc", user=user)

    def test_a_non_hex_hash_is_refused_by_validation(self, user):
        token = WebSocketToken(token_hash="Z" * 64, user=user)
        with pytest.raises(ValidationError):
            token.full_clean()

    def test_hashes_are_unique(self, user):
        make_token(user, "same")
        with pytest.raises(IntegrityError), transaction.atomic():
            make_token(user, "same")

    def test_expiry_follows_the_setting(self, user, settings):
        settings.WEBSOCKETS = {"TOKEN_EXPIRY_SECONDS": 90}
        token = make_token(user)
        assert token.expires_at == token.created_at + timedelta(seconds=90)

    def test_older_than(self, user):
        old = make_token(user, "old", created_at=timezone.now() - timedelta(seconds=301))
        make_token(user, "new")
        assert list(WebSocketToken.objects.older_than(300)) == [old]


class TestConnectionRateLimit:
    def test_records_ipv4_and_ipv6_buckets(self, user):
        now = timezone.now()
        ConnectionRateLimit.objects.create(ip_address="203.0.113.9", user=user, bucket_start=now, successful=2)
        ConnectionRateLimit.objects.create(ip_address="2001:db8::", bucket_start=now, refused=3)
        assert ConnectionRateLimit.objects.filter(successful=0, user=None).get().ip_address == "2001:db8::"
        assert ConnectionRateLimit.objects.totals() == {"successful": 2, "refused": 3}

    def test_one_row_per_address_bucket_and_user_anonymous_included(self, user):
        now = timezone.now()
        ConnectionRateLimit.objects.create(ip_address="198.51.100.1", bucket_start=now)
        ConnectionRateLimit.objects.create(ip_address="198.51.100.1", user=user, bucket_start=now)
        for duplicate in ({}, {"user": user}):
            with pytest.raises(IntegrityError), transaction.atomic():
                ConnectionRateLimit.objects.create(ip_address="198.51.100.1", bucket_start=now, **duplicate)

    def test_totals_of_no_rows_are_zero(self):
        assert ConnectionRateLimit.objects.totals() == {"successful": 0, "refused": 0}

    def test_older_than_counts_days_from_the_last_attempt(self):
        now = timezone.now()
        old = ConnectionRateLimit.objects.create(
            ip_address="198.51.100.1", bucket_start=now - timedelta(days=9), last_attempt=now - timedelta(days=8)
        )
        ConnectionRateLimit.objects.create(
            ip_address="198.51.100.1", bucket_start=now - timedelta(days=8), last_attempt=now - timedelta(days=6)
        )
        assert list(ConnectionRateLimit.objects.older_than(7)) == [old]

    def test_str(self):
        at = timezone.now().replace(year=2026, month=1, day=2, hour=3, minute=4, second=5)
        bucket = ConnectionRateLimit(ip_address="198.51.100.1", bucket_start=at, successful=1, refused=2)
        assert (str(bucket), bucket.attempts) == ("198.51.100.1 from 2026-01-02 03:04:05", 3)
