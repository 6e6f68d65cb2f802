"""The benchmarks run, in a quick mode: their JSON has every figure, and what they check holds.

Speed targets are not asserted here (the suite may share the machine); ``make bench`` checks them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run_bench(name: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bench" / f"{name}.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return json.loads(done.stdout)


def test_coldstart_bench_reports_every_figure_and_loads_no_aws_sdk():
    result = run_bench("coldstart", "--runs", "3")
    assert result["benchmark"] == "coldstart"
    assert result["django_setup_ms"]["in_process"] > 0
    assert result["handler_connect_ms"]["in_process"] > result["handler_connect_ms"]["import"] > 0
    assert result["ratio_in_process"] == pytest.approx(
        result["handler_connect_ms"]["in_process"] / result["django_setup_ms"]["in_process"], rel=0.01
    )
    assert result["connect_statuses"] == [200]
    assert result["statuses_connect_message_http"] == [200, 200, 200]
    assert result["aws_sdk_modules_loaded"] == []


def test_events_bench_counts_two_queries_per_message():
    result = run_bench("events", "--events", "200")
    assert result["benchmark"] == "events"
    assert result["queries_per_message"] == 2
    assert result["statuses"] == [200, 403]
    assert result["message_events_per_second"] > 0
    assert result["baseline_requests_per_second"] > 0


def test_the_fanout_benchmark_runs_and_delivers_everything():
    arguments = ["--sessions", "300", "--latency-ms", "2", "--gone-share", "0.1", "--throttle-share", "0.05"]
    arguments += ["--sequential-subset", "20", "--pool-subset", "100", "--check", "delivery"]
    completed = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bench" / "fanout.py"), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr + completed.stdout
    report = json.loads(completed.stdout)  # one JSON object and nothing else
    assert report["benchmark"] == "fanout"

    assert report["ok"] is True
    assert report["missed"] == []
    assert set(report["runs"]) == {"sequential_boto3", "boto3_thread_pool", "sender"}
    for run in report["runs"].values():
        assert run["problems"] == []
        assert run["delivered"] == run["live"]
        assert run["gone_marked"] == run["gone"]
        assert run["messages_per_second"] > 0
        assert run["cpu_us_per_message"] > 0
    sender = report["runs"]["sender"]
    assert (sender["messages"], sender["live"], sender["gone"]) == (300, 270, 30)
    # Every throttled connection was refused once, then got the message on a retry.
    assert sender["throttled_then_retried"] == sender["throttled"] == 13
    assert set(report["ratios"]) == {
        "rate_vs_sequential",
        "rate_vs_thread_pool",
        "cpu_saving_vs_sequential",
        "cpu_saving_vs_thread_pool",
    }


def test_benches_refuse_nonsense_arguments():
    for name, args in (("coldstart", ["--runs", "1"]), ("events", ["--events", "5"])):
        done = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "bench" / f"{name}.py"), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 2
        assert "must be at least" in done.stderr


def test_local_gateway_bench_reports_round_trips_beside_the_direct_handler():
    result = run_bench("local_gateway", "--messages", "100")
    assert result["benchmark"] == "local_gateway"
    assert result["messages"] == 100
    assert result["round_trip_ms_p95"] >= result["round_trip_ms_p50"] > 0
    assert result["baseline_handler_ms_p50"] > 0
    assert result["gateway_overhead_ms_p50"] == pytest.approx(
        result["round_trip_ms_p50"] - result["baseline_handler_ms_p50"], abs=0.002
    )
