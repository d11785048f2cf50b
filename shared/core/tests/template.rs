//! template.yaml, samconfig.toml, the workspace and `events/` agree.

use std::path::PathBuf;

use cruddur_core::routes::{TableAccess, ENDPOINTS, TRIGGERS};
use cruddur_core::testing::keys::{key_attributes, INDEXES, TABLE_KEYS, TTL_ATTRIBUTE};
use cruddur_core::testing::{CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS};
use serde_yaml::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml parses")
}

/// `!Ref X` (or `{Ref: X}`) -> `X`.
fn reference(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => tagged.value.as_str(),
        Value::Mapping(map) => map.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::Tagged(tagged) => format!("{} {}", tagged.tag, text(&tagged.value)),
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other).unwrap_or_default(),
    }
}

fn camel(name: &str) -> String {
    name.split('-')
        .map(|p| p[..1].to_uppercase() + &p[1..])
        .collect()
}

fn function_crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_function_crate_is_deployed_with_its_route_auth_and_policy() {
    let t = template();
    let resources = &t["Resources"];
    let mut declared: Vec<String> = ENDPOINTS
        .iter()
        .map(|e| e.function.to_owned())
        .chain(TRIGGERS.iter().map(|t| t.function.to_owned()))
        .collect();
    declared.sort();
    assert_eq!(
        function_crates(),
        declared,
        "functions/ and the route table agree"
    );

    let serverless_functions: Vec<&str> = resources
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(k, _)| k.as_str().unwrap())
        .collect();
    assert_eq!(
        serverless_functions.len(),
        declared.len(),
        "exactly one template function per crate"
    );

    for name in &declared {
        let resource = &resources[format!("{}Function", camel(name)).as_str()];
        assert_eq!(resource["Type"], "AWS::Serverless::Function", "{name}");
        assert_eq!(resource["Metadata"]["BuildMethod"], "rust-cargolambda");
        assert_eq!(
            resource["Metadata"]["BuildProperties"]["Binary"],
            name.as_str()
        );
        let log_group = &resources[format!("{}LogGroup", camel(name)).as_str()];
        assert_eq!(log_group["Type"], "AWS::Logs::LogGroup");
        assert!(text(&log_group["Properties"]["LogGroupName"])
            .contains(&format!("${{{}Function}}", camel(name))));
        assert_eq!(
            reference(&log_group["Properties"]["RetentionInDays"]),
            Some("LogRetentionInDays")
        );
    }

    for endpoint in ENDPOINTS {
        let resource = &resources[format!("{}Function", camel(endpoint.function)).as_str()];
        let api = &resource["Properties"]["Events"]["Api"];
        assert_eq!(api["Type"], "Api");
        let props = &api["Properties"];
        assert_eq!(reference(&props["RestApiId"]), Some("CruddurApi"));
        assert_eq!(props["Path"], endpoint.route.path, "{}", endpoint.function);
        assert_eq!(
            props["Method"],
            endpoint.route.method.to_lowercase().as_str()
        );
        let authorizer = props["Auth"]["Authorizer"].as_str();
        assert_eq!(
            authorizer == Some("CognitoAuthorizer"),
            endpoint.auth,
            "{} auth",
            endpoint.function
        );
        // The frontend sends Cognito's access token; without this scope the authorizer would
        // accept ID tokens only.
        let scopes: Vec<&str> = props["Auth"]["AuthorizationScopes"]
            .as_sequence()
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            scopes == ["aws.cognito.signin.user.admin"],
            endpoint.auth,
            "{} scopes {scopes:?}",
            endpoint.function
        );
        assert_table_policy(&t, resource, endpoint.function, endpoint.access);
    }
    for trigger in TRIGGERS {
        let resource = &resources[format!("{}Function", camel(trigger.function)).as_str()];
        let events: Vec<&Value> = resource["Properties"]["Events"]
            .as_mapping()
            .unwrap()
            .values()
            .collect();
        assert_eq!(events.len(), 1, "{}", trigger.function);
        assert_eq!(events[0]["Type"], "Cognito");
        assert_eq!(
            events[0]["Properties"]["Trigger"], trigger.cognito_trigger,
            "{}",
            trigger.function
        );
        assert_eq!(
            reference(&events[0]["Properties"]["UserPool"]),
            Some("UserPool")
        );
        // Cognito waits 5 seconds for a trigger.
        let timeout = resource["Properties"]["Timeout"].as_u64().unwrap();
        assert!(
            timeout <= 5,
            "{} times out after Cognito gave up",
            trigger.function
        );
        assert_table_policy(&t, resource, trigger.function, trigger.access);
    }
}

