//! Every Cruddur endpoint in one table: which function serves which route, whether it needs a
//! caller, and whether it writes. Each function takes its row from here; the shared edge reads
//! `auth` to resolve the caller before the handler runs; template.yaml and the `events/`
//! fixtures must agree with the table (the template test checks).
//!
//! API Gateway REST APIs allow a path variable only as a whole segment and one variable name per
//! level. The level after `/api/activities/` is `{handle}` for every route under it, so the
//! frontend's reply route `POST /api/activities/<activity uuid>/reply` is declared as
//! `/api/activities/{handle}/reply`: there, `{handle}` carries an activity uuid.

use std::collections::HashMap;

use crate::domain::percent_decode;

/// A route: method and path template as API Gateway declares it,
/// e.g. `GET /api/activities/{handle}/status/{uuid}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
}

impl Route {
    pub const fn get(path: &'static str) -> Self {
        Self {
            method: "GET",
            path,
        }
    }

    pub const fn post(path: &'static str) -> Self {
        Self {
            method: "POST",
            path,
        }
    }

    pub const fn put(path: &'static str) -> Self {
        Self {
            method: "PUT",
            path,
        }
    }

    /// The variables of the template (`{handle}` -> `handle`), in order.
    pub fn variables(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    }

    /// Matches a path against the template. The path may carry a prefix before the template
    /// (an API Gateway stage, a local router's function prefix); variables are percent-decoded
    /// (once).
    pub fn match_path(&self, path: &str) -> Option<HashMap<String, String>> {
        let template: Vec<&str> = segments(self.path).collect();
        let path: Vec<&str> = segments(path).collect();
        let tail = path.get(path.len().checked_sub(template.len())?..)?;
        let mut params = HashMap::new();
        for (pattern, actual) in template.iter().zip(tail) {
            match pattern.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    params.insert(name.to_owned(), percent_decode(actual));
                }
                None if pattern == actual => {}
                None => return None,
            }
        }
        Some(params)
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let trimmed = path.trim_matches('/');
    trimmed.split('/').filter(move |_| !trimmed.is_empty())
}

/// What a function may do to the table: its IAM permissions, and nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableAccess {
    /// No table access at all.
    None,
    /// `GetItem` and `Query`.
    Read,
    /// Read, and the one `Scan` (search).
    Search,
    /// Read, and the writes the store makes: `PutItem`, `UpdateItem` (on their own or in
    /// `TransactWriteItems`, which IAM authorises item by item).
    Write,
}

impl TableAccess {
    /// The DynamoDB actions of this access, as template.yaml grants them.
    pub const fn actions(self) -> &'static [&'static str] {
        match self {
            TableAccess::None => &[],
            TableAccess::Read => &["dynamodb:GetItem", "dynamodb:Query"],
            TableAccess::Search => &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
            TableAccess::Write => &[
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
        }
    }

    /// The template's managed policy granting this access.
    pub const fn policy(self) -> Option<&'static str> {
        match self {
            TableAccess::None => None,
            TableAccess::Read => Some("TableReadPolicy"),
            TableAccess::Search => Some("TableSearchPolicy"),
            TableAccess::Write => Some("TableWritePolicy"),
        }
    }
}

/// One HTTP function: its row of the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The function crate, binary and template function (`functions/<name>`).
    pub function: &'static str,
    pub route: Route,
    /// Needs a caller: the Cognito authorizer in AWS; the edge answers 401 without one.
    pub auth: bool,
    /// What it may do to the table.
    pub access: TableAccess,
}

const fn public(function: &'static str, route: Route, access: TableAccess) -> Endpoint {
    Endpoint {
        function,
        route,
        auth: false,
        access,
    }
}

const fn signed_in(function: &'static str, route: Route, access: TableAccess) -> Endpoint {
    Endpoint {
        function,
        route,
        auth: true,
        access,
    }
}

