"""The app's data: API Gateway definitions, their extra routes, live connections, tokens and connect attempts."""

from __future__ import annotations

import hashlib
import importlib
import secrets
from datetime import datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Coalesce, Length
from django.db.models.lookups import Exact
from django.utils import timezone

from websockets_app.conf import ws_settings
from websockets_app.limits import (
    DEFAULT_ROUTE_SELECTION_EXPRESSION,
    MAX_CONNECTION_SECONDS,
    STAGE_NAME_MAX_LENGTH,
)
from websockets_app.validators import (
    lambda_arn_region,
    validate_certificate_arn,
    validate_domain_name,
    validate_hosted_zone_id,
    validate_https_url,
    validate_lambda_function_arn,
    validate_region,
    validate_route_key,
    validate_stage_name,
    validate_tags,
)

if TYPE_CHECKING:
    from websockets_app.messaging import SendResult

DEFAULT_STAGE_NAME = "production"


def get_messaging() -> ModuleType:
    """The send package, ``websockets_app.messaging``, imported on first use; every model method that sends goes
    through here.

    The package reads these models at its top (sessions and their gateways), so this is the one place the way back
    is taken, at call time: were models to import it at their top, each module would see the other half-imported.
    """
    return importlib.import_module("websockets_app.messaging")


class IntegrationType(models.TextChoices):
    HTTP_PROXY = "HTTP_PROXY", "HTTP_PROXY: Django served over HTTPS (anywhere)"
    AWS_PROXY = "AWS_PROXY", "AWS_PROXY: Django in an AWS Lambda function"


