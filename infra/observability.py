"""Structured logs and CloudWatch metrics for the Lambda entry points, through AWS Lambda Powertools.

Configured from the environment as Powertools documents it (POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_LOG_LEVEL, POWERTOOLS_METRICS_DISABLED). During an invocation every log
line, Django's included, carries the invocation kind, the Lambda request id and, for WebSocket events, the
connection id as correlation id. Metrics go out in CloudWatch's embedded metric format (EMF) on stdout. Every
line, this module's and Django's, goes through ``websockets_app.redaction``: no WebSocket token value is printed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from websockets_app.redaction import RedactingFormatterMixin

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "django-websockets"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "DjangoWebSockets"


class RedactingPowertoolsFormatter(RedactingFormatterMixin, LambdaPowertoolsFormatter):
    """The Powertools JSON formatter with token values redacted from the whole line (keys and extras included)."""


logger = Logger(service=SERVICE, logger_formatter=RedactingPowertoolsFormatter())
# The Powertools logger writes through its own handler; propagating to the root handler as well would print
# every line twice wherever the root handlers were configured after it.
logging.getLogger(SERVICE).propagate = False
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

# Per WebSocket event type: the metric counted when Django accepts it, and the one when it refuses it.
_WEBSOCKET_METRICS = {
    "CONNECT": ("Connects", "ConnectsRejected"),
    "MESSAGE": ("Messages", "MessagesRejected"),
    "DISCONNECT": ("Disconnects", "DisconnectsRejected"),
}

_cold_start = True


def escape_unencodable_output() -> None:
    """Write what stdout cannot encode as escapes instead of losing the line.

    Event fields can carry lone surrogates (JSON allows ``\ud800``); logging one would otherwise end in
    "--- Logging error ---" on stderr and the line would be gone.
    """
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")


def share_log_keys_with_django() -> None:
    """Let Django's JSON log lines carry the same per-invocation keys as this module's logger."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, LambdaPowertoolsFormatter):
            handler.setFormatter(logger.registered_formatter)


@contextmanager
def invocation(kind: str, context: Any, connection_id: str = "") -> Iterator[None]:
    """Wrap one Lambda invocation: log keys and correlation id in, metrics flushed out."""
    global _cold_start
    request_id = getattr(context, "aws_request_id", "") or ""
    logger.append_keys(invocation=kind, lambda_request_id=request_id, connection_id=connection_id or None)
    logger.set_correlation_id(connection_id or request_id or None)
    if _cold_start:
        _cold_start = False
        metrics.add_metric(name="ColdStart", unit=MetricUnit.Count, value=1)
    try:
        yield
    finally:
        if metrics.metric_set:
            metrics.flush_metrics()
        logger.remove_keys(["invocation", "lambda_request_id", "connection_id"])
        logger.set_correlation_id(None)


def record_websocket_event(event_type: str, route_key: str, status: int, duration_ms: float) -> None:
    accepted, rejected = _WEBSOCKET_METRICS.get(event_type, ("Messages", "MessagesRejected"))
    ok = 200 <= status < 300
    count = accepted if ok else rejected
    alone = _counted_alone()
    if not alone:
        metrics.add_metric(name=count, unit=MetricUnit.Count, value=1)
    _log_event(
        "WebSocket %s %s -> %s",
        (event_type, route_key, status),
        {"event_type": event_type, "route_key": route_key, "status": status, "duration_ms": duration_ms},
    )
    if alone:
        # Printed where flush_metrics would have printed it: after the event's log line, before the invocation ends.
        print(_count_document(count, int(time.time() * 1000)))


_powertools_logger = logging.getLogger(SERVICE)  # the standard logger the Powertools Logger writes through


def _log_event(message: str, args: tuple[Any, ...], extra: dict[str, Any]) -> None:
    """``logger.info(message, *args, extra=extra)``, called from the caller's own line.

    The record is the one the Powertools Logger hands its standard logger (this one buffers nothing), with the
    caller's location read from the caller's frame instead of by ``findCaller``'s walk up the stack; given with
    arguments rather than formatted, as the JSON formatter tries to decode an argument-less message as JSON.
    Kept over ``logger.info``, measured slower per event (docs/performance.md, the events benchmark): the same line.
    """
    if not _powertools_logger.isEnabledFor(logging.INFO):
        return
    if logging._srcfile:  # None when an application switched locations off, as logging documents
        caller = sys._getframe(1)
        where = (caller.f_code.co_filename, caller.f_lineno, caller.f_code.co_name)
    else:
        where = ("(unknown file)", 0, "(unknown function)")
    filename, line, function = where
    record = _powertools_logger.makeRecord(
        _powertools_logger.name, logging.INFO, filename, line, message, args, None, function, extra
    )
    _powertools_logger.handle(record)


_ALONE_UNLESS = ("POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_DEV")


def _counted_alone() -> bool:
    """Whether the event's count would be the only thing ``metrics`` flushes (no other metric, dimension,
    metadata or timestamp in the set), so that its EMF document can be printed from a template. Where
    Powertools' switches are set at all, Powertools decides (``is_metrics_disabled``)."""
    provider = metrics.provider
    if metrics.metric_set or metrics.metadata_set or not isinstance(provider, AmazonCloudWatchEMFProvider):
        return False
    if provider.dimension_sets or provider.timestamp is not None:
        return False
    dimensions = metrics.dimension_set
    if dimensions and (len(dimensions) > 1 or dimensions.get("service") != provider.service):
        return False
    return not any(name in os.environ for name in _ALONE_UNLESS)


_count_templates: dict[tuple[str, str | None, str | None], tuple[str, str]] = {}
_TIMESTAMP_MARK = 1234567890123


def _count_document(name: str, timestamp_ms: int) -> str:
    """The EMF document Powertools prints for ``name`` counted once and nothing else, at ``timestamp_ms``.

    Built by Powertools itself once per metric name, with a marked timestamp that is then replaced. Kept over
    ``add_metric`` and ``flush_metrics``, which validate, build the schema's dict and encode it for every event:
    measured in docs/performance.md (the events benchmark).
    """
    provider = metrics.provider
    key = (name, getattr(provider, "namespace", None), getattr(provider, "service", None))
    if key not in _count_templates:
        scratch = AmazonCloudWatchEMFProvider(namespace=key[1], service=key[2])
        scratch.add_metric(name=name, unit=MetricUnit.Count, value=1)
        scratch.timestamp = _TIMESTAMP_MARK  # set_timestamp would warn that it is not a recent time
        document = json.dumps(scratch.serialize_metric_set(), separators=(",", ":"))
        head, _, tail = document.partition(f'"Timestamp":{_TIMESTAMP_MARK}')
        _count_templates[key] = (head + '"Timestamp":', tail)
    head, tail = _count_templates[key]
    return f"{head}{timestamp_ms}{tail}"