pub const HEALTH_CHECK: Endpoint = public(
    "health-check",
    Route::get("/api/health-check"),
    TableAccess::None,
);
pub const HOME_ACTIVITIES: Endpoint = public(
    "home-activities",
    Route::get("/api/activities/home"),
    TableAccess::Read,
);
pub const NOTIFICATIONS_ACTIVITIES: Endpoint = signed_in(
    "notifications-activities",
    Route::get("/api/activities/notifications"),
    TableAccess::Read,
);
pub const USER_ACTIVITIES: Endpoint = public(
    "user-activities",
    Route::get("/api/activities/{handle}"),
    TableAccess::Read,
);
pub const SEARCH_ACTIVITIES: Endpoint = public(
    "search-activities",
    Route::get("/api/activities/search"),
    TableAccess::Search,
);
pub const CREATE_ACTIVITY: Endpoint = signed_in(
    "create-activity",
    Route::post("/api/activities"),
    TableAccess::Write,
);
pub const SHOW_ACTIVITY: Endpoint = public(
    "show-activity",
    Route::get("/api/activities/{handle}/status/{uuid}"),
    TableAccess::Read,
);
pub const CREATE_REPLY: Endpoint = signed_in(
    "create-reply",
    Route::post("/api/activities/{handle}/status/{uuid}/reply"),
    TableAccess::Write,
);
/// The frontend's reply route: `{handle}` carries the activity uuid (see the module docs).
pub const CREATE_REPLY_BY_UUID: Endpoint = signed_in(
    "create-reply-by-uuid",
    Route::post("/api/activities/{handle}/reply"),
    TableAccess::Write,
);
pub const MESSAGE_GROUPS: Endpoint = signed_in(
    "message-groups",
    Route::get("/api/message_groups"),
    TableAccess::Read,
);
/// `{handle}` is an `@handle` or a message group uuid.
pub const MESSAGES: Endpoint = signed_in(
    "messages",
    Route::get("/api/messages/{handle}"),
    TableAccess::Read,
);
pub const CREATE_MESSAGE: Endpoint = signed_in(
    "create-message",
    Route::post("/api/messages"),
    TableAccess::Write,
);
pub const USERS_SHORT: Endpoint = signed_in(
    "users-short",
    Route::get("/api/users/{handle}/short"),
    TableAccess::Read,
);
pub const UPDATE_PROFILE: Endpoint = signed_in(
    "update-profile",
    Route::put("/api/profile/update"),
    TableAccess::Write,
);
pub const ROLLBAR_TEST: Endpoint = public(
    "rollbar-test",
    Route::get("/rollbar/test"),
    TableAccess::None,
);

/// The HTTP functions.
pub const ENDPOINTS: [Endpoint; 15] = [
    HEALTH_CHECK,
    HOME_ACTIVITIES,
    NOTIFICATIONS_ACTIVITIES,
    USER_ACTIVITIES,
    SEARCH_ACTIVITIES,
    CREATE_ACTIVITY,
    SHOW_ACTIVITY,
    CREATE_REPLY,
    CREATE_REPLY_BY_UUID,
    MESSAGE_GROUPS,
    MESSAGES,
    CREATE_MESSAGE,
    USERS_SHORT,
    UPDATE_PROFILE,
    ROLLBAR_TEST,
];

/// Functions invoked by something other than API Gateway: the user pool's triggers.
pub const TRIGGERS: [Trigger; 2] = [
    Trigger {
        function: "pre-sign-up",
        cognito_trigger: "PreSignUp",
        access: TableAccess::Read,
    },
    Trigger {
        function: "post-confirmation",
        cognito_trigger: "PostConfirmation",
        access: TableAccess::Write,
    },
];

/// A Cognito user pool trigger's function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    pub function: &'static str,
    /// The user pool's `LambdaConfig` trigger (SAM's `Trigger`).
    pub cognito_trigger: &'static str,
    /// What it may do to the table.
    pub access: TableAccess,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: Route = SHOW_ACTIVITY.route;

    #[test]
    fn template_matches_with_and_without_prefixes() {
        for path in [
            "/api/activities/@worf/status/abc",
            "/prod/api/activities/@worf/status/abc",
            "/lambda-url/show-activity/api/activities/%40worf/status/abc/",
        ] {
            let params = SHOW.match_path(path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(params["handle"], "@worf");
            assert_eq!(params["uuid"], "abc");
        }
        assert!(SHOW
            .match_path("/api/activities/@worf/replies/abc")
            .is_none());
        assert!(SHOW.match_path("/status/abc").is_none());
        assert!(SHOW.match_path("").is_none());
    }

    #[test]
    fn variables_are_decoded_once() {
        let params = SHOW
            .match_path("/api/activities/%2540worf/status/abc")
            .unwrap();
        assert_eq!(params["handle"], "%40worf");
    }

    #[test]
    fn empty_segment_matches_as_empty_variable() {
        let params = SHOW.match_path("/api/activities//status/abc").unwrap();
        assert_eq!(params["handle"], "");
    }

    #[test]
    fn variables_are_listed_in_order() {
        assert_eq!(SHOW.variables().collect::<Vec<_>>(), ["handle", "uuid"]);
        assert_eq!(HEALTH_CHECK.route.variables().count(), 0);
    }

    #[test]
    fn function_names_and_routes_are_unique() {
        for (i, a) in ENDPOINTS.iter().enumerate() {
            for b in &ENDPOINTS[i + 1..] {
                assert_ne!(a.function, b.function);
                assert_ne!(a.route, b.route, "{} and {}", a.function, b.function);
            }
        }
    }
}
