"""Admin pages for the five models. Tokens and connection attempts are read-only records of what happened."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.template.response import TemplateResponse

from websockets_app import provisioning
from websockets_app.models import (
    ApiGateway,
    ApiGatewayAdditionalRoute,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
)
from websockets_app.presence import Presence

if TYPE_CHECKING:
    from websockets_app.models import WebSocketSessionQuerySet

    # django-stubs make the admin classes generic in their model; Django's own take no type parameter at run time.
    _AnyModelAdmin = admin.ModelAdmin[Any]
    _ApiGatewayModelAdmin = admin.ModelAdmin[ApiGateway]
    _RouteModelAdmin = admin.ModelAdmin[ApiGatewayAdditionalRoute]
    _RouteTabularInline = admin.TabularInline[ApiGatewayAdditionalRoute, ApiGateway]
    _SessionModelAdmin = admin.ModelAdmin[WebSocketSession]
else:
    _AnyModelAdmin = _ApiGatewayModelAdmin = _RouteModelAdmin = _SessionModelAdmin = admin.ModelAdmin
    _RouteTabularInline = admin.TabularInline

logger = logging.getLogger(__name__)

# Integration URLs typed without a scheme are taken as https (Django 6's default, chosen explicitly here).
HTTPS_URL_FIELDS: Mapping[type[models.Field[Any, Any]], Mapping[str, Any]] = {
    models.URLField: {"assume_scheme": "https"}
}


def user_search_fields() -> tuple[str, ...]:
    """Search fields through ``user`` for the user model in use: its USERNAME_FIELD, and its email field if any."""
    user_model = get_user_model()
    names = [user_model.USERNAME_FIELD]
    email_field = user_model.get_email_field_name()
    if email_field != user_model.USERNAME_FIELD and any(f.name == email_field for f in user_model._meta.fields):
        names.append(email_field)
    return tuple(f"user__{name}" for name in names)


class ReadOnlyAdmin(_AnyModelAdmin):
    """Records written by the WebSocket flow: viewable and deletable, never created or edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def sync_routes_after_commit(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    saved: Sequence[ApiGatewayAdditionalRoute],
    deleted: Sequence[ApiGatewayAdditionalRoute],
) -> None:
    """Once the rows are committed, deploy the saved routes and delete the deleted ones in AWS, each reported.

    Only routes of an API that has been created are sent; the others go out with Create API Gateway. A route whose
    AWS deletion fails is removed by the next Update API Gateway, which deletes every route no row describes.
    """
    saved = [route for route in saved if route.api_gateway.api_created]
    deleted = [route for route in deleted if route.api_gateway.api_created and (route.route_id or route.integration_id)]
    if not (saved or deleted):
        return
    actor = request.user.get_username()

    def run(step: Callable[[ApiGatewayAdditionalRoute], object], route: ApiGatewayAdditionalRoute, what: str) -> None:
        name = f"route {route.route_key!r} of {route.api_gateway.api_name!r}"
        logger.info("%s: %s requested for %s", actor, what, name)
        try:
            step(route)
        except provisioning.ProvisioningError as exc:
            logger.warning("%s: %s failed for %s: %s", actor, what, name, exc)
            hint = " Update API Gateway removes it." if step is provisioning.delete_route else ""
            model_admin.message_user(request, f"{what} failed for {name}: {exc}.{hint}", messages.ERROR)
        except Exception as exc:
            # A bug or an outage, not an AWS refusal: this route's failure, never the other routes' (or a 500).
            log_unexpected(route.api_gateway, exc, "%s: %s failed unexpectedly for %s", actor, what, name)
            model_admin.message_user(request, f"{what} failed for {name}: {unexpected(exc)}.", messages.ERROR)
        else:
            logger.info("%s: %s succeeded for %s", actor, what, name)
            model_admin.message_user(request, f"{what} succeeded for {name}.", messages.SUCCESS)

    def sync() -> None:
        for route in deleted:
            run(provisioning.delete_route, route, "Delete route from AWS")
        for route in saved:
            run(provisioning.deploy_route, route, "Deploy route")

    transaction.on_commit(sync)


def unexpected(exc: Exception, *, details: bool = True) -> str:
    """What an operator is told about an unexpected error: its class only (its message may carry a secret)."""
    text = f"unexpected error ({type(exc).__name__})"
    return f"{text}; the server log has the details" if details else text


def log_unexpected(gateway: ApiGateway, exc: Exception, message: str, *args: object) -> None:
    """Log the error with its traceback, the gateway's integration secret masked (a message may carry it)."""
    details = "".join(traceback.format_exception(exc))
    if gateway.integration_secret:
        details = details.replace(gateway.integration_secret, "[secret]")
    logger.error(f"{message}\n%s", *args, details)


def record_unexpected_failure(gateway: ApiGateway, reason: str) -> None:
    """Show the failure on the row, as a provisioning error is; a failure to record it is only logged."""
    try:
        ApiGateway.objects.filter(pk=gateway.pk).update(provisioning_error=reason)
    except Exception:
        logger.exception("Could not record the failure on %r", gateway.api_name)


