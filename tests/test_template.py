"""template.yaml and samconfig.toml: valid for cfn-lint, and transformed offline into the CloudFormation we expect."""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
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
        "ChannelHistorySchedule": {"cleanup": "history"},
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


NO_VALUE = {"Ref": "AWS::NoValue"}


def both_branches(value: object) -> list:
    """A value, or every value an {"Fn::If": ...} may become (AWS::NoValue dropped), for assertions on all of them."""
    if isinstance(value, dict) and "Fn::If" in value:
        return [v for branch in value["Fn::If"][1:] for v in both_branches(branch)]
    return [] if value == NO_VALUE else [value]


def actions_of(statements: list[dict]) -> dict[str, list]:
    found: dict[str, list] = {}
    for statement in [s for item in statements for s in both_branches(item)]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        targets = [t for target in targets for t in both_branches(target)]
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


MANAGED_SECRET = {"Fn::GetAtt": ["DatabaseCluster", "MasterUserSecret.SecretArn"]}


def test_every_function_reads_only_the_named_secrets_and_the_clusters_credentials(resources):
    for name in of_type(resources, "AWS::Lambda::Function"):
        actions = actions_of(role_statements(resources, name))
        ssm_prefix = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
        assert sorted(actions["ssm:GetParameter"], key=sub_text) == [
            {"Fn::Sub": ssm_prefix + "${DatabaseUrlParameterName}"},
            {"Fn::Sub": ssm_prefix + "${SecretKeyParameterName}"},
        ]
        secrets = actions["secretsmanager:GetSecretValue"]
        assert secrets.count(MANAGED_SECRET) == 1
        assert all(sub_text(r).endswith('-??????"}') for r in secrets if r != MANAGED_SECRET)
        assert not any("*" in action for action in actions)


def test_secrets_are_named_in_the_environment_never_resolved_into_it(resources):
    assert "{{resolve:" not in TEMPLATE_TEXT
    assert not re.search(r"postgres(ql)?://[^.\s]+@", TEMPLATE_TEXT)
    for function in of_type(resources, "AWS::Lambda::Function").values():
        env = function["Properties"]["Environment"]["Variables"]
        assert env["DJANGO_SECRET_KEY_PARAMETER"] == {"Ref": "SecretKeyParameterName"}
        assert env["DATABASE_URL_PARAMETER"] == {
            "Fn::If": ["ExternalDatabase", {"Ref": "DatabaseUrlParameterName"}, ""]
        }
        assert env["DATABASE_SECRET_ARN"] == {"Fn::If": ["OwnsDatabase", MANAGED_SECRET, ""]}
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
        overrides = dict(item.split("=", 1) for item in shlex.split(deploy["parameter_overrides"]))
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


# -- Each database mode and each samconfig environment, with its conditions decided ---------------------------------


def overrides_of(env: str) -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    text = config[env]["deploy"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in shlex.split(text))  # SAM takes 'quoted values' as shlex does


MODES: dict[str, dict[str, str]] = {
    "aurora": {"DatabaseMode": "aurora"},
    "aurora-with-proxy": {"DatabaseMode": "aurora", "RdsProxy": "enabled"},
    "external": {"DatabaseMode": "external"},
    "external-in-your-vpc": {"DatabaseMode": "external", "SubnetIds": "subnet-1,subnet-2", "SecurityGroupIds": "sg-1"},
}
ENVIRONMENTS = ["default", "staging", "production"]
CASES = {**MODES, **{f"samconfig-{env}": overrides_of(env) for env in ENVIRONMENTS}}


