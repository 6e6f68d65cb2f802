import pytest

from websockets_app.conf import DEFAULTS, ws_settings


def test_defaults_apply_when_nothing_is_set(settings):
    settings.WEBSOCKETS = {}
    assert ws_settings.URL_PREFIX == "/ws/"
    assert ws_settings.TOKEN_EXPIRY_SECONDS == 60
    assert ws_settings.MANAGEMENT_ENDPOINT_URL is None
    assert ws_settings.SEND_CONCURRENCY == 200
    assert ws_settings.SEND_MAX_ATTEMPTS == 6
    assert ws_settings.FANOUT_QUEUE_URL is None
    assert ws_settings.FANOUT_THRESHOLD == 5000
    assert ws_settings.FANOUT_BATCH_SIZE == 1000
    assert ws_settings.CLIENT_URL is None


def test_project_settings_override_defaults_and_changes_are_picked_up(settings):
    settings.WEBSOCKETS = {"TOKEN_EXPIRY_SECONDS": 30}
    assert ws_settings.TOKEN_EXPIRY_SECONDS == 30
    settings.WEBSOCKETS = {"TOKEN_EXPIRY_SECONDS": 45}
    assert ws_settings.TOKEN_EXPIRY_SECONDS == 45


def test_unknown_names_are_an_attribute_error():
    with pytest.raises(AttributeError, match="Unknown WEBSOCKETS setting"):
        _ = ws_settings.NOT_A_SETTING


def test_unknown_keys_in_the_project_settings_are_ignored(settings):
    settings.WEBSOCKETS = {"TYPO_KEY": 1}
    with pytest.raises(AttributeError):
        _ = ws_settings.TYPO_KEY


def test_a_non_dict_setting_falls_back_to_the_defaults(settings):
    settings.WEBSOCKETS = ["not", "a", "dict"]
    assert DEFAULTS["URL_PREFIX"] == ws_settings.URL_PREFIX


@pytest.mark.parametrize(
    ("configured", "env", "expected"),
    [
        ("eu-west-1", {"AWS_REGION": "us-east-1"}, "eu-west-1"),
        (None, {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-west-2"}, "us-east-1"),
        (None, {"AWS_DEFAULT_REGION": "us-west-2"}, "us-west-2"),
        (None, {}, ""),
    ],
)
def test_region_prefers_the_setting_then_the_runtime(settings, monkeypatch, configured, env, expected):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings.WEBSOCKETS = {"AWS_REGION": configured} if configured else {}
    assert ws_settings.region == expected


def test_every_setting_has_a_declared_type_and_every_declared_type_a_setting():
    from websockets_app.conf import DEFAULTS, WebSocketSettings

    assert set(WebSocketSettings.__annotations__) == set(DEFAULTS)
