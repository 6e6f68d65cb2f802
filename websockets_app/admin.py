"""Admin pages for the five models. Tokens and connection attempts are read-only records of what happened."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from websockets_app import provisioning
from websockets_app.models import (
    ApiGateway,
    ApiGatewayAdditionalRoute,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
)

logger = logging.getLogger(__name__)

# Integration URLs typed without a scheme are taken as https (Django 6's default, chosen explicitly here).
HTTPS_URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


def user_search_fields() -> tuple[str, ...]:
    """Search fields through ``user`` for the user model in use: its USERNAME_FIELD, and its email field if any."""
    user_model = get_user_model()
    names = [user_model.USERNAME_FIELD]
    email_field = user_model.get_email_field_name()
    if email_field != user_model.USERNAME_FIELD and any(f.name == email_field for f in user_model._meta.fields):
        names.append(email_field)
    return tuple(f"user__{name}" for name in names)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the WebSocket flow: viewable and deletable, never created or edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ApiGatewayAdditionalRouteInline(admin.TabularInline):
    model = ApiGatewayAdditionalRoute
    extra = 0
    formfield_overrides = HTTPS_URL_FIELDS
    fields = ("name", "route_key", "integration_url", "deployed")
    readonly_fields = ("deployed",)


# Fields that record AWS's answers and the provisioning state; shown, never typed in.
SET_BY_AWS = (
    "api_id",
    "api_endpoint",
    "api_gateway_domain_name",
    "api_mapping_id",
    "deployment_id",
    "api_created",
    "custom_domain_created",
    "created_on",
    "updated_on",
)


@admin.register(ApiGateway)
class ApiGatewayAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URL_FIELDS
    list_display = (
        "api_name",
        "domain_name",
        "default_channel_name",
        "api_id",
        "api_endpoint",
        "api_gateway_domain_name",
        "api_created",
        "custom_domain_created",
        "created_on",
        "updated_on",
    )
    list_filter = ("api_created", "custom_domain_created")
    search_fields = ("api_name", "domain_name", "api_id")
    inlines = (ApiGatewayAdditionalRouteInline,)
    readonly_fields = SET_BY_AWS
    fieldsets = (
        (None, {"fields": ("api_name", "api_description", "default_channel_name", "target_base_endpoint")}),
        (
            "API settings",
            {
                "fields": (
                    "api_key_selection_expression",
                    "route_selection_expression",
                    "route_key",
                    "stage_name",
                    "stage_description",
                    "region",
                    "tags",
                )
            },
        ),
        ("Custom domain", {"fields": ("domain_name", "certificate_arn", "hosted_zone_id")}),
        ("Set by AWS", {"fields": SET_BY_AWS}),
    )
    actions = ("create_api_gateway", "create_custom_domain")

    def _provision_each(
        self,
        request: HttpRequest,
        queryset: QuerySet[ApiGateway],
        step: Callable[[ApiGateway], None],
        what: str,
    ) -> None:
        """Run one provisioning step per selected row and report every row's outcome on its own."""
        actor = request.user.get_username()
        for gateway in queryset:
            logger.info("%s: %s requested for %r (pk=%s)", actor, what, gateway.api_name, gateway.pk)
            try:
                step(gateway)
            except provisioning.ProvisioningError as exc:
                logger.warning("%s: %s failed for %r: %s", actor, what, gateway.api_name, exc)
                self.message_user(request, f"{what} failed for {gateway.api_name!r}: {exc}", messages.ERROR)
            else:
                logger.info("%s: %s succeeded for %r", actor, what, gateway.api_name)
                self.message_user(request, f"{what} succeeded for {gateway.api_name!r}.", messages.SUCCESS)

    @admin.action(description="Create API Gateway", permissions=["change"])
    def create_api_gateway(self, request: HttpRequest, queryset: QuerySet[ApiGateway]) -> None:
        self._provision_each(request, queryset, provisioning.create_api_gateway, "Create API Gateway")

    @admin.action(description="Create Custom Domain", permissions=["change"])
    def create_custom_domain(self, request: HttpRequest, queryset: QuerySet[ApiGateway]) -> None:
        self._provision_each(request, queryset, provisioning.create_custom_domain, "Create Custom Domain")


@admin.register(ApiGatewayAdditionalRoute)
class ApiGatewayAdditionalRouteAdmin(admin.ModelAdmin):
    formfield_overrides = HTTPS_URL_FIELDS
    list_display = ("name", "api_gateway", "route_key", "integration_url", "deployed")
    list_filter = ("api_gateway",)
    list_select_related = ("api_gateway",)
    search_fields = ("name", "route_key")
    readonly_fields = ("deployed", "created_on", "updated_on")


@admin.register(WebSocketSession)
class WebSocketSessionAdmin(admin.ModelAdmin):
    list_display = (
        "connection_id",
        "channel_name",
        "api_gateway",
        "user",
        "connected",
        "request_count",
        "created_on",
        "updated_on",
    )
    list_filter = ("connected", "channel_name")
    list_select_related = ("api_gateway", "user")
    search_fields = ("connection_id", "channel_name")
    readonly_fields = tuple(field.name for field in WebSocketSession._meta.fields if field.name != "id")
    actions = ("mark_disconnected",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Mark selected sessions as disconnected", permissions=["change"])
    def mark_disconnected(self, request: HttpRequest, queryset: QuerySet[WebSocketSession]) -> None:
        count = queryset.mark_disconnected()
        logger.info("%s: marked %d WebSocket sessions disconnected", request.user.get_username(), count)
        self.message_user(request, f"Marked {count} session(s) as disconnected.", messages.SUCCESS)


@admin.register(WebSocketToken)
class WebSocketTokenAdmin(ReadOnlyAdmin):
    list_display = ("preview", "user", "session_key_preview", "created_at", "used")
    list_filter = ("used", "created_at")
    list_select_related = ("user",)
    fields = ("preview", "user", "session_key_preview", "created_at", "used")
    readonly_fields = fields

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        # Session keys are matched exactly, never by substring, and are never displayed in full.
        return (*user_search_fields(), "=session_key")

    @admin.display(description="session key")
    def session_key_preview(self, obj: WebSocketToken) -> str:
        return f"{obj.session_key[:6]}…" if obj.session_key else "-"


@admin.register(ConnectionRateLimit)
class ConnectionRateLimitAdmin(ReadOnlyAdmin):
    list_display = ("ip_address", "user", "attempt_time", "successful")
    list_filter = ("successful", "attempt_time")
    list_select_related = ("user",)

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("ip_address", *user_search_fields())
