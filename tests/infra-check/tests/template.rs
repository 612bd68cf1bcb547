//! `infra/template.yaml` against the code it deploys:
//! - every environment variable the template sets is one the function reads;
//! - every HTTP route reaches a handler of the function it is integrated with (the real
//!   handlers, driven by API Gateway payload 2.0 events);
//! - every execution role allows exactly the table actions its crate declares
//!   (`TABLE_ACTIONS`), plus the item actions of a TransactWriteItems, on this table only;
//! - log groups, the table schema, the timed-reset triggers and the schedules are the ones
//!   the code relies on.

use routing_core::meta::webhook::MetaWebhooks;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use infra_check::{get_att, one_or_many, ref_target, sub_text, workspace_root, Function, Template};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, Response};
use routing_core::meta::graph::{GraphClient, RetryPolicy};
use routing_core::settings::COMMON_ENVIRONMENT;
use routing_core::store::MemoryStore;
use routing_domain::SystemClock;
use routing_usecases::control::ControlService;
use routing_usecases::ingest::WebhookIngest;
use routing_usecases::records::Records;
use routing_usecases::testing;
use serde_json::{json, Value};

const FUNCTION_CRATES: [&str; 5] = [
    "webhook-ingest",
    "control-handoff",
    "timed-reset",
    "resync",
    "event-publisher",
];

/// The HTTP contract (docs/architecture.md §7): method, path, function.
const CONTRACT_ROUTES: [(&str, &str, &str); 10] = [
    ("GET", "/webhook/{app_id}", "webhook-ingest"),
    ("GET", "/console", "control-handoff"),
    ("POST", "/webhook/{app_id}", "webhook-ingest"),
    ("GET", "/pages/{page_id}/conversations", "control-handoff"),
    (
        "GET",
        "/pages/{page_id}/conversations/{psid}",
        "control-handoff",
    ),
    (
        "GET",
        "/pages/{page_id}/conversations/{psid}/timeline",
        "control-handoff",
    ),
    (
        "POST",
        "/pages/{page_id}/conversations/{psid}/control",
        "control-handoff",
    ),
    (
        "POST",
        "/pages/{page_id}/conversations/{psid}/messages",
        "control-handoff",
    ),
    (
        "POST",
        "/pages/{page_id}/conversations/{psid}/read",
        "control-handoff",
    ),
    (
        "POST",
        "/pages/{page_id}/conversations/{psid}/resync",
        "resync",
    ),
];

/// DynamoDB Streams actions (a stream event source); every other `dynamodb:` action is a
/// table action.
const STREAM_ACTIONS: [&str; 4] = [
    "DescribeStream",
    "GetRecords",
    "GetShardIterator",
    "ListStreams",
];

fn extra_environment(crate_name: &str) -> &'static [&'static str] {
    match crate_name {
        "webhook-ingest" => webhook_ingest::EXTRA_ENVIRONMENT,
        "control-handoff" => control_handoff::EXTRA_ENVIRONMENT,
        "timed-reset" => timed_reset::EXTRA_ENVIRONMENT,
        "resync" => resync::EXTRA_ENVIRONMENT,
        "event-publisher" => event_publisher::ENVIRONMENT,
        other => panic!("no function crate {other}"),
    }
}

fn table_actions(crate_name: &str) -> &'static [&'static str] {
    match crate_name {
        "webhook-ingest" => webhook_ingest::TABLE_ACTIONS,
        "control-handoff" => control_handoff::TABLE_ACTIONS,
        "timed-reset" => timed_reset::TABLE_ACTIONS,
        "resync" => resync::TABLE_ACTIONS,
        "event-publisher" => event_publisher::TABLE_ACTIONS,
        other => panic!("no function crate {other}"),
    }
}

fn template() -> Template {
    Template::load().unwrap_or_else(|err| panic!("{err}"))
}

/// The template's functions by crate: each of the four exactly once.
fn functions(template: &Template) -> BTreeMap<String, Function> {
    let mut by_crate = BTreeMap::new();
    for function in template.functions().unwrap_or_else(|err| panic!("{err}")) {
        assert!(
            FUNCTION_CRATES.contains(&function.crate_name.as_str()),
            "{}: CodeUri names {}, not one of the function crates {FUNCTION_CRATES:?}",
            function.logical_id,
            function.crate_name
        );
        let previous = by_crate.insert(function.crate_name.clone(), function);
        assert!(previous.is_none(), "two functions deploy the same crate");
    }
    let crates: Vec<&str> = by_crate.keys().map(String::as_str).collect();
    let mut expected = FUNCTION_CRATES.to_vec();
    expected.sort_unstable();
    assert_eq!(
        crates, expected,
        "the template deploys every function crate"
    );
    by_crate
}

fn resource<'t>(template: &'t Template, id: &str, kind: &str) -> &'t Value {
    let resource = template
        .resource(id)
        .unwrap_or_else(|| panic!("no resource {id}"));
    assert_eq!(resource["Type"], kind, "{id} is a {kind}");
    resource
}

// ------------------------------------------------------------------ a. environment

#[test]
fn every_environment_variable_is_one_the_function_reads() {
    let template = template();
    for (crate_name, function) in functions(&template) {
        let environment = template.environment(&function);
        let readable: BTreeSet<&str> = COMMON_ENVIRONMENT
            .iter()
            .chain(extra_environment(&crate_name))
            .copied()
            .collect();
        for name in environment.keys() {
            assert!(
                readable.contains(name.as_str()),
                "{crate_name}: the template sets {name}, which the code never reads \
                 (COMMON_ENVIRONMENT and {crate_name}'s EXTRA_ENVIRONMENT: {readable:?})"
            );
        }
        assert_eq!(
            environment.get("TABLE_NAME").and_then(ref_target),
            Some("Table"),
            "{crate_name}: TABLE_NAME is the table"
        );
        assert_eq!(
            environment
                .get(routing_core::settings::CONFIG_SECRET_ENV)
                .and_then(ref_target),
            Some("ConfigSecret"),
            "{crate_name}: COORDINATOR_CONFIG_SECRET_ID is the secret's ARN"
        );
        assert!(
            !environment.contains_key(routing_core::settings::CONFIG_FILE_ENV),
            "{crate_name}: in AWS the configuration comes from the secret, not a file"
        );
    }
}

// ------------------------------------------------------------------ b. routes

/// A route of the template: method, path template, the crate of the function it reaches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Route {
    logical_id: String,
    method: String,
    path: String,
    crate_name: String,
}

