"""Structured logs and CloudWatch metrics for the Lambda entry points, through AWS Lambda Powertools.

Configured from the environment as Powertools documents it (POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_LOG_LEVEL, POWERTOOLS_METRICS_DISABLED). During an invocation every log
line, Django's included, carries the invocation kind, the Lambda request id and, for WebSocket events, the
connection id as correlation id. Metrics go out in CloudWatch's embedded metric format (EMF) on stdout; a WebSocket
event's details (type, route, status, duration) ride in the document that counts it. Every line, this module's and
Django's, goes through ``websockets_app.redaction``: no WebSocket token value is printed.
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
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from websockets_app.redaction import RedactingFormatterMixin, redact

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


# The keys ``invocation`` adds to every log line of the current invocation, which its event's details carry too.
_invocation_keys: dict[str, str | None] = {}


@contextmanager
def invocation(kind: str, context: Any, connection_id: str = "") -> Iterator[None]:
    """Wrap one Lambda invocation: log keys and correlation id in, metrics flushed out."""
    global _cold_start
    request_id = getattr(context, "aws_request_id", "") or ""
    correlation_id = connection_id or request_id or None
    keys = {"invocation": kind, "lambda_request_id": request_id, "connection_id": connection_id or None}
    logger.append_keys(**keys)
    logger.set_correlation_id(correlation_id)
    _invocation_keys.update(keys, correlation_id=correlation_id)
    if _cold_start:
        _cold_start = False
        metrics.add_metric(name="ColdStart", unit=MetricUnit.Count, value=1)
    try:
        yield
    finally:
        if metrics.metric_set:
            metrics.flush_metrics()
        logger.remove_keys(list(keys))
        logger.set_correlation_id(None)
        _invocation_keys.clear()


def record_websocket_event(event_type: str, route_key: str, status: int, duration_ms: float) -> None:
    """Count the event and record its details (type, route, status, duration) in one line.

    The details ride in the EMF document that counts the event, as metadata (searchable in CloudWatch Logs
    Insights under the same names as a log line's keys, not a metric dimension), with the invocation's keys and a
    ``message`` as the log line would have: one line per event instead of a log line and a metric document, which
    costs a message less CPU (docs/performance.md, the events benchmark). While metrics are disabled, no document
    is printed, so the details are the event's INFO log line instead. Either way they follow the logger's level.
    """
    accepted, rejected = _WEBSOCKET_METRICS.get(event_type, ("Messages", "MessagesRejected"))
    count = accepted if 200 <= status < 300 else rejected
    message, args = "WebSocket %s %s -> %s", (event_type, route_key, status)
    details = None
    if _powertools_logger.isEnabledFor(logging.INFO):
        details = {"event_type": event_type, "route_key": route_key, "status": status, "duration_ms": duration_ms}
    if _counted_alone():
        metadata = _metadata(message % args, details) if details else None
        print(_count_document(count, int(time.time() * 1000), metadata))
        return
    metrics.add_metric(name=count, unit=MetricUnit.Count, value=1)
    if details is None:
        return
    if is_metrics_disabled():
        _log_event(message, args, details)
        return
    for key, value in _metadata(message % args, details).items():
        # Powertools prints the document as it is: the values are redacted here instead.
        metrics.add_metadata(key=key, value=redact(value) if isinstance(value, str) else value)


def _metadata(message: str, details: dict[str, Any]) -> dict[str, Any]:
    """An event's details as the metadata of its EMF document: the keys its log line would have carried."""
    return {**_invocation_keys, "message": message, **details}


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


# Per (metric name, namespace, service): the document's text before its timestamp, from there to where metadata
# goes, and the rest.
_count_templates: dict[tuple[str, str | None, str | None], tuple[str, str, str]] = {}
_TIMESTAMP_MARK = 1234567890123
_METADATA_MARK = "_metadata_mark"


def _count_document(name: str, timestamp_ms: int, metadata: dict[str, Any] | None = None) -> str:
    """The EMF document Powertools prints for ``name`` counted once, at ``timestamp_ms``, with ``metadata`` (what
    ``add_metadata`` would add) and nothing else; redacted as every log line is (``websockets_app.redaction``).

    Built by Powertools itself once per metric name, with a marked timestamp and a marked metadata member whose
    places are then filled. Kept over ``add_metric`` and ``flush_metrics``, which validate, build the schema's dict
    and encode it for every event: measured in docs/performance.md (the events benchmark).
    """
    provider = metrics.provider
    key = (name, getattr(provider, "namespace", None), getattr(provider, "service", None))
    if key not in _count_templates:
        scratch = AmazonCloudWatchEMFProvider(namespace=key[1], service=key[2])
        scratch.add_metric(name=name, unit=MetricUnit.Count, value=1)
        scratch.add_metadata(key=_METADATA_MARK, value=0)
        scratch.timestamp = _TIMESTAMP_MARK  # set_timestamp would warn that it is not a recent time
        document = json.dumps(scratch.serialize_metric_set(), separators=(",", ":"))
        head, _, rest = document.partition(f'"Timestamp":{_TIMESTAMP_MARK}')
        middle, _, tail = rest.partition(f'"{_METADATA_MARK}":0')
        _count_templates[key] = (head + '"Timestamp":', middle, tail)  # middle ends with a comma, tail starts with one
    head, middle, tail = _count_templates[key]
    if not metadata:
        return f"{head}{timestamp_ms}{middle[:-1]}{tail}"
    members = json.dumps(metadata, separators=(",", ":"))[1:-1]
    return redact(f"{head}{timestamp_ms}{middle}{members}{tail}")
