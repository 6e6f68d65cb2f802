"""Import an installation's data from the tables of django-aws-api-gateway-websockets (4.x) into this app's tables.

    manage.py importLegacyWebSockets --dry-run     # what a run would do; nothing is written
    manage.py importLegacyWebSockets

The original package need not be installed: its tables are read with plain SQL, so remove it from INSTALLED_APPS
and keep its tables until the import is done. Imported: API gateways and their additional routes, WebSocket sessions
(connected state kept) and the connection-attempt history. Not imported, and said so: WebSocket tokens (the
original stores them in plain text; they expire within a minute, and clients ask for new ones) and channel
permissions (this app has no such table).

Idempotent: rows are matched (gateways by name, else by API id and stage; routes by gateway and route key; sessions
by connection id; attempts by all their values), so a second run changes nothing. A row this app cannot hold (an
http:// target, a route key that is not a slug, an overlong connection id) is skipped and listed with the reason.
Each table is imported in one transaction; ``--dry-run`` runs everything in one transaction that is rolled back.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from websockets_app.conf import ws_settings
from websockets_app.limits import DEFAULT_ROUTE_SELECTION_EXPRESSION
from websockets_app.models import (
    DEFAULT_STAGE_NAME,
    ApiGateway,
    ApiGatewayAdditionalRoute,
    ConnectionRateLimit,
    IntegrationType,
    WebSocketSession,
)
from websockets_app.rate_limits import bucket_seconds, rate_limited_address
from websockets_app.validators import CHANNEL_NAME_COLUMN_LENGTH, is_valid_connection_id

LEGACY_APP = "django_aws_api_gateway_websockets"
# Each legacy table, by the names it has had (before the original's migration 0009 two of them had their own).
LEGACY_TABLES: dict[str, tuple[str, ...]] = {
    "gateways": (f"{LEGACY_APP}_apigateway",),
    "routes": (f"{LEGACY_APP}_apigatewayadditionalroute",),
    "sessions": (f"{LEGACY_APP}_websocketsession",),
    "attempts": (f"{LEGACY_APP}_connectionratelimit", "connection_rate_limits"),
    "tokens": (f"{LEGACY_APP}_websockettoken", "websocket_tokens"),
    "channel_permissions": (f"{LEGACY_APP}_channelpermission",),
}
# The legacy columns each import reads (older installations lack some; those take this app's defaults).
GATEWAY_COLUMNS = (
    "id",
    "api_name",
    "api_description",
    "default_channel_name",
    "domain_name",
    "target_base_endpoint",
    "certificate_arn",
    "hosted_zone_id",
    "api_key_selection_expression",
    "route_selection_expression",
    "stage_name",
    "stage_description",
    "deployment_id",
    "tags",
    "api_id",
    "api_endpoint",
    "api_gateway_domain_name",
    "api_mapping_id",
    "api_created",
    "custom_domain_created",
    "created_on",
    "updated_on",
)
ROUTE_COLUMNS = (
    "id",
    "api_gateway_id",
    "name",
    "route_key",
    "integration_url",
    "deployed",
    "route_id",
    "integration_id",
    "created_on",
    "updated_on",
)
SESSION_COLUMNS = (
    "id",
    "connection_id",
    "channel_name",
    "user_id",
    "connected",
    "api_gateway_id",
    "request_count",
    "created_on",
    "updated_on",
)
ATTEMPT_COLUMNS = ("id", "ip_address", "user_id", "attempt_time", "successful")
ATTEMPT_BATCH = 1000


@dataclass
class Bucket:
    """The legacy attempts that fall in one of this app's rate-limit buckets."""

    last_attempt: datetime
    successful: int = 0
    refused: int = 0

    def add(self, successful: bool, attempt_time: datetime) -> None:
        if successful:
            self.successful += 1
        else:
            self.refused += 1
        self.last_attempt = max(self.last_attempt, attempt_time)


@dataclass
class TableReport:
    """What one table's import did (or, in a dry run, would do)."""

    title: str
    counts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.counts[outcome]} {outcome}" for outcome in ("created", "updated", "unchanged", "skipped")]
        return f"{self.title}: {', '.join(parts)}"


