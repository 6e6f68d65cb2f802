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
                "SEND_CONCURRENCY": 50,
                "SEND_MAX_ATTEMPTS": 1,
                "FANOUT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/fanout",
                "FANOUT_THRESHOLD": 1,
                "FANOUT_BATCH_SIZE": 10000,
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


@pytest.mark.parametrize("value", [0, 1001, "200", 2.0, True, None])
def test_send_concurrency_must_be_a_sane_integer(settings, value):
    assert ids(settings, {"SEND_CONCURRENCY": value}) == ["websockets_app.E006"]


@pytest.mark.parametrize("value", [0, 21, "3", True])
def test_send_max_attempts_must_be_a_small_positive_integer(settings, value):
    assert ids(settings, {"SEND_MAX_ATTEMPTS": value}) == ["websockets_app.E007"]


@pytest.mark.parametrize("url", ["sqs.eu-west-1.amazonaws.com/1/q", "", 5, "ftp://x/q"])
def test_fanout_queue_url_must_be_a_url(settings, url):
    assert ids(settings, {"FANOUT_QUEUE_URL": url}) == ["websockets_app.E008"]


@pytest.mark.parametrize("value", [0, -1, "5000", False])
def test_fanout_threshold_must_be_a_positive_integer(settings, value):
    assert ids(settings, {"FANOUT_THRESHOLD": value}) == ["websockets_app.E009"]


@pytest.mark.parametrize("value", [0, 10001, "1000", 1.0])
def test_fanout_batch_size_must_be_within_limits(settings, value):
    assert ids(settings, {"FANOUT_BATCH_SIZE": value}) == ["websockets_app.E010"]
