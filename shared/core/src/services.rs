//! Cruddur's operations, one per endpoint: validate everything, then ask the store.
//!
//! Inputs arrive raw (path segments, query values, body fields) so each operation reports every
//! failing check together.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tracing::field::Empty;
use tracing::Instrument;
use uuid::Uuid;

use crate::domain::{
    format_time, parse_activity_uuid, Activity, ActivityMessage, Handle, Message, MessageGroup,
    NewActivity, NewMessage, NewUser, Profile, ReplyMessage, SearchTerm, Ttl, User,
};
use crate::error::{collect, ApiError};
use crate::store::{Page, PageRequest, Store, UserCreation};

/// Body of `POST /api/activities`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateActivityBody {
    pub message: Option<String>,
    pub ttl: Option<String>,
}

/// Body of `POST /api/activities/{handle}/status/{uuid}/reply`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateReplyBody {
    pub message: Option<String>,
}

/// Body of `POST /api/messages`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateMessageBody {
    pub user_receiver_handle: Option<String>,
    pub message: Option<String>,
}

/// `GET /api/activities/{handle}`.
#[derive(Debug, Serialize)]
pub struct UserActivities {
    pub profile: Profile,
    pub activities: Vec<Activity>,
}

/// `GET /api/activities/{handle}/status/{uuid}`.
#[derive(Debug, Serialize)]
pub struct ShowActivity {
    pub activity: Activity,
    pub replies: Vec<Activity>,
}

/// The home feed. Keeps the original app's custom span and its attributes.
pub async fn home_activities(
    store: &dyn Store,
    cursor: Option<String>,
) -> Result<Page<Activity>, ApiError> {
    let now = Utc::now();
    let span = tracing::info_span!(
        "home-activities-mock-data",
        app.now = %format_time(&now),
        app.result_length = Empty
    );
    let page = store
        .home_feed(PageRequest::after(cursor))
        .instrument(span.clone())
        .await?;
    span.record("app.result_length", page.items.len());
    Ok(page)
}

/// Replies by others to the caller's activities.
pub async fn notifications(
    store: &dyn Store,
    caller: &User,
    cursor: Option<String>,
) -> Result<Page<Activity>, ApiError> {
    Ok(store
        .notifications(caller, PageRequest::after(cursor))
        .await?)
}

/// A user's profile and newest activities.
pub async fn user_activities(
    store: &dyn Store,
    handle: Option<&str>,
    cursor: Option<String>,
) -> Result<(UserActivities, Option<String>), ApiError> {
    let handle = Handle::parse(handle, "blank_user_handle")
        .map_err(|code| ApiError::Validation(vec![code]))?;
    let user = find_user(store, &handle).await?;
    let page = store
        .user_activities(&user, PageRequest::after(cursor))
        .await?;
    let profile = Profile {
        cruds_count: store.cruds_count(&user).await?,
        uuid: user.uuid,
        handle: user.handle,
        display_name: user.display_name,
        bio: user.bio,
    };
    Ok((
        UserActivities {
            profile,
            activities: page.items,
        },
        page.next_cursor,
    ))
}

/// Activities whose message contains the term.
pub async fn search_activities(
    store: &dyn Store,
    term: Option<&str>,
    cursor: Option<String>,
) -> Result<Page<Activity>, ApiError> {
    let term = SearchTerm::parse(term).map_err(|code| ApiError::Validation(vec![code]))?;
    Ok(store.search(&term, PageRequest::after(cursor)).await?)
}

/// Posts an activity for the caller, expiring after the chosen ttl.
pub async fn create_activity(
    store: &dyn Store,
    caller: &User,
    body: CreateActivityBody,
) -> Result<Activity, ApiError> {
    let now = Utc::now();
    let mut codes = Vec::new();
    let message = collect(&mut codes, ActivityMessage::parse(body.message.as_deref()));
    let ttl = collect(&mut codes, Ttl::parse(body.ttl.as_deref()));
    let (Some(message), Some(ttl)) = (message, ttl) else {
        return Err(ApiError::Validation(codes));
    };
    let activity = store
        .create_activity(NewActivity {
            uuid: Uuid::new_v4(),
            user_uuid: caller.uuid,
            message: message.into_inner(),
            reply_to_activity_uuid: None,
            created_at: now,
            expires_at: now + ttl.duration(),
        })
        .await?;
    tracing::info!(metric.ActivitiesCreated = 1u64, activity_uuid = %activity.uuid, "activity created");
    Ok(activity)
}

/// An activity addressed under its author, with its replies.
pub async fn show_activity(
    store: &dyn Store,
    handle: Option<&str>,
    uuid: Option<&str>,
) -> Result<ShowActivity, ApiError> {
    let (handle, uuid) = parse_activity_address(handle, uuid, &mut Vec::new())?;
    let (activity, replies) = find_activity(store, &handle, uuid).await?;
    Ok(ShowActivity { activity, replies })
}

/// Replies to an activity addressed under its author. The reply lives as long as its parent.
pub async fn create_reply(
    store: &dyn Store,
    caller: &User,
    handle: Option<&str>,
    uuid: Option<&str>,
    body: CreateReplyBody,
) -> Result<Activity, ApiError> {
    let now = Utc::now();
    let mut codes = Vec::new();
    let message = collect(&mut codes, ReplyMessage::parse(body.message.as_deref()));
    let (handle, parent_uuid) = parse_activity_address(handle, uuid, &mut codes)?;
    let Some(message) = message else {
        return Err(ApiError::Validation(codes));
    };
    let (parent, _) = find_activity(store, &handle, parent_uuid).await?;
    let reply = store
        .create_reply(NewActivity {
            uuid: Uuid::new_v4(),
            user_uuid: caller.uuid,
            message: message.into_inner(),
            reply_to_activity_uuid: Some(parent.uuid),
            created_at: now,
            expires_at: parent.expires_at,
        })
        .await?;
    tracing::info!(metric.RepliesCreated = 1u64, activity_uuid = %reply.uuid, reply_to = %parent.uuid, "reply created");
    Ok(reply)
}