def decided(parameters: dict[str, str]) -> dict:
    """The template as CloudFormation sees it with these parameters: conditions evaluated, Fn::If resolved,
    resources and outputs of false conditions left out, parameter references replaced by their values."""
    template, errors = decode_str(TEMPLATE_TEXT)
    assert not errors
    template = json.loads(json.dumps(template))
    values: dict[str, object] = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    values.update(parameters)
    for name, spec in template["Parameters"].items():
        if spec["Type"] == "CommaDelimitedList":
            values[name] = [item for item in str(values[name]).split(",") if item]
    memo: dict[str, bool] = {}

    def value(expr: object) -> object:
        if isinstance(expr, dict) and "Ref" in expr:
            return values[expr["Ref"]]
        if isinstance(expr, dict) and "Fn::Join" in expr:
            separator, items = expr["Fn::Join"]
            return separator.join(str(item) for item in value(items))
        return expr

    def condition(name: str) -> bool:
        if name not in memo:
            memo[name] = evaluate(template["Conditions"][name])
        return memo[name]

    def evaluate(expr: dict) -> bool:
        [(function, args)] = expr.items()
        if function == "Condition":
            return condition(args)
        if function == "Fn::Equals":
            return str(value(args[0])) == str(value(args[1]))
        if function == "Fn::Not":
            return not evaluate(args[0])
        if function == "Fn::And":
            return all(evaluate(arg) for arg in args)
        if function == "Fn::Or":
            return any(evaluate(arg) for arg in args)
        raise AssertionError(f"unknown condition function {function}")

    def resolve(node: object) -> object:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, when_true, when_false = node["Fn::If"]
                return resolve(when_true if condition(name) else when_false)
            if set(node) == {"Ref"} and node["Ref"] in values:
                return values[node["Ref"]]
            if set(node) == {"Fn::FindInMap"}:
                table, key, field = (resolve(part) for part in node["Fn::FindInMap"])
                return template["Mappings"][table][str(key)][field]
            resolved = {key: resolve(item) for key, item in node.items()}
            return {key: item for key, item in resolved.items() if item != NO_VALUE}
        if isinstance(node, list):
            return [item for item in map(resolve, node) if item != NO_VALUE]
        return node

    for section in ("Resources", "Outputs"):
        template[section] = {
            name: item
            for name, item in template[section].items()
            if "Condition" not in item or condition(item["Condition"])
        }
    for section in ("Resources", "Outputs", "Globals"):
        template[section] = resolve(template[section])
    template["Conditions"] = {name: template["Conditions"][name] for name in template["Conditions"] if name}
    template["Globals"]["Function"]["CodeUri"] = "s3://artifacts/code.zip"
    template["Resources"]["DependenciesLayer"]["Properties"]["ContentUri"] = "s3://artifacts/layer.zip"
    return template


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request) -> tuple[str, dict]:
    return request.param, {**CASES[request.param]}


def translated(parameters: dict[str, str]) -> dict:
    translator = Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=Session(region_name="eu-west-1"))
    return translator.translate(decided(parameters), parameter_values={})["Resources"]


FUNCTIONS = ["WebSocketFunction", "HttpFunction", "CleanupFunction", "FanoutFunction", "ManageFunction"]


def test_each_case_translates_and_keeps_every_function(case):
    _, parameters = case
    resources = translated(parameters)
    assert set(FUNCTIONS) <= set(of_type(resources, "AWS::Lambda::Function"))


