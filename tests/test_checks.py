import pytest

from websockets_app.checks import check_websockets_settings


def ids(settings, value):
    settings.WEBSOCKETS = value
    return [message.id for message in check_websockets_settings()]


def test_the_project_settings_pass():
    assert check_websockets_settings() == []


def test_a_full_valid_configuration_passes(settings):
    assert (
        ids(
            settings,
            {
                "URL_PREFIX": "/sockets/",
                "TOKEN_EXPIRY_SECONDS": 120,
                "MANAGEMENT_ENDPOINT_URL": "http://127.0.0.1:8001",
                "AWS_REGION": "eu-west-1",
            },
        )
        == []
    )


def test_a_non_dict_is_an_error(settings):
    assert ids(settings, "nope") == ["websockets_app.E001"]


def test_unknown_keys_are_warned_about_by_name(settings):
    settings.WEBSOCKETS = {"TOKEN_EXPIRY": 5}
    [message] = check_websockets_settings()
    assert message.id == "websockets_app.W001"
    assert "'TOKEN_EXPIRY'" in message.msg


@pytest.mark.parametrize("prefix", ["ws/", "/ws", "//", "/a//b/", 3])
def test_url_prefix_must_be_a_slash_delimited_path(settings, prefix):
    assert ids(settings, {"URL_PREFIX": prefix}) == ["websockets_app.E002"]


@pytest.mark.parametrize("expiry", [0, -5, "60", 1.5, True])
def test_token_expiry_must_be_a_positive_integer(settings, expiry):
    assert ids(settings, {"TOKEN_EXPIRY_SECONDS": expiry}) == ["websockets_app.E003"]


@pytest.mark.parametrize("url", ["ftp://host/x", "127.0.0.1:8001", "", 42])
def test_management_endpoint_must_be_an_http_url(settings, url):
    assert ids(settings, {"MANAGEMENT_ENDPOINT_URL": url}) == ["websockets_app.E004"]


@pytest.mark.parametrize("region", ["", 1])
def test_region_must_be_a_name(settings, region):
    assert ids(settings, {"AWS_REGION": region}) == ["websockets_app.E005"]
