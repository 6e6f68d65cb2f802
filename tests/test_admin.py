from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from websockets_app import provisioning
from websockets_app.admin import user_search_fields
from websockets_app.models import (
    ApiGateway,
    ApiGatewayAdditionalRoute,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
)

pytestmark = pytest.mark.django_db


def changelist(model) -> str:
    return reverse(f"admin:websockets_app_{model._meta.model_name}_changelist")


def change(obj) -> str:
    return reverse(f"admin:websockets_app_{obj._meta.model_name}_change", args=[obj.pk])


def populate(rows: int) -> None:
    """`rows` of every model, each row with its own user and gateway, so N+1 lookups would show."""
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"user{i}", email=f"user{i}@example.com") for i in range(rows)
    )
    gateways = ApiGateway.objects.bulk_create(ApiGateway(api_name=f"gw{i}", api_id=f"id{i}") for i in range(rows))
    ApiGatewayAdditionalRoute.objects.bulk_create(
        ApiGatewayAdditionalRoute(api_gateway=g, name=f"r{i}", route_key=f"r{i}", integration_url="https://x.test/")
        for i, g in enumerate(gateways)
    )
    WebSocketSession.objects.bulk_create(
        WebSocketSession(connection_id=f"c{i}=", channel_name=f"room{i}", user=u, api_gateway=g)
        for i, (u, g) in enumerate(zip(users, gateways, strict=True))
    )
    WebSocketToken.objects.bulk_create(
        WebSocketToken(token_hash=WebSocketToken.hash_token(f"t{i}"), user=u, session_key=f"s{i:039d}")
        for i, u in enumerate(users)
    )
    ConnectionRateLimit.objects.bulk_create(
        ConnectionRateLimit(ip_address=f"198.51.100.{i + 1}", user=u, bucket_start=timezone.now(), refused=1)
        for i, u in enumerate(users)
    )


ALL_MODELS = [ApiGateway, ApiGatewayAdditionalRoute, WebSocketSession, WebSocketToken, ConnectionRateLimit]


# Session + user, then the page's own queries (counts, rows, filter choices); none of them grows with the rows.
LIST_PAGE_QUERIES = {
    ApiGateway: 5,
    ApiGatewayAdditionalRoute: 6,
    WebSocketSession: 6,
    WebSocketToken: 5,
    ConnectionRateLimit: 5,
}


@pytest.mark.parametrize("rows", [1, 25])
@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_list_pages_take_a_fixed_number_of_queries(admin_client, model, rows, django_assert_num_queries):
    populate(rows)
    with django_assert_num_queries(LIST_PAGE_QUERIES[model]):
        response = admin_client.get(changelist(model))
    assert response.status_code == 200
    assert response.context["cl"].result_count == rows


@pytest.mark.parametrize(
    ("model", "query", "expected"),
    [
        (ApiGateway, "gw3", "gw3"),
        (ApiGateway, "id4", "gw4"),
        (ApiGatewayAdditionalRoute, "r2", "r2"),
        (WebSocketSession, "c1=", "c1="),
        (WebSocketSession, "room2", "c2="),
        (WebSocketToken, "user3", "user3"),
        (WebSocketToken, "user4@example.com", "user4"),
        (WebSocketToken, "s" + "0" * 38 + "2", "user2"),
        (ConnectionRateLimit, "198.51.100.4", "198.51.100.4"),
        (ConnectionRateLimit, "user1@example", "user1"),
    ],
)
def test_search_finds_the_right_row(admin_client, model, query, expected):
    populate(5)
    response = admin_client.get(changelist(model), {"q": query})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert expected in response.content.decode()


def test_token_search_matches_session_keys_exactly_not_by_substring(admin_client):
    populate(3)
    response = admin_client.get(changelist(WebSocketToken), {"q": "s000"})
    assert response.context["cl"].result_count == 0


def test_user_search_fields_follow_the_user_model():
    assert user_search_fields() == ("user__username", "user__email")


@pytest.mark.parametrize(
    ("model", "params", "expected_rows"),
    [
        (ApiGateway, {"api_created__exact": "0"}, 3),
        (ApiGateway, {"custom_domain_created__exact": "1"}, 0),
        (WebSocketSession, {"connected__exact": "1"}, 3),
        (WebSocketSession, {"channel_name": "room1"}, 1),
        (WebSocketToken, {"used__exact": "1"}, 0),
        (WebSocketToken, {"created_at__gte": "2000-01-01 00:00:00+00:00"}, 3),
        (ConnectionRateLimit, {"has_refused": "yes"}, 3),
        (ConnectionRateLimit, {"has_refused": "no"}, 0),
        (ConnectionRateLimit, {"has_user": "yes"}, 3),
        (ConnectionRateLimit, {"has_user": "no"}, 0),
        (ConnectionRateLimit, {"bucket_start__lt": "2000-01-01 00:00:00+00:00"}, 0),
    ],
)
def test_list_filters_narrow_the_rows(admin_client, model, params, expected_rows):
    populate(3)
    response = admin_client.get(changelist(model), params)
    assert response.status_code == 200
    assert response.context["cl"].result_count == expected_rows


