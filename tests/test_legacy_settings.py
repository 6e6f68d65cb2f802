"""The settings of django-aws-api-gateway-websockets: each name is honoured (with a deprecation warning naming its
replacement) or reported by ``manage.py check`` as not read, and why. None is silently ignored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import INFO
from django.http import HttpRequest

from websockets_app.checks import check_legacy_settings, check_view_legacy_attributes, check_websockets_settings
from websockets_app.conf import ws_settings
from websockets_app.models import ApiGateway
from websockets_app.provisioning.run import make_client
from websockets_app.rate_limits import ConnectionLimits
from websockets_app.views import WebSocketView

ROOT = Path(__file__).resolve().parent.parent


def ids_and_text(messages: list[Any]) -> list[tuple[str, str]]:
    return [(message.id, f"{message.msg} {message.hint or ''}") for message in messages]


@pytest.fixture(autouse=True)
def _no_region_from_the_environment(monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


# -- regions: honoured, so sends have an endpoint --------------------------------------------------------------------


def test_the_original_gateway_region_setting_gives_sends_their_endpoint(settings):
    settings.AWS_GATEWAY_REGION_NAME = "eu-west-2"
    gateway = ApiGateway(api_name="chat", api_id="abc123")
    assert ws_settings.region == "eu-west-2"
    assert gateway.management_endpoint_url == "https://abc123.execute-api.eu-west-2.amazonaws.com/production"


def test_aws_region_name_is_the_fallback_and_the_new_key_wins(settings):
    settings.AWS_REGION_NAME = "us-east-2"
    assert ws_settings.region == "us-east-2"
    settings.AWS_GATEWAY_REGION_NAME = "eu-west-2"
    assert ws_settings.region == "eu-west-2"
    settings.WEBSOCKETS = {"AWS_REGION": "ap-south-1"}
    assert ws_settings.region == "ap-south-1"


def test_each_region_setting_is_reported_with_its_replacement(settings):
    settings.AWS_GATEWAY_REGION_NAME = "eu-west-2"
    settings.AWS_REGION_NAME = "eu-west-1"
    found = ids_and_text(check_legacy_settings())
    assert ("websockets_app.W010", next(text for _, text in found if "AWS_GATEWAY_REGION_NAME" in text)) in found
    gateway_text = next(text for _, text in found if "AWS_GATEWAY_REGION_NAME" in text)
    assert "read as WEBSOCKETS['AWS_REGION']" in gateway_text
    region_text = next(text for _, text in found if "settings.AWS_REGION_NAME" in text)
    assert "ignored because AWS_GATEWAY_REGION_NAME is set" in region_text
    assert "Rename it to WEBSOCKETS['AWS_REGION']" in region_text


# -- the profile: honoured by provisioning ---------------------------------------------------------------------------


def test_the_original_profile_setting_signs_provisioning_calls(settings, monkeypatch, tmp_path):
    credentials = tmp_path / "credentials"
    credentials.write_text("[legacy]\naws_access_key_id = AKIALEGACYPROFILE000\naws_secret_access_key = x\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    settings.AWS_IAM_PROFILE = "legacy"
    client = make_client("apigatewayv2", "eu-west-1")
    assert client._request_signer._credentials.access_key == "AKIALEGACYPROFILE000"
    [(check_id, text)] = [m for m in ids_and_text(check_legacy_settings()) if "AWS_IAM_PROFILE" in m[1]]
    assert check_id == "websockets_app.W010"
    assert "WEBSOCKETS['AWS_PROFILE']" in text


# -- credentials: never read, always reported ------------------------------------------------------------------------


def test_credentials_in_settings_are_reported_and_never_echoed(settings):
    settings.AWS_ACCESS_KEY_ID = "AKIAEXAMPLEEXAMPLE00"
    settings.AWS_SECRET_ACCESS_KEY = "do-not-print-me"
    found = ids_and_text(check_legacy_settings())
    reported = [text for check_id, text in found if check_id == "websockets_app.W011"]
    assert len(reported) == 2
    assert any("AWS_ACCESS_KEY_ID" in text for text in reported)
    assert any("AWS_SECRET_ACCESS_KEY" in text for text in reported)
    assert all("IAM role" in text and "version control" in text for text in reported)
    assert not any("AKIAEXAMPLE" in text or "do-not-print-me" in text for _, text in found)


# -- the lower-case WEBSOCKETS keys ----------------------------------------------------------------------------------


def test_the_original_token_keys_are_honoured(settings):
    settings.WEBSOCKETS = {"token_expiry_seconds": 90, "token_rate_limit_per_minute": 5}
    assert ws_settings.TOKEN_EXPIRY_SECONDS == 90
    assert (ws_settings.TOKEN_RATE_LIMIT_ATTEMPTS, ws_settings.TOKEN_RATE_LIMIT_WINDOW_SECONDS) == (5, 60)


def test_the_original_connection_keys_set_both_limits_and_the_window(settings):
    settings.WEBSOCKETS = {"rate_limit_max_attempts": 7, "rate_limit_window_minutes": 3}
    assert ConnectionLimits.from_settings() == ConnectionLimits(ip_attempts=7, user_attempts=7, window_seconds=180)


def test_a_new_key_wins_over_the_original_one(settings):
    settings.WEBSOCKETS = {"token_expiry_seconds": 90, "TOKEN_EXPIRY_SECONDS": 30}
    assert ws_settings.TOKEN_EXPIRY_SECONDS == 30
    [text] = [text for _, text in ids_and_text(check_legacy_settings()) if "token_expiry_seconds" in text]
    assert "ignored where WEBSOCKETS['TOKEN_EXPIRY_SECONDS'] is set" in text


@pytest.mark.parametrize("value", [0, -1, True, "60", 86401, None])
def test_a_bad_original_value_is_an_error_and_the_default_applies(settings, value):
    settings.WEBSOCKETS = {"token_expiry_seconds": value}
    assert ws_settings.TOKEN_EXPIRY_SECONDS == 60
    [(check_id, text)] = ids_and_text(check_legacy_settings())
    assert check_id == "websockets_app.E030"
    assert "WEBSOCKETS['TOKEN_EXPIRY_SECONDS']" in text


def test_original_keys_are_not_reported_as_unknown_keys(settings):
    settings.WEBSOCKETS = {"token_expiry_seconds": 60, "gateway_secret": "x" * 40, "typo_key": 1}
    unknown = [m.msg for m in check_websockets_settings() if m.id == "websockets_app.W001"]
    assert unknown == ["settings.WEBSOCKETS has an unknown key 'typo_key'; it is ignored."]


def test_keys_that_are_not_read_say_what_replaces_them(settings):
    settings.WEBSOCKETS = {"gateway_secret": "x" * 40, "allowed_integration_hosts": [], "push_changes_to_aws": True}
    found = ids_and_text(check_legacy_settings())
    assert [check_id for check_id, _ in found] == ["websockets_app.W012"] * 3
    texts = " ".join(text for _, text in found)
    assert "integration secret" in texts
    assert "https://" in texts
    assert "Update API Gateway" in texts or "updateApiGateway" in texts
    assert "x" * 40 not in texts


def test_a_bad_profile_name_is_an_error(settings):
    settings.WEBSOCKETS = {"AWS_PROFILE": 3}
    assert [m.id for m in check_legacy_settings()] == ["websockets_app.E031"]


# -- SEND_EXCEPTION_MAIL ---------------------------------------------------------------------------------------------


def test_a_view_asking_for_exception_mail_learns_that_none_is_sent():
    class MailingView(WebSocketView):
        SEND_EXCEPTION_MAIL = True

        def default(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
            return None

    class QuietView(WebSocketView):
        SEND_EXCEPTION_MAIL = False

    found = [m for m in check_view_legacy_attributes() if "MailingView" in m.msg or "QuietView" in m.msg]
    assert [(m.id, m.level) for m in found] == [("websockets_app.I001", INFO)]
    assert "no mail is ever sent" in found[0].msg
    assert "AdminEmailHandler" in found[0].hint


# -- manage.py check on a settings file written for the original package ---------------------------------------------


def test_manage_py_check_names_every_original_setting_with_its_replacement(tmp_path):
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.legacy_settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'check.sqlite3'}",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SECRET_KEY": "legacy-settings-check-" + "k" * 50,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    print(output)  # shown with -s: the report's sample output
    assert result.returncode == 0, output
    expected = {
        "AWS_GATEWAY_REGION_NAME": "WEBSOCKETS['AWS_REGION']",
        "AWS_REGION_NAME": "WEBSOCKETS['AWS_REGION']",
        "AWS_IAM_PROFILE": "WEBSOCKETS['AWS_PROFILE']",
        "AWS_ACCESS_KEY_ID": "IAM role",
        "AWS_SECRET_ACCESS_KEY": "IAM role",
        "token_rate_limit_per_minute": "WEBSOCKETS['TOKEN_RATE_LIMIT_ATTEMPTS']",
        "token_expiry_seconds": "WEBSOCKETS['TOKEN_EXPIRY_SECONDS']",
        "rate_limit_max_attempts": "WEBSOCKETS['CONNECT_RATE_LIMIT_IP_ATTEMPTS']",
        "rate_limit_window_minutes": "WEBSOCKETS['CONNECT_RATE_LIMIT_WINDOW_SECONDS']",
        "push_changes_to_aws": "updateApiGateway",
        "gateway_secret": "integration secret",
        "allowed_integration_hosts": "https://",
    }
    entries = output.split("\n?: ")
    for name, replacement in expected.items():
        matching = [entry for entry in entries if name in entry.split("\n")[0].split(";")[0]]
        assert matching, f"{name} is not reported"
        assert any(replacement in entry for entry in matching), f"{name} is reported without {replacement}"
    assert "AKIAEXAMPLE" not in output
    assert "legacy-secret-access-key" not in output
    assert "a-gateway-secret" not in output


def test_original_only_view_attributes_are_reported_as_having_no_effect():
    class PortedView(WebSocketView):
        ALLOW_UNLISTED_CHANNELS = False
        CHECK_PERMISSIONS_ON_CONNECT = True
        MAX_BODY_SIZE = 1024

    found = [m for m in check_view_legacy_attributes() if "PortedView" in m.msg]
    assert [m.id for m in found] == ["websockets_app.I002"] * 3
    assert [m.msg.split(".")[-2].split(" ")[0] for m in found] == [
        "ALLOW_UNLISTED_CHANNELS",
        "CHECK_PERMISSIONS_ON_CONNECT",
        "MAX_BODY_SIZE",
    ]
    assert all("no effect here" in m.msg and m.hint for m in found)