/// The function's policies are exactly its route-table access (one managed policy, or none) and
/// the secrets policy; the managed policy grants exactly the access's actions.
fn assert_table_policy(t: &Value, function: &Value, name: &str, access: TableAccess) {
    let policies: Vec<String> = function["Properties"]["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    let table: Vec<&String> = policies.iter().filter(|p| p.contains("Table")).collect();
    match access.policy() {
        None => assert!(table.is_empty(), "{name} needs no table access: {table:?}"),
        Some(policy) => {
            assert_eq!(table.len(), 1, "{name}: {table:?}");
            assert_eq!(table[0].as_str(), format!("!Ref {policy}"), "{name}");
            let statement = &t["Resources"][policy]["Properties"]["PolicyDocument"]["Statement"][0];
            let actions: Vec<&str> = statement["Action"]
                .as_sequence()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(actions, access.actions(), "{policy}");
        }
    }
    assert!(
        policies.iter().any(|p| p.contains("SecretsReadPolicy")),
        "{name} reads the secret parameters"
    );
    assert_eq!(policies.len(), table.len() + 1, "{name}: {policies:?}");
}

#[test]
fn every_event_file_matches_its_route() {
    let mut functions: Vec<&str> = ENDPOINTS
        .iter()
        .map(|e| e.function)
        .chain(TRIGGERS.iter().map(|t| t.function))
        .collect();
    functions.sort_by_key(|f| std::cmp::Reverse(f.len()));
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("events")).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let function = functions
            .iter()
            .find(|f| stem == **f || stem.starts_with(&format!("{f}-")))
            .unwrap_or_else(|| panic!("events/{stem}.json names no function"));
        let event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        match ENDPOINTS.iter().find(|e| e.function == *function) {
            Some(endpoint) => {
                assert_eq!(event["resource"], endpoint.route.path, "{stem}");
                assert_eq!(
                    event["requestContext"]["resourcePath"], endpoint.route.path,
                    "{stem}"
                );
                assert_eq!(event["httpMethod"], endpoint.route.method, "{stem}");
                let matched = endpoint.route.match_path(event["path"].as_str().unwrap());
                assert!(matched.is_some(), "{stem}: path does not match the route");
                // What the authorizer passes for the access token the frontend sends.
                let claims = &event["requestContext"]["authorizer"]["claims"];
                if !claims.is_null() {
                    assert_eq!(claims["token_use"], "access", "{stem}");
                    assert_eq!(claims["scope"], "aws.cognito.signin.user.admin", "{stem}");
                    for (claim, present) in [
                        ("sub", true),
                        ("client_id", true),
                        ("username", true),
                        ("aud", false),
                        ("email", false),
                        ("preferred_username", false),
                    ] {
                        assert_eq!(claims.get(claim).is_some(), present, "{stem}: {claim}");
                    }
                }
            }
            None => {
                let trigger = TRIGGERS.iter().find(|t| t.function == *function).unwrap();
                let source = event["triggerSource"].as_str().unwrap();
                let expected = match trigger.cognito_trigger {
                    "PreSignUp" => "PreSignUp_",
                    other => other,
                };
                assert!(source.starts_with(expected), "{stem}: {source}");
            }
        }
        checked += 1;
    }
    assert!(checked >= ENDPOINTS.len() + TRIGGERS.len());
    for function in &functions {
        assert!(
            root().join("events").join(format!("{function}.json")).exists(),
            "events/{function}.json is missing: every function has an event of its own (its tests and the end-to-end pass replay it)"
        );
    }
}

