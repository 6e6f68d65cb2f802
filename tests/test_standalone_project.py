"""The app stands on its own: a second Django project (tests/standalone/) runs a WebSocket round trip through the
app's Lambda handler, in a fresh process with its own settings, without importing infra/ or project/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A fresh interpreter, Django set up and migrated from nothing.
pytestmark = pytest.mark.slow


@pytest.fixture
def stub():
    from tests.bench.stub import ManagementApiStub, StubThread

    with StubThread(ManagementApiStub(record_requests=True)) as running:
        yield running


def run_round_trip(tmp_path: Path, management_endpoint: str, module: str = "tests.standalone.round_trip") -> dict:
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("DJANGO_", "AWS_", "DATABASE"))},
        "DJANGO_SETTINGS_MODULE": "tests.standalone.settings",
        "STANDALONE_DATABASE": str(tmp_path / "standalone.sqlite3"),
        "STANDALONE_MANAGEMENT_ENDPOINT": management_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }
    done = subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_connection_round_trip_through_the_apps_own_lambda_handler(tmp_path, stub):
    report = run_round_trip(tmp_path, stub.url)

    assert [(step["step"], step["status"], step["session"]) for step in report["steps"]] == [
        ("connect", 200, {"channel": "lobby", "connected": True}),
        ("message", 200, {"channel": "lobby", "connected": True}),
        ("disconnect", 200, {"channel": "lobby", "connected": False}),
    ]
    assert json.loads(report["steps"][1]["body"]) == {"echoed": True}
    # Server -> client: the view's send reached the Management API for this connection.
    (post,) = stub.stub.requests
    assert (post.method, post.target.endswith("/@connections/L0SM9cOFvHcCIhw%3D"), json.loads(post.body)) == (
        "POST",
        True,
        {"echo": "hello"},
    )


def test_the_standalone_project_never_imports_infra_project_or_other_tests(tmp_path, stub):
    assert run_round_trip(tmp_path, stub.url)["imported"] == []


def test_the_testing_toolkit_runs_on_a_project_of_its_own(tmp_path, stub):
    # The toolkit brings its own fake Management API; the stub named in the settings must see nothing.
    report = run_round_trip(tmp_path, stub.url, "tests.standalone.with_toolkit")
    assert report == {
        "accepted": [True, True],
        "answer": {"echoed": True},
        "first": [{"echo": "hello"}, {"notice": "all"}],
        "second": [],
        "gone": True,
        "marked": True,
        "imported": [],
    }
    assert stub.stub.requests == []
