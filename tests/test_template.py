"""template.yaml and samconfig.toml: valid for cfn-lint, and transformed offline into the CloudFormation we expect."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
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


def yaml_parameters() -> dict:
    template, errors = decode_str(TEMPLATE_TEXT)
    assert not errors
    return json.loads(json.dumps(template["Parameters"]))


@pytest.fixture(scope="module")
def resources() -> dict:
    template, errors = decode_str(TEMPLATE_TEXT)
    assert not errors
    template = json.loads(json.dumps(template))
    # What `sam package` does: local code -> uploaded artifact.
    template["Globals"]["Function"]["CodeUri"] = "s3://artifacts/code.zip"
    template["Resources"]["DependenciesLayer"]["Properties"]["ContentUri"] = "s3://artifacts/layer.zip"
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
    api = resources["HttpApi"]
    assert api["Properties"]["Body"]["info"]  # an OpenAPI body routing every path to the HTTP function


def sub_text(value: object) -> str:
    """The text of a string, a {"Fn::Sub": ...} or an {"Fn::If": [...]} (both branches), for assertions."""
    return json.dumps(value)


def test_the_websocket_api_selects_routes_by_action(resources):
    [api] = [r for r in of_type(resources, "AWS::ApiGatewayV2::Api").values() if r["Properties"].get("ProtocolType")]
    assert api["Properties"]["ProtocolType"] == "WEBSOCKET"
    assert api["Properties"]["RouteSelectionExpression"] == "$request.body.action"


def test_three_routes_through_an_aws_proxy_integration_to_the_websocket_function(resources):
    routes = of_type(resources, "AWS::ApiGatewayV2::Route")
    assert sorted(r["Properties"]["RouteKey"] for r in routes.values()) == ["$connect", "$default", "$disconnect"]
    [(integration_id, integration)] = of_type(resources, "AWS::ApiGatewayV2::Integration").items()
    assert integration["Properties"]["IntegrationType"] == "AWS_PROXY"
    assert "${WebSocketFunction.Arn}" in sub_text(integration["Properties"]["IntegrationUri"])
    for route in routes.values():
        assert route["Properties"]["Target"] == {"Fn::Sub": f"integrations/${{{integration_id}}}"}
    [default_response] = of_type(resources, "AWS::ApiGatewayV2::RouteResponse").values()
    assert default_response["Properties"]["RouteId"] == {"Ref": "DefaultRoute"}  # two-way: replies reach the client


def test_the_stage_is_throttled_and_access_logged(resources):
    stages = of_type(resources, "AWS::ApiGatewayV2::Stage")
    stage = stages["WebSocketStage"]["Properties"]
    assert stage["StageName"] == {"Ref": "Stage"}
    assert set(stage["DefaultRouteSettings"]) == {"ThrottlingBurstLimit", "ThrottlingRateLimit"}
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["WebSocketAccessLogs", "Arn"]}
    assert json.loads(stage["AccessLogSettings"]["Format"])["connectionId"] == "$context.connectionId"


def test_api_gateway_may_invoke_the_websocket_function_for_this_api_only(resources):
    permission = resources["WebSocketInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "WebSocketFunction"}
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert "${WebSocketApi}/${Stage}/*" in sub_text(permission["SourceArn"])


def test_the_custom_domain_is_optional_and_mapped_to_the_stage(resources):
    template, _ = decode_str(TEMPLATE_TEXT)
    assert resources["WebSocketDomain"]["Condition"] == "HasCustomDomain"
    assert resources["WebSocketDomainMapping"]["Properties"]["Stage"] == {"Ref": "WebSocketStage"}
    assert resources["WebSocketAliasRecord"]["Condition"] == "CreatesAliasRecord"
    assert "InVpc" in template["Conditions"]


def test_each_schedule_names_its_job(resources):
    rules = of_type(resources, "AWS::Events::Rule")
    inputs = {}
    for rule in rules.values():
        [target] = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": ["CleanupFunction", "Arn"]}
        text = target["Input"]["Fn::Sub"] if isinstance(target["Input"], dict) else target["Input"]
        text = text.replace("${TokenMaxAgeSeconds}", "300").replace("${RateLimitMaxAgeDays}", "7")
        inputs[rule["Properties"]["ScheduleExpression"]["Ref"]] = json.loads(text)
    assert inputs == {
        "SessionCleanupSchedule": {"cleanup": "sessions"},
        "TokenCleanupSchedule": {"cleanup": "tokens", "options": {"token_age": 300, "rate_limit_age": 7}},
        "StaleSessionSweepSchedule": {"cleanup": "stale"},
    }
    assert len(of_type(resources, "AWS::Lambda::Permission")) >= 4  # each rule may invoke the function


def test_schedule_inputs_are_jobs_the_cleanup_accepts():
    from infra.cleanup import command_lines_of

    assert command_lines_of({"cleanup": "tokens", "options": {"token_age": 300, "rate_limit_age": 7}}) == {
        "tokens": "cleanupWebSocketTokens --rate-limit-age 7 --token-age 300"
    }


def test_the_fanout_queue_feeds_the_fanout_function_with_partial_batch_responses(resources):
    mapping = resources["FanoutEventSource"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["FanoutQueue", "Arn"]}
    assert mapping["FunctionName"] == {"Ref": "FanoutFunction"}
    redrive = resources["FanoutQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["FanoutDeadLetterQueue", "Arn"]}


def role_statements(resources: dict, function: str) -> list[dict]:
    role = resources[resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
    statements = [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
    for arn in role.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and "Ref" in arn:
            statements += resources[arn["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
    return statements


def actions_of(statements: list[dict]) -> dict[str, list]:
    found: dict[str, list] = {}
    for statement in statements:
        if "Fn::If" in statement:
            for branch in statement["Fn::If"][1:]:
                for action, resources_ in actions_of([branch]).items():
                    found.setdefault(action, []).extend(resources_)
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            found.setdefault(action, []).extend(targets)
    return found


@pytest.mark.parametrize("function", ["WebSocketFunction", "HttpFunction", "FanoutFunction"])
def test_senders_manage_connections_on_this_stage_and_send_to_this_queue_only(resources, function):
    actions = actions_of(role_statements(resources, function))
    connections = [sub_text(r) for r in actions["execute-api:ManageConnections"]]
    assert len(connections) == 3
    for verb, arn in zip(["POST", "GET", "DELETE"], connections, strict=True):
        assert f"${{WebSocketApi}}/${{Stage}}/{verb}/@connections/*" in arn
    assert actions["sqs:SendMessage"] == [{"Fn::GetAtt": ["FanoutQueue", "Arn"]}]


@pytest.mark.parametrize("function", ["CleanupFunction", "ManageFunction"])
def test_functions_that_send_nothing_may_not_send(resources, function):
    actions = actions_of(role_statements(resources, function))
    assert "execute-api:ManageConnections" not in actions
    assert not any(action.startswith("sqs:") for action in actions)


def test_the_fanout_function_receives_from_its_queue_only(resources):
    actions = actions_of(role_statements(resources, "FanoutFunction"))
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage"):
        assert all("${queueName}" in sub_text(r) or "FanoutQueue" in sub_text(r) for r in actions[action])
    role = resources[resources["FanoutFunction"]["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
    assert not any("SQSQueueExecutionRole" in sub_text(arn) for arn in role["ManagedPolicyArns"])


def test_every_function_reads_only_the_two_named_secrets(resources):
    for name in of_type(resources, "AWS::Lambda::Function"):
        actions = actions_of(role_statements(resources, name))
        ssm_prefix = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
        assert sorted(actions["ssm:GetParameter"], key=sub_text) == [
            {"Fn::Sub": ssm_prefix + "${DatabaseUrlParameterName}"},
            {"Fn::Sub": ssm_prefix + "${SecretKeyParameterName}"},
        ]
        assert all(sub_text(r).endswith('-??????"}') for r in actions["secretsmanager:GetSecretValue"])
        assert not any("*" in action for action in actions)


def test_secrets_are_named_in_the_environment_never_resolved_into_it(resources):
    assert "{{resolve:" not in TEMPLATE_TEXT
    assert not re.search(r"postgres(ql)?://[^.\s]+@", TEMPLATE_TEXT)
    for function in of_type(resources, "AWS::Lambda::Function").values():
        env = function["Properties"]["Environment"]["Variables"]
        assert env["DJANGO_SECRET_KEY_PARAMETER"] == {"Ref": "SecretKeyParameterName"}
        assert env["DATABASE_URL_PARAMETER"] == {"Ref": "DatabaseUrlParameterName"}
        assert env["DJANGO_SECRETS_STORE"] == {"Ref": "SecretsStore"}
        assert "DJANGO_SECRET_KEY" not in env
        # Declared empty, only so that `sam local start-lambda` may set it: the value itself is never in the template.
        assert env.get("DATABASE_URL", "") == ""


def test_the_websocket_function_knows_its_management_endpoint_queue_and_hosts(resources):
    env = resources["WebSocketFunction"]["Properties"]["Environment"]["Variables"]
    assert env["WEBSOCKETS_MANAGEMENT_ENDPOINT_URL"] == {
        "Fn::Sub": "https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}"
    }
    assert env["WEBSOCKETS_FANOUT_QUEUE_URL"] == {"Ref": "FanoutQueue"}
    assert env["DJANGO_SETTINGS_MODULE"] == "project.settings"
    hosts = env["DJANGO_ALLOWED_HOSTS"]["Fn::If"]
    assert hosts[0] == "HasCustomDomain"
    assert hosts[1]["Fn::Sub"].endswith(",${WebSocketDomainName}")
    assert hosts[2] == {"Fn::Sub": "${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}


def test_the_websocket_function_checks_origins_and_binds_tokens_as_configured(resources):
    env = resources["WebSocketFunction"]["Properties"]["Environment"]["Variables"]
    origins = env["WEBSOCKETS_ALLOWED_ORIGINS"]["Fn::If"]
    assert origins[:2] == ["HasAllowedOrigins", {"Ref": "AllowedOrigins"}]
    assert origins[2] == {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    # The site and the socket are different execute-api hosts by default: no shared cookie, so the token alone.
    assert env["WEBSOCKETS_TOKEN_REQUIRES_SESSION"] == {"Ref": "TokenRequiresSession"}
    parameter = yaml_parameters()["TokenRequiresSession"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("0", ["0", "1"])


def test_the_http_function_serves_its_api_host(resources):
    env = resources["HttpFunction"]["Properties"]["Environment"]["Variables"]
    assert env["DJANGO_ALLOWED_HOSTS"] == {"Fn::Sub": "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    assert env["DJANGO_CSRF_TRUSTED_ORIGINS"] == {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }


def test_the_http_function_tells_pages_where_to_open_the_socket(resources):
    # The same URL the stack's WebSocketUrl output names: the custom domain when there is one, else the stage.
    template, _ = decode_str(TEMPLATE_TEXT)
    expected = json.loads(json.dumps(template["Outputs"]["WebSocketUrl"]["Value"]))
    env = resources["HttpFunction"]["Properties"]["Environment"]["Variables"]
    assert env["WEBSOCKETS_CLIENT_URL"] == expected
    condition, custom_domain, stage = env["WEBSOCKETS_CLIENT_URL"]["Fn::If"]
    assert (condition, custom_domain) == ("HasCustomDomain", {"Fn::Sub": "wss://${WebSocketDomainName}"})
    assert stage == {"Fn::Sub": "wss://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}"}
    assert resources["WebSocketDomainMapping"]["Properties"].get("ApiMappingKey") is None  # the stage at the root


def test_functions_share_one_code_package_and_the_dependencies_layer(resources):
    functions = of_type(resources, "AWS::Lambda::Function").values()
    assert {json.dumps(f["Properties"]["Code"], sort_keys=True) for f in functions} == {
        json.dumps({"S3Bucket": "artifacts", "S3Key": "code.zip"}, sort_keys=True)
    }
    [layer_id] = [name for name in resources if name.startswith("DependenciesLayer")]
    assert all(f["Properties"]["Layers"] == [{"Ref": layer_id}] for f in functions)
    template, _ = decode_str(TEMPLATE_TEXT)
    for name, resource in template["Resources"].items():
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion"):
            assert resource["Metadata"]["BuildMethod"] == "makefile", name


def test_outputs_name_the_urls_endpoint_and_functions():
    template, _ = decode_str(TEMPLATE_TEXT)
    assert set(template["Outputs"]) >= {
        "WebSocketUrl",
        "HttpUrl",
        "ManagementEndpointUrl",
        "WebSocketFunctionName",
        "HttpFunctionName",
        "CleanupFunctionName",
        "FanoutFunctionName",
        "ManageFunctionName",
    }


def test_samconfig_has_three_environments_and_production_asks_before_changing():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    names = set()
    for env in ("default", "staging", "production"):
        names.add(config[env]["global"]["parameters"]["stack_name"])
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        overrides = dict(item.split("=", 1) for item in deploy["parameter_overrides"].split())
        assert overrides["SecretKeyParameterName"].startswith(f"/django-websockets/{overrides['Stage']}/")
        assert deploy["confirm_changeset"] is (env == "production")
        assert config[env]["build"]["parameters"]["build_in_source"] is True
    assert len(names) == 3


SAM = ROOT / ".tools" / "sam" / "bin" / "sam"


@pytest.mark.skipif(not SAM.exists(), reason="AWS SAM CLI is not installed in .tools/sam (run `make sam`)")
def test_sam_validate_lint_is_clean():
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "eu-west-1"}
    done = subprocess.run(
        [str(SAM), "validate", "--lint"], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_makefile_builds_every_function_and_the_layer():
    template, _ = decode_str(TEMPLATE_TEXT)
    built = [n for n, r in template["Resources"].items() if "BuildMethod" in r.get("Metadata", {})]
    make = shutil.which("make")
    assert make
    for name in built:
        done = subprocess.run(
            [make, "-n", f"build-{name}", "ARTIFACTS_DIR=/build/artifacts"], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "/build/artifacts" in done.stdout


def test_every_function_has_a_log_group_with_a_retention(resources):
    function_groups = {
        group["Properties"]["LogGroupName"]["Fn::Sub"]: group["Properties"]["RetentionInDays"]
        for group in of_type(resources, "AWS::Logs::LogGroup").values()
        if "LogGroupName" in group["Properties"]
    }
    expected = {f"/aws/lambda/${{{name}}}" for name in of_type(resources, "AWS::Lambda::Function")}
    assert set(function_groups) == expected
    assert set(map(json.dumps, function_groups.values())) == {json.dumps({"Ref": "FunctionLogRetentionDays"})}