/// The caller's conversations.
pub async fn message_groups(
    store: &dyn Store,
    caller: &User,
) -> Result<Vec<MessageGroup>, ApiError> {
    Ok(store.message_groups(caller).await?)
}

/// The caller's conversation with a user.
pub async fn messages(
    store: &dyn Store,
    caller: &User,
    handle: Option<&str>,
) -> Result<Vec<Message>, ApiError> {
    let handle = Handle::parse(handle, "blank_user_handle")
        .map_err(|code| ApiError::Validation(vec![code]))?;
    let other = find_user(store, &handle).await?;
    Ok(store.messages_between(caller, &other).await?)
}

/// Sends a direct message from the caller.
pub async fn create_message(
    store: &dyn Store,
    caller: &User,
    body: CreateMessageBody,
) -> Result<Message, ApiError> {
    let now = Utc::now();
    let mut codes = Vec::new();
    let receiver = collect(
        &mut codes,
        Handle::parse(
            body.user_receiver_handle.as_deref(),
            "user_receiver_handle_blank",
        ),
    );
    let message = collect(&mut codes, ReplyMessage::parse(body.message.as_deref()));
    if receiver
        .as_ref()
        .is_some_and(|h| h.as_str() == caller.handle)
    {
        codes.push("cannot_message_self");
    }
    let (Some(receiver), Some(message)) = (receiver, message) else {
        return Err(ApiError::Validation(codes));
    };
    ApiError::check(codes)?;
    let receiver = find_user(store, &receiver).await?;
    let message = store
        .create_message(NewMessage {
            uuid: Uuid::new_v4(),
            sender_uuid: caller.uuid,
            receiver_uuid: receiver.uuid,
            message: message.into_inner(),
            created_at: now,
        })
        .await?;
    tracing::info!(metric.MessagesSent = 1u64, message_uuid = %message.uuid, "message sent");
    Ok(message)
}

/// A confirmed Cognito sign-up, as the post-confirmation trigger sees it.
#[derive(Debug, Clone, Default)]
pub struct ConfirmedSignUp {
    pub sub: Option<String>,
    pub preferred_username: Option<String>,
    pub cognito_username: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

impl ConfirmedSignUp {
    /// Reads a Cognito post-confirmation trigger event (`userName`, `request.userAttributes`).
    pub fn from_cognito_event(event: &serde_json::Value) -> Self {
        let attribute = |name: &str| {
            event["request"]["userAttributes"][name]
                .as_str()
                .map(str::to_owned)
        };
        Self {
            sub: attribute("sub"),
            preferred_username: attribute("preferred_username"),
            cognito_username: event["userName"].as_str().map(str::to_owned),
            name: attribute("name"),
            email: attribute("email"),
        }
    }
}

/// Creates the Cruddur user for a confirmed sign-up. Replays are harmless.
pub async fn confirm_sign_up(
    store: &dyn Store,
    sign_up: ConfirmedSignUp,
) -> Result<UserCreation, ApiError> {
    let now = Utc::now();
    let non_blank = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let mut codes = Vec::new();
    let sub = non_blank(&sign_up.sub);
    if sub.is_none() {
        codes.push("sub_blank");
    }
    let handle =
        non_blank(&sign_up.preferred_username).or_else(|| non_blank(&sign_up.cognito_username));
    let handle = collect(
        &mut codes,
        Handle::parse(handle.as_deref(), "user_handle_blank"),
    );
    let (Some(sub), Some(handle)) = (sub, handle) else {
        return Err(ApiError::Validation(codes));
    };
    let created = store
        .create_user(NewUser {
            uuid: Uuid::new_v4(),
            display_name: non_blank(&sign_up.name).unwrap_or_else(|| handle.as_str().to_owned()),
            handle: handle.as_str().to_owned(),
            email: non_blank(&sign_up.email),
            bio: None,
            cognito_user_id: sub,
            created_at: now,
        })
        .await?;
    match &created {
        UserCreation::Created(user) => tracing::info!(user_id = %user.uuid, "user created"),
        UserCreation::AlreadyExists(user) => {
            tracing::info!(user_id = %user.uuid, "user already exists")
        }
    }
    Ok(created)
}

fn parse_activity_address(
    handle: Option<&str>,
    uuid: Option<&str>,
    codes: &mut Vec<&'static str>,
) -> Result<(Handle, Uuid), ApiError> {
    let handle = collect(codes, Handle::parse(handle, "blank_user_handle"));
    let uuid = collect(codes, parse_activity_uuid(uuid));
    match (handle, uuid) {
        (Some(handle), Some(uuid)) if codes.is_empty() => Ok((handle, uuid)),
        _ => Err(ApiError::Validation(std::mem::take(codes))),
    }
}

async fn find_user(store: &dyn Store, handle: &Handle) -> Result<User, ApiError> {
    store
        .user_by_handle(handle.as_str())
        .await?
        .ok_or(ApiError::NotFound("user_not_found"))
}

/// The activity and its replies, if it exists, is unexpired and was written by `handle`.
async fn find_activity(
    store: &dyn Store,
    handle: &Handle,
    uuid: Uuid,
) -> Result<(Activity, Vec<Activity>), ApiError> {
    store
        .activity_with_replies(uuid)
        .await?
        .filter(|(activity, _)| activity.handle == handle.as_str())
        .ok_or(ApiError::NotFound("activity_not_found"))
}
