"""The benchmarks run, in a quick mode: their JSON has every figure, the machine and the targets, and what they
check holds.

Speed targets are not asserted here (the suite may share the machine); ``make bench`` checks them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench import __main__ as bench_runner
from tests.bench.common import judged, machine, missed, summary, target

ROOT = Path(__file__).resolve().parents[1]


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


def assert_judged_by_ratios(result: dict, names: list[str]) -> None:
    """Every bench records where it ran and judges itself by named targets, ratios to its own baseline."""
    assert result["machine"]["cores"] >= 1
    assert result["machine"]["cpu_model"] not in ("", "unknown")
    assert [t["name"] for t in result["targets"]] == names
    for t in result["targets"]:
        assert t["met"] == (t["value"] <= t["at_most"] if "at_most" in t else t["value"] >= t["at_least"])
    met = sum(t["met"] for t in result["targets"])
    assert result["targets_met"] == f"{met} of {len(names)} targets met"
    assert result["ok"] is (met == len(names))


@pytest.mark.slow
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
    assert_judged_by_ratios(
        result, ["handler_cold_start_vs_django_setup", "aws_sdk_modules_loaded", "responses_not_200"]
    )
    assert result["targets"][0] == {
        "name": "handler_cold_start_vs_django_setup",
        "value": result["ratio_in_process"],
        "at_most": 1.3,
        "met": result["ratio_in_process"] <= 1.3,
    }


@pytest.mark.slow
def test_events_bench_counts_two_queries_per_message():
    result = run_bench("events", "--events", "200")
    assert result["benchmark"] == "events"
    assert result["queries_per_message"] == 2
    assert result["statuses"] == [200, 403]
    assert result["message_events_per_second"] > 0
    assert result["baseline_requests_per_second"] > 0
    assert_judged_by_ratios(result, ["message_cpu_vs_baseline", "queries_per_message", "unexpected_statuses"])
    assert result["targets"][0]["value"] == result["message_cost_vs_baseline"]
    assert "target_events_per_second" not in result  # an absolute rate is information, not a target


@pytest.mark.slow
def test_the_fanout_benchmark_runs_and_delivers_everything():
    arguments = ["--sessions", "300", "--latency-ms", "2", "--gone-share", "0.1", "--throttle-share", "0.05"]
    arguments += ["--sequential-subset", "20", "--pool-subset", "100", "--room-size", "5", "--room-sends", "20"]
    arguments += ["--check", "delivery"]
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
    assert_judged_by_ratios(report, ["delivery_problems"])  # --check delivery: the ratios are not judged
    assert set(report["runs"]) == {"sequential_boto3", "boto3_thread_pool", "sender", "sender_alone", "floor"}
    floor = report["runs"].pop("floor")  # the cheapest client: it delivers, and marks nothing
    assert floor["problems"] == []
    assert floor["statuses"] == {"200": 257, "410": 30, "429": 13}  # throttled once, never retried
    assert floor["cpu_us_per_message"] > 0
    assert report["ratios"]["sender_cpu_vs_floor"] > 0  # on 300 posts the two can come out level
    alone = report["runs"].pop("sender_alone")  # the transport on prebuilt targets: it reads and marks nothing
    assert alone["problems"] == []
    assert (alone["messages"], alone["delivered"], alone["live"]) == (300, 270, 270)
    assert report["ratios"]["public_path_overhead"] > 0
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
        "sender_cpu_vs_floor",
        "replay_cpu_vs_plain",
        "replay_time_vs_plain",
        "sender_alone_cpu_vs_floor",
        "public_path_overhead",
    }
    # Replayable channel sends beside plain ones, in the same run: the extra queries are counted, not timed.
    channel_sends = report["channel_sends"]
    assert channel_sends["problems"] == []
    assert (channel_sends["plain"]["sends"], channel_sends["replay"]["sends"]) == (20, 20)
    assert channel_sends["plain"]["queries_per_send"] == 2
    assert channel_sends["replay"]["queries_per_send"] == 6  # SQLite: BEGIN, upsert, insert, COMMIT


@pytest.mark.slow
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


@pytest.mark.slow
def test_local_gateway_bench_reports_round_trips_beside_the_direct_handler():
    result = run_bench("local_gateway", "--messages", "100")
    assert result["benchmark"] == "local_gateway"
    assert result["messages"] == 100
    assert result["round_trip_ms_p95"] >= result["round_trip_ms_p50"] > 0
    assert result["baseline_handler_ms_p50"] > 0
    assert result["gateway_overhead_ms_p50"] == pytest.approx(
        result["round_trip_ms_p50"] - result["baseline_handler_ms_p50"], abs=0.002
    )
    assert_judged_by_ratios(result, ["round_trip_vs_handler_p50"])
    assert result["targets"][0]["value"] == pytest.approx(
        result["round_trip_ms_p50"] / result["baseline_handler_ms_p50"], abs=0.02
    )


# -- judging ------------------------------------------------------------------------------------------------------


def test_a_target_has_one_bound_and_says_whether_it_holds():
    assert target("ratio", 1.2, at_most=1.3) == {"name": "ratio", "value": 1.2, "at_most": 1.3, "met": True}
    assert target("ratio", 40, at_least=50)["met"] is False
    assert target("count", 0, at_most=0)["met"] is True
    with pytest.raises(ValueError, match="exactly one bound"):
        target("ratio", 1, at_most=2, at_least=0)
    with pytest.raises(ValueError, match="exactly one bound"):
        target("ratio", 1)
    targets = [target("a", 1.2, at_most=1.3), target("b", 40, at_least=50)]
    assert summary(targets) == "1 of 2 targets met"
    assert missed(targets) == ["b: 40, needs at least 50"]
    result = judged({"benchmark": "x"}, targets)
    assert (result["ok"], result["targets_met"], result["machine"]) == (False, "1 of 2 targets met", machine())


def test_the_machine_is_recorded():
    described = machine()
    assert described["cores"] >= 1
    assert described["cpu_model"]
    assert described["python"].count(".") == 2


def test_make_bench_ends_with_how_many_targets_were_met(monkeypatch, capsys):
    results = {
        "coldstart": {"targets": [target("a", 1.1, at_most=1.3), target("b", 0, at_most=0)]},
        "events": {"targets": [target("c", 4.0, at_most=3.0)]},
    }

    def fake_run(command, **kwargs):
        name = Path(command[1]).stem
        return subprocess.CompletedProcess(command, 0, json.dumps(results[name]), "")

    monkeypatch.setattr(bench_runner.subprocess, "run", fake_run)
    assert bench_runner.main(["coldstart", "events"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "2 of 3 targets met"
    results["events"]["targets"][0] = target("c", 2.0, at_most=3.0)
    assert bench_runner.main(["coldstart", "events"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 of 3 targets met"


def test_a_bench_that_does_not_report_fails_the_run(monkeypatch, capsys):
    monkeypatch.setattr(
        bench_runner.subprocess, "run", lambda command, **kwargs: subprocess.CompletedProcess(command, 1, "", "boom")
    )
    assert bench_runner.main(["events"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "0 of 0 targets met (events did not report)"
    assert bench_runner.main(["nonsense"]) == 2
