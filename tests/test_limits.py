"""API Gateway's fixed facts live in websockets_app.limits, which imports nothing from Django."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _modules_after_import(module: str) -> set[str]:
    """The modules a fresh interpreter, with no Django settings, holds after importing ``module``."""
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def test_limits_imports_nothing_from_django() -> None:
    modules = _modules_after_import("websockets_app.limits")
    assert "websockets_app.limits" in modules
    assert not {name for name in modules if name == "django" or name.startswith("django.")}


def test_local_gateway_config_does_not_import_the_send_module() -> None:
    modules = _modules_after_import("infra.local.config")
    assert "infra.local.config" in modules
    assert "websockets_app.messaging" not in modules
    assert "django.conf" not in modules


def test_every_user_reads_the_facts_from_limits() -> None:
    from infra.local import config
    from websockets_app import limits, messaging, models, validators

    assert messaging.MAX_PAYLOAD_BYTES is limits.MAX_MESSAGE_BYTES
    defaults = config.GatewayConfig()
    assert defaults.max_message_bytes == limits.MAX_MESSAGE_BYTES
    assert defaults.max_frame_bytes == limits.MAX_FRAME_BYTES
    assert defaults.idle_timeout == limits.IDLE_TIMEOUT_SECONDS
    assert defaults.max_connection_seconds == limits.MAX_CONNECTION_SECONDS
    assert defaults.route_selection_expression == limits.DEFAULT_ROUTE_SELECTION_EXPRESSION
    assert models.MAX_CONNECTION_SECONDS is limits.MAX_CONNECTION_SECONDS
    assert frozenset(limits.BUILTIN_ROUTE_KEYS) == validators.RESERVED_ROUTE_KEYS
    assert validators.STAGE_NAME_MAX_LENGTH == limits.STAGE_NAME_MAX_LENGTH


@pytest.mark.parametrize(
    ("route_key", "valid"),
    [
        ("send", True),
        ("a-b_C9", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("", False),
        ("a.b", False),
        ("$send", False),
        ("send\n", False),
    ],
)
def test_route_key_pattern(route_key: str, valid: bool) -> None:
    from websockets_app.limits import ROUTE_KEY_PATTERN

    assert bool(ROUTE_KEY_PATTERN.match(route_key)) is valid


def test_payload_error_quotes_the_limit_from_the_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    from websockets_app import limits, messaging
    from websockets_app.messaging import payloads

    monkeypatch.setattr(payloads, "MAX_PAYLOAD_BYTES", 1024)
    with pytest.raises(messaging.PayloadError, match=r"at most 1024 bytes \(1 KB\)"):
        messaging.encode_payload(b"x" * 1025)
    assert limits.describe_bytes(128 * 1024) == "128 KB"
