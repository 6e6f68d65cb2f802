"""Secrets at Lambda init: read by name from SSM Parameter Store or Secrets Manager (moto), before Django starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra.secrets import SecretsError, load_secrets

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"


@pytest.fixture
def fake_aws(aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def ssm(fake_aws):
    client = boto3.client("ssm", region_name=REGION)
    client.put_parameter(Name="/app/secret-key", Value="k" * 50, Type="SecureString")
    client.put_parameter(Name="/app/database-url", Value="postgres://u:p@db.internal:5432/app", Type="SecureString")
    return client


@pytest.fixture
def secretsmanager(fake_aws):
    client = boto3.client("secretsmanager", region_name=REGION)
    client.create_secret(Name="app/secret-key", SecretString="s" * 50)
    client.create_secret(Name="app/database-url", SecretString="postgres://u:p@db.internal:5432/app")
    return client


def test_without_parameter_names_nothing_is_read_or_changed():
    environ = {"DJANGO_SECRET_KEY": "kept"}
    assert load_secrets(environ) == []
    assert environ == {"DJANGO_SECRET_KEY": "kept"}


def test_ssm_securestrings_are_decrypted_into_the_environment(ssm):
    environ = {"DJANGO_SECRET_KEY_PARAMETER": "/app/secret-key", "DATABASE_URL_PARAMETER": "/app/database-url"}
    assert load_secrets(environ) == ["DATABASE_URL", "DJANGO_SECRET_KEY"]
    assert environ["DJANGO_SECRET_KEY"] == "k" * 50
    assert environ["DATABASE_URL"] == "postgres://u:p@db.internal:5432/app"


def test_secrets_manager_secrets_are_read_when_that_store_is_named(secretsmanager):
    environ = {
        "DJANGO_SECRETS_STORE": "secretsmanager",
        "DJANGO_SECRET_KEY_PARAMETER": "app/secret-key",
        "DATABASE_URL_PARAMETER": "app/database-url",
    }
    assert load_secrets(environ) == ["DATABASE_URL", "DJANGO_SECRET_KEY"]
    assert environ["DJANGO_SECRET_KEY"] == "s" * 50


def test_only_the_named_parameters_are_read(ssm):
    environ = {"DJANGO_SECRET_KEY_PARAMETER": "/app/secret-key", "DATABASE_URL": "sqlite:///local.db"}
    assert load_secrets(environ) == ["DJANGO_SECRET_KEY"]
    assert environ["DATABASE_URL"] == "sqlite:///local.db"


def test_a_named_parameter_replaces_a_value_already_in_the_environment(ssm):
    environ = {"DJANGO_SECRET_KEY_PARAMETER": "/app/secret-key", "DJANGO_SECRET_KEY": "stale"}
    load_secrets(environ)
    assert environ["DJANGO_SECRET_KEY"] == "k" * 50


def test_a_missing_parameter_stops_init_naming_it_and_sets_nothing(ssm):
    environ = {"DJANGO_SECRET_KEY_PARAMETER": "/app/secret-key", "DATABASE_URL_PARAMETER": "/app/nope"}
    with pytest.raises(SecretsError, match=r"Cannot read DATABASE_URL from the ssm parameter '/app/nope'"):
        load_secrets(environ)
    assert "DJANGO_SECRET_KEY" not in environ
    assert "DATABASE_URL" not in environ


def test_a_missing_secret_is_reported_without_any_value(secretsmanager):
    environ = {"DJANGO_SECRETS_STORE": "secretsmanager", "DJANGO_SECRET_KEY_PARAMETER": "app/other"}
    with pytest.raises(SecretsError, match=r"secretsmanager parameter 'app/other'") as raised:
        load_secrets(environ)
    assert "s" * 50 not in str(raised.value)


def test_an_empty_value_is_refused(ssm):
    ssm.put_parameter(Name="/app/blank", Value=" ", Type="SecureString")
    with pytest.raises(SecretsError, match="is empty"):
        load_secrets({"DJANGO_SECRET_KEY_PARAMETER": "/app/blank"})


def test_an_unknown_store_is_refused_before_any_call():
    environ = {"DJANGO_SECRETS_STORE": "vault", "DJANGO_SECRET_KEY_PARAMETER": "/app/secret-key"}
    with pytest.raises(SecretsError, match=r"DJANGO_SECRETS_STORE must be one of ssm, secretsmanager; got 'vault'"):
        load_secrets(environ)
    assert "DJANGO_SECRET_KEY" not in environ


# A fresh process, production settings: importing the Lambda entry module fills the secrets before Django reads them.
ENTRY = textwrap.dedent(
    """
    import json, sys, boto3
    from moto import mock_aws
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-west-1")
        ssm.put_parameter(Name="/app/secret-key", Value="from-ssm-" + "k" * 50, Type="SecureString")
        ssm.put_parameter(Name="/app/database-url", Value="sqlite:///" + sys.argv[1], Type="SecureString")
        import infra.handlers
        from django.conf import settings
        print(json.dumps({"key": settings.SECRET_KEY, "db": str(settings.DATABASES["default"]["NAME"])}))
    """
)


@pytest.mark.slow
def test_the_lambda_entry_module_reads_its_secrets_before_django_starts(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "AWS_", "WEBSOCKETS_"))
    }
    env.update(
        {
            "DJANGO_SECRET_KEY_PARAMETER": "/app/secret-key",
            "DATABASE_URL_PARAMETER": "/app/database-url",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        }
    )
    database = tmp_path / "lambda.sqlite3"
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, str(database)], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"key": "from-ssm-" + "k" * 50, "db": str(database)}


# The RDS-managed master secret of a stack-owned database: JSON credentials, host and name given by the template.
RDS_SECRET = {"engine": "postgres", "username": "django", "password": "p@ss:w/rd#1"}


@pytest.fixture
def rds_secret(secretsmanager) -> str:
    return secretsmanager.create_secret(Name="rds!cluster-1234", SecretString=json.dumps(RDS_SECRET))["ARN"]


def test_an_rds_managed_secret_fills_the_database_user_and_password(rds_secret, ssm):
    environ = {"DJANGO_SECRET_KEY_PARAMETER": "/app/secret-key", "DATABASE_SECRET_ARN": rds_secret}
    assert load_secrets(environ) == ["DATABASE_PASSWORD", "DATABASE_USER", "DJANGO_SECRET_KEY"]
    assert (environ["DATABASE_USER"], environ["DATABASE_PASSWORD"]) == ("django", "p@ss:w/rd#1")
    assert "DATABASE_URL" not in environ  # no URL is ever composed: the password needs no escaping


def test_the_database_secret_comes_from_secrets_manager_in_one_call_whatever_the_store(rds_secret, monkeypatch):
    from aws_lambda_powertools.utilities import parameters

    calls = []
    real_get_secret = parameters.get_secret
    monkeypatch.setattr(parameters, "get_secret", lambda name, **kw: calls.append(name) or real_get_secret(name, **kw))
    environ = {"DJANGO_SECRETS_STORE": "ssm", "DATABASE_SECRET_ARN": rds_secret}
    assert load_secrets(environ) == ["DATABASE_PASSWORD", "DATABASE_USER"]
    assert calls == [rds_secret]


@pytest.mark.parametrize(
    "secret_string",
    ['{"username": "django"}', '{"username": "", "password": "x"}', "[1, 2]", "not json p@ss:w/rd#1"],
)
def test_a_database_secret_without_credentials_stops_init_without_showing_it(secretsmanager, secret_string):
    arn = secretsmanager.create_secret(Name="rds!broken", SecretString=secret_string)["ARN"]
    environ = {"DATABASE_SECRET_ARN": arn}
    with pytest.raises(SecretsError, match="is not a JSON object with a non-empty") as raised:
        load_secrets(environ)
    assert "p@ss" not in str(raised.value)
    assert "django" not in str(raised.value)
    assert set(environ) == {"DATABASE_SECRET_ARN"}


def test_a_missing_database_secret_sets_nothing(ssm, fake_aws):
    environ = {"DJANGO_SECRET_KEY_PARAMETER": "/app/secret-key", "DATABASE_SECRET_ARN": "rds!nope"}
    with pytest.raises(SecretsError, match=r"Cannot read the database credentials from the secret 'rds!nope'"):
        load_secrets(environ)
    assert set(environ) == {"DJANGO_SECRET_KEY_PARAMETER", "DATABASE_SECRET_ARN"}


def test_a_database_url_and_a_database_secret_together_are_refused_before_any_call():
    environ = {"DATABASE_URL_PARAMETER": "/app/database-url", "DATABASE_SECRET_ARN": "rds!x"}
    with pytest.raises(SecretsError, match="not both"):
        load_secrets(environ)


ENTRY_WITH_CLUSTER = textwrap.dedent(
    """
    import json, boto3
    from moto import mock_aws
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-west-1")
        ssm.put_parameter(Name="/app/secret-key", Value="from-ssm-" + "k" * 50, Type="SecureString")
        sm = boto3.client("secretsmanager", region_name="eu-west-1")
        secret = {"username": "django", "password": "p@ss:w/rd#1"}
        arn = sm.create_secret(Name="rds!cluster-1", SecretString=json.dumps(secret))["ARN"]
        import os
        os.environ["DATABASE_SECRET_ARN"] = arn
        import infra.handlers
        from django.conf import settings
        db = settings.DATABASES["default"]
        print(json.dumps([db["ENGINE"], db["HOST"], db["NAME"], db["USER"], db["PASSWORD"], db["CONN_MAX_AGE"]]))
    """
)


@pytest.mark.slow
def test_the_lambda_entry_module_builds_the_clusters_connection_from_its_managed_secret():
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "AWS_", "WEBSOCKETS_", "CONN_"))
    }
    env.update(
        {
            # What template.yaml gives every function in DatabaseMode=aurora with RDS Proxy.
            "DJANGO_SECRET_KEY_PARAMETER": "/app/secret-key",
            "DATABASE_URL": "",
            "DATABASE_URL_PARAMETER": "",
            "DATABASE_HOST": "proxy.internal",
            "DATABASE_PORT": "5432",
            "DATABASE_NAME": "django",
            "DATABASE_POOLED": "1",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", ENTRY_WITH_CLUSTER], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [
        "infra.postgresql",
        "proxy.internal",
        "django",
        "django",
        "p@ss:w/rd#1",
        0,
    ]


@pytest.mark.parametrize("store", ["ssm", "secretsmanager"])
def test_reading_a_secret_never_waits_on_aws_for_botocores_minutes(store, monkeypatch):
    """At init, and on a login refused after a rotation, a slow AWS must fail the read within seconds."""
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    from infra.secrets import _fetcher

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    saved = dict(DEFAULT_PROVIDERS)
    DEFAULT_PROVIDERS.clear()
    try:
        _fetcher(store)
        config = DEFAULT_PROVIDERS["ssm" if store == "ssm" else "secrets"].client.meta.config
    finally:
        DEFAULT_PROVIDERS.clear()
        DEFAULT_PROVIDERS.update(saved)
    assert config.connect_timeout <= 3
    assert config.read_timeout <= 5
    assert config.retries["total_max_attempts"] <= 2
