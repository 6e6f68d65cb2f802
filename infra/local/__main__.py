"""``python -m infra.local``: the local API Gateway (WebSocket API + Management API + HTTP API) for this project.

The project's Lambda handlers answer the events in this process, or a Lambda endpoint does (``--lambda-endpoint``,
or ``--sam`` to start ``sam local start-lambda``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from infra.local.config import ConfigError, GatewayConfig
from websockets_app.limits import (
    DEFAULT_ROUTE_SELECTION_EXPRESSION,
    IDLE_TIMEOUT_SECONDS,
    MAX_CONNECTION_SECONDS,
    MAX_FRAME_BYTES,
    MAX_MESSAGE_BYTES,
)
from websockets_app.redaction import RedactingFormatter


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address both servers listen on (default %(default)s)")
    parser.add_argument("--http-port", type=int, default=8000, help="the HTTP API: the site (default %(default)s)")
    parser.add_argument("--ws-port", type=int, default=8001, help="the WebSocket API (default %(default)s)")
    parser.add_argument(
        "--route", action="append", default=[], metavar="KEY", help="a custom route key (repeat for more)"
    )
    parser.add_argument("--route-selection-expression", default=DEFAULT_ROUTE_SELECTION_EXPRESSION)
    parser.add_argument("--max-message-bytes", type=int, default=MAX_MESSAGE_BYTES)
    parser.add_argument("--max-frame-bytes", type=int, default=MAX_FRAME_BYTES)
    parser.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT_SECONDS, metavar="SECONDS")
    parser.add_argument("--max-connection-seconds", type=float, default=MAX_CONNECTION_SECONDS, metavar="SECONDS")
    remote = parser.add_mutually_exclusive_group()
    remote.add_argument("--lambda-endpoint", metavar="URL", help="invoke this Lambda endpoint instead of in-process")
    remote.add_argument("--sam", metavar="PATH", help="start `PATH local start-lambda` and invoke it")
    parser.add_argument("--workers", type=int, default=8, help="in-process: concurrent invocations (default 8)")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> GatewayConfig:
    return GatewayConfig(
        host=args.host,
        http_port=args.http_port,
        ws_port=args.ws_port,
        routes=frozenset(args.route),
        route_selection_expression=args.route_selection_expression,
        max_message_bytes=args.max_message_bytes,
        max_frame_bytes=args.max_frame_bytes,
        idle_timeout=args.idle_timeout,
        max_connection_seconds=args.max_connection_seconds,
    )


def local_environment(config: GatewayConfig) -> dict[str, str]:
    """What the project's settings need to run against this gateway: debug, its URLs, its origin, fake keys.

    Values already in the environment win, so any of them can be overridden.
    """
    site = f"http://{config.host}:{config.http_port}"
    origins = [site] + ([f"http://localhost:{config.http_port}"] if config.host == "127.0.0.1" else [])
    return {
        "DJANGO_DEBUG": "1",
        "DJANGO_LOG_FORMAT": "text",
        # The gateway's own line per event says what the JSON lines and metrics of a deployed function would.
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "WEBSOCKETS_MANAGEMENT_ENDPOINT_URL": f"http://{config.host}:{config.ws_port}",
        "WEBSOCKETS_CLIENT_URL": f"ws://{config.host}:{config.ws_port}",
        "WEBSOCKETS_ALLOWED_ORIGINS": ",".join(origins),
        "WEBSOCKETS_AWS_REGION": "us-east-1",
        # The app signs Management API calls; the local gateway does not check the signature.
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def configure_logging() -> logging.Logger:
    log = logging.getLogger("infra.local")
    handler = logging.StreamHandler(sys.stdout)
    # Its lines already show ?ws_token=***; the formatter redacts any token an invoker's error message quotes.
    handler.setFormatter(RedactingFormatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


async def serve(config: GatewayConfig, args: argparse.Namespace, log: logging.Logger) -> None:
    from infra.local.gateway import LocalGateway
    from infra.local.invokers import InProcessInvoker, Invoker, RemoteInvoker

    sam_process = None
    invoker: Invoker
    if args.sam:
        from infra.local.sam import start_lambda

        sam_process, endpoint = await start_lambda(args.sam, config, log)
        invoker = RemoteInvoker(endpoint)
    elif args.lambda_endpoint:
        invoker = RemoteInvoker(args.lambda_endpoint)
    else:
        invoker = InProcessInvoker(workers=args.workers)
    gateway = LocalGateway(config, invoker, log)
    try:
        await gateway.start()
        log.info("Site (HTTP API):        %s/", gateway.http_url)
        log.info("WebSocket API:          %s", gateway.ws_url)
        log.info("Management API:         %s/@connections/{id}", f"http://{config.host}:{gateway.ws_port}")
        log.info("Lambda handlers:        %s. Ctrl-C stops.", invoker.description)
        stopping = asyncio.Event()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signal_number, stopping.set)
        await stopping.wait()
        log.info("Stopping: open connections are closed with 1001 and get their $disconnect.")
    finally:
        await gateway.stop()
        if sam_process is not None:
            sam_process.terminate()
            await sam_process.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = config_from(args)
    except ConfigError as exc:
        print(f"python -m infra.local: {exc}", file=sys.stderr)
        return 2
    for name, value in local_environment(config).items():
        os.environ.setdefault(name, value)
    log = configure_logging()
    try:
        asyncio.run(serve(config, args, log))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # a port in use, most often
        print(f"python -m infra.local: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
