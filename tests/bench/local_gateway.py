"""Round trips through the local gateway (WebSocket client -> gateway -> in-process Lambda handler -> reply), beside
a baseline in the same run: the same MESSAGE events handed to ``infra.handlers.handler`` directly.

    .venv/bin/python tests/bench/local_gateway.py [--messages 2000]

The difference is what the gateway itself costs a message: framing, the event it builds, the worker-thread hop and
the reply. Target, judged in the run: a round trip takes at most 3x the handler alone (medians), i.e. the gateway
adds at most twice the handler's own time (1.5-2.3x measured on a shared 2-core machine); the overhead in
milliseconds is reported as information (about 0.2-2 ms, depending on load).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import WS_DOMAIN, bench_env, emit, judged, median, prepare, seed_token, target

TARGET_ROUND_TRIP_VS_HANDLER = 3.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="round trips to time (at least 100)")
    args = parser.parse_args(argv)
    if args.messages < 100:
        parser.error("--messages must be at least 100")

    workdir = tempfile.TemporaryDirectory()
    ws_port = _free_port()
    env = bench_env(Path(workdir.name))
    env.update(
        {
            "DJANGO_ALLOWED_HOSTS": f"127.0.0.1,{WS_DOMAIN}",
            "WEBSOCKETS_MANAGEMENT_ENDPOINT_URL": f"http://127.0.0.1:{ws_port}",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "DJANGO_SECURE_SSL_REDIRECT": "0",  # the local gateway speaks ws:// and http://
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
        }
    )
    prepare(env)
    os.environ.update(env)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (log lines are formatted in full, then discarded)

    from websockets.sync.client import connect

    from infra.handlers import handler
    from infra.local.config import GatewayConfig
    from infra.local.gateway import GatewayThread, LocalGateway
    from infra.local.invokers import InProcessInvoker
    from project.websocket import SiteWebSocketView
    from tests.events import connect_event, message_event

    # Every ping goes through one connection: the chat's message rate limit is raised past their number.
    SiteWebSocketView.message_rate_limit = args.messages + 100
    ping = json.dumps({"action": "ping"})
    token, session_key = seed_token(env)
    gateway = LocalGateway(GatewayConfig(http_port=0, ws_port=ws_port), InProcessInvoker(workers=2))
    round_trips: list[float] = []
    with (
        GatewayThread(gateway),
        connect(
            f"{gateway.ws_url}/?ws_token={token}", additional_headers={"Cookie": f"sessionid={session_key}"}
        ) as client,
    ):
        for _ in range(50):  # warm-up
            client.send(ping)
            client.recv(timeout=10)
        started = time.perf_counter()
        for _ in range(args.messages):
            sent = time.perf_counter()
            client.send(ping)
            reply = client.recv(timeout=10)
            round_trips.append(time.perf_counter() - sent)
        gateway_wall = time.perf_counter() - started
    assert json.loads(reply) == {"pong": True}, reply

    # The baseline: the same handler, the same kind of event, no gateway (its own connection, as the gateway's was).
    token, session_key = seed_token(env)
    connection_id = "direct="
    assert (
        handler(connect_event(connection_id, query={"ws_token": token}, cookie=f"sessionid={session_key}"), None)[
            "statusCode"
        ]
        == 200
    )
    event = message_event({"action": "ping"}, connection_id=connection_id)
    direct: list[float] = []
    for _ in range(50):
        handler(event, None)
    for _ in range(args.messages):
        started = time.perf_counter()
        assert handler(event, None)["body"] == '{"pong": true}'
        direct.append(time.perf_counter() - started)

    overhead_ms = (median(round_trips) - median(direct)) * 1000
    result = {
        "benchmark": "local_gateway",
        "messages": args.messages,
        "round_trips_per_second": round(args.messages / gateway_wall),
        "round_trip_ms_p50": round(median(round_trips) * 1000, 3),
        "round_trip_ms_p95": round(_percentile(round_trips, 0.95) * 1000, 3),
        "baseline_handler_ms_p50": round(median(direct) * 1000, 3),
        "baseline_handler_ms_p95": round(_percentile(direct, 0.95) * 1000, 3),
        "gateway_overhead_ms_p50": round(overhead_ms, 3),
    }
    ratio = median(round_trips) / median(direct)
    result = judged(
        result, [target("round_trip_vs_handler_p50", round(ratio, 2), at_most=TARGET_ROUND_TRIP_VS_HANDLER)]
    )
    workdir.cleanup()
    return emit(result)


if __name__ == "__main__":
    sys.exit(main())
