"""websockets_app.aws_lambda.route_selection: a message's route, picked as API Gateway picks it."""

from __future__ import annotations

import pytest

from websockets_app.aws_lambda.route_selection import select_route, selection_path


@pytest.mark.parametrize("expression", ["action", "$request.header.x", "$request.body.", "$request.body.a..b", None])
def test_an_expression_of_another_form_is_refused_with_the_form_it_must_have(expression):
    with pytest.raises(ValueError, match=r"must look like \$request\.body\.<key>"):
        selection_path(expression)


@pytest.mark.parametrize(
    ("expression", "path"),
    [("$request.body.action", ("action",)), ("$request.body.message.type", ("message", "type"))],
)
def test_an_expression_names_the_body_keys_it_reads(expression, path):
    assert selection_path(expression) == path


def test_a_nested_key_selects_a_route():
    assert select_route('{"message": {"type": "join"}}', ("message", "type"), frozenset({"join"})) == "join"
    assert select_route('{"message": "join"}', ("message", "type"), frozenset({"join"})) == "$default"


def test_without_custom_routes_every_message_goes_to_default():
    assert select_route('{"action": "send"}', ("action",), frozenset()) == "$default"


@pytest.mark.parametrize(
    ("data", "route"),
    [
        ('{"action": "send"}', "send"),
        ('{"action": "other"}', "$default"),
        ('{"action": 7}', "$default"),
        ('{"text": "x"}', "$default"),
        ("[1, 2]", "$default"),
        ("not json", "$default"),
        (b'{"action": "send"}', "$default"),
    ],
)
def test_route_selection_follows_api_gateway(data, route):
    assert select_route(data, ("action",), frozenset({"send"})) == route