fn routes(template: &Template) -> Vec<Route> {
    let functions = functions(template);
    let crate_of = |logical_id: &str| -> String {
        functions
            .values()
            .find(|f| f.logical_id == logical_id)
            .map(|f| f.crate_name.clone())
            .unwrap_or_else(|| panic!("{logical_id} is not a function of the template"))
    };
    let mut routes = Vec::new();
    for (id, route) in template.resources_of_type("AWS::ApiGatewayV2::Route") {
        let properties = &route["Properties"];
        assert_eq!(
            ref_target(&properties["ApiId"]),
            Some("HttpApi"),
            "{id}: ApiId"
        );
        let key = properties["RouteKey"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: RouteKey is not a string"));
        let (method, path) = key
            .split_once(' ')
            .unwrap_or_else(|| panic!("{id}: RouteKey {key} is not 'METHOD /path'"));
        let integration = sub_text(&properties["Target"])
            .and_then(|t| t.strip_prefix("integrations/${"))
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or_else(|| panic!("{id}: Target is not !Sub integrations/${{Integration}}"));
        let integration = resource(template, integration, "AWS::ApiGatewayV2::Integration");
        assert_eq!(integration["Properties"]["IntegrationType"], "AWS_PROXY");
        assert_eq!(integration["Properties"]["PayloadFormatVersion"], "2.0");
        let function = match get_att(&integration["Properties"]["IntegrationUri"]) {
            Some((function, "Arn")) => function,
            _ => panic!("{id}: the integration's IntegrationUri is not !GetAtt <Function>.Arn"),
        };
        routes.push(Route {
            logical_id: id.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            crate_name: crate_of(function),
        });
    }
    routes
}

#[test]
fn the_template_routes_are_the_http_contract() {
    let template = template();
    let got: BTreeSet<(String, String, String)> = routes(&template)
        .into_iter()
        .map(|r| (r.method, r.path, r.crate_name))
        .collect();
    let expected: BTreeSet<(String, String, String)> = CONTRACT_ROUTES
        .iter()
        .map(|(m, p, c)| (m.to_string(), p.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, expected);
}

/// The agents' console page: static, opened by a browser that sends no IAM signature or
/// JWT; its API calls carry the API token.
const CONSOLE_PATH: &str = "/console";

#[test]
fn webhooks_and_the_console_are_never_authorized_at_the_gateway_and_conversation_routes_can_be() {
    let template = template();
    let mut console_routes = 0;
    for route in routes(&template) {
        let properties = &template.resource(&route.logical_id).unwrap()["Properties"];
        if route.path == CONSOLE_PATH {
            console_routes += 1;
            assert_eq!(route.method, "GET", "{}", route.logical_id);
        }
        if route.crate_name == "webhook-ingest" || route.path == CONSOLE_PATH {
            // Meta cannot sign with IAM or send a JWT: the signature is the authentication.
            // Nor can a browser opening the console: the page holds no data.
            assert_eq!(
                properties["AuthorizationType"], "NONE",
                "{}",
                route.logical_id
            );
            assert!(
                properties.get("AuthorizerId").is_none(),
                "{}",
                route.logical_id
            );
        } else {
            assert_eq!(
                properties["AuthorizationType"],
                json!({"Fn::If": ["UseIamAuthorization", "AWS_IAM",
                                  {"Fn::If": ["UseJwtAuthorization", "JWT", "NONE"]}]}),
                "{}: switched by ApiAuthorization",
                route.logical_id
            );
            assert_eq!(
                properties["AuthorizerId"],
                json!({"Fn::If": ["UseJwtAuthorization", {"Ref": "JwtAuthorizer"},
                                  {"Ref": "AWS::NoValue"}]}),
                "{}",
                route.logical_id
            );
        }
    }
    assert_eq!(console_routes, 1, "one GET /console route");
    assert_eq!(
        template.resource("JwtAuthorizer").unwrap()["Condition"],
        "UseJwtAuthorization"
    );
}

#[test]
fn api_gateway_may_invoke_every_function_behind_a_route() {
    let template = template();
    let functions = functions(&template);
    let behind_routes: BTreeSet<String> = routes(&template)
        .into_iter()
        .map(|r| r.crate_name)
        .collect();
    for crate_name in behind_routes {
        let function = &functions[&crate_name];
        let allowed = template
            .resources_of_type("AWS::Lambda::Permission")
            .into_iter()
            .any(|(_, p)| {
                let p = &p["Properties"];
                ref_target(&p["FunctionName"]) == Some(function.logical_id.as_str())
                    && p["Principal"] == "apigateway.amazonaws.com"
                    && p["Action"] == "lambda:InvokeFunction"
                    && sub_text(&p["SourceArn"]).is_some_and(|arn| arn.contains(":${HttpApi}/"))
            });
        assert!(
            allowed,
            "{crate_name}: no AWS::Lambda::Permission for this HTTP API"
        );
    }
    // The control-handoff permission for /pages/* does not cover /console: its own does.
    let console_allowed = template
        .resources_of_type("AWS::Lambda::Permission")
        .into_iter()
        .any(|(_, p)| {
            let p = &p["Properties"];
            ref_target(&p["FunctionName"]) == Some(functions["control-handoff"].logical_id.as_str())
                && sub_text(&p["SourceArn"]).is_some_and(|arn| {
                    arn.contains(":${HttpApi}/") && arn.ends_with("/GET/console")
                })
        });
    assert!(
        console_allowed,
        "no permission for API Gateway to invoke control-handoff on GET /console"
    );
}

/// The functions' real request handlers over a memory store and a Graph API where nothing
/// listens (routing happens before any Graph call; a call that gets that far answers 502).
struct Handlers {
    ingest: WebhookIngest,
    control: ControlService,
    resync: routing_usecases::resync::Resync,
}

impl Handlers {
    fn new() -> Self {
        let config = testing::config();
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(SystemClock);
        let policy = RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        };
        let graph = GraphClient::new("http://127.0.0.1:9", "v23.0", policy).expect("client");
        let control = ControlService::new(
            Records::new(config.clone(), store.clone(), clock.clone()),
            Arc::new(graph),
        );
        Handlers {
            ingest: MetaWebhooks::ingest(Records::new(config, store, clock)),
            resync: routing_usecases::resync::Resync::new(
                control.records().clone(),
                control.graph().clone(),
            ),
            control,
        }
    }

    /// `(status, JSON body or text)` of one request to a function.
    async fn call(&self, crate_name: &str, event: Value) -> (u16, Value) {
        if crate_name == "resync" {
            // One binary for the route and the batch: it takes the raw event.
            let limits = routing_usecases::resync::ResyncLimits {
                stop_at: std::time::Instant::now(),
                rate_per_second: 1,
                lease_slice: 1,
            };
            let answer = resync::handle(&self.resync, limits, event, std::time::Instant::now())
                .await
                .expect("an HTTP answer");
            let status = answer["statusCode"].as_u64().unwrap_or(0) as u16;
            let body = answer["body"]
                .as_str()
                .and_then(|b| serde_json::from_str(b).ok())
                .unwrap_or(Value::Null);
            return (status, body);
        }
        let lambda: LambdaRequest =
            serde_json::from_value(event).expect("an API Gateway payload 2.0 event");
        let request: Request = lambda.into();
        let response: Response<Body> = match crate_name {
            "webhook-ingest" => webhook_ingest::handle(&self.ingest, request).await,
            "control-handoff" => control_handoff::handle(&self.control, request).await,
            other => panic!("no handler for {other}"),
        };
        let body = match response.body() {
            Body::Text(text) => {
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
            }
            _ => Value::Null,
        };
        (response.status().as_u16(), body)
    }
}

/// An HTTP API payload 2.0 event for a route, its placeholders filled.
fn route_event(method: &str, path_template: &str, query: &str, headers: Value) -> Value {
    let mut parameters = serde_json::Map::new();
    let path: Vec<String> = path_template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let value = match name {
                        "app_id" => testing::BOT,
                        "page_id" => testing::PAGE,
                        "psid" => "7001",
                        other => panic!("no test value for the path parameter {other}"),
                    };
                    parameters.insert(name.to_string(), json!(value));
                    value.to_string()
                }
                None => segment.to_string(),
            },
        )
        .collect();
    let path = path.join("/");
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {path_template}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.7", "userAgent": "infra-check"},
            "requestId": "r", "routeKey": format!("{method} {path_template}"),
            "stage": "$default", "time": "21/Nov/2026:12:00:00 +0000", "timeEpoch": 0
        },
        "isBase64Encoded": false
    });
    if !parameters.is_empty() {
        event["pathParameters"] = Value::Object(parameters);
    }
    if !query.is_empty() {
        let params: serde_json::Map<String, Value> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        event["queryStringParameters"] = Value::Object(params);
    }
    if method == "POST" {
        event["body"] = json!("{}");
    }
    event
}

