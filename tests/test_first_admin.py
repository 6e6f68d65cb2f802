"""The first admin of a deployed stack: {"create_admin": ...} to the operator function (make createsuperuser).

The password is generated inside the function and stored only in a new Secrets Manager secret (moto here) named
after the stack; the answer, the logs and the event carry the secret's name, never the password.
"""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from django.contrib.auth import get_user_model
from moto import mock_aws

from infra.commands import run_command_line
from infra.handlers import handler, manage_handler

# The handlers tidy connections as Django does after a request; these tests run inside a test transaction.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection")]
REGION = "eu-west-1"
PREFIX = "django-websockets-staging/admin/"


@pytest.fixture
def secretsmanager(aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("ADMIN_PASSWORD_SECRET_PREFIX", PREFIX)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def create_admin(username: object = "ada", email: object = "ada@example.com") -> dict:
    return manage_handler({"create_admin": {"username": username, "email": email}}, None)


def test_the_first_admin_is_created_with_a_password_that_only_secrets_manager_holds(secretsmanager, caplog):
    caplog.set_level(logging.DEBUG)  # botocore logs request bodies at DEBUG
    result = create_admin()
    logged = caplog.text
    assert result["exit_code"] == 0, result
    secret = json.loads(secretsmanager.get_secret_value(SecretId=PREFIX + "ada")["SecretString"])
    assert secret["username"] == "ada"
    password = secret["password"]
    assert len(password) >= 32
    user = get_user_model().objects.get(username="ada")
    assert (user.is_superuser, user.is_staff, user.email) == (True, True, "ada@example.com")
    assert user.check_password(password)
    assert PREFIX + "ada" in result["output"]
    assert password not in json.dumps(result)
    assert password not in logged


def test_the_generic_event_handler_sends_it_to_the_operator_function(secretsmanager):
    result = handler({"create_admin": {"username": "grace", "email": "grace@example.com"}}, None)
    assert result["exit_code"] == 0, result
    assert get_user_model().objects.filter(username="grace", is_superuser=True).exists()


def test_an_existing_user_is_refused_and_no_secret_is_made(secretsmanager, django_user_model):
    django_user_model.objects.create_user("ada", password="unchanged-1")
    result = create_admin()
    assert result["exit_code"] == 1
    assert "already exists" in result["output"]
    assert secretsmanager.list_secrets()["SecretList"] == []
    assert django_user_model.objects.get(username="ada").check_password("unchanged-1")


def test_a_secret_that_already_exists_leaves_no_user_behind(secretsmanager):
    secretsmanager.create_secret(Name=PREFIX + "ada", SecretString="someone else's")
    result = create_admin()
    assert result["exit_code"] == 1
    assert "ResourceExistsException" in result["output"]
    assert not get_user_model().objects.filter(username="ada").exists()
    assert secretsmanager.get_secret_value(SecretId=PREFIX + "ada")["SecretString"] == "someone else's"


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ("ada", "an object"),
        ({"username": "ada"}, "username and email"),
        ({"username": "ada", "email": "ada@example.com", "password": "x"}, "username and email"),
        ({"username": "", "email": "ada@example.com"}, "username"),
        ({"username": "ädä", "email": "ada@example.com"}, "username"),
        ({"username": "a/../b", "email": "ada@example.com"}, "username"),
        ({"username": "a" * 200, "email": "ada@example.com"}, "username"),
        ({"username": ["ada"], "email": "ada@example.com"}, "username"),
        ({"username": "ada", "email": "not-an-email"}, "email"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_created(secretsmanager, request_, message):
    result = manage_handler({"create_admin": request_}, None)
    assert result["exit_code"] == 2
    assert message in result["output"]
    assert not get_user_model().objects.exists()
    assert secretsmanager.list_secrets()["SecretList"] == []


def test_without_a_secret_prefix_nothing_is_created(secretsmanager, monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD_SECRET_PREFIX")
    result = create_admin()
    assert result["exit_code"] == 2
    assert "ADMIN_PASSWORD_SECRET_PREFIX" in result["output"]
    assert not get_user_model().objects.exists()


def test_createsuperuser_stays_off_the_manage_allow_list():
    result = run_command_line("createsuperuser --noinput --username ada --email ada@example.com")
    assert result["exit_code"] == 2
    assert "not allowed" in result["output"]
