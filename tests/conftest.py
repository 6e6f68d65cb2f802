from __future__ import annotations

import ipaddress
import itertools
import os
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db.backends.base.base import BaseDatabaseWrapper
from hypothesis import settings as hypothesis_settings

from websockets_app.models import ApiGateway, WebSocketSession

# The testing toolkit's fixtures (ws_client, ws_management_api), enabled as a user of the app enables them.
pytest_plugins = ["websockets_app.testing.pytest_plugin"]

_counter = itertools.count(1)

# Hypothesis: the suite's runs are derandomized (the same events on every run, so a failure in CI reproduces on a
# laptop and never flakes); HYPOTHESIS_PROFILE=explore draws fresh events each run and keeps failures in the
# example database. Request timings vary with the database, so no per-example deadline.
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("explore", deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _is_local(host: object) -> bool:
    if host is None or host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).strip("[]")).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _only_localhost_network() -> Iterator[None]:
    """Fail fast on any attempt to reach a host other than this machine (AWS goes through moto or a stub)."""
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_local(host):
            raise OSError(f"The tests may not reach {host!r}; only 127.0.0.1 is allowed.")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise OSError(f"The tests may not connect to {address!r}; only 127.0.0.1 is allowed.")
        return real_connect(self, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        patch.setattr(socket.socket, "connect", connect)
        yield


@pytest.fixture
def keep_test_connection(monkeypatch):
    """Let Lambda handlers run the WSGI app directly inside a test transaction.

    Django recycles database connections at the start and end of every request; inside the test's transaction
    that would close the connection the test is using. The test client re-enables its own signal handlers after
    each request, so recycling is switched off where it happens rather than by disconnecting signals.
    """
    monkeypatch.setattr(BaseDatabaseWrapper, "close_if_unusable_or_obsolete", lambda self: None)


@pytest.fixture(scope="session")
def websocket_handler() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The app's own Lambda handler for WebSocket events (``websockets_app.aws_lambda``) for this project's Django
    application, as any project builds it: the tests of WebSocket views go through it. ``infra.handlers`` adds the
    project's secrets and observability around it and is tested on its own."""
    from project.wsgi import application
    from websockets_app.aws_lambda import make_websocket_handler

    return make_websocket_handler(application)


@pytest.fixture
def make_gateway(db) -> Callable[..., ApiGateway]:
    def make(**fields: Any) -> ApiGateway:
        n = next(_counter)
        fields.setdefault("api_name", f"api-{n}")
        return ApiGateway.objects.create(**fields)

    return make


@pytest.fixture
def gateway(make_gateway) -> ApiGateway:
    return make_gateway(api_name="chat", api_id="abc123", region="eu-west-1", target_base_endpoint="https://x.test/ws/")


@pytest.fixture
def make_session(db, gateway) -> Callable[..., WebSocketSession]:
    def make(**fields: Any) -> WebSocketSession:
        fields.setdefault("connection_id", f"conn-{next(_counter)}=")
        fields.setdefault("api_gateway", gateway)
        return WebSocketSession.objects.create(**fields)

    return make


@pytest.fixture
def aws_credentials(monkeypatch):
    """Fake credentials from the environment only; no config files, no instance metadata, fresh clients."""
    from websockets_app.messaging import aws_clients

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    aws_clients.reset()
    yield
    aws_clients.reset()


@pytest.fixture
def fast_backoff(monkeypatch):
    """Retries without real waiting: the backoff schedule is tested on its own."""
    from websockets_app.messaging import retry

    monkeypatch.setattr(retry, "BACKOFF_BASE_SECONDS", 0.0005)


@pytest.fixture
def management_stub(settings, aws_credentials, fast_backoff):
    """A Management API stub on 127.0.0.1 that records every request; the app posts to it."""
    from tests.bench.stub import ManagementApiStub, StubThread
    from websockets_app.messaging.transports import concurrent

    with StubThread(ManagementApiStub(record_requests=True)) as running:
        settings.WEBSOCKETS = {
            "MANAGEMENT_ENDPOINT_URL": running.url,
            "AWS_REGION": "eu-west-1",
            "SEND_CONCURRENCY": 8,
            "SEND_MAX_ATTEMPTS": 3,
        }
        yield running
        concurrent.shutdown()


@pytest.fixture
def aws(monkeypatch):
    """A fake AWS (see tests/aws.py) that ``websockets_app.provisioning`` talks to; no call leaves the process."""
    from moto import mock_aws
    from moto.apigatewayv2.models import DomainName

    from tests.aws import REGION, FakeAws, fill_domain_target

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    original_init = DomainName.__init__

    def domain_init(self, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        fill_domain_target(self)

    monkeypatch.setattr(DomainName, "__init__", domain_init)
    with mock_aws():
        fake = FakeAws()
        monkeypatch.setattr("websockets_app.provisioning.run.make_client", fake.make_client)
        yield fake
        fake.stubber.assert_no_pending_responses()


@pytest.fixture
def login_token(client) -> Callable[..., tuple[str, str]]:
    """Log ``user`` in with the test client and ask the token endpoint for a token, as a browser would.

    Returns the token and the Cookie header that carries the same session to the WebSocket $connect.
    """

    def issue(user: Any) -> tuple[str, str]:
        client.force_login(user)
        response = client.post("/api/ws-token/")
        assert response.status_code == 200, response.content
        return response.json()["token"], f"sessionid={client.cookies['sessionid'].value}"

    return issue


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How many generated events the hostile-input suite pushed through the Lambda handler, and how fast."""
    hostile = sys.modules.get("tests.hostile_events")
    if hostile is None or not hostile.events_run:
        return
    total = sum(hostile.events_run.values())
    seconds = sum(hostile.seconds_spent.values())
    per_kind = ", ".join(f"{kind} {count}" for kind, count in sorted(hostile.events_run.items()))
    terminalreporter.write_sep("-", "hostile input")
    terminalreporter.write_line(
        f"{total} generated events through infra.handlers.handler in {seconds:.1f} s ({per_kind}); "
        f"{hostile.outcomes['accepted']} accepted, {hostile.outcomes['refused']} refused"
    )


@pytest.fixture
def ws_test_views(settings) -> None:
    """Serve tests/ws_urls.py: the test WebSocket views (most without tokens) on the sample API's host."""
    from tests.events import DOMAIN

    settings.ROOT_URLCONF = "tests.ws_urls"
    settings.ALLOWED_HOSTS = [DOMAIN, "testserver"]