fn request_for(crate_name: &str, method: &str, path_template: &str) -> Value {
    match crate_name {
        "webhook-ingest" => {
            let query = if method == "GET" {
                format!(
                    "hub.mode=subscribe&hub.verify_token={}&hub.challenge=4242",
                    testing::BOT_VERIFY
                )
            } else {
                String::new()
            };
            route_event(
                method,
                path_template,
                &query,
                json!({"content-type": "application/json"}),
            )
        }
        _ => route_event(
            method,
            path_template,
            "",
            json!({"content-type": "application/json",
                   "authorization": format!("Bearer {}", testing::API_TOKEN)}),
        ),
    }
}

/// The handler recognised the route: neither "no such route" nor "not this method".
fn routed(status: u16, body: &Value) -> bool {
    let unknown_route = status == 404 && body["error"]["code"] == "unknown_route";
    !unknown_route && status != 405
}

#[tokio::test]
async fn every_route_reaches_a_handler_of_its_function() {
    let template = template();
    let handlers = Handlers::new();

    // The oracle itself: a path a function does not serve is `unknown_route`, a method it
    // does not serve is 405.
    for (crate_name, method, path) in [
        ("webhook-ingest", "GET", "/nowhere/{app_id}"),
        ("webhook-ingest", "DELETE", "/webhook/{app_id}"),
        ("control-handoff", "GET", "/pages/{page_id}/nowhere"),
        (
            "control-handoff",
            "DELETE",
            "/pages/{page_id}/conversations",
        ),
        (
            "control-handoff",
            "GET",
            "/pages/{page_id}/conversations/{psid}/resync",
        ),
        (
            "resync",
            "GET",
            "/pages/{page_id}/conversations/{psid}/resync",
        ),
        (
            "resync",
            "POST",
            "/pages/{page_id}/conversations/{psid}/control",
        ),
    ] {
        let (status, body) = handlers
            .call(crate_name, request_for(crate_name, method, path))
            .await;
        assert!(
            !routed(status, &body),
            "{crate_name} {method} {path} should not be served: {status} {body}"
        );
    }

    for route in routes(&template) {
        match route.crate_name.as_str() {
            "resync" => assert!(
                resync::ROUTES.contains(&(route.method.as_str(), route.path.as_str())),
                "{} {} is not in resync::ROUTES",
                route.method,
                route.path
            ),
            "webhook-ingest" | "control-handoff" => {}
            other => panic!(
                "{} {} reaches {other}, which serves no HTTP routes",
                route.method, route.path
            ),
        }
        let event = if route.path == CONSOLE_PATH {
            // The page needs no token (the gateway sends none either).
            route_event(&route.method, &route.path, "", json!({}))
        } else {
            request_for(&route.crate_name, &route.method, &route.path)
        };
        let (status, body) = handlers.call(&route.crate_name, event).await;
        if route.path == CONSOLE_PATH {
            assert_eq!(status, 200, "GET /console without a token: {body}");
            let html = body.as_str().unwrap_or_default();
            assert!(html.contains("<title>Agent console</title>"), "{html}");
        }
        assert!(
            routed(status, &body),
            "{} {} (route {}) is not served by {}: {status} {body}",
            route.method,
            route.path,
            route.logical_id,
            route.crate_name
        );
    }
}

// ------------------------------------------------------------------ c. IAM

/// `TransactWriteItem::builder().<kind>(..)` anywhere in the store code → the IAM action
/// each kind of transaction item needs. IAM has no `dynamodb:TransactWriteItems` action:
/// it authorizes every item of a transaction with its item-level action (DynamoDB
/// Developer Guide, "Using IAM with DynamoDB transactions").
fn transact_write_item_actions() -> BTreeSet<&'static str> {
    const MARKER: &str = "TransactWriteItem::builder().";
    let kinds = [
        ("put(", "PutItem"),
        ("set_put(", "PutItem"),
        ("update(", "UpdateItem"),
        ("set_update(", "UpdateItem"),
        ("delete(", "DeleteItem"),
        ("set_delete(", "DeleteItem"),
        ("condition_check(", "ConditionCheckItem"),
        ("set_condition_check(", "ConditionCheckItem"),
    ];
    let mut found = BTreeSet::new();
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("shared/src"), &mut files);
    rust_files(&root.join("functions"), &mut files);
    for file in files {
        let text: String = std::fs::read_to_string(&file)
            .unwrap_or_else(|err| panic!("{}: {err}", file.display()))
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for (at, _) in text.match_indices(MARKER) {
            let rest = &text[at + MARKER.len()..];
            let action = kinds
                .iter()
                .find(|(call, _)| rest.starts_with(call))
                .map(|(_, action)| *action)
                .unwrap_or_else(|| {
                    panic!(
                        "{}: a TransactWriteItem built in a way this test does not recognise \
                         ({}...): teach transact_write_item_actions()",
                        file.display(),
                        &rest[..rest.len().min(40)]
                    )
                });
            found.insert(action);
        }
    }
    assert!(
        !found.is_empty(),
        "no TransactWriteItem found in the store code: the scan is broken"
    );
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Table,
    Indexes,
    Streams,
}