#[test]
fn the_table_is_the_one_the_store_defines() {
    let t = template();
    let table = &t["Resources"]["Table"];
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    let props = &table["Properties"];
    assert_eq!(props["BillingMode"], "PAY_PER_REQUEST");
    let mut defined: Vec<&str> = props["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a["AttributeName"].as_str().unwrap())
        .collect();
    let mut expected = key_attributes();
    defined.sort();
    expected.sort();
    assert_eq!(defined, expected);
    let keys = |schema: &Value| -> (String, String) {
        let seq = schema.as_sequence().unwrap();
        let find = |kind: &str| {
            seq.iter().find(|k| k["KeyType"] == kind).unwrap()["AttributeName"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        (find("HASH"), find("RANGE"))
    };
    assert_eq!(
        keys(&props["KeySchema"]),
        (
            TABLE_KEYS.partition_key.to_owned(),
            TABLE_KEYS.sort_key.to_owned()
        )
    );
    let indexes = props["GlobalSecondaryIndexes"].as_sequence().unwrap();
    assert_eq!(indexes.len(), INDEXES.len());
    for index in INDEXES {
        let declared = indexes
            .iter()
            .find(|i| i["IndexName"] == index.name)
            .unwrap_or_else(|| panic!("{}", index.name));
        assert_eq!(
            keys(&declared["KeySchema"]),
            (
                index.keys.partition_key.to_owned(),
                index.keys.sort_key.to_owned()
            )
        );
        assert_eq!(declared["Projection"]["ProjectionType"], "ALL");
    }
    assert_eq!(
        props["TimeToLiveSpecification"]["AttributeName"],
        TTL_ATTRIBUTE
    );
    assert_eq!(props["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
}

#[test]
fn tracing_logging_xray_and_secrets_are_set_up() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Tracing"], "Active");
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(
        reference(&globals["Architectures"][0]),
        Some("Architecture")
    );
    assert_eq!(t["Parameters"]["Architecture"]["Default"], "arm64");
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
    let env = &globals["Environment"]["Variables"];
    assert_eq!(reference(&env["CRUDDUR_TABLE_NAME"]), Some("Table"));
    assert_eq!(reference(&env["CRUDDUR_STAGE"]), Some("Stage"));
    assert_eq!(env["OTEL_SERVICE_NAME"], "cruddur");
    assert_eq!(
        env["CRUDDUR_SEED_DEMO_DATA"], "false",
        "no demo data in a deployed table"
    );
    let whole = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    assert!(
        !whole.contains("CRUDDUR_LOCAL_USER"),
        "the local stand-in user never reaches AWS"
    );
    assert!(t["Parameters"]["Stage"]["Default"] != "local");

    let resources = &t["Resources"];
    let api = &resources["CruddurApi"];
    assert_eq!(api["Type"], "AWS::Serverless::Api");
    assert_eq!(api["Properties"]["TracingEnabled"], true);
    assert!(
        text(&api["Properties"]["Auth"]["Authorizers"]["CognitoAuthorizer"]["UserPoolArn"])
            .contains("UserPool.Arn")
    );
    assert!(text(&api["Properties"]["Cors"]["AllowOrigin"]).contains("FrontendUrl"));
    // The browser must see the same CORS from API Gateway (preflights, gateway-made errors) as
    // from the functions.
    let quoted = |s: &str| format!("'{s}'");
    let cors = &api["Properties"]["Cors"];
    assert_eq!(cors["AllowHeaders"], quoted(CORS_ALLOW_HEADERS).as_str());
    assert_eq!(cors["AllowMethods"], quoted(CORS_ALLOW_METHODS).as_str());
    for response in ["DEFAULT_4XX", "DEFAULT_5XX"] {
        let headers =
            &api["Properties"]["GatewayResponses"][response]["ResponseParameters"]["Headers"];
        assert!(
            text(&headers["Access-Control-Allow-Origin"]).contains("${FrontendUrl}"),
            "{response}"
        );
        assert_eq!(
            headers["Access-Control-Allow-Headers"],
            quoted(CORS_ALLOW_HEADERS).as_str(),
            "{response}"
        );
        assert_eq!(
            headers["Access-Control-Allow-Methods"],
            quoted(CORS_ALLOW_METHODS).as_str(),
            "{response}"
        );
    }

    // Names, filters and the rest of the stack as deployed: scripts/check_template.py, on the
    // template as samtranslator expands it.
    let group = &resources["XRayGroup"];
    assert_eq!(group["Type"], "AWS::XRay::Group");
    assert_eq!(
        text(&group["Properties"]["GroupName"]),
        "!Sub ${AWS::StackName}"
    );
    let filter = text(&group["Properties"]["FilterExpression"]);
    assert!(filter.contains("fault") && filter.contains("error") && filter.contains("cruddur"));
    let rule = &resources["XRaySamplingRule"]["Properties"]["SamplingRule"];
    assert_eq!(text(&rule["RuleName"]), "!Sub ${AWS::StackName}");
    assert_eq!(rule["Priority"], 9000);
    assert_eq!(rule["FixedRate"], 0.1);
    assert_eq!(rule["ReservoirSize"], 5);

    // Secrets are names of SSM parameters; their values never pass through the stack.
    for secret in ["HoneycombApiKeyParameter", "RollbarAccessTokenParameter"] {
        assert_eq!(t["Parameters"][secret]["Type"], "String", "{secret}");
        assert_eq!(t["Parameters"][secret]["Default"], "", "{secret}");
    }
    let samconfig = std::fs::read_to_string(root().join("samconfig.toml")).unwrap();
    for secret in ["ROLLBAR_ACCESS_TOKEN=", "x-honeycomb-team"] {
        assert!(
            !samconfig.contains(secret),
            "no secret ({secret}) in samconfig.toml"
        );
    }

    let pool = &resources["UserPool"];
    assert_eq!(pool["Type"], "AWS::Cognito::UserPool");
    assert_eq!(
        resources["UserPoolClient"]["Type"],
        "AWS::Cognito::UserPoolClient"
    );
    for output in [
        "ApiUrl",
        "UserPoolId",
        "UserPoolClientId",
        "TableName",
        "XRayServiceMap",
        "XRayGroup",
    ] {
        assert!(
            !text(&t["Outputs"][output]["Value"]).trim().is_empty(),
            "{output}"
        );
    }
}
