"""MESSAGE events per second through ``infra.handlers.handler`` in one process (SQLite, production settings),
with the queries each one costs, beside a baseline in the same run: the same Django stack answering a request
that needs no database (an untrusted POST to the WebSocket URL, refused by the view).

    .venv/bin/python tests/bench/events.py [--events 7000]

Targets, judged in the run: a MESSAGE event costs at most 1.5x the CPU of that refused request (the database work,
the view's handler and the event's line on top of the same middleware and URL resolution), 2 queries each; events
per second are reported as information (docs/performance.md has the figures and where a message's cost goes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import WS_DOMAIN, bench_env, emit, judged, prepare, seed_token, target

TARGET_COST_VS_BASELINE = 1.5
ROUNDS = 7
TARGET_QUERIES = 2


def measure(handle, events: list[dict]) -> tuple[float, float]:
    """Wall seconds and CPU seconds to handle every event."""
    wall, cpu = time.perf_counter(), time.process_time()
    for event in events:
        handle(event, None)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=7000, help="MESSAGE events to time (at least 100)")
    args = parser.parse_args(argv)
    if args.events < 100:
        parser.error("--events must be at least 100")

    workdir = tempfile.TemporaryDirectory()
    env = bench_env(Path(workdir.name))
    prepare(env)
    os.environ.update(env)
    # Log lines and metrics go to stdout, as in Lambda; here they are formatted in full and then discarded.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from infra.handlers import handler
    from project.websocket import SiteWebSocketView
    from tests.events import connect_event, message_event

    # Every event goes through one connection: the chat's message rate limit is raised past their number (and
    # still checked, so its UPDATE is the one measured).
    SiteWebSocketView.message_rate_limit = args.events * 4 + 100
    connection_id = "bench="
    token, session_key = seed_token(env)
    connect = connect_event(connection_id, query={"ws_token": token}, cookie=f"sessionid={session_key}")
    assert handler(connect, None)["statusCode"] == 200
    messages = [message_event({"action": "ping", "n": n}, connection_id=connection_id) for n in range(args.events)]
    baseline_event = {
        "httpMethod": "POST",
        "path": "/ws/default",
        "headers": {"Host": WS_DOMAIN, "X-Forwarded-Proto": "https"},
        "body": "{}",
        "isBase64Encoded": False,
        "requestContext": {"stage": "production"},
    }
    baseline = [baseline_event] * args.events

    statuses = {handler(event, None)["statusCode"] for event in messages[:50]}  # warm-up
    statuses |= {handler(event, None)["statusCode"] for event in baseline[:1]}
    with CaptureQueriesContext(connection) as queries:
        handler(messages[0], None)
    queries_per_event = len(queries.captured_queries)

    # Interleaved rounds, in the order baseline, messages, messages, baseline, ...; each side's cost is its fastest
    # round, as timeit reports (the slower rounds are the shared machine's other work, which lands on either side
    # at random: the median of the paired rounds' ratios, reported too, swings several times as far between runs).
    rounds = []
    size = args.events // ROUNDS
    for n in range(ROUNDS):
        chunk = messages[n * size : (n + 1) * size]
        if n % 2 == 0:
            base, msg = measure(handler, baseline[:size]), measure(handler, chunk)
        else:
            msg, base = measure(handler, chunk), measure(handler, baseline[:size])
        rounds.append((base, msg))
    base_cpu = min(base[1] for base, _ in rounds) / size
    msg_cpu = min(msg[1] for _, msg in rounds) / size
    cost = msg_cpu / base_cpu
    paired = statistics.median(msg[1] / base[1] for base, msg in rounds)
    msg_wall = sum(msg[0] for _, msg in rounds)
    base_wall = sum(base[0] for base, _ in rounds)

    result = {
        "benchmark": "events",
        "events": size * ROUNDS,
        "rounds": ROUNDS,
        "message_events_per_second": round(size * ROUNDS / msg_wall),
        "message_cpu_us_per_event": round(msg_cpu * 1e6),
        "queries_per_message": queries_per_event,
        "baseline_requests_per_second": round(size * ROUNDS / base_wall),
        "baseline_cpu_us_per_request": round(base_cpu * 1e6),
        "message_cost_vs_baseline": round(cost, 2),
        "message_cost_vs_baseline_paired_median": round(paired, 2),
        "message_rate_vs_baseline": round(base_wall / msg_wall, 2),
        "statuses": sorted(statuses),
    }
    targets = [
        target("message_cpu_vs_baseline", round(cost, 2), at_most=TARGET_COST_VS_BASELINE),
        target("queries_per_message", queries_per_event, at_most=TARGET_QUERIES),
        target("unexpected_statuses", len(statuses ^ {200, 403}), at_most=0),
    ]
    result = judged(result, targets)
    workdir.cleanup()
    return emit(result)


if __name__ == "__main__":
    sys.exit(main())
