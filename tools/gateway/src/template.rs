//! What the gateway serves, read from the SAM template `sam deploy` uses: the REST API (name,
//! stage, CORS, gateway responses, authorizers) and every `Api` event of every function (path,
//! method, authorizer and scopes, the function's timeout). A route added to the template is served
//! without touching the gateway.
//!
//! CloudFormation's short tags are resolved the way CloudFormation would for what the gateway
//! needs: `!Ref` of a parameter (its default, or a `--param` override) or a pseudo parameter, and
//! `!Sub` over the same names. Anything else (`!GetAtt UserPool.Arn`) is kept as written.

use std::collections::HashMap;
use std::time::Duration;

use serde_yaml::{Mapping, Value};

/// Lambda's own default when a function sets no `Timeout`.
const LAMBDA_DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// The REST API as the template declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiSpec {
    /// `<api name>/<stage>`, the name X-Ray gives the API Gateway stage's segments.
    pub name: String,
    pub stage: String,
    pub cors: Option<Cors>,
    /// Headers of gateway-made responses, by response type (`DEFAULT_4XX`, `UNAUTHORIZED`, ...).
    pub gateway_responses: HashMap<String, Vec<(String, String)>>,
    pub routes: Vec<RouteSpec>,
}

/// The API's CORS settings (SAM answers preflights with them on every resource).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    pub allow_origin: String,
    pub allow_headers: Option<String>,
    pub allow_methods: Option<String>,
    pub max_age: Option<String>,
}

/// One `Api` event: a method on a resource path, served by a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Upper case; `ANY` matches every method.
    pub method: String,
    /// The resource path, e.g. `/api/activities/{handle}`.
    pub path: String,
    /// The function's name as `cargo lambda watch` serves it (its binary).
    pub function: String,
    pub timeout: Duration,
    /// The Cognito authorizer's scopes when the route has one (empty: ID tokens, as API Gateway
    /// accepts without scopes).
    pub authorizer: Option<Authorizer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorizer {
    pub name: String,
    pub scopes: Vec<String>,
}

/// Why a template cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

/// Parameter values: the template's defaults, then the overrides, then pseudo parameters.
struct Names {
    values: HashMap<String, String>,
}

impl Names {
    fn new(template: &Value, overrides: &[(String, String)]) -> Self {
        let mut values = HashMap::new();
        if let Some(params) = template["Parameters"].as_mapping() {
            for (name, spec) in params {
                if let (Some(name), Some(default)) = (name.as_str(), scalar(&spec["Default"])) {
                    values.insert(name.to_owned(), default);
                }
            }
        }
        for (name, value) in overrides {
            values.insert(name.clone(), value.clone());
        }
        let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
        for (name, value) in [
            ("AWS::Region", region.as_str()),
            ("AWS::AccountId", "000000000000"),
            ("AWS::StackName", "cruddur-local"),
            ("AWS::Partition", "aws"),
            ("AWS::URLSuffix", "amazonaws.com"),
        ] {
            values.entry(name.to_owned()).or_insert(value.to_owned());
        }
        Self { values }
    }

