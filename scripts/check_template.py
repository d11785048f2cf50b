#!/usr/bin/env python3
"""Checks the stack as CloudFormation would create it: template.yaml expanded by samtranslator
(the SAM transform, installed with the SAM CLI), its intrinsic functions resolved for a stack name
and parameters, then read back. Run by scripts/test; exits non-zero with every problem found.

What it checks: one API stage, with JSON access logs; data that survives (Retain, deletion
protection); no secret in any function's environment; IAM actions that the store code really
calls; an X-Ray group and sampling rule whose names are the stack's; alarms that notify the
topic; a dashboard whose every metric is one the stack publishes; two stacks side by side.

usage: check_template.py
"""
import json
import os
import pathlib
import re
import sys

import contextlib
import io
import logging

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
logging.disable(logging.WARNING)

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROBLEMS = []

ACCESS_LOG_FIELDS = ["requestId", "extendedRequestId", "ip", "requestTime", "httpMethod",
                     "resourcePath", "status", "responseLength", "integrationLatency", "xrayTraceId"]

# Metrics AWS publishes for what the stack has, with the dimension sets they carry
# (API Gateway REST APIs, Lambda functions, DynamoDB tables).
AWS_METRICS = {
    "AWS/ApiGateway": ({"Count", "4XXError", "5XXError", "Latency", "IntegrationLatency"},
                       [{"ApiName", "Stage"}, {"ApiName"}]),
    "AWS/Lambda": ({"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"},
                   [{"FunctionName"}, set()]),
}
DYNAMODB_METRICS = {
    "ReadThrottleEvents": [{"TableName"}],
    "WriteThrottleEvents": [{"TableName"}],
    "ConsumedReadCapacityUnits": [{"TableName"}],
    "ConsumedWriteCapacityUnits": [{"TableName"}],
    "SystemErrors": [{"TableName", "Operation"}],
    "ThrottledRequests": [{"TableName", "Operation"}],
    "SuccessfulRequestLatency": [{"TableName", "Operation"}],
}
DYNAMODB_OPERATIONS = {"GetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem",
                       "TransactWriteItems", "TransactGetItems", "BatchGetItem", "BatchWriteItem"}


def problem(text):
    PROBLEMS.append(text)