@pytest.mark.parametrize("mode", ["aurora", "aurora-with-proxy"])
def test_an_owned_database_is_an_encrypted_serverless_v2_cluster_with_managed_credentials(mode):
    resources = translated(MODES[mode])
    cluster = resources["DatabaseCluster"]
    props = cluster["Properties"]
    assert (props["Engine"], props["StorageEncrypted"], props["ManageMasterUserPassword"]) == (
        "aurora-postgresql",
        True,
        True,
    )
    assert "MasterUserPassword" not in props  # RDS makes it and keeps it in Secrets Manager
    assert (cluster["DeletionPolicy"], cluster["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
    assert props["ServerlessV2ScalingConfiguration"] == {
        "MinCapacity": "0",
        "MaxCapacity": "4",
        "SecondsUntilAutoPause": "600",
    }
    assert props["DeletionProtection"] == "false"
    [writer] = of_type(resources, "AWS::RDS::DBInstance").values()
    assert writer["Properties"]["DBInstanceClass"] == "db.serverless"
    assert writer["Properties"]["PubliclyAccessible"] is False
    a, b = (resources[name]["Properties"]["AvailabilityZone"] for name in ("PrivateSubnetA", "PrivateSubnetB"))
    assert (a["Fn::Select"][0], b["Fn::Select"][0]) == (0, 1)  # two zones
    assert resources["DatabaseSubnetGroup"]["Properties"]["SubnetIds"] == [
        {"Ref": "PrivateSubnetA"},
        {"Ref": "PrivateSubnetB"},
    ]
    engine = tuple(int(part) for part in yaml_parameters()["DatabaseEngineVersion"]["Default"].split("."))
    assert engine >= (16, 3)  # the first 16.x that pauses at MinCapacity 0


@pytest.mark.parametrize("mode", ["aurora", "aurora-with-proxy"])
def test_with_an_owned_database_every_function_is_in_the_private_subnets_and_egress_is_the_nat_gateway(mode):
    resources = translated(MODES[mode])
    for name in FUNCTIONS:
        assert resources[name]["Properties"]["VpcConfig"] == {
            "SubnetIds": [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}],
            "SecurityGroupIds": [{"Ref": "FunctionSecurityGroup"}],
        }
        role = resources[resources[name]["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
        assert any("AWSLambdaVPCAccessExecutionRole" in sub_text(arn) for arn in role["ManagedPolicyArns"])  # ENIs
    private_route = resources["PrivateDefaultRoute"]["Properties"]
    assert private_route["NatGatewayId"] == {"Ref": "NatGateway"}
    assert resources["NatGateway"]["Properties"]["SubnetId"] == {"Ref": "PublicSubnet"}
    routes = of_type(resources, "AWS::EC2::SubnetRouteTableAssociation").values()
    assert {json.dumps(r["Properties"]["SubnetId"]): r["Properties"]["RouteTableId"]["Ref"] for r in routes} == {
        json.dumps({"Ref": "PrivateSubnetA"}): "PrivateRouteTable",
        json.dumps({"Ref": "PrivateSubnetB"}): "PrivateRouteTable",
        json.dumps({"Ref": "PublicSubnet"}): "PublicRouteTable",
    }
    assert not of_type(resources, "AWS::EC2::VPCEndpoint")


def rules(resources: dict) -> set[tuple[str, str, int, str]]:
    """Every security-group rule as (group, direction, port, peer)."""
    found = set()
    for name, group in of_type(resources, "AWS::EC2::SecurityGroup").items():
        for direction, key in (("in", "SecurityGroupIngress"), ("out", "SecurityGroupEgress")):
            for rule in group["Properties"].get(key, []):
                peer = rule.get("CidrIp") or next(
                    iter((rule.get("SourceSecurityGroupId") or rule.get("DestinationSecurityGroupId")).values())
                )
                found.add((name, direction, rule["FromPort"] if rule["IpProtocol"] == "tcp" else -1, peer))
    for kind, direction in (("AWS::EC2::SecurityGroupIngress", "in"), ("AWS::EC2::SecurityGroupEgress", "out")):
        for rule in of_type(resources, kind).values():
            props = rule["Properties"]
            peer = (props.get("SourceSecurityGroupId") or props.get("DestinationSecurityGroupId"))["Ref"]
            assert props["FromPort"] == props["ToPort"]
            found.add((props["GroupId"]["Ref"], direction, props["FromPort"], peer))
    return found


def test_security_groups_let_the_functions_reach_the_cluster_on_5432_only():
    assert rules(translated(MODES["aurora"])) == {
        ("FunctionSecurityGroup", "out", 443, "0.0.0.0/0"),
        ("FunctionSecurityGroup", "out", 5432, "DatabaseSecurityGroup"),
        ("DatabaseSecurityGroup", "in", 5432, "FunctionSecurityGroup"),
        ("DatabaseSecurityGroup", "out", -1, "127.0.0.1/32"),  # nothing out: replaces the default allow-all
    }


def test_with_rds_proxy_the_functions_reach_the_proxy_and_only_the_proxy_reaches_the_cluster():
    assert rules(translated(MODES["aurora-with-proxy"])) == {
        ("FunctionSecurityGroup", "out", 443, "0.0.0.0/0"),
        ("FunctionSecurityGroup", "out", 5432, "ProxySecurityGroup"),
        ("ProxySecurityGroup", "in", 5432, "FunctionSecurityGroup"),
        ("ProxySecurityGroup", "out", 5432, "DatabaseSecurityGroup"),
        ("ProxySecurityGroup", "out", 443, "0.0.0.0/0"),
        ("DatabaseSecurityGroup", "in", 5432, "ProxySecurityGroup"),
        ("DatabaseSecurityGroup", "out", -1, "127.0.0.1/32"),
    }


def environment_of(resources: dict, function: str) -> dict:
    return resources[function]["Properties"]["Environment"]["Variables"]


def test_functions_find_the_cluster_by_plain_variables_and_its_credentials_by_secret():
    resources = translated(MODES["aurora"])
    for name in FUNCTIONS:
        env = environment_of(resources, name)
        assert env["DATABASE_SECRET_ARN"] == MANAGED_SECRET
        assert env["DATABASE_HOST"] == {"Fn::GetAtt": ["DatabaseCluster", "Endpoint.Address"]}
        assert (env["DATABASE_PORT"], env["DATABASE_NAME"], env["DATABASE_POOLED"]) == ("5432", "django", "0")
        assert (env["DATABASE_URL_PARAMETER"], env["DATABASE_URL"]) == ("", "")


def test_a_database_that_pauses_is_not_kept_awake_by_idle_containers():
    # An idle container's open connection would keep the cluster from pausing: connections close after each event.
    for name in FUNCTIONS:
        assert environment_of(translated(MODES["aurora"]), name)["CONN_MAX_AGE"] == "0"
        assert "CONN_MAX_AGE" not in environment_of(translated(MODES["external"]), name)
        # Production stays warm (0.5 ACU) behind RDS Proxy, where DATABASE_POOLED=1 already means 0.
        production = environment_of(translated(overrides_of("production")), name)
        assert ("CONN_MAX_AGE" not in production, production["DATABASE_POOLED"]) == (True, "1")


def test_with_rds_proxy_functions_connect_to_the_proxy_as_to_a_pooler():
    resources = translated(MODES["aurora-with-proxy"])
    for name in FUNCTIONS:
        env = environment_of(resources, name)
        assert env["DATABASE_HOST"] == {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]}
        assert env["DATABASE_POOLED"] == "1"  # CONN_MAX_AGE 0, no server-side cursors (project/settings.py)
    proxy = resources["DatabaseProxy"]["Properties"]
    assert proxy["Auth"] == [{"AuthScheme": "SECRETS", "SecretArn": MANAGED_SECRET, "IAMAuth": "DISABLED"}]
    assert (proxy["EngineFamily"], proxy["RequireTLS"]) == ("POSTGRESQL", True)
    assert proxy["VpcSubnetIds"] == [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]
    targets = resources["DatabaseProxyTargets"]["Properties"]
    assert targets["DBClusterIdentifiers"] == [{"Ref": "DatabaseCluster"}]
    assert targets["ConnectionPoolConfigurationInfo"]["ConnectionBorrowTimeout"] < 29  # inside the Lambda timeout
    role = resources["DatabaseProxyRole"]["Properties"]
    [statement] = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert (statement["Action"], statement["Resource"]) == (["secretsmanager:GetSecretValue"], MANAGED_SECRET)


@pytest.mark.parametrize("mode", ["external", "external-in-your-vpc"])
def test_an_external_database_creates_no_network_or_database_and_reads_its_url(mode):
    resources = translated(MODES[mode])
    assert not [name for name, r in resources.items() if r["Type"].startswith(("AWS::RDS::", "AWS::EC2::"))]
    for name in FUNCTIONS:
        env = environment_of(resources, name)
        assert env["DATABASE_URL_PARAMETER"] == "/django-websockets/production/database-url"
        assert (env["DATABASE_SECRET_ARN"], env["DATABASE_HOST"]) == ("", "")
        vpc = resources[name]["Properties"].get("VpcConfig")
        if mode == "external":
            assert vpc is None
        else:
            assert vpc == {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]}


def test_iam_in_every_case_reads_only_its_own_secrets_with_no_wildcard_actions(case):
    name, parameters = case
    resources = translated(parameters)
    mode = parameters.get("DatabaseMode", yaml_parameters()["DatabaseMode"]["Default"])
    for function in FUNCTIONS:
        actions = actions_of(role_statements(resources, function))
        read = actions.get("ssm:GetParameter", []) + actions.get("secretsmanager:GetSecretValue", [])
        texts = sorted(sub_text(r) for r in read)
        assert any("${SecretKeyParameterName}" in t for t in texts)
        if mode == "aurora":
            assert MANAGED_SECRET in read
            assert not any("DatabaseUrlParameterName" in t for t in texts)
            assert len(read) == 2
        else:
            assert MANAGED_SECRET not in read
            assert len(read) == 2
            assert any("${DatabaseUrlParameterName}" in t for t in texts)
        for action in actions:
            assert "*" not in action, (name, function, action)
        assert not any(action.startswith("rds") for action in actions)
        created = actions.get("secretsmanager:CreateSecret", [])
        if function == "ManageFunction":
            assert [sub_text(r) for r in created] == [
                json.dumps(
                    {
                        "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}"
                        ":secret:${AWS::StackName}/admin/*"
                    }
                )
            ]
        else:
            assert created == []
    for role in of_type(resources, "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                assert all("*" not in action for action in statement["Action"])


def test_samconfig_environments_deploy_a_stack_owned_database_and_production_pools_and_protects_it():
    for env in ENVIRONMENTS:
        overrides = overrides_of(env)
        assert overrides["DatabaseMode"] == "aurora"
        if env == "production":
            assert float(overrides["DatabaseMinCapacity"]) >= 0.5  # never paused: no cold resume for users
            assert overrides["RdsProxy"] == "enabled"
            assert overrides["DatabaseDeletionProtection"] == "true"
            for function in ("WebSocket", "Http", "Fanout"):
                assert int(overrides[f"{function}ReservedConcurrency"]) > 0
        else:
            assert overrides.get("DatabaseMinCapacity", "0") == "0"  # pauses: an idle stack costs storage only
            # Every cleanup job wakes the database: daily, so that it stays paused between them.
            for schedule in (
                "SessionCleanupSchedule",
                "TokenCleanupSchedule",
                "StaleSessionSweepSchedule",
                "ChannelHistorySchedule",
            ):
                assert overrides[schedule] == "rate(1 day)"
            assert overrides.get("RdsProxy", "disabled") == "disabled"
            assert overrides.get("DatabaseDeletionProtection", "false") == "false"


def test_production_resources_have_deletion_protection_pooling_and_reserved_concurrency():
    resources = translated(overrides_of("production"))
    props = resources["DatabaseCluster"]["Properties"]
    assert props["DeletionProtection"] == "true"
    assert float(props["ServerlessV2ScalingConfiguration"]["MinCapacity"]) >= 0.5
    assert "DatabaseProxy" in resources
    for function in ("WebSocketFunction", "HttpFunction", "FanoutFunction"):
        assert int(resources[function]["Properties"]["ReservedConcurrentExecutions"]) > 0
    staging = translated(overrides_of("staging"))
    assert "DatabaseProxy" not in staging
    assert not any("ReservedConcurrentExecutions" in staging[f]["Properties"] for f in FUNCTIONS)


def template_with_defaults(parameters: dict[str, str]) -> str:
    """template.yaml with these values as the parameters' defaults: what cfn-lint checks for one environment."""
    template, _ = decode_str(TEMPLATE_TEXT)
    template = json.loads(json.dumps(template))
    for name, text in parameters.items():
        template["Parameters"][name]["Default"] = text
    return json.dumps(template, indent=1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_cfn_lint_finds_nothing_in_any_mode_or_environment(name):
    text = template_with_defaults(CASES[name])
    assert [str(m) for m in lint(text, regions=["us-east-1", "eu-west-1"])] == []


@pytest.mark.slow
@pytest.mark.skipif(not SAM.exists(), reason="AWS SAM CLI is not installed in .tools/sam (run `make sam`)")
@pytest.mark.parametrize("name", sorted(CASES))
def test_sam_validate_lint_is_clean_in_any_mode_or_environment(name, tmp_path):
    path = tmp_path / "template.json"
    path.write_text(template_with_defaults(CASES[name]))
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "eu-west-1"}
    done = subprocess.run(
        [str(SAM), "validate", "--lint", "--template-file", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


BUDGETS = yaml_parameters()["BroadcastBudgetPerSecond"]["AllowedValues"]


def test_the_default_broadcast_budget_is_about_half_the_default_account_limit():
    assert yaml_parameters()["BroadcastBudgetPerSecond"]["Default"] == 5000
    assert len(BUDGETS) >= 3


@pytest.mark.parametrize("budget", BUDGETS)
def test_the_fanout_stays_within_its_broadcast_budget(budget):
    resources = translated({"BroadcastBudgetPerSecond": str(budget)})
    concurrency = int(resources["FanoutEventSource"]["Properties"]["ScalingConfig"]["MaximumConcurrency"])
    variables = resources["FanoutFunction"]["Properties"]["Environment"]["Variables"]
    cap = int(variables["WEBSOCKETS_SEND_RATE_LIMIT_PER_SECOND"])
    assert 2 <= concurrency <= 1000
    assert cap >= 1
    assert cap * concurrency <= int(budget)
    # The fan-out function keeps the environment every function shares.
    assert "WEBSOCKETS_FANOUT_QUEUE_URL" in variables


@pytest.mark.parametrize("budget", BUDGETS)
def test_cfn_lint_accepts_every_broadcast_budget(budget):
    template, _ = decode_str(TEMPLATE_TEXT)
    template["Parameters"]["BroadcastBudgetPerSecond"]["Default"] = budget
    assert [str(match) for match in lint(json.dumps(template))] == []
