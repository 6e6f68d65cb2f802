"""Cold start: a fresh process that imports the Lambda handler module and handles one $connect, beside a bare
``django.setup()`` and ``python -c pass``, each the median over fresh processes (SQLite, production settings).

    .venv/bin/python tests/bench/coldstart.py [--runs 15]

Targets, judged in the run: the handler's cold start (import + one $connect, in process) is at most 1.3x a bare
django.setup() of the same project; no AWS SDK client machinery is imported by a $connect, a message or an HTTP
request; every one of them answers 200. Milliseconds are reported as information.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import PYTHON, ROOT, WS_DOMAIN, bench_env, emit, judged, median, prepare, seed_token, target

BUDGET = 1.3
MARK = "BENCH "

BARE_SETUP = f"""
import time
t0 = time.perf_counter()
import django
django.setup()
print({MARK!r} + str(time.perf_counter() - t0))
"""

HANDLER = f"""
import json, sys, time
from tests.events import connect_event
t0 = time.perf_counter()
from infra.handlers import handler
imported = time.perf_counter() - t0
event = connect_event(sys.argv[1], query={{"ws_token": sys.argv[2]}}, cookie="sessionid=" + sys.argv[3])
status = handler(event, None)["statusCode"]
print({MARK!r} + json.dumps({{"import": imported, "total": time.perf_counter() - t0, "status": status}}))
"""

# Not timed: which modules a connect, a message and an HTTP request pull in.
PATHS = f"""
import json, sys
from tests.events import connect_event, http_event, message_event
from infra.handlers import handler
statuses = [
    handler(connect_event("paths=", query={{"ws_token": sys.argv[1]}}, cookie="sessionid=" + sys.argv[2]), None)[
        "statusCode"
    ],
    handler(message_event({{"action": "ping"}}, connection_id="paths="), None)["statusCode"],
    handler(http_event("/", host={WS_DOMAIN!r}), None)["statusCode"],
]
# Powertools imports the bare botocore package (for its user agent); the client machinery must stay out.
loaded = sorted(name for name in ("boto3", "botocore.session", "botocore.client") if name in sys.modules)
print({MARK!r} + json.dumps({{"statuses": statuses, "loaded": loaded}}))
"""


def run(code: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([PYTHON, *code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    marked = [line[len(MARK) :] for line in done.stdout.splitlines() if line.startswith(MARK)]
    return wall, marked[-1] if marked else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per measurement (at least 3)")
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be at least 3")

    with tempfile.TemporaryDirectory() as workdir:
        env = bench_env(Path(workdir))
        prepare(env)
        pass_wall, setup_wall, setup_in, handler_wall, handler_in, handler_import = [], [], [], [], [], []
        statuses = set()
        for n in range(args.runs):  # interleaved, so background noise hits all three alike
            pass_wall.append(run(["-c", "pass"], env)[0])
            wall, inner = run(["-c", BARE_SETUP], env)
            setup_wall.append(wall)
            setup_in.append(float(inner))
            wall, inner = run(["-c", HANDLER, f"cold-{n}=", *seed_token(env)], env)
            report = json.loads(inner)
            handler_wall.append(wall)
            handler_in.append(report["total"])
            handler_import.append(report["import"])
            statuses.add(report["status"])
        paths = json.loads(run(["-c", PATHS, *seed_token(env)], env)[1])

    def ms(seconds: float) -> float:
        return round(seconds * 1000, 1)

    ratio_in = median(handler_in) / median(setup_in)
    ratio_wall = median(handler_wall) / median(setup_wall)
    not_200 = sum(status != 200 for status in [*statuses, *paths["statuses"]])
    result = {
        "benchmark": "coldstart",
        "runs": args.runs,
        "python_pass_ms": ms(median(pass_wall)),
        "django_setup_ms": {"in_process": ms(median(setup_in)), "process": ms(median(setup_wall))},
        "handler_connect_ms": {
            "in_process": ms(median(handler_in)),
            "import": ms(median(handler_import)),
            "process": ms(median(handler_wall)),
        },
        "ratio_in_process": round(ratio_in, 3),
        "ratio_process": round(ratio_wall, 3),
        "connect_statuses": sorted(statuses),
        "statuses_connect_message_http": paths["statuses"],
        "aws_sdk_modules_loaded": paths["loaded"],
    }
    targets = [
        target("handler_cold_start_vs_django_setup", round(ratio_in, 3), at_most=BUDGET),
        target("aws_sdk_modules_loaded", len(paths["loaded"]), at_most=0),
        target("responses_not_200", not_200, at_most=0),
    ]
    return emit(judged(result, targets))


if __name__ == "__main__":
    sys.exit(main())
