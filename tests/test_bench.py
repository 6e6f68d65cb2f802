"""The fan-out benchmark itself, in a quick mode: it runs, prints its JSON, and loses nothing."""

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent / "bench" / "fanout.py"


def test_the_fanout_benchmark_runs_and_delivers_everything():
    arguments = ["--sessions", "300", "--latency-ms", "2", "--gone-share", "0.1", "--throttle-share", "0.05"]
    arguments += ["--sequential-subset", "20", "--pool-subset", "100", "--check", "delivery"]
    completed = subprocess.run(
        [sys.executable, str(BENCH), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=BENCH.parents[2],
        check=False,
    )
    assert completed.returncode == 0, completed.stderr + completed.stdout
    report = json.loads(completed.stdout)  # one JSON object and nothing else

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