def test_routes_filter_by_gateway(admin_client):
    populate(3)
    gateway = ApiGateway.objects.get(api_name="gw1")
    response = admin_client.get(changelist(ApiGatewayAdditionalRoute), {"api_gateway__id__exact": gateway.pk})
    assert [route.api_gateway_id for route in response.context["cl"].result_list] == [gateway.pk]


class TestApiGatewayAdmin:
    def test_change_page_shows_the_additional_routes_inline(self, admin_client):
        populate(1)
        gateway = ApiGateway.objects.get()
        response = admin_client.get(change(gateway))
        assert response.status_code == 200
        assert "additional_routes-0-route_key" in response.content.decode()

    @staticmethod
    def add_form(route_key: str, **fields: str) -> dict[str, str]:
        """The add form as a browser posts it: the gateway's fields plus one inline route."""
        return {
            "api_name": "site",
            "integration_type": "HTTP_PROXY",
            "api_key_selection_expression": "$request.header.x-api-key",
            "route_selection_expression": "$request.body.action",
            "tags": "{}",
            "additional_routes-TOTAL_FORMS": "1",
            "additional_routes-INITIAL_FORMS": "0",
            "additional_routes-0-name": "Chat",
            "additional_routes-0-route_key": route_key,
            "additional_routes-0-integration_url": "https://www.example.com/ws/chat",
            **fields,
        }

    def test_adding_a_gateway_with_a_route_saves_both(self, admin_client):
        data = self.add_form(
            "chat",
            default_channel_name="lobby",
            target_base_endpoint="https://www.example.com/ws/",
            stage_name="",
            tags='{"team": "web"}',
            domain_name="ws.example.com",
        )
        response = admin_client.post(reverse("admin:websockets_app_apigateway_add"), data)
        assert response.status_code == 302
        gateway = ApiGateway.objects.get(api_name="site")
        assert (gateway.stage_name, gateway.default_channel_name) == ("production", "lobby")
        assert gateway.tags == {"team": "web"}
        assert list(gateway.additional_routes.values_list("route_key", flat=True)) == ["chat"]

    def test_a_reserved_route_key_is_refused_and_nothing_is_saved(self, admin_client):
        response = admin_client.post(reverse("admin:websockets_app_apigateway_add"), self.add_form("$connect"))
        assert response.status_code == 200
        assert "is created with every API" in response.content.decode()
        assert not ApiGateway.objects.exists()

    @pytest.mark.parametrize(
        ("action", "fields", "message"),
        [
            ("create_api_gateway", {}, "needs a target base endpoint first"),
            ("create_api_gateway", {"integration_type": "AWS_PROXY"}, "needs a Lambda function ARN first"),
            ("create_api_gateway", {"api_created": True}, "has already been created"),
            ("create_custom_domain", {}, "before its custom domain"),
            ("create_custom_domain", {"api_created": True}, "needs a domain name and a certificate ARN"),
            ("update_api_gateway", {}, "Create API Gateway 'chat-api' first"),
        ],
    )
    def test_actions_report_each_failure_against_the_gateway(self, admin_client, action, fields, message, caplog):
        gateway = ApiGateway.objects.create(api_name="chat-api", **fields)
        with caplog.at_level(logging.INFO, logger="websockets_app.admin"):
            response = admin_client.post(
                changelist(ApiGateway), {"action": action, "_selected_action": [gateway.pk]}, follow=True
            )
        [shown] = [str(m) for m in get_messages(response.wsgi_request)]
        assert "failed for 'chat-api'" in shown
        assert message in shown
        # The audit trail names the acting user, the request and its outcome.
        audit = [m for m in caplog.messages if m.startswith("admin: ")]
        assert len(audit) == 2
        assert "requested for 'chat-api'" in audit[0]
        assert "failed for 'chat-api'" in audit[1]

    def test_actions_report_success_per_row(self, admin_client, monkeypatch):
        done = []
        monkeypatch.setattr(provisioning, "create_api_gateway", done.append)
        a = ApiGateway.objects.create(api_name="a")
        b = ApiGateway.objects.create(api_name="b")
        response = admin_client.post(
            changelist(ApiGateway), {"action": "create_api_gateway", "_selected_action": [a.pk, b.pk]}, follow=True
        )
        shown = sorted(str(m) for m in get_messages(response.wsgi_request))
        assert shown == ["Create API Gateway succeeded for 'a'.", "Create API Gateway succeeded for 'b'."]
        assert sorted(g.api_name for g in done) == ["a", "b"]

    def test_one_failing_row_does_not_stop_the_others(self, admin_client, monkeypatch):
        def step(gateway):
            if gateway.api_name == "bad":
                raise provisioning.ProvisioningError("AccessDenied")

        monkeypatch.setattr(provisioning, "create_custom_domain", step)
        rows = [ApiGateway.objects.create(api_name=name) for name in ("bad", "good")]
        response = admin_client.post(
            changelist(ApiGateway),
            {"action": "create_custom_domain", "_selected_action": [r.pk for r in rows]},
            follow=True,
        )
        shown = sorted(str(m) for m in get_messages(response.wsgi_request))
        assert shown == [
            "Create Custom Domain failed for 'bad': AccessDenied",
            "Create Custom Domain succeeded for 'good'.",
        ]


