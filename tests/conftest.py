from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from websockets_app.models import ApiGateway, WebSocketSession

_counter = itertools.count(1)


@pytest.fixture
def keep_test_connection():
    """Let Lambda handlers run the WSGI app directly inside a test transaction.

    Django recycles database connections at the start and end of every request; inside the test's transaction
    that would close the connection the test is using. Django's own test client switches this off the same way.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


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
        monkeypatch.setattr("websockets_app.provisioning.make_client", fake.make_client)
        yield fake
        fake.stubber.assert_no_pending_responses()
