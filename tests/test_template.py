"""template.yaml and samconfig.toml: valid for cfn-lint, and transformed offline into the CloudFormation we expect."""

from __future__ import annotations

import importlib
import json
import re
import tomllib
from pathlib import Path

import pytest
from boto3.session import Session
from cfnlint.api import lint
from cfnlint.decode import decode_str
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()


@pytest.fixture(scope="module")
def resources() -> dict:
    template, errors = decode_str(TEMPLATE_TEXT)
    assert not errors
    template = json.loads(json.dumps(template))
    for resource in template["Resources"].values():  # what `sam package` does: local code -> uploaded artifact
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/code.zip"
    # Offline: a fixed region, and no look-up of AWS managed policies (the template names none by name).
    translator = Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=Session(region_name="eu-west-1"))
    output = translator.translate(template, parameter_values={})
    return output["Resources"]


def of_type(resources: dict, kind: str) -> dict:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def test_cfn_lint_finds_nothing():
    assert [str(m) for m in lint(TEMPLATE_TEXT, regions=["us-east-1", "eu-west-1"])] == []


def test_functions_run_python_3_12_on_arm64_with_an_importable_handler(resources):
    functions = of_type(resources, "AWS::Lambda::Function")
    assert functions
    for function in functions.values():
        props = function["Properties"]
        assert (props["Runtime"], props["Architectures"]) == ("python3.12", ["arm64"])
        module, name = props["Handler"].rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name))


def test_the_site_is_served_by_an_http_api(resources):
    [api] = of_type(resources, "AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["Body"]["info"]  # an OpenAPI body routing every path to the HTTP function


def test_secrets_are_referenced_never_written_into_the_template():
    env = TEMPLATE_TEXT.split("Variables:", 1)[1]
    assert "{{resolve:secretsmanager:${DjangoSecretKeySecretName}}}" in env
    assert "{{resolve:secretsmanager:${DatabaseUrlSecretName}}}" in env
    assert not re.search(r"postgres(ql)?://[^.\s]+@", TEMPLATE_TEXT)  # no connection string with credentials


def test_samconfig_deploys_the_stack_with_iam_capabilities():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    assert config["default"]["global"]["parameters"]["stack_name"]
    assert config["default"]["deploy"]["parameters"]["capabilities"] == "CAPABILITY_IAM"