fn dynamodb_target(resource: &Value) -> Target {
    if get_att(resource) == Some(("Table", "Arn")) {
        return Target::Table;
    }
    if get_att(resource) == Some(("Table", "StreamArn")) {
        return Target::Streams;
    }
    match sub_text(resource) {
        Some("${Table.Arn}/index/*") => Target::Indexes,
        Some("${Table.Arn}/stream/*") => Target::Streams,
        _ => panic!(
            "a dynamodb: statement names {resource}: only this table, its indexes or its stream"
        ),
    }
}

/// Whether a statement's condition limits it to the items of a TransactWriteItems.
fn transactional_only(condition: Option<&Value>) -> bool {
    let Some(condition) = condition else {
        return false;
    };
    let operation = ["ForAnyValue:StringEquals", "StringEquals"]
        .iter()
        .find_map(|op| condition.get(*op))
        .and_then(|c| c.get("dynamodb:EnclosingOperation"));
    let single = condition.as_object().is_some_and(|c| c.len() == 1);
    match operation {
        Some(op)
            if single && (op == "TransactWriteItems" || *op == json!(["TransactWriteItems"])) =>
        {
            true
        }
        _ => panic!("unexpected condition on a dynamodb: statement: {condition}"),
    }
}

/// What a role allows on the table: action → (direct targets, transactional targets).
#[derive(Debug, Default)]
struct TableGrants {
    direct: BTreeMap<String, BTreeSet<Target>>,
    transactional: BTreeMap<String, BTreeSet<Target>>,
    stream: BTreeSet<String>,
    other_statements: Vec<Value>,
}

fn table_grants(template: &Template, function: &Function) -> TableGrants {
    let role_id = match get_att(&function.properties["Role"]) {
        Some((role, "Arn")) => role,
        _ => panic!(
            "{}: Role is not !GetAtt <its own role>.Arn",
            function.logical_id
        ),
    };
    assert!(
        function.properties.get("Policies").is_none(),
        "{}: permissions belong in its role, not SAM Policies",
        function.logical_id
    );
    let role = resource(template, role_id, "AWS::IAM::Role");
    let users = template
        .functions()
        .unwrap()
        .into_iter()
        .filter(|f| get_att(&f.properties["Role"]).map(|(r, _)| r) == Some(role_id))
        .count();
    assert_eq!(users, 1, "{role_id} is the role of one function only");
    assert!(
        role["Properties"].get("ManagedPolicyArns").is_none(),
        "{role_id}: no managed policies (they grant on \"*\")"
    );
    assert_eq!(
        role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        "lambda.amazonaws.com"
    );

    let mut grants = TableGrants::default();
    let policies = role["Properties"]["Policies"]
        .as_array()
        .unwrap_or_else(|| panic!("{role_id}: no inline policies"));
    for policy in policies {
        for statement in one_or_many(&policy["PolicyDocument"]["Statement"]) {
            assert!(
                statement.get("NotAction").is_none() && statement.get("NotResource").is_none(),
                "{role_id}: NotAction/NotResource: {statement}"
            );
            assert_eq!(statement["Effect"], "Allow", "{role_id}: {statement}");
            let actions: Vec<&str> = one_or_many(&statement["Action"])
                .into_iter()
                .map(|a| a.as_str().expect("actions are strings"))
                .collect();
            let resources = one_or_many(&statement["Resource"]);
            assert!(
                !resources.iter().any(|r| *r == "*"),
                "{role_id}: Resource \"*\" in {statement}"
            );
            let dynamodb: Vec<&str> = actions
                .iter()
                .filter_map(|a| a.strip_prefix("dynamodb:"))
                .collect();
            if dynamodb.is_empty() {
                grants.other_statements.push(statement.clone());
                continue;
            }
            assert_eq!(
                dynamodb.len(),
                actions.len(),
                "{role_id}: dynamodb: actions mixed with others in {statement}"
            );
            let targets: BTreeSet<Target> = resources.iter().map(|r| dynamodb_target(r)).collect();
            let transactional = transactional_only(statement.get("Condition"));
            for action in dynamodb {
                assert!(
                    !action.is_empty() && !action.contains('*') && !action.contains('?'),
                    "{role_id}: wildcard action dynamodb:{action}"
                );
                if STREAM_ACTIONS.contains(&action) {
                    assert_eq!(
                        targets,
                        BTreeSet::from([Target::Streams]),
                        "{role_id}: dynamodb:{action} on the table's stream only"
                    );
                    grants.stream.insert(action.to_string());
                    continue;
                }
                assert!(
                    !targets.contains(&Target::Streams),
                    "{role_id}: table action dynamodb:{action} on a stream ARN"
                );
                if targets.contains(&Target::Indexes) {
                    assert_eq!(
                        action, "Query",
                        "{role_id}: only Query reads an index, not dynamodb:{action}"
                    );
                }
                let into = if transactional {
                    &mut grants.transactional
                } else {
                    &mut grants.direct
                };
                into.entry(action.to_string())
                    .or_default()
                    .extend(targets.iter().copied());
            }
        }
    }
    grants
}