class TestWebSocketSessionAdmin:
    def test_sessions_cannot_be_added_by_hand(self, admin_client):
        assert admin_client.get(reverse("admin:websockets_app_websocketsession_add")).status_code == 403

    def test_mark_disconnected_action(self, admin_client, make_session):
        live, other = make_session(), make_session()
        response = admin_client.post(
            changelist(WebSocketSession), {"action": "mark_disconnected", "_selected_action": [live.pk]}, follow=True
        )
        assert [str(m) for m in get_messages(response.wsgi_request)] == ["Marked 1 session(s) as disconnected."]
        assert list(WebSocketSession.objects.connected()) == [other]


class TestReadOnlyRecords:
    @pytest.mark.parametrize("model", [WebSocketToken, ConnectionRateLimit], ids=lambda m: m.__name__)
    def test_cannot_be_added(self, admin_client, model):
        url = reverse(f"admin:websockets_app_{model._meta.model_name}_add")
        assert admin_client.get(url).status_code == 403

    @pytest.mark.parametrize("model", [WebSocketToken, ConnectionRateLimit], ids=lambda m: m.__name__)
    def test_detail_is_view_only_and_posts_change_nothing(self, admin_client, model):
        populate(1)
        obj = model.objects.get()
        response = admin_client.get(change(obj))
        assert response.status_code == 200
        assert 'name="_save"' not in response.content.decode()
        assert admin_client.post(change(obj), {"used": "on", "successful": "5"}).status_code == 403
        obj.refresh_from_db()
        assert getattr(obj, "used", getattr(obj, "successful", None)) in (False, 0)

    def test_token_pages_show_a_hash_preview_never_the_hash_or_session_key(self, admin_client):
        populate(1)
        token = WebSocketToken.objects.get()
        for url in (changelist(WebSocketToken), change(token)):
            page = admin_client.get(url).content.decode()
            assert token.preview in page
            assert token.token_hash not in page
            assert token.session_key not in page

    def test_records_can_be_deleted(self, admin_client):
        populate(2)
        old = ConnectionRateLimit.objects.first()
        ConnectionRateLimit.objects.filter(pk=old.pk).update(last_attempt=timezone.now() - timedelta(days=30))
        response = admin_client.post(
            changelist(ConnectionRateLimit),
            {"action": "delete_selected", "_selected_action": [old.pk], "post": "yes"},
        )
        assert response.status_code == 302
        assert ConnectionRateLimit.objects.count() == 1


def test_user_search_fields_follow_a_custom_user_model_without_username(monkeypatch):
    class EmailUser:
        USERNAME_FIELD = "email"

        @staticmethod
        def get_email_field_name() -> str:
            return "email"

        class _meta:  # mimics Django's Options
            fields = ()

    monkeypatch.setattr("websockets_app.admin.get_user_model", lambda: EmailUser)
    assert user_search_fields() == ("user__email",)


@pytest.mark.parametrize(
    ("model", "add_status"),
    [
        (ApiGateway, 200),
        (ApiGatewayAdditionalRoute, 200),
        (WebSocketSession, 403),
        (WebSocketToken, 403),
        (ConnectionRateLimit, 403),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_every_admin_page_renders(admin_client, model, add_status):
    populate(1)
    obj = model.objects.get()
    name = model._meta.model_name
    assert admin_client.get(reverse(f"admin:websockets_app_{name}_add")).status_code == add_status
    for view in ("change", "history", "delete"):
        assert admin_client.get(reverse(f"admin:websockets_app_{name}_{view}", args=[obj.pk])).status_code == 200
    assert admin_client.get(reverse("admin:app_list", args=["websockets_app"])).status_code == 200
