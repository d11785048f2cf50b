//! Every Cruddur endpoint in one table: which function serves which route, whether it needs a
//! caller, and whether it writes. Each function takes its route from here; template.yaml and the
//! `events/` fixtures must agree with it (the template test checks).

use crate::http::Route;

/// One HTTP function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The function crate, binary and template function (`functions/<name>`).
    pub function: &'static str,
    pub route: Route,
    /// Needs the Cognito authorizer.
    pub auth: bool,
    /// Writes to the store (CRUD policy), else read-only.
    pub writes: bool,
}

pub const HEALTH_CHECK: Route = Route::get("/api/health-check");
pub const HOME_ACTIVITIES: Route = Route::get("/api/activities/home");
pub const NOTIFICATIONS_ACTIVITIES: Route = Route::get("/api/activities/notifications");
pub const USER_ACTIVITIES: Route = Route::get("/api/activities/{handle}");
pub const SEARCH_ACTIVITIES: Route = Route::get("/api/activities/search");
pub const CREATE_ACTIVITY: Route = Route::post("/api/activities");
pub const SHOW_ACTIVITY: Route = Route::get("/api/activities/{handle}/status/{uuid}");
pub const CREATE_REPLY: Route = Route::post("/api/activities/{handle}/status/{uuid}/reply");
pub const MESSAGE_GROUPS: Route = Route::get("/api/message_groups");
pub const MESSAGES: Route = Route::get("/api/messages/{handle}");
pub const CREATE_MESSAGE: Route = Route::post("/api/messages");
pub const ROLLBAR_TEST: Route = Route::get("/rollbar/test");

const fn endpoint(function: &'static str, route: Route, auth: bool, writes: bool) -> Endpoint {
    Endpoint {
        function,
        route,
        auth,
        writes,
    }
}

/// The HTTP functions.
pub const ENDPOINTS: [Endpoint; 12] = [
    endpoint("health-check", HEALTH_CHECK, false, false),
    endpoint("home-activities", HOME_ACTIVITIES, false, false),
    endpoint(
        "notifications-activities",
        NOTIFICATIONS_ACTIVITIES,
        true,
        false,
    ),
    endpoint("user-activities", USER_ACTIVITIES, false, false),
    endpoint("search-activities", SEARCH_ACTIVITIES, false, false),
    endpoint("create-activity", CREATE_ACTIVITY, true, true),
    endpoint("show-activity", SHOW_ACTIVITY, false, false),
    endpoint("create-reply", CREATE_REPLY, true, true),
    endpoint("message-groups", MESSAGE_GROUPS, true, false),
    endpoint("messages", MESSAGES, true, false),
    endpoint("create-message", CREATE_MESSAGE, true, true),
    endpoint("rollbar-test", ROLLBAR_TEST, false, false),
];

/// Functions invoked by something other than API Gateway (they write).
pub const TRIGGERS: [&str; 1] = ["post-confirmation"];