#[test]
fn each_role_allows_exactly_the_table_actions_its_code_performs() {
    let template = template();
    let transaction_items = transact_write_item_actions();
    for (crate_name, function) in functions(&template) {
        let declared: BTreeSet<&str> = table_actions(&crate_name).iter().copied().collect();
        let grants = table_grants(&template, &function);
        let on_table = |action: &str, transactional_ok: bool| {
            grants
                .direct
                .get(action)
                .is_some_and(|t| t.contains(&Target::Table))
                || (transactional_ok
                    && grants
                        .transactional
                        .get(action)
                        .is_some_and(|t| t.contains(&Target::Table)))
        };

        // Everything the code does is allowed.
        for action in &declared {
            if *action == "TransactWriteItems" {
                for item in &transaction_items {
                    assert!(
                        on_table(item, true),
                        "{crate_name}: TransactWriteItems needs dynamodb:{item} on the table \
                         (the store's transactions contain {transaction_items:?})"
                    );
                }
            } else {
                assert!(
                    on_table(action, false),
                    "{crate_name}: its code performs {action}: allow dynamodb:{action} on the table"
                );
                if *action == "Query" {
                    assert!(
                        grants.direct["Query"].contains(&Target::Indexes),
                        "{crate_name}: Query on the indexes (${{Table.Arn}}/index/*)"
                    );
                }
            }
        }

        // Nothing else is.
        for action in grants.direct.keys() {
            assert!(
                declared.contains(action.as_str()) && action != "TransactWriteItems",
                "{crate_name}: the role allows dynamodb:{action}, which its TABLE_ACTIONS \
                 ({declared:?}) do not list"
            );
        }
        for action in grants.transactional.keys() {
            assert!(
                declared.contains("TransactWriteItems")
                    && transaction_items.contains(action.as_str()),
                "{crate_name}: dynamodb:{action} inside transactions is more than its \
                 TransactWriteItems need ({transaction_items:?})"
            );
        }

        // The stream only for the function that has a stream event source.
        let stream_events = events_of(&function, "DynamoDB").len();
        if stream_events > 0 {
            for action in ["DescribeStream", "GetRecords", "GetShardIterator"] {
                assert!(
                    grants.stream.contains(action),
                    "{crate_name}: its stream event source needs dynamodb:{action}"
                );
            }
        } else {
            assert!(
                grants.stream.is_empty(),
                "{crate_name}: reads no stream, yet may: {:?}",
                grants.stream
            );
        }

        // The rest of the role: its own log group, the configuration secret, and (for the
        // stream consumer) its failure queue.
        let log_group = ref_target(&function.properties["LoggingConfig"]["LogGroup"])
            .expect("LoggingConfig.LogGroup");
        let mut reads_secret = false;
        for statement in &grants.other_statements {
            let actions: Vec<&str> = one_or_many(&statement["Action"])
                .into_iter()
                .filter_map(Value::as_str)
                .collect();
            let resources = one_or_many(&statement["Resource"]);
            if actions.iter().all(|a| a.starts_with("logs:")) {
                assert_eq!(
                    resources,
                    vec![&json!({"Fn::GetAtt": [log_group, "Arn"]})],
                    "{crate_name}: logs on its own log group only"
                );
            } else if actions.iter().all(|a| a.starts_with("secretsmanager:")) {
                assert_eq!(
                    actions,
                    vec!["secretsmanager:GetSecretValue"],
                    "{crate_name}"
                );
                assert_eq!(
                    resources,
                    vec![&json!({"Ref": "ConfigSecret"})],
                    "{crate_name}: the configuration secret only"
                );
                reads_secret = true;
            } else if actions == ["sqs:SendMessage"] {
                assert!(stream_events > 0, "{crate_name}: sends to no queue");
            } else if actions.iter().all(|a| a.starts_with("events:")) {
                assert_eq!(
                    crate_name, "event-publisher",
                    "only the publisher uses the bus"
                );
                let declared: Vec<String> = event_publisher::BUS_ACTIONS
                    .iter()
                    .map(|a| format!("events:{a}"))
                    .collect();
                assert_eq!(actions, declared, "{crate_name}: exactly its BUS_ACTIONS");
                assert_eq!(
                    resources,
                    vec![&json!({"Fn::GetAtt": ["EventBus", "Arn"]})],
                    "{crate_name}: the stack's own bus only"
                );
            } else {
                panic!("{crate_name}: unexpected statement {statement}");
            }
        }
        // The publisher reads stream images only: no configuration document.
        assert_eq!(
            reads_secret,
            crate_name != "event-publisher",
            "{crate_name}: reads the configuration secret exactly when it needs it"
        );
    }
}

// ------------------------------------------------------------------ d. logs, table, triggers

#[test]
fn every_function_logs_to_its_own_log_group_with_retention() {
    let template = template();
    for (crate_name, function) in functions(&template) {
        let name = sub_text(&function.properties["FunctionName"])
            .unwrap_or_else(|| panic!("{crate_name}: FunctionName is not a !Sub"));
        assert_eq!(name, format!("${{AWS::StackName}}-{crate_name}"));
        let log_group = ref_target(&function.properties["LoggingConfig"]["LogGroup"])
            .unwrap_or_else(|| panic!("{crate_name}: LoggingConfig.LogGroup is not a !Ref"));
        let log_group = resource(&template, log_group, "AWS::Logs::LogGroup");
        assert_eq!(
            sub_text(&log_group["Properties"]["LogGroupName"]),
            Some(format!("/aws/lambda/{name}").as_str()),
            "{crate_name}: Lambda's own log group name"
        );
        let retention = &log_group["Properties"]["RetentionInDays"];
        assert!(
            retention.is_number() || ref_target(retention).is_some(),
            "{crate_name}: the log group has a retention"
        );
    }
}

/// `pub const NAME: &str = "value";` of shared/src/store/keys.rs (the key layout the store
/// creates the table with: the store's own source is the reference).
fn schema() -> BTreeMap<String, String> {
    let path = workspace_root().join("shared/src/store/keys.rs");
    let source = std::fs::read_to_string(&path).expect("shared/src/store/keys.rs");
    let body = &source[..source
        .find("\nfn ")
        .expect("the key layout's constants come before its functions")];
    let constants: BTreeMap<String, String> = body
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("pub const ")?;
            let (name, value) = rest.split_once(": &str = ")?;
            let value = value.trim_end_matches(';').trim_matches('"');
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    assert!(constants.len() >= 10, "mod schema parsed to {constants:?}");
    constants
}

