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
                "CLIENT_URL": "wss://abc123.execute-api.eu-west-1.amazonaws.com/production",
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


@pytest.mark.parametrize(
    "url", ["wss://ws.example.com", "ws://127.0.0.1:8001", "wss://abc.execute-api.eu-west-1.amazonaws.com/prod?v=1"]
)
def test_client_url_may_be_a_websocket_url(settings, url):
    assert ids(settings, {"CLIENT_URL": url}) == []


@pytest.mark.parametrize(
    "url", ["https://ws.example.com", "ws.example.com", "wss://", "wss://ws.example.com/#x", "", 42, ["wss://a.b"]]
)
def test_client_url_must_be_a_ws_or_wss_url(settings, url):
    assert ids(settings, {"CLIENT_URL": url}) == ["websockets_app.E018"]


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


def test_a_full_valid_security_configuration_passes(settings):
    assert (
        ids(
            settings,
            {
                "TOKEN_REQUIRES_SESSION": False,
                "TOKEN_RATE_LIMIT_ATTEMPTS": None,
                "TOKEN_RATE_LIMIT_WINDOW_SECONDS": 10,
                "CONNECT_RATE_LIMIT_IP_ATTEMPTS": 100,
                "CONNECT_RATE_LIMIT_USER_ATTEMPTS": None,
                "CONNECT_RATE_LIMIT_WINDOW_SECONDS": 3600,
                "CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH": 56,
                "ALLOWED_ORIGINS": ["https://example.com", "https://.example.org", "http://localhost:8000"],
                "CHANNEL_NAME_PATTERN": r"room-[0-9]+",
                "CHANNEL_NAME_MAX_LENGTH": 20,
                "TRUSTED_PROXY_HOPS": 2,
            },
        )
        == []
    )


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("TOKEN_REQUIRES_SESSION", "yes", "E011"),
        ("TOKEN_REQUIRES_SESSION", 1, "E011"),
        ("TOKEN_RATE_LIMIT_ATTEMPTS", 0, "E012"),
        ("CONNECT_RATE_LIMIT_IP_ATTEMPTS", "20", "E012"),
        ("CONNECT_RATE_LIMIT_USER_ATTEMPTS", True, "E012"),
        ("TOKEN_RATE_LIMIT_WINDOW_SECONDS", None, "E013"),
        ("CONNECT_RATE_LIMIT_WINDOW_SECONDS", 0, "E013"),
        ("CONNECT_RATE_LIMIT_WINDOW_SECONDS", 86401, "E013"),
        ("ALLOWED_ORIGINS", "https://example.com", "E014"),
        ("ALLOWED_ORIGINS", ["example.com"], "E014"),
        ("ALLOWED_ORIGINS", ["https://example.com/"], "E014"),
        ("ALLOWED_ORIGINS", ["*"], "E014"),
        ("CHANNEL_NAME_PATTERN", "[", "E015"),
        ("CHANNEL_NAME_PATTERN", None, "E015"),
        ("CHANNEL_NAME_MAX_LENGTH", 129, "E016"),
        ("CHANNEL_NAME_MAX_LENGTH", 0, "E016"),
        ("TRUSTED_PROXY_HOPS", -1, "E017"),
        ("TRUSTED_PROXY_HOPS", "1", "E017"),
        ("CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH", 0, "E022"),
        ("CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH", 129, "E022"),
        ("CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH", "64", "E022"),
        ("CONNECT_RATE_LIMIT_IPV6_PREFIX_LENGTH", True, "E022"),
    ],
)
def test_bad_security_settings_are_errors(settings, key, value, error):
    assert ids(settings, {key: value}) == [f"websockets_app.{error}"]


def test_a_sqlite_database_without_immediate_transactions_is_warned_about(settings):
    from django.db import connections

    from websockets_app.checks import check_rate_limit_locking

    options = connections["default"].settings_dict.setdefault("OPTIONS", {})
    saved = options.get("transaction_mode")
    try:
        options["transaction_mode"] = None
        expected = [] if connections["default"].vendor == "postgresql" else ["websockets_app.W003"]
        assert [message.id for message in check_rate_limit_locking()] == expected
    finally:
        if saved is None:
            options.pop("transaction_mode", None)
        else:
            options["transaction_mode"] = saved
    assert check_rate_limit_locking() == []


def test_the_deploy_check_warns_while_any_origin_may_connect(settings):
    from websockets_app.checks import check_allowed_origins

    settings.WEBSOCKETS = {}
    assert [message.id for message in check_allowed_origins()] == ["websockets_app.W002"]
    settings.WEBSOCKETS = {"ALLOWED_ORIGINS": ["https://example.com"]}
    assert check_allowed_origins() == []
