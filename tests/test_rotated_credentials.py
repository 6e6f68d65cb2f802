"""RDS rotates the managed master password (every 7 days by default) while Lambda containers live on with the one
they read at init: a refused login re-reads the secret once and connects with the new credentials."""

from __future__ import annotations

import json

import boto3
import psycopg
import pytest
from django.db.backends.postgresql import base as postgresql
from moto import mock_aws

from infra.postgresql.base import DatabaseWrapper

REGION = "eu-west-1"
REFUSED = psycopg.OperationalError('connection failed: FATAL:  password authentication failed for user "django"')


@pytest.fixture
def rotated_secret(aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("secretsmanager", region_name=REGION)
        arn = client.create_secret(
            Name="rds!cluster-1", SecretString=json.dumps({"username": "django", "password": "new"})
        )["ARN"]
        monkeypatch.setenv("DATABASE_SECRET_ARN", arn)
        yield client


def wrapper() -> DatabaseWrapper:
    settings = {
        "ENGINE": "infra.postgresql",
        "NAME": "django",
        "USER": "django",
        "PASSWORD": "old",
        "HOST": "db.internal",
        "PORT": "5432",
        "OPTIONS": {},
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "AUTOCOMMIT": True,
        "ATOMIC_REQUESTS": False,
        "TIME_ZONE": None,
        "TEST": {},
    }
    return DatabaseWrapper(settings, alias="rotated")


def test_a_refused_login_reads_the_rotated_password_and_connects_with_it(rotated_secret, monkeypatch):
    attempts = []

    def connect(self, conn_params):
        attempts.append(conn_params["password"])
        if conn_params["password"] != "new":
            raise REFUSED
        return "connection"

    monkeypatch.setattr(postgresql.DatabaseWrapper, "get_new_connection", connect)
    database = wrapper()
    assert database.get_new_connection(database.get_connection_params()) == "connection"
    assert attempts == ["old", "new"]
    assert database.settings_dict["PASSWORD"] == "new"  # later connections start with it


def test_an_unchanged_password_is_not_retried(rotated_secret, monkeypatch):
    rotated_secret.put_secret_value(
        SecretId="rds!cluster-1", SecretString=json.dumps({"username": "django", "password": "old"})
    )
    attempts = []

    def connect(self, conn_params):
        attempts.append(conn_params["password"])
        raise REFUSED

    monkeypatch.setattr(postgresql.DatabaseWrapper, "get_new_connection", connect)
    database = wrapper()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        database.get_new_connection(database.get_connection_params())
    assert attempts == ["old"]


def test_other_connection_errors_do_not_read_the_secret(monkeypatch):
    monkeypatch.delenv("DATABASE_SECRET_ARN", raising=False)

    def connect(self, conn_params):
        raise psycopg.OperationalError("connection timeout expired")

    monkeypatch.setattr(postgresql.DatabaseWrapper, "get_new_connection", connect)
    monkeypatch.setenv("DATABASE_SECRET_ARN", "rds!would-fail-if-read")
    database = wrapper()
    with pytest.raises(psycopg.OperationalError, match="timeout"):
        database.get_new_connection(database.get_connection_params())


def test_the_settings_use_this_engine_for_credentials_from_a_secret():
    from tests.test_database_settings import SECRET_PARTS, database_settings

    assert database_settings({**SECRET_PARTS, "DATABASE_SECRET_ARN": "rds!x"})["ENGINE"] == "infra.postgresql"
    assert database_settings(SECRET_PARTS)["ENGINE"] == "django.db.backends.postgresql"