#[test]
fn the_table_is_the_one_the_store_creates() {
    let template = template();
    let schema = schema();
    let s = |name: &str| -> &str {
        schema
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in mod schema"))
    };
    let table = resource(&template, "Table", "AWS::DynamoDB::Table");
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["UpdateReplacePolicy"], "Retain");
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        p["KeySchema"],
        json!([{"AttributeName": s("PK"), "KeyType": "HASH"},
               {"AttributeName": s("SK"), "KeyType": "RANGE"}])
    );
    let attributes: BTreeMap<&str, &str> = p["AttributeDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap(),
                a["AttributeType"].as_str().unwrap(),
            )
        })
        .collect();
    let expected_attributes: BTreeMap<&str, &str> = [
        ("PK", "S"),
        ("SK", "S"),
        ("QUEUE_PK", "S"),
        ("QUEUE_SK", "S"),
        ("UNREAD_PK", "S"),
        ("LEASE_SHARD", "S"),
        ("LEASE_DUE", "N"),
        ("RESYNC_PK", "S"),
        ("RESYNC_SK", "S"),
    ]
    .into_iter()
    .map(|(name, kind)| (s(name), kind))
    .collect();
    assert_eq!(attributes, expected_attributes);

    // As create_table composes them: (index, hash key, range key), every projection ALL.
    let expected_indexes: BTreeMap<&str, (&str, &str)> = [
        ("QUEUE_INDEX", "QUEUE_PK", "QUEUE_SK"),
        ("UNREAD_INDEX", "UNREAD_PK", "QUEUE_SK"),
        ("LEASE_INDEX", "LEASE_SHARD", "LEASE_DUE"),
        ("RESYNC_INDEX", "RESYNC_PK", "RESYNC_SK"),
    ]
    .into_iter()
    .map(|(index, hash, range)| (s(index), (s(hash), s(range))))
    .collect();
    let indexes: BTreeMap<&str, (&str, &str)> = p["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|gsi| {
            let name = gsi["IndexName"].as_str().unwrap();
            assert_eq!(gsi["Projection"]["ProjectionType"], "ALL", "{name}");
            assert_eq!(gsi["KeySchema"][0]["KeyType"], "HASH", "{name}");
            assert_eq!(gsi["KeySchema"][1]["KeyType"], "RANGE", "{name}");
            (
                name,
                (
                    gsi["KeySchema"][0]["AttributeName"].as_str().unwrap(),
                    gsi["KeySchema"][1]["AttributeName"].as_str().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(indexes, expected_indexes);

    assert_eq!(
        p["TimeToLiveSpecification"],
        json!({"AttributeName": s("TTL"), "Enabled": true})
    );
    // Old images for timed-reset's TTL deletions, both for the event publisher.
    assert_eq!(
        p["StreamSpecification"]["StreamViewType"],
        "NEW_AND_OLD_IMAGES"
    );
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"], true);
}

fn events_of<'f>(function: &'f Function, kind: &str) -> Vec<&'f Value> {
    function.properties["Events"]
        .as_object()
        .map(|events| {
            events
                .values()
                .filter(|e| e["Type"] == kind)
                .map(|e| &e["Properties"])
                .collect()
        })
        .unwrap_or_default()
}

fn assert_schedule(function: &Function, expression: &str, action: &str) {
    let schedules = events_of(function, "ScheduleV2");
    assert_eq!(schedules.len(), 1, "{}: one schedule", function.crate_name);
    let schedule = schedules[0];
    assert_eq!(schedule["ScheduleExpression"], expression);
    assert_eq!(schedule["FlexibleTimeWindow"]["Mode"], "OFF");
    assert!(schedule["RetryPolicy"]["MaximumRetryAttempts"].is_number());
    assert!(schedule["RetryPolicy"]["MaximumEventAgeInSeconds"].is_number());
    assert_eq!(
        schedule["OmitName"], true,
        "generated schedule names, so that stacks do not collide"
    );
    let input: Value =
        serde_json::from_str(schedule["Input"].as_str().expect("Input is a JSON string"))
            .expect("Input is JSON");
    assert_eq!(input, json!({"source": "scheduler", "action": action}));
}

