"""The import scenario, run in a subprocess by tests/test_import_legacy.py with tests.legacy_import_settings:
migrate both apps, create rows with the original package's own models, run importLegacyWebSockets (a dry run, a
run, a second run) and print, as JSON, the legacy rows, this app's rows and each run's output."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.forms.models import model_to_dict  # noqa: E402
from django_aws_api_gateway_websockets import models as legacy  # noqa: E402

from websockets_app import models as ours  # noqa: E402

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def rows(model: Any) -> list[dict[str, Any]]:
    result = []
    for obj in model.objects.order_by("pk"):
        row = model_to_dict(obj, fields=[f.name for f in model._meta.concrete_fields])
        for f in model._meta.concrete_fields:
            row[f.attname] = getattr(obj, f.attname)
            row.pop(f.name, None) if f.attname != f.name else None
        result.append(row)
    return result


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("importLegacyWebSockets", *args, stdout=out)
    return out.getvalue()


def create_legacy_rows() -> None:
    user_model = get_user_model()
    ada = user_model.objects.create_user("ada", password="pw")
    bob = user_model.objects.create_user("bob", password="pw")
    # bulk_create: the original's save() would call AWS for a deployed gateway's routes.
    site, draft, plain, _ = legacy.ApiGateway.objects.bulk_create(
        [
            legacy.ApiGateway(
                api_name="site",
                api_description="The site",
                default_channel_name="lobby",
                domain_name="ws.example.com",
                target_base_endpoint="https://www.example.com/ws/",
                certificate_arn="arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
                hosted_zone_id="Z1D633PJN98FT9",
                stage_name="live",
                stage_description="live traffic",
                deployment_id="dep42",
                tags={"team": "web"},
                api_id="abc123",
                api_endpoint="wss://abc123.execute-api.eu-west-1.amazonaws.com",
                api_gateway_domain_name="d-1234.execute-api.eu-west-1.amazonaws.com",
                api_mapping_id="map1",
                api_created=True,
                custom_domain_created=True,
            ),
            legacy.ApiGateway(api_name="draft", target_base_endpoint="https://draft.example.com/ws/"),
            # http:// is refused here: the integration secret would travel in clear text.
            legacy.ApiGateway(api_name="plain", target_base_endpoint="http://plain.example.com/ws/"),
            legacy.ApiGateway(api_name="no-target"),
        ]
    )
    legacy.ApiGateway.objects.filter(pk=site.pk).update(created_on=T0, updated_on=T0 + timedelta(days=1))
    legacy.ApiGatewayAdditionalRoute.objects.bulk_create(
        [
            legacy.ApiGatewayAdditionalRoute(
                api_gateway=site,
                name="Chat",
                route_key="chat",
                integration_url="https://www.example.com/ws/chat",
                deployed=True,
                route_id="r1",
                integration_id="i1",
            ),
            legacy.ApiGatewayAdditionalRoute(
                api_gateway=draft, name="News", route_key="news", integration_url="https://draft.example.com/ws/news"
            ),
            legacy.ApiGatewayAdditionalRoute(
                api_gateway=site, name="Bad", route_key="bad key!", integration_url="https://www.example.com/ws/x"
            ),
            legacy.ApiGatewayAdditionalRoute(
                api_gateway=plain, name="Plain", route_key="plain", integration_url="https://plain.example.com/ws/p"
            ),
        ]
    )
    legacy.WebSocketSession.objects.bulk_create(
        [
            legacy.WebSocketSession(
                connection_id="L0SM9cOFvHcCIhw=", channel_name="lobby", user=ada, api_gateway=site, request_count=7
            ),
            legacy.WebSocketSession(connection_id="gone1=", user=bob, api_gateway=site, connected=False),
            legacy.WebSocketSession(connection_id="orphan=", channel_name="x", api_gateway=None),
            legacy.WebSocketSession(connection_id="x" * 200, api_gateway=site),
            legacy.WebSocketSession(connection_id="plain1=", api_gateway=plain),
        ]
    )
    legacy.WebSocketSession.objects.filter(connection_id="L0SM9cOFvHcCIhw=").update(created_on=T0)
    legacy.WebSocketToken.generate_token(user=ada, session_key="s" * 32)
    legacy.ConnectionRateLimit.objects.bulk_create(
        [
            legacy.ConnectionRateLimit(ip_address="203.0.113.7", user=ada, successful=True),
            legacy.ConnectionRateLimit(ip_address="203.0.113.7", successful=False),
            legacy.ConnectionRateLimit(ip_address="2001:db8::1", user=bob, successful=False),
        ]
    )
    legacy.ConnectionRateLimit.objects.filter(user=ada).update(attempt_time=T0)
    legacy.ChannelPermission.objects.create(channel_name="staff", access="staff_only")


def main() -> None:
    call_command("migrate", verbosity=0)
    create_legacy_rows()
    report: dict[str, Any] = {}
    report["dry_run"] = run("--dry-run")
    report["after_dry_run"] = {
        "gateways": ours.ApiGateway.objects.count(),
        "sessions": ours.WebSocketSession.objects.count(),
        "attempts": ours.ConnectionRateLimit.objects.count(),
    }
    report["first_run"] = run()
    report["ours"] = {
        "gateways": rows(ours.ApiGateway),
        "routes": rows(ours.ApiGatewayAdditionalRoute),
        "sessions": rows(ours.WebSocketSession),
        "attempts": rows(ours.ConnectionRateLimit),
        "tokens": ours.WebSocketToken.objects.count(),
    }
    report["legacy"] = {
        "gateways": rows(legacy.ApiGateway),
        "routes": rows(legacy.ApiGatewayAdditionalRoute),
        "sessions": rows(legacy.WebSocketSession),
        "attempts": rows(legacy.ConnectionRateLimit),
    }
    report["second_run"] = run()
    report["ours_after_second_run"] = {
        "gateways": rows(ours.ApiGateway),
        "routes": rows(ours.ApiGatewayAdditionalRoute),
        "sessions": rows(ours.WebSocketSession),
        "attempts": rows(ours.ConnectionRateLimit),
    }
    json.dump(report, sys.stdout, default=str)


if __name__ == "__main__":
    main()
