//! One handler per HTTP function: what the function does with a request the edge has accepted
//! (route, method, body size and caller already checked). Each function crate serves its handler
//! with `cruddur_lambda::serve`; tests and the capacity budget call the same handlers.

use crate::services::{self, ReplyTo};
use crate::{ApiError, Ctx, Reply};

/// `GET /api/health-check`: the API is up.
pub async fn health_check(_ctx: Ctx) -> Result<Reply, ApiError> {
    Ok(Reply::json(&serde_json::json!({"success": true, "ver": 1})))
}

/// `GET /api/activities/home`: the newest unexpired activities, a page at a time.
pub async fn home_activities(ctx: Ctx) -> Result<Reply, ApiError> {
    let page = services::home_activities(ctx.store(), ctx.cursor()).await?;
    Ok(Reply::page(page))
}

/// `GET /api/activities/notifications`: replies by others to the caller's activities.
pub async fn notifications_activities(ctx: Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let page = services::notifications(ctx.store(), caller, ctx.cursor()).await?;
    Ok(Reply::page(page))
}

/// `GET /api/activities/{handle}`: a user's profile and activities.
pub async fn user_activities(ctx: Ctx) -> Result<Reply, ApiError> {
    let (profile, next) =
        services::user_activities(ctx.store(), ctx.path_param("handle"), ctx.cursor()).await?;
    ctx.record_handle(&profile.profile.handle);
    Ok(Reply::json(&profile).with_next_cursor(next))
}

/// `GET /api/activities/search?term=`: activities whose message contains the term.
pub async fn search_activities(ctx: Ctx) -> Result<Reply, ApiError> {
    let page = services::search_activities(ctx.store(), ctx.query("term"), ctx.cursor()).await?;
    Ok(Reply::page(page))
}

/// `POST /api/activities` `{message, ttl}`: the caller posts a crud.
pub async fn create_activity(ctx: Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let body = ctx.json()?;
    let key = ctx.idempotency_key()?;
    let created = services::create_activity(ctx.store(), caller, body, key.as_ref()).await?;
    Ok(Reply::created(created))
}

/// `GET /api/activities/{handle}/status/{uuid}`: an activity and its replies, oldest reply first.
pub async fn show_activity(ctx: Ctx) -> Result<Reply, ApiError> {
    let (shown, next_cursor) = services::show_activity(
        ctx.store(),
        ctx.path_param("handle"),
        ctx.path_param("uuid"),
        ctx.cursor(),
    )
    .await?;
    ctx.record_handle(&shown.activity.handle);
    Ok(Reply::json(&shown).with_next_cursor(next_cursor))
}

/// `POST /api/activities/{handle}/status/{uuid}/reply` `{message}`: the caller replies.
pub async fn create_reply(ctx: Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let body = ctx.json()?;
    let to = ReplyTo::UnderAuthor {
        handle: ctx.path_param("handle"),
        uuid: ctx.path_param("uuid"),
    };
    let key = ctx.idempotency_key()?;
    let created = services::create_reply(ctx.store(), caller, to, body, key.as_ref()).await?;
    Ok(Reply::created(created))
}

/// `POST /api/activities/{uuid}/reply` `{message, activity_uuid}`: the caller replies to an
pub async fn create_reply_by_uuid(ctx: Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let body = ctx.json()?;
    let to = ReplyTo::Activity {
        uuid: ctx.path_param("handle"),
    };
    let key = ctx.idempotency_key()?;
    let created = services::create_reply(ctx.store(), caller, to, body, key.as_ref()).await?;
    Ok(Reply::created(created))
}

/// `GET /api/message_groups`: the caller's conversations, newest first.
pub async fn message_groups(ctx: Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let page = services::message_groups(ctx.store(), caller, ctx.cursor()).await?;
    Ok(Reply::page(page))
}

/// `GET /api/messages/{handle}`: the caller's conversation, oldest first, with a user
pub async fn messages(ctx: Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let page =
        services::messages(ctx.store(), caller, ctx.path_param("handle"), ctx.cursor()).await?;
    Ok(Reply::page(page))
}

/// `POST /api/messages` `{message}` and one target: `handle` (or `user_receiver_handle`) for a
pub async fn create_message(ctx: Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let body = ctx.json()?;
    let key = ctx.idempotency_key()?;
    let created = services::create_message(ctx.store(), caller, body, key.as_ref()).await?;
    Ok(Reply::created(created))
}

/// `GET /api/users/{handle}/short`: a user's uuid, handle and display name, for the frontend's
pub async fn users_short(ctx: Ctx) -> Result<Reply, ApiError> {
    let user = services::users_short(ctx.store(), ctx.path_param("handle")).await?;
    Ok(Reply::json(&user))
}

/// `PUT /api/profile/update` `{display_name, bio}`: the caller edits their profile and gets it
pub async fn update_profile(ctx: Ctx) -> Result<Reply, ApiError> {
    let caller = ctx.caller()?;
    let body = ctx.json()?;
    let profile = services::update_profile(ctx.store(), caller, body).await?;
    Ok(Reply::json(&profile))
}

/// What rollbar-test answers (and reports to Rollbar as a warning).
pub const ROLLBAR_TEST_GREETING: &str = "Hello World!";

/// `GET /rollbar/test`: reports the warning "Hello World!" and returns it.
pub async fn rollbar_test(_ctx: Ctx) -> Result<Reply, ApiError> {
    tracing::warn!(report = true, "{ROLLBAR_TEST_GREETING}");
    Ok(Reply::text(ROLLBAR_TEST_GREETING))
}