#[test]
fn timed_reset_runs_every_minute_and_on_ttl_deletions_of_leases() {
    let template = template();
    let functions = functions(&template);
    let timed_reset = &functions["timed-reset"];
    assert_schedule(timed_reset, "rate(1 minute)", "sweep");

    let streams = events_of(timed_reset, "DynamoDB");
    assert_eq!(streams.len(), 1, "one stream event source");
    let stream = streams[0];
    assert_eq!(get_att(&stream["Stream"]), Some(("Table", "StreamArn")));
    assert_eq!(stream["BisectBatchOnFunctionError"], true);
    assert!(stream["MaximumRetryAttempts"].is_number());
    assert!(stream["MaximumRecordAgeInSeconds"].is_number());
    assert_eq!(
        stream["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );

    let filters = stream["FilterCriteria"]["Filters"]
        .as_array()
        .expect("filters");
    assert_eq!(filters.len(), 1);
    let pattern: Value =
        serde_json::from_str(filters[0]["Pattern"].as_str().expect("a JSON string"))
            .expect("the filter pattern is JSON");
    assert_eq!(pattern["eventName"], json!(["REMOVE"]));
    assert_eq!(
        pattern["userIdentity"],
        json!({"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]}),
        "TTL deletions only"
    );
    if let Some(keys) = pattern["dynamodb"]["Keys"].as_object() {
        let schema = schema();
        assert_eq!(
            keys.get(&schema["SK"]),
            Some(&json!({"S": [schema["LEASE_SK"]]})),
            "lease items only"
        );
    }

    let queue = match get_att(&stream["DestinationConfig"]["OnFailure"]["Destination"]) {
        Some((queue, "Arn")) => queue,
        _ => panic!("the stream's on-failure destination is !GetAtt <queue>.Arn"),
    };
    let queue = resource(&template, queue, "AWS::SQS::Queue");
    assert!(
        queue["Properties"]["SqsManagedSseEnabled"] == true
            || queue["Properties"].get("KmsMasterKeyId").is_some(),
        "the dead-letter queue is encrypted"
    );
}

#[test]
fn resync_runs_a_batch_every_five_minutes_and_the_http_functions_have_no_other_triggers() {
    let template = template();
    let functions = functions(&template);
    assert_schedule(&functions["resync"], "rate(5 minutes)", "batch");
    for crate_name in ["webhook-ingest", "control-handoff"] {
        assert!(
            functions[crate_name].properties.get("Events").is_none(),
            "{crate_name} is reached through the HTTP API only"
        );
    }
}

#[test]
fn the_alarms_watch_every_function_the_sweep_and_the_dead_letters() {
    let template = template();
    let alarms: Vec<&Value> = template
        .resources_of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(_, a)| &a["Properties"])
        .collect();
    let watches = |namespace: &str, metric: &str, dimension: &Value| {
        alarms.iter().any(|a| {
            a["Namespace"] == namespace
                && a["MetricName"] == metric
                && one_or_many(&a["Dimensions"])
                    .iter()
                    .any(|d| d["Value"] == *dimension)
        })
    };
    let functions = functions(&template);
    for (crate_name, function) in &functions {
        let name = json!({"Ref": function.logical_id});
        for metric in ["Errors", "Throttles"] {
            assert!(
                watches("AWS/Lambda", metric, &name),
                "{crate_name}: no {metric} alarm"
            );
        }
    }

    // The sweep-lag alarm reads the metric exactly as timed-reset emits it (embedded metric
    // format): same namespace, same name, the same dimension set with the same values (the
    // function's own name, which Lambda gives it as AWS_LAMBDA_FUNCTION_NAME).
    const FUNCTION_NAME: &str = "the-deployed-function-name";
    let timed_reset_function = json!({"Ref": functions["timed-reset"].logical_id});
    let emf = timed_reset::sweep_metrics(FUNCTION_NAME, 0, 0);
    let directive = &emf["_aws"]["CloudWatchMetrics"][0];
    let dimension_sets = directive["Dimensions"]
        .as_array()
        .expect("EMF dimension sets");
    assert_eq!(dimension_sets.len(), 1, "one dimension set: {directive}");
    let dimensions: Vec<Value> = dimension_sets[0]
        .as_array()
        .expect("a dimension set")
        .iter()
        .map(|name| {
            let name = name.as_str().expect("a dimension name");
            let value = if emf[name] == FUNCTION_NAME {
                timed_reset_function.clone()
            } else {
                emf[name].clone()
            };
            json!({"Name": name, "Value": value})
        })
        .collect();
    let emitted: Vec<&str> = directive["Metrics"]
        .as_array()
        .expect("EMF metrics")
        .iter()
        .filter_map(|m| m["Name"].as_str())
        .collect();
    assert!(
        emitted.contains(&"SweepLagSeconds"),
        "timed-reset emits {emitted:?}"
    );
    let lag = alarms
        .iter()
        .find(|a| a["MetricName"] == "SweepLagSeconds")
        .expect("a SweepLagSeconds alarm");
    assert_eq!(lag["Namespace"], directive["Namespace"]);
    assert_eq!(lag["Dimensions"], Value::Array(dimensions.clone()));
    assert_eq!(lag["Threshold"], 120);
    assert_eq!(lag["EvaluationPeriods"], 3);
    for alarm in alarms
        .iter()
        .filter(|a| a["Namespace"] == directive["Namespace"])
    {
        assert!(
            emitted.iter().any(|m| alarm["MetricName"] == *m),
            "an alarm on {}, which timed-reset does not emit ({emitted:?})",
            alarm["MetricName"]
        );
        assert_eq!(alarm["Dimensions"], Value::Array(dimensions.clone()));
    }
    assert!(alarms.iter().any(|a| a["Namespace"] == "AWS/SQS"
        && a["MetricName"] == "ApproximateNumberOfMessagesVisible"
        && a["Threshold"] == 0));
}

#[test]
fn the_outputs_name_the_webhook_base_url_and_the_secret() {
    let template = template();
    let outputs = &template.doc["Outputs"];
    assert_eq!(
        sub_text(&outputs["WebhookBaseUrl"]["Value"]),
        Some("${HttpApi.ApiEndpoint}/webhook/")
    );
    assert_eq!(
        ref_target(&outputs["ConfigSecretArn"]["Value"]),
        Some("ConfigSecret")
    );
    assert_eq!(ref_target(&outputs["TableName"]["Value"]), Some("Table"));
    assert_eq!(
        sub_text(&outputs["ConsoleUrl"]["Value"]),
        Some("${HttpApi.ApiEndpoint}/console")
    );
    // No secret in the template: the document is a NoEcho parameter, empty by default.
    let parameter = &template.doc["Parameters"]["ConfigurationDocument"];
    assert_eq!(parameter["NoEcho"], true);
    assert_eq!(parameter["Default"], "{}");
    let secret = resource(&template, "ConfigSecret", "AWS::SecretsManager::Secret");
    assert_eq!(
        ref_target(&secret["Properties"]["SecretString"]),
        Some("ConfigurationDocument")
    );
}

// ------------------------------------------------------------------ e. events

#[test]
fn the_publisher_reads_conversation_records_from_the_stream_onto_the_bus() {
    let template = template();
    let functions = functions(&template);
    let publisher = &functions["event-publisher"];
    let bus = resource(&template, "EventBus", "AWS::Events::EventBus");
    assert_eq!(
        sub_text(&bus["Properties"]["Name"]),
        Some("${AWS::StackName}-routing"),
        "one bus per stack"
    );
    assert_eq!(
        template.environment(publisher)["EVENT_BUS_NAME"],
        json!({"Ref": "EventBus"})
    );

    let streams = events_of(publisher, "DynamoDB");
    assert_eq!(streams.len(), 1, "one stream event source");
    let stream = streams[0];
    assert_eq!(get_att(&stream["Stream"]), Some(("Table", "StreamArn")));
    assert_eq!(
        stream["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"]),
        "failed publishes are retried record by record"
    );
    assert_eq!(stream["BisectBatchOnFunctionError"], true);
    assert!(stream["MaximumRetryAttempts"].is_number());
    let filters = stream["FilterCriteria"]["Filters"]
        .as_array()
        .expect("filters");
    assert_eq!(filters.len(), 1);
    let pattern: Value =
        serde_json::from_str(filters[0]["Pattern"].as_str().expect("a JSON string"))
            .expect("the filter pattern is JSON");
    let schema = schema();
    assert_eq!(pattern["eventName"], json!(["INSERT", "MODIFY"]));
    assert_eq!(
        pattern["dynamodb"]["Keys"][&schema["SK"]],
        json!({"S": [schema["STATE_SK"]]}),
        "conversation records only"
    );
    let queue = match get_att(&stream["DestinationConfig"]["OnFailure"]["Destination"]) {
        Some((queue, "Arn")) => queue,
        _ => panic!("the publisher's on-failure destination is !GetAtt <queue>.Arn"),
    };
    assert_ne!(
        queue, "StreamFailureQueue",
        "its own dead letters, apart from timed-reset's"
    );
    let queue = resource(&template, queue, "AWS::SQS::Queue");
    assert_eq!(queue["Properties"]["SqsManagedSseEnabled"], true);
}

fn rule_targets(rule: &Value) -> Vec<&Value> {
    one_or_many(&rule["Properties"]["Targets"])
}

#[test]
fn the_graph_api_version_defaults_to_the_functions_own() {
    // One place for the default version: routing_core's DEFAULT_GRAPH_API_VERSION. A blank
    // parameter leaves GRAPH_API_VERSION blank, which the functions read as unset.
    let template = template();
    let parameter = &template.root()["Parameters"]["GraphApiVersion"];
    assert_eq!(parameter["Default"], "", "blank: the functions' default");
    let pattern = parameter["AllowedPattern"].as_str().expect("a pattern");
    assert!(pattern.ends_with(")?$"), "blank is allowed: {pattern}");
}

#[test]
fn notifications_to_sns_and_slack_are_optional_and_least_privilege() {
    let template = template();
    let parameters = &template.root()["Parameters"];
    for name in [
        "EventNotificationEmail",
        "EventNotificationPhone",
        "SlackWebhookUrl",
    ] {
        assert_eq!(parameters[name]["Default"], "", "{name} is optional");
    }
    assert_eq!(
        parameters["SlackWebhookUrl"]["NoEcho"], true,
        "the Slack webhook URL is a credential"
    );
    let notified: Vec<&str> = parameters["NotifiedDetailTypes"]["Default"]
        .as_str()
        .expect("a default list")
        .split(',')
        .collect();
    let known: Vec<&str> = routing_domain::DetailType::ALL
        .iter()
        .map(|k| k.detail_type())
        .collect();
    for detail_type in &notified {
        assert!(
            known.contains(detail_type),
            "{detail_type} is not an event's detail-type"
        );
    }

    for (rule_id, condition, target_id) in [
        ("TopicNotificationRule", "HasEventTopic", "EventTopic"),
        ("SlackNotificationRule", "HasSlack", "SlackDestination"),
    ] {
        let rule = resource(&template, rule_id, "AWS::Events::Rule");
        assert_eq!(
            rule["Condition"], condition,
            "{rule_id} exists only when asked for"
        );
        let p = &rule["Properties"];
        assert_eq!(
            ref_target(&p["EventBusName"]),
            Some("EventBus"),
            "{rule_id}"
        );
        assert_eq!(
            p["EventPattern"]["source"],
            json!([routing_domain::EVENT_SOURCE])
        );
        assert_eq!(
            ref_target(&p["EventPattern"]["detail-type"]),
            Some("NotifiedDetailTypes")
        );
        let targets = rule_targets(rule);
        assert_eq!(targets.len(), 1, "{rule_id}");
        let target = targets[0];
        let arn = ref_target(&target["Arn"]).or_else(|| get_att(&target["Arn"]).map(|(r, _)| r));
        assert_eq!(arn, Some(target_id), "{rule_id}");
        assert_eq!(
            get_att(&target["DeadLetterConfig"]["Arn"]),
            Some(("EventTargetDeadLetterQueue", "Arn")),
            "{rule_id}: undeliverable events are kept"
        );
        let template_text = target["InputTransformer"]["InputTemplate"]
            .as_str()
            .expect("an input template");
        assert!(
            !template_text.contains("text>") && !template_text.contains("$.detail.text"),
            "{rule_id}: no message text"
        );
        // Notifications never name the customer or the agent, whatever a Page lets its
        // events carry: the conversation's alias only.
        let paths = target["InputTransformer"]["InputPathsMap"]
            .as_object()
            .expect("input paths");
        for (name, path) in paths {
            let path = path.as_str().unwrap_or_default();
            assert!(
                !path.contains("psid") && !path.contains("agent") && !path.contains("actor"),
                "{rule_id}: {name} = {path} names a person"
            );
        }
        assert_eq!(
            paths.get("conversation").and_then(Value::as_str),
            Some("$.detail.conversation"),
            "{rule_id}: the conversation by its alias"
        );
    }

    // SNS: only the rule may publish to the topic.
    let policy = resource(&template, "EventTopicPolicy", "AWS::SNS::TopicPolicy");
    let statement = &policy["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(statement["Principal"]["Service"], "events.amazonaws.com");
    assert_eq!(statement["Action"], "sns:Publish");
    assert_eq!(
        get_att(&statement["Condition"]["ArnEquals"]["aws:SourceArn"]),
        Some(("TopicNotificationRule", "Arn"))
    );

    // Slack: an API destination over a connection; the rule's role invokes that one only.
    let destination = resource(&template, "SlackDestination", "AWS::Events::ApiDestination");
    assert_eq!(
        get_att(&destination["Properties"]["ConnectionArn"]),
        Some(("SlackConnection", "Arn"))
    );
    assert_eq!(
        ref_target(&destination["Properties"]["InvocationEndpoint"]),
        Some("SlackWebhookUrl")
    );
    resource(&template, "SlackConnection", "AWS::Events::Connection");
    let slack_rule = resource(&template, "SlackNotificationRule", "AWS::Events::Rule");
    let role_id = get_att(&rule_targets(slack_rule)[0]["RoleArn"])
        .map(|(r, _)| r)
        .expect("the Slack target's role");
    let role = resource(&template, role_id, "AWS::IAM::Role");
    assert_eq!(
        role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        "events.amazonaws.com"
    );
    let statements: Vec<&Value> = one_or_many(&role["Properties"]["Policies"])
        .into_iter()
        .flat_map(|p| one_or_many(&p["PolicyDocument"]["Statement"]))
        .collect();
    assert_eq!(statements.len(), 1, "{role_id}: one statement");
    assert_eq!(statements[0]["Action"], "events:InvokeApiDestination");
    assert_eq!(
        get_att(&statements[0]["Resource"]),
        Some(("SlackDestination", "Arn"))
    );
}

#[test]
fn the_schema_file_names_every_detail_type_and_field() {
    let path = workspace_root().join("docs/events.schema.json");
    let text = std::fs::read_to_string(&path).expect("docs/events.schema.json");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    let types: Vec<&str> = schema["properties"]["detail-type"]["enum"]
        .as_array()
        .expect("detail-type enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let known: Vec<&str> = routing_domain::DetailType::ALL
        .iter()
        .map(|k| k.detail_type())
        .collect();
    assert_eq!(types, known);
    assert_eq!(
        schema["properties"]["source"]["const"],
        routing_domain::EVENT_SOURCE
    );
    // The detail's required fields are exactly what the publisher writes.
    let sample = routing_domain::BusinessEvent {
        kind: None,
        page_id: "1".into(),
        conversation: "c".into(),
        psid: None,
        from: routing_domain::EventParty {
            app_id: None,
            role: routing_domain::OwnerRole::Idle,
        },
        to: routing_domain::EventParty {
            app_id: None,
            role: routing_domain::OwnerRole::Idle,
        },
        cause: "api".into(),
        actor: None,
        agent: None,
        event: "x".into(),
        time: "t".into(),
        version: 1,
    };
    let mut written: Vec<String> = serde_json::to_value(sample)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    written.sort();
    let detail = &schema["properties"]["detail"];
    let mut required: Vec<String> = detail["required"]
        .as_array()
        .expect("required fields")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    required.sort();
    assert_eq!(written, required);
    assert_eq!(detail["additionalProperties"], false);
}