class LegacyTables:
    """Plain-SQL reads of the original package's tables on one database."""

    def __init__(self, alias: str) -> None:
        self.connection = connections[alias]
        with self.connection.cursor() as cursor:
            present = set(self.connection.introspection.table_names(cursor))
        self.names = {
            kind: next((name for name in names if name in present), None) for kind, names in LEGACY_TABLES.items()
        }

    def found(self) -> bool:
        return self.names["gateways"] is not None

    def count(self, kind: str) -> int:
        table = self.names[kind]
        if table is None:
            return 0
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self.connection.ops.quote_name(table)}")  # noqa: S608 (a known name)
            return int(cursor.fetchone()[0])

    def rows(self, kind: str, columns: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        table = self.names[kind]
        if table is None:
            return
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            present = {column.name for column in self.connection.introspection.get_table_description(cursor, table)}
            wanted = [column for column in columns if column in present]
            cursor.execute(
                f"SELECT {', '.join(quote(c) for c in wanted)} FROM {quote(table)} ORDER BY {quote('id')}"  # noqa: S608
            )
            while batch := cursor.fetchmany(ATTEMPT_BATCH):
                for values in batch:
                    yield dict(zip(wanted, values, strict=True))


def as_datetime(value: Any) -> datetime | None:
    """A legacy timestamp as an aware datetime (SQLite hands back naive UTC datetimes or text)."""
    if value is None or value == "":
        return None
    moment: datetime | None = parse_datetime(value) if isinstance(value, str) else value
    if moment is None:
        return None
    if settings.USE_TZ and timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def as_json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def text(value: Any) -> str:
    return "" if value is None else str(value)


def reasons(exc: ValidationError) -> str:
    # Field names and our validators' messages; a validator never repeats the value.
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{name}: {' '.join(errors)}" for name, errors in exc.message_dict.items())
    return " ".join(exc.messages)


def upsert(
    instance: models.Model | None,
    model: type[models.Model],
    values: dict[str, Any],
    timestamps: dict[str, Any],
    *,
    validate: bool,
) -> tuple[str, models.Model]:
    """Create or update one row so it holds ``values`` and the legacy ``timestamps``; ValidationError if it cannot.

    The timestamps are written by an UPDATE, because auto_now_add/auto_now would replace them on save.
    """
    timestamps = {name: value for name, value in timestamps.items() if value is not None}
    if instance is not None:
        wanted = {**values, **timestamps}
        if all(getattr(instance, name) == value for name, value in wanted.items()):
            return "unchanged", instance
        outcome = "updated"
    else:
        instance = model()
        outcome = "created"
    for name, value in values.items():
        setattr(instance, name, value)
    if validate:
        instance.full_clean()
    instance.save()
    if timestamps:
        model._default_manager.filter(pk=instance.pk).update(**timestamps)
        for name, value in timestamps.items():
            setattr(instance, name, value)
    return outcome, instance


class Command(BaseCommand):
    help = "Import API gateways, routes, sessions and connection attempts from django-aws-api-gateway-websockets."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Show what would be imported; write nothing.")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="The database holding both apps' tables.")

    def handle(self, *args: Any, dry_run: bool = False, database: str = DEFAULT_DB_ALIAS, **options: Any) -> None:
        self.alias = database
        self.dry_run = dry_run
        self.verbose = dry_run or options.get("verbosity", 1) >= 2
        legacy = LegacyTables(database)
        if not legacy.found():
            raise CommandError(
                f"No tables of {LEGACY_APP} were found in the {database!r} database; nothing was imported."
            )
        self.gateway_pks: dict[int, int] = {}  # legacy id -> this app's id
        if dry_run:
            self.stdout.write("Dry run: the changes below are rolled back; nothing is written.")
            with transaction.atomic(using=database):
                reports = self.import_all(legacy)
                transaction.set_rollback(True, using=database)
        else:
            reports = self.import_all(legacy)
        for report in reports:
            for note in report.notes:
                self.stdout.write(f"  {report.title}: {note}")
        for report in reports:
            self.stdout.write(report.summary())
        tokens, permissions = legacy.count("tokens"), legacy.count("channel_permissions")
        self.stdout.write(
            f"WebSocket tokens: {tokens} not copied (the original stores them in plain text and they expire within "
            "a minute by design; clients request new ones from WebSocketTokenView)."
        )
        if permissions:
            self.stdout.write(
                f"Channel permissions: {permissions} not imported (this app has no channel permission table; enforce "
                "them in the view's connect() or with permissions_required / @handler_permissions)."
            )
        self.stdout.write(
            "Next: run 'Update API Gateway' (admin) or updateApiGateway on every imported gateway that exists in "
            "AWS, so its integrations send this app's secret and context headers; until then its events are refused."
        )

    def import_all(self, legacy: LegacyTables) -> list[TableReport]:
        steps = (
            ("API gateways", self.import_gateways),
            ("Additional routes", self.import_routes),
            ("WebSocket sessions", self.import_sessions),
            ("Connection attempts", self.import_attempts),
        )
        reports = []
        for title, step in steps:
            report = TableReport(title)
            with transaction.atomic(using=self.alias):  # one transaction per table
                step(legacy, report)
            reports.append(report)
        return reports

    def note(self, report: TableReport, outcome: str, what: str, detail: str = "") -> None:
        report.counts[outcome] += 1
        if outcome == "skipped" or (self.verbose and outcome != "unchanged"):
            report.notes.append(f"{outcome} {what}" + (f" ({detail})" if detail else ""))

    # -- the tables --------------------------------------------------------------------------------------------------

    def import_gateways(self, legacy: LegacyTables, report: TableReport) -> None:
        for row in legacy.rows("gateways", GATEWAY_COLUMNS):
            name = text(row["api_name"])
            api_id, stage = text(row.get("api_id")), text(row.get("stage_name")) or DEFAULT_STAGE_NAME
            values = {
                "api_name": name,
                "api_description": text(row.get("api_description")),
                "default_channel_name": text(row.get("default_channel_name")),
                "domain_name": text(row.get("domain_name")),
                # The original only ever made HTTP integrations.
                "integration_type": IntegrationType.HTTP_PROXY,
                "target_base_endpoint": text(row.get("target_base_endpoint")),
                "certificate_arn": text(row.get("certificate_arn")),
                "hosted_zone_id": text(row.get("hosted_zone_id")),
                "api_key_selection_expression": text(row.get("api_key_selection_expression"))
                or "$request.header.x-api-key",
                "route_selection_expression": text(row.get("route_selection_expression"))
                or DEFAULT_ROUTE_SELECTION_EXPRESSION,
                "stage_name": stage,
                "stage_description": text(row.get("stage_description")),
                "tags": as_json_object(row.get("tags")),
                "api_id": api_id,
                "api_endpoint": text(row.get("api_endpoint")),
                "api_gateway_domain_name": text(row.get("api_gateway_domain_name")),
                "api_mapping_id": text(row.get("api_mapping_id")),
                "deployment_id": text(row.get("deployment_id")),
                "api_created": bool(row.get("api_created")),
                # The original creates the stage together with the API.
                "stage_created": bool(row.get("api_created")),
                "custom_domain_created": bool(row.get("custom_domain_created")),
            }
            timestamps = {
                "created_on": as_datetime(row.get("created_on")),
                "updated_on": as_datetime(row.get("updated_on")),
            }
            existing = ApiGateway.objects.using(self.alias).filter(api_name=name).first()
            if existing is None and api_id:
                existing = ApiGateway.objects.using(self.alias).filter(api_id=api_id, stage_name=stage).first()
            try:
                with transaction.atomic(using=self.alias):
                    outcome, gateway = upsert(existing, ApiGateway, values, timestamps, validate=True)
            except ValidationError as exc:
                self.note(report, "skipped", f"gateway {name!r}", reasons(exc))
                continue
            self.gateway_pks[row["id"]] = gateway.pk
            self.note(report, outcome, f"gateway {name!r}", "a new integration secret" if outcome == "created" else "")

    def import_routes(self, legacy: LegacyTables, report: TableReport) -> None:
        for row in legacy.rows("routes", ROUTE_COLUMNS):
            key, what = text(row["route_key"]), f"route {text(row['route_key'])!r}"
            gateway_pk = self.gateway_pks.get(row["api_gateway_id"])
            if gateway_pk is None:
                self.note(report, "skipped", what, "its API gateway was not imported")
                continue
            values = {
                "api_gateway_id": gateway_pk,
                "name": text(row.get("name"))[:63],
                "route_key": key,
                "integration_url": text(row.get("integration_url")),
                "integration_id": text(row.get("integration_id")),
                "route_id": text(row.get("route_id")),
                "deployed": bool(row.get("deployed")),
            }
            timestamps = {
                "created_on": as_datetime(row.get("created_on")),
                "updated_on": as_datetime(row.get("updated_on")),
            }
            existing = (
                ApiGatewayAdditionalRoute.objects.using(self.alias)
                .filter(api_gateway_id=gateway_pk, route_key=key)
                .first()
            )
            try:
                with transaction.atomic(using=self.alias):
                    outcome, _ = upsert(existing, ApiGatewayAdditionalRoute, values, timestamps, validate=True)
            except ValidationError as exc:
                self.note(report, "skipped", what, reasons(exc))
                continue
            self.note(report, outcome, what)

    def import_sessions(self, legacy: LegacyTables, report: TableReport) -> None:
        for row in legacy.rows("sessions", SESSION_COLUMNS):
            connection_id = text(row["connection_id"])
            if not is_valid_connection_id(connection_id):
                self.note(report, "skipped", f"session {row['id']}", "not an API Gateway connection id")
                continue
            what = f"session {connection_id}"
            legacy_gateway = row.get("api_gateway_id")
            gateway_pk = self.gateway_pks.get(legacy_gateway) if legacy_gateway is not None else None
            if legacy_gateway is not None and gateway_pk is None:
                self.note(report, "skipped", what, "its API gateway was not imported")
                continue
            channel = text(row.get("channel_name"))
            if len(channel) > CHANNEL_NAME_COLUMN_LENGTH:
                self.note(report, "skipped", what, "channel name longer than 128 characters")
                continue
            values = {
                "channel_name": channel,
                "user_id": row.get("user_id"),
                "connected": bool(row.get("connected")),
                "api_gateway_id": gateway_pk,
                "request_count": int(row.get("request_count") or 1),
                "connection_id": connection_id,
            }
            timestamps = {
                "created_on": as_datetime(row.get("created_on")),
                "updated_on": as_datetime(row.get("updated_on")),
            }
            existing = WebSocketSession.objects.using(self.alias).filter(connection_id=connection_id).first()
            outcome, _ = upsert(existing, WebSocketSession, values, timestamps, validate=False)
            self.note(report, outcome, what)

    def import_attempts(self, legacy: LegacyTables, report: TableReport) -> None:
        """The history of connection attempts, folded into this app's counters as if they had been counted live: one
        row per counted address (an IPv6 client by its network), user and bucket of a tenth of
        ``CONNECT_RATE_LIMIT_WINDOW_SECONDS``. A bucket row already here is raised to the legacy counts, never past
        them, so a second run changes nothing. Counts in the report are bucket rows, not attempts."""
        length = bucket_seconds(ws_settings.CONNECT_RATE_LIMIT_WINDOW_SECONDS)
        buckets: dict[tuple[str, Any, datetime], Bucket] = {}
        for row in legacy.rows("attempts", ATTEMPT_COLUMNS):
            attempt_time = as_datetime(row.get("attempt_time"))
            if attempt_time is None:
                self.note(report, "skipped", f"attempt {row['id']}", "no attempt time")
                continue
            try:
                address = rate_limited_address(text(row["ip_address"]))
            except ValueError:
                self.note(report, "skipped", f"attempt {row['id']}", "not an IP address")
                continue
            epoch = int(attempt_time.timestamp())
            bucket_start = datetime.fromtimestamp(epoch - epoch % length, tz=UTC)
            bucket = buckets.setdefault((address, row.get("user_id"), bucket_start), Bucket(last_attempt=attempt_time))
            bucket.add(bool(row.get("successful")), attempt_time)
        manager = ConnectionRateLimit.objects.using(self.alias)
        for (address, user_id, bucket_start), bucket in buckets.items():
            what = f"attempts of {address} from {bucket_start:%Y-%m-%d %H:%M:%S}"
            existing = manager.filter(ip_address=address, user_id=user_id, bucket_start=bucket_start).first()
            if existing is None:
                manager.create(
                    ip_address=address,
                    user_id=user_id,
                    bucket_start=bucket_start,
                    last_attempt=bucket.last_attempt,
                    successful=bucket.successful,
                    refused=bucket.refused,
                )
                self.note(report, "created", what)
            elif existing.successful >= bucket.successful and existing.refused >= bucket.refused:
                self.note(report, "unchanged", what)
            else:
                manager.filter(pk=existing.pk).update(
                    successful=max(existing.successful, bucket.successful),
                    refused=max(existing.refused, bucket.refused),
                    last_attempt=max(existing.last_attempt, bucket.last_attempt),
                )
                self.note(report, "updated", what)