def generate_integration_secret() -> str:
    """A fresh per-gateway secret for HTTP integrations (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


class ApiGateway(models.Model):
    """One API Gateway WebSocket API (and stage) that this Django project serves."""

    api_name = models.CharField(max_length=255, unique=True)
    api_description = models.CharField(max_length=255, blank=True, default="")
    default_channel_name = models.CharField(
        max_length=128,
        blank=True,
        default="",
        help_text="Channel given to every connection that does not ask for one with ?channel=.",
    )
    domain_name = models.CharField(
        max_length=253,
        blank=True,
        default="",
        validators=[validate_domain_name],
        help_text="Custom domain for the WebSocket API, e.g. ws.example.com.",
    )
    integration_type = models.CharField(
        max_length=16,
        choices=IntegrationType.choices,
        default=IntegrationType.HTTP_PROXY,
        help_text="How API Gateway reaches Django: over HTTPS, or by invoking a Lambda function.",
    )
    target_base_endpoint = models.URLField(
        max_length=500,
        blank=True,
        default="",
        validators=[validate_https_url],
        help_text=(
            "HTTP integrations only: the URL of the WebSocket view without its route segment, "
            "e.g. https://www.example.com/ws/ (the route, such as 'connect', is appended)."
        ),
    )
    lambda_function_arn = models.CharField(
        max_length=256,
        blank=True,
        default="",
        validators=[validate_lambda_function_arn],
        help_text="AWS_PROXY integrations only: the function that serves the WebSocket view.",
    )
    certificate_arn = models.CharField(
        max_length=2048,
        blank=True,
        default="",
        validators=[validate_certificate_arn],
        help_text="ACM certificate for the custom domain (in the API's region).",
    )
    hosted_zone_id = models.CharField(
        max_length=32,
        blank=True,
        default="",
        validators=[validate_hosted_zone_id],
        help_text="Route 53 hosted zone of the custom domain; when given, its alias record is written too.",
    )
    api_key_selection_expression = models.CharField(max_length=255, default="$request.header.x-api-key")
    route_selection_expression = models.CharField(
        max_length=255,
        default=DEFAULT_ROUTE_SELECTION_EXPRESSION,
        help_text="If you change this, set route_selection_key on your WebSocketView to match.",
    )
    stage_name = models.CharField(
        max_length=STAGE_NAME_MAX_LENGTH,
        blank=True,
        default=DEFAULT_STAGE_NAME,
        validators=[validate_stage_name],
        help_text=f"Left blank, '{DEFAULT_STAGE_NAME}' is used. Letters, digits, '-' and '_'.",
    )
    stage_description = models.CharField(max_length=255, blank=True, default="")
    region = models.CharField(
        max_length=32,
        blank=True,
        default="",
        validators=[validate_region],
        help_text="AWS region of the API; blank means the configured region.",
    )
    tags = models.JSONField(
        blank=True, default=dict, validators=[validate_tags], help_text='Sent to AWS, e.g. {"team": "web"}.'
    )
    # An HTTP integration adds this to every request it forwards (see websockets_app.gateway); requests to the
    # WebSocket view that arrive over HTTP without it are refused. Never displayed.
    integration_secret = models.CharField(max_length=64, default=generate_integration_secret, editable=False)

    # Filled in from AWS's answers.
    api_id = models.CharField(max_length=32, blank=True, default="", help_text="Set by AWS when the API is created.")
    api_endpoint = models.CharField(max_length=255, blank=True, default="", help_text="wss:// URL of the API.")
    api_gateway_domain_name = models.CharField(
        max_length=255, blank=True, default="", help_text="Target for the custom domain's DNS record."
    )
    api_mapping_id = models.CharField(max_length=128, blank=True, default="")
    deployment_id = models.CharField(max_length=32, blank=True, default="", editable=False)
    # Each id is stored the moment AWS returns it, so a failed run leaves an exact record of what exists.
    builtin_route_ids = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text='Integration and route ids of $connect, $disconnect and $default: {"$connect": {...}}.',
    )
    stage_created = models.BooleanField(default=False, editable=False)
    lambda_permission_function_arn = models.CharField(
        max_length=256,
        blank=True,
        default="",
        editable=False,
        help_text="The function that currently allows this API to invoke it.",
    )
    api_gateway_hosted_zone_id = models.CharField(
        max_length=32, blank=True, default="", editable=False, help_text="Route 53 zone of the API Gateway domain."
    )
    alias_record_zone_id = models.CharField(
        max_length=32,
        blank=True,
        default="",
        editable=False,
        help_text="Hosted zone that holds the alias record written for the custom domain.",
    )
    api_created = models.BooleanField(default=False, editable=False)
    self_registered = models.BooleanField(
        default=False,
        editable=False,
        help_text="Registered from its first Lambda event: its AWS resources are managed outside Django (e.g. SAM).",
    )
    custom_domain_created = models.BooleanField(default=False, editable=False)
    provisioning_error = models.TextField(
        blank=True,
        default="",
        editable=False,
        help_text="Why the last provisioning run stopped; blank once one succeeds.",
    )
    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "API Gateway"
        ordering = ["api_name"]
        indexes = [
            models.Index(fields=["domain_name"], name="wsapp_gateway_domain_idx"),
            models.Index(fields=["api_created"], name="wsapp_gateway_created_idx"),
            models.Index(fields=["custom_domain_created"], name="wsapp_gateway_domain_ok_idx"),
            models.Index(fields=["created_on"], name="wsapp_gateway_created_on_idx"),
        ]
        constraints = [
            # One row per deployed API and stage; also indexes the (api_id, stage) lookup of every event.
            models.UniqueConstraint(
                fields=["api_id", "stage_name"], condition=~models.Q(api_id=""), name="wsapp_gateway_api_stage_uniq"
            ),
        ]

    def __str__(self) -> str:
        return self.api_name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.stage_name:
            self.stage_name = DEFAULT_STAGE_NAME
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "stage_name"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        if self.integration_type == IntegrationType.AWS_PROXY and not self.lambda_function_arn:
            raise ValidationError({"lambda_function_arn": "An AWS_PROXY integration needs the Lambda function ARN."})
        if self.integration_type == IntegrationType.HTTP_PROXY and not self.target_base_endpoint:
            raise ValidationError({"target_base_endpoint": "An HTTP_PROXY integration needs the target base endpoint."})
        if self.hosted_zone_id and not self.domain_name:
            raise ValidationError({"hosted_zone_id": "A hosted zone is only used with a custom domain name."})

    def integration_uri(self, route_key: str) -> str:
        """The HTTP integration URL for a route: ``$connect`` -> ``<target_base_endpoint>connect``, one slash."""
        if not self.target_base_endpoint:
            raise ValueError(f"API Gateway {self.api_name!r} has no target base endpoint.")
        return f"{self.target_base_endpoint.rstrip('/')}/{route_key.removeprefix('$')}"

    @property
    def effective_region(self) -> str:
        return self.region or ws_settings.region

    @property
    def lambda_integration_uri(self) -> str:
        """The AWS_PROXY integration URI that invokes ``lambda_function_arn``."""
        if not self.lambda_function_arn:
            raise ValueError(f"API Gateway {self.api_name!r} has no Lambda function ARN.")
        partition = self.lambda_function_arn.split(":")[1]
        region = self.effective_region or lambda_arn_region(self.lambda_function_arn)
        return (
            f"arn:{partition}:apigateway:{region}:lambda:path/2015-03-31/functions/"
            f"{self.lambda_function_arn}/invocations"
        )

    @property
    def management_endpoint_url(self) -> str:
        """Where server-to-client messages for this API are posted (never the custom domain)."""
        if ws_settings.MANAGEMENT_ENDPOINT_URL:
            return ws_settings.MANAGEMENT_ENDPOINT_URL
        if not self.api_id:
            raise ValueError(f"API Gateway {self.api_name!r} has no API id yet.")
        if not self.effective_region:
            raise ValueError(f"No AWS region is known for API Gateway {self.api_name!r}.")
        return f"https://{self.api_id}.execute-api.{self.effective_region}.amazonaws.com/{self.stage_name}"


class ApiGatewayAdditionalRoute(models.Model):
    """A custom route key (chosen by the route selection expression) with its own integration URL."""

    api_gateway = models.ForeignKey(ApiGateway, on_delete=models.CASCADE, related_name="additional_routes")
    name = models.CharField(max_length=63, help_text="A descriptive name for the route.")
    route_key = models.CharField(
        max_length=64, validators=[validate_route_key], help_text="The value of the selection key, e.g. 'chat'."
    )
    integration_url = models.URLField(
        max_length=500,
        blank=True,
        default="",
        validators=[validate_https_url],
        help_text=(
            "HTTP integrations only: the Django URL that handles this route. "
            "Blank means the gateway's target base endpoint followed by the route key."
        ),
    )
    integration_id = models.CharField(max_length=32, blank=True, default="", editable=False)
    route_id = models.CharField(max_length=32, blank=True, default="", editable=False)
    # The route's "$default" route response, which sends the handler's reply back to the client.
    route_response_id = models.CharField(max_length=32, blank=True, default="", editable=False)
    deployed = models.BooleanField(default=False, editable=False, help_text="Live in the API's stage.")
    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "API Gateway additional route"
        ordering = ["api_gateway_id", "route_key"]
        constraints = [
            models.UniqueConstraint(fields=["api_gateway", "route_key"], name="wsapp_route_gateway_key_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.route_key})"

    def target_url(self) -> str:
        """The URL an HTTP_PROXY integration forwards this route to."""
        return self.integration_url or self.api_gateway.integration_uri(self.route_key)


# API Gateway closes a WebSocket connection after MAX_CONNECTION_SECONDS; a row still "connected" past that is stale.


class WebSocketSessionQuerySet(models.QuerySet["WebSocketSession"]):
    def connected(self) -> WebSocketSessionQuerySet:
        return self.filter(connected=True)

    def disconnected(self) -> WebSocketSessionQuerySet:
        return self.filter(connected=False)

    def in_channel(self, channel_name: str) -> WebSocketSessionQuerySet:
        return self.filter(channel_name=channel_name)

    def older_than(self, seconds: int) -> WebSocketSessionQuerySet:
        return self.filter(created_on__lt=timezone.now() - timedelta(seconds=seconds))

    def stale(self, seconds: int = MAX_CONNECTION_SECONDS) -> WebSocketSessionQuerySet:
        """Rows still marked connected that were opened more than ``seconds`` ago (a missed ``$disconnect``)."""
        return self.connected().older_than(seconds)

    def record(self, session: WebSocketSession) -> None:
        """Insert a new connection's row in one INSERT; a repeated $connect (Lambda retries) finds the row already
        there and changes nothing."""
        self.bulk_create(
            [session], update_conflicts=True, unique_fields=["connection_id"], update_fields=["connection_id"]
        )

    def mark_disconnected(self) -> int:
        """Mark every connected row in the queryset as disconnected, in one UPDATE; returns the row count."""
        return self.filter(connected=True).update(connected=False, updated_on=timezone.now())

    def send_message(self, data: Any) -> SendResult:
        """Send ``data`` to the connected rows of this queryset (see ``websockets_app.messaging``)."""
        result: SendResult = get_messaging().send_to_queryset(self, data)
        return result


class WebSocketSession(models.Model):
    """One WebSocket connection held by API Gateway, and who opened it."""

    connection_id = models.CharField(max_length=128, unique=True)
    channel_name = models.CharField(
        max_length=128, blank=True, default="", help_text="Groups connections, e.g. a chat room."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="websocket_sessions",
    )
    connected = models.BooleanField(default=True, help_text="False once the client has gone.")
    api_gateway = models.ForeignKey(
        ApiGateway, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions"
    )
    request_count = models.PositiveBigIntegerField(default=1, help_text="Events seen, the $connect included.")
    # The message rate limit's current window: when it started and how many messages it has admitted. Both are
    # checked and written by the UPDATE that counts a message (websockets_app.message_queries).
    message_window_start = models.DateTimeField(null=True, blank=True, editable=False)
    message_window_count = models.PositiveIntegerField(default=0, editable=False)
    # Resumes this connection has asked for (websockets_app.messaging.replay); one conditional UPDATE counts and
    # limits them.
    resume_count = models.PositiveIntegerField(default=0, editable=False)
    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)

    objects = WebSocketSessionQuerySet.as_manager()

    class Meta:
        verbose_name = "WebSocket session"
        ordering = ["-created_on"]
        indexes = [
            models.Index(fields=["channel_name", "connected"], name="wsapp_session_channel_idx"),
            models.Index(fields=["connected", "created_on"], name="wsapp_session_age_idx"),
        ]

    def __str__(self) -> str:
        return self.connection_id

    def send_message(self, data: Any) -> SendResult:
        """Send ``data`` to this connection (see ``websockets_app.messaging``); a gone one is marked disconnected."""
        result: SendResult = get_messaging().send_to_sessions([self], data)
        return result


class WebSocketTokenQuerySet(models.QuerySet["WebSocketToken"]):
    def older_than(self, seconds: int) -> WebSocketTokenQuerySet:
        return self.filter(created_at__lt=timezone.now() - timedelta(seconds=seconds))


class WebSocketToken(models.Model):
    """A single-use ticket to open a WebSocket connection. Only the SHA-256 of the token is stored."""

    token_hash = models.CharField(
        max_length=64,
        unique=True,
        editable=False,
        validators=[RegexValidator(r"\A[0-9a-f]{64}\Z", "Not a SHA-256 hex digest.")],
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="websocket_tokens")
    session_key = models.CharField(max_length=40, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    used = models.BooleanField(default=False)

    objects = WebSocketTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "WebSocket token"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Exact(Length("token_hash"), 64), name="wsapp_token_hash_length"),
        ]

    def __str__(self) -> str:
        return self.preview

    @staticmethod
    def hash_token(raw_token: str) -> str:
        return hashlib.sha256(raw_token.encode()).hexdigest()

    @property
    def preview(self) -> str:
        """A prefix of the hash: enough to tell tokens apart, useless to an attacker."""
        return f"{self.token_hash[:10]}…"

    @property
    def expires_at(self) -> datetime:
        return self.created_at + timedelta(seconds=ws_settings.TOKEN_EXPIRY_SECONDS)


class ConnectionRateLimitQuerySet(models.QuerySet["ConnectionRateLimit"]):
    def older_than(self, days: int) -> ConnectionRateLimitQuerySet:
        """Buckets whose last attempt is more than ``days`` days old."""
        return self.filter(last_attempt__lt=timezone.now() - timedelta(days=days))

    def totals(self) -> dict[str, int]:
        """The successful and refused attempts of these buckets, summed."""
        sums = self.aggregate(successful=models.Sum("successful"), refused=models.Sum("refused"))
        return {name: value or 0 for name, value in sums.items()}


class ConnectionRateLimit(models.Model):
    """The connection attempts of one client (IP address, and user if any) within one time bucket.

    One row per client and bucket, whatever the number of attempts (``websockets_app.rate_limits``), so a flood
    costs storage by distinct clients and time, not by request.
    """

    ip_address = models.GenericIPAddressField(
        verbose_name="IP address",
        help_text="For IPv6, the first address of the client's network "
        "(WEBSOCKETS['CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH']).",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="connection_attempts",
        db_index=False,  # the (user, bucket_start) index serves lookups by user
    )
    bucket_start = models.DateTimeField(editable=False)
    # Not indexed: an attempt then updates its row in place (a HOT update on PostgreSQL), with no index entry.
    last_attempt = models.DateTimeField(default=timezone.now, editable=False)
    successful = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)

    objects = ConnectionRateLimitQuerySet.as_manager()

    class Meta:
        verbose_name = "connection attempts bucket"
        ordering = ["-last_attempt"]
        constraints = [
            # The row an attempt is counted in; also serves the per-IP count (ip_address, then a bucket_start range).
            # COALESCE: anonymous attempts (no user) share one row too.
            models.UniqueConstraint(
                models.F("ip_address"),
                models.F("bucket_start"),
                Coalesce(models.F("user"), 0),
                name="wsapp_attempt_bucket_uniq",
            ),
        ]
        indexes = [models.Index(fields=["user", "bucket_start"], name="wsapp_attempt_user_bucket_idx")]

    def __str__(self) -> str:
        return f"{self.ip_address} from {self.bucket_start:%Y-%m-%d %H:%M:%S}" if self.bucket_start else self.ip_address

    @property
    def attempts(self) -> int:
        return self.successful + self.refused


class ChannelSequence(models.Model):
    """The last sequence number given to a channel's replayable messages (``send_to_channel(..., replay=True)``)."""

    channel_name = models.CharField(max_length=128, primary_key=True)
    last_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = "channel sequence"

    def __str__(self) -> str:
        return f"{self.channel_name}: {self.last_seq}"


class ChannelMessageQuerySet(models.QuerySet["ChannelMessage"]):
    def in_channel(self, channel_name: str) -> ChannelMessageQuerySet:
        return self.filter(channel_name=channel_name)


class ChannelMessage(models.Model):
    """One replayable message as its connections received it: the encoded envelope, kept for resumes."""

    channel_name = models.CharField(max_length=128)
    seq = models.PositiveBigIntegerField()
    message_id = models.CharField(max_length=32)
    envelope = models.TextField(help_text="The JSON posted to the channel's connections.")
    created_on = models.DateTimeField(default=timezone.now)

    objects = ChannelMessageQuerySet.as_manager()

    class Meta:
        verbose_name = "channel message"
        ordering = ["channel_name", "seq"]
        constraints = [models.UniqueConstraint(fields=["channel_name", "seq"], name="wsapp_channel_message_seq")]
        indexes = [models.Index(fields=["created_on"], name="wsapp_channel_message_age_idx")]

    def __str__(self) -> str:
        return f"{self.channel_name} #{self.seq}"