ROUTE_SET_BY_AWS = ("deployed", "integration_id", "route_id")


class ApiGatewayAdditionalRouteInline(_RouteTabularInline):
    model = ApiGatewayAdditionalRoute
    extra = 0
    formfield_overrides = HTTPS_URL_FIELDS
    fields = ("name", "route_key", "integration_url", *ROUTE_SET_BY_AWS)
    readonly_fields = ROUTE_SET_BY_AWS


# Fields that record AWS's answers and the provisioning state; shown, never typed in.
SET_BY_AWS = (
    "api_id",
    "api_endpoint",
    "api_gateway_domain_name",
    "api_gateway_hosted_zone_id",
    "api_mapping_id",
    "alias_record_zone_id",
    "builtin_route_ids",
    "lambda_permission_function_arn",
    "stage_created",
    "deployment_id",
    "api_created",
    "custom_domain_created",
    "provisioning_error",
    "created_on",
    "updated_on",
)


@admin.register(ApiGateway)
class ApiGatewayAdmin(_ApiGatewayModelAdmin):
    formfield_overrides = HTTPS_URL_FIELDS
    list_display = (
        "api_name",
        "integration_type",
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
    list_filter = ("api_created", "custom_domain_created", "integration_type")
    search_fields = ("api_name", "domain_name", "api_id")
    inlines = (ApiGatewayAdditionalRouteInline,)
    fieldsets = (
        (None, {"fields": ("api_name", "api_description", "default_channel_name")}),
        ("Integration", {"fields": ("integration_type", "target_base_endpoint", "lambda_function_arn")}),
        (
            "API settings",
            {
                "fields": (
                    "api_key_selection_expression",
                    "route_selection_expression",
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
    actions = ("create_api_gateway", "create_custom_domain", "update_api_gateway", "delete_api_gateway")
    delete_from_aws_template = "admin/websockets_app/apigateway/delete_from_aws.html"

    def get_readonly_fields(self, request: HttpRequest, obj: ApiGateway | None = None) -> tuple[str, ...]:
        # The stage and the domain name identify AWS resources once these exist: renaming them would orphan them.
        locked = []
        if obj is not None and obj.stage_created:
            locked.append("stage_name")
        if obj is not None and obj.api_gateway_domain_name:
            locked.append("domain_name")
        return (*locked, *SET_BY_AWS)

    def save_formset(
        self,
        request: HttpRequest,
        form: ModelForm[ApiGateway],
        formset: BaseInlineFormSet[Any, ApiGateway, Any],
        change: bool,
    ) -> None:
        if formset.model is not ApiGatewayAdditionalRoute:
            super().save_formset(request, form, formset, change)
            return
        saved = formset.save(commit=False)  # the new and changed rows
        for route in saved:
            route.deployed = False  # until AWS has the change
            route.save()
        for route in formset.deleted_objects:
            route.delete()
        formset.save_m2m()
        sync_routes_after_commit(self, request, saved, formset.deleted_objects)

    def _provision_each(
        self,
        request: HttpRequest,
        queryset: QuerySet[ApiGateway],
        step: Callable[[ApiGateway], list[str]],
        what: str,
    ) -> None:
        """Run one provisioning step per selected row and report every row's outcome on its own."""
        actor = request.user.get_username()
        for gateway in queryset:
            logger.info("%s: %s requested for %r (pk=%s)", actor, what, gateway.api_name, gateway.pk)
            try:
                steps = step(gateway)
            except provisioning.ProvisioningError as exc:
                logger.warning("%s: %s failed for %r: %s", actor, what, gateway.api_name, exc)
                self.message_user(request, f"{what} failed for {gateway.api_name!r}: {exc}", messages.ERROR)
            except Exception as exc:
                # A bug or an outage, not an AWS refusal: reported on this row, and the next rows still run.
                log_unexpected(gateway, exc, "%s: %s failed unexpectedly for %r", actor, what, gateway.api_name)
                self.message_user(request, f"{what} failed for {gateway.api_name!r}: {unexpected(exc)}", messages.ERROR)
                record_unexpected_failure(gateway, f"{what}: {unexpected(exc, details=False)}")
            else:
                logger.info("%s: %s succeeded for %r: %s", actor, what, gateway.api_name, "; ".join(steps or ()))
                self.message_user(request, f"{what} succeeded for {gateway.api_name!r}.", messages.SUCCESS)

    @admin.action(description="Create API Gateway", permissions=["change"])
    def create_api_gateway(self, request: HttpRequest, queryset: QuerySet[ApiGateway]) -> None:
        self._provision_each(request, queryset, provisioning.create_api_gateway, "Create API Gateway")

    @admin.action(description="Create Custom Domain", permissions=["change"])
    def create_custom_domain(self, request: HttpRequest, queryset: QuerySet[ApiGateway]) -> None:
        self._provision_each(request, queryset, provisioning.create_custom_domain, "Create Custom Domain")

    @admin.action(description="Update API Gateway (send changes to AWS)", permissions=["change"])
    def update_api_gateway(self, request: HttpRequest, queryset: QuerySet[ApiGateway]) -> None:
        self._provision_each(request, queryset, provisioning.update_api_gateway, "Update API Gateway")

    @admin.action(description="Delete from AWS", permissions=["delete"])  # as destructive as deleting the row
    def delete_api_gateway(self, request: HttpRequest, queryset: QuerySet[ApiGateway]) -> TemplateResponse | None:
        # Destructive and irreversible in AWS, so confirmed on a page of its own first, like Django's delete action.
        if request.POST.get("post") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Delete these API Gateways from AWS?",
                "opts": self.model._meta,
                "gateways": queryset,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, self.delete_from_aws_template, context)
        self._provision_each(request, queryset, provisioning.delete_api_gateway, "Delete API Gateway")
        return None


@admin.register(ApiGatewayAdditionalRoute)
class ApiGatewayAdditionalRouteAdmin(_RouteModelAdmin):
    formfield_overrides = HTTPS_URL_FIELDS
    list_display = ("name", "api_gateway", "route_key", "integration_url", "deployed")
    list_filter = ("api_gateway",)
    list_select_related = ("api_gateway",)
    search_fields = ("name", "route_key")
    readonly_fields = (*ROUTE_SET_BY_AWS, "created_on", "updated_on")

    def save_model(
        self,
        request: HttpRequest,
        obj: ApiGatewayAdditionalRoute,
        form: ModelForm[ApiGatewayAdditionalRoute],
        change: bool,
    ) -> None:
        if form.has_changed():
            obj.deployed = False  # until AWS has the change
        super().save_model(request, obj, form, change)
        if form.has_changed():
            sync_routes_after_commit(self, request, [obj], [])

    def delete_model(self, request: HttpRequest, obj: ApiGatewayAdditionalRoute) -> None:
        super().delete_model(request, obj)
        sync_routes_after_commit(self, request, [], [obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ApiGatewayAdditionalRoute]) -> None:
        routes = list(queryset.select_related("api_gateway"))
        super().delete_queryset(request, queryset)
        sync_routes_after_commit(self, request, [], routes)


@admin.register(WebSocketSession)
class WebSocketSessionAdmin(_SessionModelAdmin):
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
    actions = ("mark_disconnected", "show_presence")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Show who is connected to the selected sessions' channels")
    def show_presence(self, request: HttpRequest, queryset: QuerySet[WebSocketSession]) -> None:
        from websockets_app.presence import present_in

        channels = sorted(set(queryset.exclude(channel_name="").values_list("channel_name", flat=True)))
        if not channels:
            self.message_user(request, "The selected sessions have no channel.", messages.WARNING)
        for channel in channels[:PRESENCE_CHANNELS_SHOWN]:
            self.message_user(request, describe_presence(present_in(channel)), messages.INFO)
        if len(channels) > PRESENCE_CHANNELS_SHOWN:
            more = len(channels) - PRESENCE_CHANNELS_SHOWN
            self.message_user(request, f"... and {more} more channel(s); select fewer.", messages.WARNING)

    @admin.action(description="Mark selected sessions as disconnected", permissions=["change"])
    def mark_disconnected(self, request: HttpRequest, queryset: WebSocketSessionQuerySet) -> None:
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


class HasRefusedFilter(admin.SimpleListFilter):
    title = "refused attempts"
    parameter_name = "has_refused"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("yes", "Some"), ("no", "None")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ConnectionRateLimit]) -> QuerySet[ConnectionRateLimit]:
        if self.value() == "yes":
            return queryset.filter(refused__gt=0)
        if self.value() == "no":
            return queryset.filter(refused=0)
        return queryset


class HasUserFilter(admin.SimpleListFilter):
    title = "user"
    parameter_name = "has_user"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("yes", "Signed in"), ("no", "Anonymous")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ConnectionRateLimit]) -> QuerySet[ConnectionRateLimit]:
        if self.value() in ("yes", "no"):
            return queryset.filter(user__isnull=self.value() == "no")
        return queryset


@admin.register(ConnectionRateLimit)
class ConnectionRateLimitAdmin(ReadOnlyAdmin):
    """One row per client (IP address or IPv6 network, and user) and time bucket, with its attempt counts."""

    list_display = ("ip_address", "user", "bucket_start", "last_attempt", "attempts", "successful", "refused")
    list_filter = (HasRefusedFilter, HasUserFilter, "bucket_start")
    list_select_related = ("user",)
    fields = ("ip_address", "user", "bucket_start", "last_attempt", "successful", "refused")
    readonly_fields = fields

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("ip_address", *user_search_fields())

    @admin.display(description="attempts")
    def attempts(self, obj: ConnectionRateLimit) -> int:
        return obj.attempts


# Most channels the "Show who is connected" action reports at once (one query and one message line each).
PRESENCE_CHANNELS_SHOWN = 20


def describe_presence(presence: Presence) -> str:
    """One line for the admin: who is connected to a channel (websockets_app.presence)."""
    names = ", ".join(user.name for user in presence.users) or "no signed-in user"
    return f"{presence.channel}: {names}; {presence.anonymous} anonymous connection(s)."