class Stack:
    """The expanded template, resolved for one stack name and parameter set."""

    def __init__(self, name, parameters):
        template = yaml_parse((ROOT / "template.yaml").read_text())
        for logical, resource in template["Resources"].items():
            if resource["Type"] == "AWS::Serverless::Function":
                # What `sam package` does: the code is in S3 by then.
                resource["Properties"]["CodeUri"] = f"s3://bucket/{logical}.zip"

        class NoManagedPolicies:
            def load(self):
                return {}

        # The translator prints notes about its own metrics; they are not ours.
        with contextlib.redirect_stdout(io.StringIO()):
            self.expanded = transform(template, {}, NoManagedPolicies())
        self.name = name
        defaults = {k: v.get("Default") for k, v in self.expanded.get("Parameters", {}).items()}
        self.parameters = {**defaults, **parameters}
        self.pseudo = {"AWS::StackName": name, "AWS::Region": "us-east-1",
                       "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
                       "AWS::URLSuffix": "amazonaws.com"}
        self.conditions = {}
        for cname, expr in self.expanded.get("Conditions", {}).items():
            self.conditions[cname] = expr
        self.resources = {}
        for logical, resource in self.expanded["Resources"].items():
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            self.resources[logical] = self.resolve(resource)

    def condition(self, name):
        return bool(self.evaluate(self.conditions[name]))

    def evaluate(self, expr):
        if isinstance(expr, dict) and len(expr) == 1:
            (key, arg), = expr.items()
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.evaluate(arg[0])
            if key == "Fn::Or":
                return any(self.evaluate(a) for a in arg)
            if key == "Fn::And":
                return all(self.evaluate(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
        return self.resolve(expr)

    def physical(self, logical):
        return f"{self.name}-{logical}"

    def resolve(self, value):
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                if arg == "AWS::NoValue":
                    return NO_VALUE
                if arg in self.pseudo:
                    return self.pseudo[arg]
                if arg in self.parameters:
                    return str(self.parameters[arg])
                return self.physical(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return f"arn:aws:{logical}:{attr}:{self.physical(logical)}"
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

                def sub(match):
                    name = match.group(1)
                    if name in extra:
                        return str(self.resolve(extra[name]))
                    if name in self.pseudo:
                        return self.pseudo[name]
                    if name in self.parameters:
                        return str(self.parameters[name])
                    if "." in name:
                        logical, attr = name.split(".", 1)
                        return f"arn:aws:{logical}:{attr}:{self.physical(logical)}"
                    return self.physical(name)
                return re.sub(r"\$\{([^!}][^}]*)\}", sub, text)
            if key == "Fn::If":
                branch = arg[1] if self.condition(arg[0]) else arg[2]
                return self.resolve(branch)
            if key == "Fn::Join":
                return arg[0].join(str(self.resolve(v)) for v in arg[1])
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def of_type(self, kind):
        return {k: r for k, r in self.resources.items() if r["Type"] == kind}


NO_VALUE = object()


def code_dynamodb_actions():
    """The DynamoDB actions the store code can cause, read from its source: each SDK operation it
    calls, and each item operation inside a transaction (IAM authorises those item by item)."""
    source = "".join(p.read_text() for p in (ROOT / "shared/core/src/store").rglob("*.rs")
                     if "dynamo" in str(p))
    operations = set(re.findall(r"\.client\s*\.\s*([a-z_]+)\(\)", source))
    items = set(re.findall(r"\b(Put|Update|Delete|ConditionCheck)::builder\(\)", source))
    camel = {"".join(part.title() for part in op.split("_")) for op in operations}
    actions = {f"dynamodb:{op}" for op in camel}
    actions |= {f"dynamodb:{'ConditionCheckItem' if i == 'ConditionCheck' else i + 'Item'}" for i in items}
    # Only needed where the store creates its own table (local runs); never granted in AWS.
    setup = {"dynamodb:CreateTable", "dynamodb:UpdateTimeToLive", "dynamodb:DescribeTable"}
    # TransactWriteItems has no IAM action of its own.
    return actions - setup - {"dynamodb:TransactWriteItems"}


def code_emf_metrics():
    """Metrics the deployed code emits as `metric.<Name>` fields (telemetry turns them into EMF):
    the functions' business counters and the telemetry's own (drops). The telemetry crate's
    examples are not deployed."""
    names = set()
    for path in list((ROOT / "shared").rglob("*.rs")) + list((ROOT / "functions").rglob("*.rs")):
        if any(part in str(path) for part in ("/tests/", "/target/", "/examples/")):
            continue
        names |= set(re.findall(r"metric\.([A-Z][A-Za-z]+)\s*=", path.read_text()))
    return names


def check_stage(stack):
    # A deployment that names a stage creates it: SAM's "Stage" stage, untraced and unthrottled.
    for logical, deployment in stack.of_type("AWS::ApiGateway::Deployment").items():
        if "StageName" in deployment["Properties"]:
            problem(f"{logical} creates a second stage, {deployment['Properties']['StageName']}")
    stages = stack.of_type("AWS::ApiGateway::Stage")
    if len(stages) != 1:
        problem(f"{len(stages)} API stages ({', '.join(stages)}); exactly one is deployed on purpose")
        return
    stage = next(iter(stages.values()))["Properties"]
    if stage.get("StageName") != stack.parameters["Stage"]:
        problem(f"the stage is {stage.get('StageName')}, not the Stage parameter")
    if not stage.get("TracingEnabled"):
        problem("the stage is not traced")
    access = stage.get("AccessLogSetting") or {}
    try:
        fields = json.loads(access.get("Format", ""))
    except ValueError:
        fields = {}
        problem("the access log format is not JSON")
    missing = [f for f in ACCESS_LOG_FIELDS if f not in fields]
    if missing:
        problem(f"access log lacks {missing}")
    groups = stack.of_type("AWS::Logs::LogGroup")
    destination = access.get("DestinationArn", "")
    target = [g for k, g in groups.items() if k in destination]
    if not target:
        problem("access logs go to no log group of the stack")
    elif str(target[0]["Properties"].get("RetentionInDays")) != str(stack.parameters["LogRetentionInDays"]):
        problem("the access log group keeps logs another time than the functions'")


def check_retained(stack):
    for kind, protection in (("AWS::DynamoDB::Table", ("DeletionProtectionEnabled", True)),
                             ("AWS::Cognito::UserPool", ("DeletionProtection", "ACTIVE"))):
        for logical, resource in stack.of_type(kind).items():
            for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
                if resource.get(policy) != "Retain":
                    problem(f"{logical} has no {policy}: Retain")
            key, value = protection
            if resource["Properties"].get(key) != value:
                problem(f"{logical} is not protected from deletion ({key})")


def check_environment(stack):
    secretish = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY|HEADERS", re.I)
    for logical, function in stack.of_type("AWS::Lambda::Function").items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        for key, value in variables.items():
            if secretish.search(key) and not key.endswith("_PARAMETER"):
                problem(f"{logical}: {key} looks like a secret in the environment")
            if key.endswith("_PARAMETER") and not str(value).startswith("/"):
                problem(f"{logical}: {key} is not a parameter name: {value}")
        if variables.get("CRUDDUR_STAGE") == "local":
            problem(f"{logical} is deployed in the local stage")
    noecho = [k for k, v in stack.expanded.get("Parameters", {}).items() if v.get("NoEcho")]
    if noecho:
        problem(f"secret values as parameters ({noecho}); pass parameter names instead")


def check_iam(stack):
    allowed = code_dynamodb_actions()
    granted = set()
    policies = stack.of_type("AWS::IAM::ManagedPolicy")
    for logical, policy in policies.items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in actions:
                if action.startswith("dynamodb:"):
                    granted.add(action)
                    if action not in allowed:
                        problem(f"{logical} grants {action}, which the store code never calls")
                    if any("Table" not in r for r in resources):
                        problem(f"{logical}: {action} on something else than the table")
                elif action == "ssm:GetParameter":
                    names = [stack.parameters["HoneycombApiKeyParameter"], stack.parameters["RollbarAccessTokenParameter"]]
                    for resource in resources:
                        if not any(n and resource.endswith(f"parameter{n}") for n in names):
                            problem(f"{logical}: ssm:GetParameter on {resource}, not a secret parameter")
                else:
                    problem(f"{logical} grants {action}")
    missing = allowed - granted
    if missing:
        problem(f"the store code calls {sorted(missing)}, which no policy grants")
    for logical, role in stack.of_type("AWS::IAM::Role").items():
        inline = role["Properties"].get("Policies", [])
        if inline:
            problem(f"{logical} has inline policies: {[p.get('PolicyName') for p in inline]}")
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            if arn.startswith("arn:aws:iam::aws:policy/") and not arn.endswith(
                    ("AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess")):
                problem(f"{logical} has the AWS managed policy {arn}")


def check_xray(stack):
    groups = stack.of_type("AWS::XRay::Group")
    for logical, group in groups.items():
        props = group["Properties"]
        if stack.name not in props["GroupName"]:
            problem(f"{logical}'s name does not carry the stack's")
        expression = props["FilterExpression"]
        api = f'service("cruddur-{stack.parameters["Stage"]}/{stack.parameters["Stage"]}")'
        for needed in (api, "fault = true", "error = true", "throttle = true"):
            if needed not in expression:
                problem(f"the X-Ray group filter lacks {needed}: {expression}")
        for trigger in ("PreSignUpFunction", "PostConfirmationFunction"):
            if f'service("{stack.physical(trigger)}")' not in expression:
                problem(f"the X-Ray group misses {trigger}'s failures")
    for logical, rule in stack.of_type("AWS::XRay::SamplingRule").items():
        props = rule["Properties"]["SamplingRule"]
        if stack.name not in props["RuleName"] or len(props["RuleName"]) > 32:
            problem(f"{logical}'s name is not the stack's (at most 32 characters): {props['RuleName']}")
        if (props["Priority"], props["FixedRate"], props["ReservoirSize"]) != (9000, 0.1, 5):
            problem(f"{logical} is not the original's 9000 / 0.1 / 5")


# X-Ray's OTLP endpoint as the telemetry crate recognises it (settings.rs, xray_endpoint_region).
XRAY_OTLP_ENDPOINT = re.compile(r"^https://xray\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/v1/traces$")


def check_xray_otlp(stack):
    """XrayOverOtlp points every function at X-Ray's OTLP endpoint, which authorises
    xray:PutTraceSegments: active tracing's AWSXrayWriteOnlyAccess grants it. Transaction Search is
    there only when asked for, after the log policy that lets X-Ray write the spans."""
    on = stack.parameters["XrayOverOtlp"] == "true"
    for logical, function in stack.of_type("AWS::Lambda::Function").items():
        props = function["Properties"]
        endpoint = props.get("Environment", {}).get("Variables", {}).get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if on and not (endpoint and XRAY_OTLP_ENDPOINT.match(endpoint)):
            problem(f"{logical}: XrayOverOtlp is on, but its OTLP traces endpoint is {endpoint}")
        if not on and endpoint:
            problem(f"{logical}: an OTLP traces endpoint ({endpoint}) with XrayOverOtlp off")
        if on:
            if props.get("TracingConfig", {}).get("Mode") != "Active":
                problem(f"{logical}: no active tracing, so no Lambda facade segment for its spans to join")
            role = stack.resources.get(props["Role"].split(":")[-1].removeprefix(f"{stack.name}-"), {})
            arns = role.get("Properties", {}).get("ManagedPolicyArns", [])
            if not any(str(a).endswith("AWSXrayWriteOnlyAccess") for a in arns):
                problem(f"{logical}: its role lacks AWSXrayWriteOnlyAccess (xray:PutTraceSegments)")
    searches = stack.of_type("AWS::XRay::TransactionSearchConfig")
    wanted = stack.parameters["EnableTransactionSearch"] == "true"
    if bool(searches) != wanted:
        problem(f"Transaction Search is {'missing' if wanted else 'on without EnableTransactionSearch'}")
    for logical, search in searches.items():
        policy = stack.resources.get(search.get("DependsOn"), {})
        if policy.get("Type") != "AWS::Logs::ResourcePolicy" or "aws/spans" not in policy["Properties"]["PolicyDocument"]:
            problem(f"{logical} does not wait for the policy that lets X-Ray write to aws/spans")


def check_alarms(stack):
    topics = stack.of_type("AWS::SNS::Topic")
    alarms = stack.of_type("AWS::CloudWatch::Alarm")
    if not alarms:
        problem("no alarms")
    for logical, alarm in alarms.items():
        actions = alarm["Properties"].get("AlarmActions", [])
        if not actions or not all(any(t in a for t in topics) for a in actions):
            problem(f"{logical} notifies no topic of the stack")
        check_alarm_metrics(stack, logical, alarm["Properties"])
    subscriptions = stack.of_type("AWS::SNS::Subscription")
    wanted = bool(stack.parameters.get("AlarmEmail"))
    if wanted != bool(subscriptions):
        problem(f"e-mail subscription present: {bool(subscriptions)}, AlarmEmail given: {wanted}")


def check_alarm_metrics(stack, logical, props):
    if "MetricName" in props:
        dims = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
        check_metric(stack, f"alarm {logical}", props["Namespace"], props["MetricName"], dims)
    for query in props.get("Metrics", []):
        metric = query.get("MetricStat", {}).get("Metric")
        if metric:
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            check_metric(stack, f"alarm {logical}", metric["Namespace"], metric["MetricName"], dims)


def check_metric(stack, where, namespace, name, dims):
    """Whether the stack publishes this metric with these dimensions (and values)."""
    functions = {stack.physical(k) for k in stack.of_type("AWS::Lambda::Function")}
    tables = {stack.physical(k) for k in stack.of_type("AWS::DynamoDB::Table")}
    api = f"cruddur-{stack.parameters['Stage']}"
    emf_namespace = next(iter({
        f["Properties"]["Environment"]["Variables"].get("METRICS_NAMESPACE")
        for f in stack.of_type("AWS::Lambda::Function").values()}))
    keys = set(dims)
    if namespace in AWS_METRICS:
        names, dimension_sets = AWS_METRICS[namespace]
        if name not in names or keys not in dimension_sets:
            problem(f"{where}: {namespace} {name} {sorted(keys)} is not published")
    elif namespace == "AWS/DynamoDB":
        if keys not in DYNAMODB_METRICS.get(name, []):
            problem(f"{where}: {namespace} {name} {sorted(keys)} is not published")
        if "Operation" in dims and dims["Operation"] not in DYNAMODB_OPERATIONS:
            problem(f"{where}: no DynamoDB operation {dims['Operation']}")
    elif namespace == emf_namespace:
        if name not in code_emf_metrics() or keys != {"service"} or dims["service"] != "cruddur":
            problem(f"{where}: {name} {dims} is not an EMF metric the functions emit")
    else:
        problem(f"{where}: namespace {namespace} is not the stack's")
    if dims.get("FunctionName", next(iter(functions))) not in functions:
        problem(f"{where}: no function {dims['FunctionName']}")
    if dims.get("TableName", next(iter(tables))) not in tables:
        problem(f"{where}: no table {dims['TableName']}")
    if dims.get("ApiName", api) != api or dims.get("Stage", stack.parameters["Stage"]) != stack.parameters["Stage"]:
        problem(f"{where}: not this stack's API stage: {dims}")


def check_dashboard(stack):
    dashboards = stack.of_type("AWS::CloudWatch::Dashboard")
    if len(dashboards) != 1:
        problem(f"{len(dashboards)} dashboards")
        return
    body = json.loads(next(iter(dashboards.values()))["Properties"]["DashboardBody"])
    shown = set()
    for widget in body["widgets"]:
        for metric in widget["properties"]["metrics"]:
            parts = [p for p in metric if not isinstance(p, dict)]
            namespace, name, rest = parts[0], parts[1], parts[2:]
            dims = dict(zip(rest[0::2], rest[1::2]))
            check_metric(stack, f"dashboard '{widget['properties']['title']}'", namespace, name, dims)
            shown.add(name)
    wanted = {"5XXError", "4XXError", "Latency", "Errors", "Throttles", "Duration",
              "ConcurrentExecutions", "ReadThrottleEvents", "WriteThrottleEvents", "SystemErrors"}
    wanted |= code_emf_metrics()
    if wanted - shown:
        problem(f"the dashboard does not show {sorted(wanted - shown)}")
    # A per-function widget shows every function: a new one is added to each.
    functions = {stack.physical(k) for k in stack.of_type("AWS::Lambda::Function")}
    for widget in body["widgets"]:
        metrics = widget["properties"]["metrics"]
        per_function = {dict(zip(m[2::2], m[3::2])).get("FunctionName") for m in metrics
                        if m[0] == "AWS/Lambda" and "FunctionName" in m}
        per_function.discard(None)
        if per_function and per_function != functions and widget["properties"]["title"] != "Sign-ups":
            missing = sorted(f.removeprefix(f"{stack.name}-") for f in functions - per_function)
            problem(f"dashboard '{widget['properties']['title']}' leaves out {missing}")


def check_triggers(stack):
    for logical, function in stack.of_type("AWS::Lambda::Function").items():
        if "SignUp" in logical or "Confirmation" in logical:
            props = function["Properties"]
            if int(props.get("Timeout", 3)) > 5:
                problem(f"{logical} outlives Cognito's 5-second wait")
            if "ReservedConcurrentExecutions" not in props:
                problem(f"{logical} has no reserved concurrency")


def check_rules():
    template = yaml_parse((ROOT / "template.yaml").read_text())
    text = json.dumps(template.get("Rules", {}))
    if '"local"' not in text:
        problem("nothing refuses the local stage (Rules)")
    destinations = template.get("Rules", {}).get("OneOtlpTracesDestination", {})
    if "XrayOverOtlp" not in json.dumps(destinations) or "HoneycombApiKeyParameter" not in json.dumps(destinations):
        problem("nothing refuses two OTLP traces destinations (XrayOverOtlp with Honeycomb)")
    overrides = [line for line in (ROOT / "samconfig.toml").read_text().splitlines()
                 if line.strip().startswith("parameter_overrides")]
    if any("FrontendUrl" in line for line in overrides):
        problem("samconfig.toml pins FrontendUrl: every deploy would reset CORS to it")


def names(stack):
    """Names that must be unique in an account and region."""
    found = set()
    for kind, key in (("AWS::XRay::Group", "GroupName"), ("AWS::CloudWatch::Dashboard", "DashboardName"),
                      ("AWS::Logs::LogGroup", "LogGroupName")):
        found |= {r["Properties"][key] for r in stack.of_type(kind).values()}
    found |= {r["Properties"]["SamplingRule"]["RuleName"] for r in stack.of_type("AWS::XRay::SamplingRule").values()}
    return found


def main():
    prod = Stack("cruddur", {"Stage": "prod"})
    secrets = Stack("cruddur", {"Stage": "prod", "HoneycombApiKeyParameter": "/cruddur/prod/honeycomb-api-key",
                                "RollbarAccessTokenParameter": "/cruddur/prod/rollbar-access-token",
                                "AlarmEmail": "ops@example.com"})
    staging = Stack("cruddur-staging", {"Stage": "staging"})
    otlp = Stack("cruddur", {"Stage": "prod", "XrayOverOtlp": "true", "EnableTransactionSearch": "true"})
    for stack in (prod, secrets, staging, otlp):
        check_xray_otlp(stack)
        check_stage(stack)
        check_retained(stack)
        check_environment(stack)
        check_iam(stack)
        check_xray(stack)
        check_alarms(stack)
        check_dashboard(stack)
        check_triggers(stack)
    check_rules()
    shared = names(prod) & names(staging)
    if shared:
        problem(f"a second stack in the same account would collide on {sorted(shared)}")
    for text in PROBLEMS:
        print(f"FAIL template: {text}")
    if not PROBLEMS:
        print(f"ok   template: one stage, retained data, no secrets in the environment, least privilege "
              f"({', '.join(sorted(code_dynamodb_actions()))}), per-stack names, alarms and a dashboard "
              f"of published metrics, X-Ray over OTLP and Transaction Search only when asked")
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())