    /// A property's value with `!Ref` and `!Sub` resolved where they name something known.
    fn resolve(&self, value: &Value) -> Option<String> {
        match value {
            Value::Tagged(tagged) if tagged.tag == "!Ref" => {
                let name = tagged.value.as_str()?;
                Some(
                    self.values
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| name.to_owned()),
                )
            }
            Value::Tagged(tagged) if tagged.tag == "!Sub" => {
                Some(self.substitute(tagged.value.as_str()?))
            }
            Value::Mapping(map) => {
                if let Some(name) = map.get("Ref").and_then(Value::as_str) {
                    return Some(
                        self.values
                            .get(name)
                            .cloned()
                            .unwrap_or_else(|| name.to_owned()),
                    );
                }
                map.get("Fn::Sub")
                    .and_then(Value::as_str)
                    .map(|text| self.substitute(text))
            }
            other => scalar(other),
        }
    }

    /// `${Name}` replaced by its value; unknown names are kept as written.
    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            let name = &rest[start + 2..start + end];
            match self.values.get(name) {
                Some(value) => out.push_str(value),
                None => out.push_str(&rest[start..=start + end]),
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// SAM writes header values as quoted strings (`"'*'"`): the value is what is inside.
fn unquote(value: String) -> String {
    value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .map(str::to_owned)
        .unwrap_or(value)
}

impl ApiSpec {
    /// Reads the template's text. `overrides` are parameter values (`Stage`, `FrontendUrl`, ...).
    pub fn parse(text: &str, overrides: &[(String, String)]) -> Result<Self, TemplateError> {
        let template: Value = serde_yaml::from_str(text)
            .map_err(|e| TemplateError(format!("the template is not YAML: {e}")))?;
        let names = Names::new(&template, overrides);
        let resources = template["Resources"]
            .as_mapping()
            .ok_or_else(|| TemplateError("the template has no Resources".into()))?;
        let (api_id, api) = resources
            .iter()
            .find(|(_, r)| r["Type"] == "AWS::Serverless::Api")
            .ok_or_else(|| TemplateError("the template declares no AWS::Serverless::Api".into()))?;
        let api_id = api_id.as_str().unwrap_or_default().to_owned();
        let props = &api["Properties"];
        let stage = names
            .resolve(&props["StageName"])
            .ok_or_else(|| TemplateError(format!("{api_id} has no StageName")))?;
        let api_name = names
            .resolve(&props["Name"])
            .unwrap_or_else(|| api_id.clone());
        let default_authorizer = props["Auth"]["DefaultAuthorizer"]
            .as_str()
            .map(str::to_owned);
        let globals = &template["Globals"]["Function"];
        let mut routes = Vec::new();
        for (id, resource) in resources {
            if resource["Type"] != "AWS::Serverless::Function" {
                continue;
            }
            let id = id.as_str().unwrap_or_default();
            let function = resource["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .or_else(|| resource["Properties"]["FunctionName"].as_str())
                .unwrap_or(id)
                .to_owned();
            let timeout = names
                .resolve(&resource["Properties"]["Timeout"])
                .or_else(|| names.resolve(&globals["Timeout"]))
                .and_then(|t| t.parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(LAMBDA_DEFAULT_TIMEOUT);
            let Some(events) = resource["Properties"]["Events"].as_mapping() else {
                continue;
            };
            for (_, event) in events {
                if event["Type"] != "Api" || !serves(&event["Properties"], &api_id) {
                    continue;
                }
                routes.push(route(
                    &event["Properties"],
                    &function,
                    timeout,
                    default_authorizer.as_deref(),
                )?);
            }
        }
        Ok(Self {
            name: format!("{api_name}/{stage}"),
            stage,
            cors: cors(&names, &props["Cors"]),
            gateway_responses: gateway_responses(&names, &props["GatewayResponses"]),
            routes,
        })
    }

    /// Headers of a gateway-made response: those of its own type, else of its class.
    pub fn response_headers(&self, kind: &str, status: u16) -> &[(String, String)] {
        let class = if status >= 500 {
            "DEFAULT_5XX"
        } else {
            "DEFAULT_4XX"
        };
        self.gateway_responses
            .get(kind)
            .or_else(|| self.gateway_responses.get(class))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// An event belongs to this API when it names it (or names none: SAM's implicit API).
fn serves(props: &Value, api_id: &str) -> bool {
    match &props["RestApiId"] {
        Value::Null => true,
        Value::Tagged(tagged) if tagged.tag == "!Ref" => tagged.value.as_str() == Some(api_id),
        Value::Mapping(map) => map.get("Ref").and_then(Value::as_str) == Some(api_id),
        other => other.as_str() == Some(api_id),
    }
}

fn route(
    props: &Value,
    function: &str,
    timeout: Duration,
    default_authorizer: Option<&str>,
) -> Result<RouteSpec, TemplateError> {
    let path = props["Path"]
        .as_str()
        .ok_or_else(|| TemplateError(format!("an Api event of {function} has no Path")))?;
    let method = props["Method"]
        .as_str()
        .ok_or_else(|| TemplateError(format!("an Api event of {function} has no Method")))?;
    let auth = &props["Auth"];
    let name = auth["Authorizer"]
        .as_str()
        .or(default_authorizer)
        .filter(|name| *name != "NONE");
    let authorizer = name.map(|name| Authorizer {
        name: name.to_owned(),
        scopes: auth["AuthorizationScopes"]
            .as_sequence()
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    });
    Ok(RouteSpec {
        method: method.to_ascii_uppercase(),
        path: path.to_owned(),
        function: function.to_owned(),
        timeout,
        authorizer,
    })
}

fn cors(names: &Names, value: &Value) -> Option<Cors> {
    let field = |name: &str| names.resolve(&value[name]).map(unquote);
    match value {
        Value::Null => None,
        // `Cors: "'*'"` is shorthand for the origin alone.
        Value::String(_) | Value::Tagged(_) => Some(Cors {
            allow_origin: unquote(names.resolve(value)?),
            allow_headers: None,
            allow_methods: None,
            max_age: None,
        }),
        _ => Some(Cors {
            allow_origin: field("AllowOrigin")?,
            allow_headers: field("AllowHeaders"),
            allow_methods: field("AllowMethods"),
            max_age: field("MaxAge"),
        }),
    }
}

fn gateway_responses(names: &Names, value: &Value) -> HashMap<String, Vec<(String, String)>> {
    let empty = Mapping::new();
    value
        .as_mapping()
        .unwrap_or(&empty)
        .iter()
        .filter_map(|(kind, spec)| {
            let headers = spec["ResponseParameters"]["Headers"]
                .as_mapping()
                .map(|headers| {
                    headers
                        .iter()
                        .filter_map(|(name, value)| {
                            Some((name.as_str()?.to_owned(), unquote(names.resolve(value)?)))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some((kind.as_str()?.to_owned(), headers))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cruddur(overrides: &[(&str, &str)]) -> ApiSpec {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
                .unwrap();
        let overrides: Vec<_> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ApiSpec::parse(&text, &overrides).unwrap()
    }

    #[test]
    fn reads_cruddurs_api_from_its_template() {
        let api = cruddur(&[]);
        assert_eq!(api.name, "cruddur-prod/prod");
        assert_eq!(api.stage, "prod");
        let cors = api.cors.clone().unwrap();
        assert_eq!(cors.allow_origin, "http://localhost:3000");
        assert!(cors.allow_headers.unwrap().contains("authorization"));
        assert!(cors.allow_methods.unwrap().contains("PUT"));
        let home = api
            .routes
            .iter()
            .find(|r| r.path == "/api/activities/home")
            .unwrap();
        assert_eq!(
            (home.method.as_str(), home.function.as_str(), home.timeout),
            ("GET", "home-activities", Duration::from_secs(10))
        );
        assert_eq!(home.authorizer, None);
        let create = api
            .routes
            .iter()
            .find(|r| r.path == "/api/activities" && r.method == "POST")
            .unwrap();
        assert_eq!(
            create.authorizer,
            Some(Authorizer {
                name: "CognitoAuthorizer".into(),
                scopes: vec!["aws.cognito.signin.user.admin".into()]
            })
        );
        let headers = api.response_headers("UNAUTHORIZED", 401);
        assert!(headers
            .iter()
            .any(|(k, v)| k == "Access-Control-Allow-Origin" && v == "http://localhost:3000"));
        assert!(!api.response_headers("INTEGRATION_FAILURE", 502).is_empty());
    }

    #[test]
    fn parameters_can_be_overridden() {
        let api = cruddur(&[("Stage", "dev"), ("FrontendUrl", "https://cruddur.example")]);
        assert_eq!(api.name, "cruddur-dev/dev");
        assert_eq!(api.cors.unwrap().allow_origin, "https://cruddur.example");
    }

    #[test]
    fn a_new_route_in_the_template_is_served() {
        let text = r#"
Parameters:
  Stage: {Type: String, Default: beta}
Globals:
  Function: {Timeout: 7}
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
      Cors: "'*'"
      Auth:
        DefaultAuthorizer: Pool
        Authorizers: {Pool: {UserPoolArn: !GetAtt UserPool.Arn}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 2
      Events:
        One: {Type: Api, Properties: {RestApiId: !Ref Api, Path: "/things/{id}", Method: any}}
        Open: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /open, Method: get, Auth: {Authorizer: NONE}}}
        Queue: {Type: SQS, Properties: {Queue: arn}}
"#;
        let api = ApiSpec::parse(text, &[]).unwrap();
        assert_eq!(api.name, "Api/beta");
        assert_eq!(api.cors.unwrap().allow_origin, "*");
        assert_eq!(api.routes.len(), 2);
        assert_eq!(api.routes[0].method, "ANY");
        assert_eq!(api.routes[0].function, "Fn");
        assert_eq!(api.routes[0].timeout, Duration::from_secs(2));
        assert_eq!(api.routes[0].authorizer.as_ref().unwrap().name, "Pool");
        assert_eq!(api.routes[1].authorizer, None);
    }

    #[test]
    fn unusable_templates_are_clear_errors() {
        assert!(ApiSpec::parse("{{{", &[])
            .unwrap_err()
            .0
            .contains("not YAML"));
        assert!(ApiSpec::parse("Resources: {}", &[])
            .unwrap_err()
            .0
            .contains("no AWS::Serverless::Api"));
    }
}
