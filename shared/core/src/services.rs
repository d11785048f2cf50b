//! Cruddur's operations, one per endpoint: validate everything, then ask the store.
//!
//! Inputs arrive raw (path segments, query values, body fields) so each operation reports every
//! failing check together.

use std::future::Future;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tracing::field::Empty;
use tracing::Instrument;
use uuid::Uuid;

use crate::domain::{
    format_time, parse_activity_uuid, Activity, ActivityMessage, Bio, DisplayName, Handle,
    IdempotencyKey, Message, MessageGroup, NewActivity, NewMessage, Profile, ReplyMessage,
    SearchTerm, Ttl, User, UserShort,
};
use crate::error::{collect, ApiError};
use crate::store::{Page, PageRequest, Store, StoreError, StoreResult};

/// Body of `POST /api/activities`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateActivityBody {
    pub message: Option<String>,
    pub ttl: Option<String>,
}

/// Body of a reply: `POST /api/activities/{handle}/status/{uuid}/reply` or the frontend's
/// `POST /api/activities/{uuid}/reply`, which repeats the activity's uuid in the body.
#[derive(Debug, Default, Deserialize)]
pub struct CreateReplyBody {
    pub message: Option<String>,
    pub activity_uuid: Option<String>,
}

/// Body of `POST /api/messages`: the message and exactly one target, a handle (`handle`, or
/// `user_receiver_handle` as the week-2 client and newer frontends send it) for a conversation
/// that may be new, or the `message_group_uuid` of one the caller is in.
#[derive(Debug, Default, Deserialize)]
pub struct CreateMessageBody {
    pub message: Option<String>,
    pub handle: Option<String>,
    pub user_receiver_handle: Option<String>,
    pub message_group_uuid: Option<String>,
}

/// Body of `PUT /api/profile/update`. The whole editable profile: a missing bio is no bio.
#[derive(Debug, Default, Deserialize)]
pub struct UpdateProfileBody {
    pub display_name: Option<String>,
    pub bio: Option<String>,
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

/// What a create answers: the thing created, or, for a repeat with the same `Idempotency-Key`,
/// the thing the first request created (`replayed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created<T> {
    pub value: T,
    pub replayed: bool,
}

/// Runs a create whose uuid comes from the caller's `Idempotency-Key`, if one was sent (else a
/// fresh one). The store refuses a second item with the same uuid, so a repeat writes nothing;
/// it reads the first result back and returns it when `same` says it is what this request asked
/// for, and is `idempotency_key_reused` otherwise.
async fn idempotent<T, C, CF, R, RF>(
    key: Option<&IdempotencyKey>,
    scope: &str,
    caller: &User,
    create: C,
    read_back: R,
    same: impl FnOnce(&T) -> bool,
) -> Result<Created<T>, ApiError>
where
    C: FnOnce(Uuid) -> CF,
    CF: Future<Output = StoreResult<T>>,
    R: FnOnce(Uuid) -> RF,
    RF: Future<Output = StoreResult<Option<T>>>,
{
    let Some(key) = key else {
        return Ok(Created {
            value: create(Uuid::new_v4()).await?,
            replayed: false,
        });
    };
    let uuid = key.uuid_for(scope, caller.uuid);
    match create(uuid).await {
        Ok(value) => Ok(Created {
            value,
            replayed: false,
        }),
        Err(StoreError::Conflict(_)) => match read_back(uuid).await? {
            Some(first) if same(&first) => {
                tracing::info!(uuid = %uuid, "repeated create answered with its first result");
                Ok(Created {
                    value: first,
                    replayed: true,
                })
            }
            _ => Err(ApiError::Validation(vec!["idempotency_key_reused"])),
        },
        Err(err) => Err(err.into()),
    }
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
    let handle = read_handle(handle, "user_not_found")?;
    let user = find_user(store, &handle).await?;
    let page = store
        .user_activities(&user, PageRequest::after(cursor))
        .await?;
    let profile = Profile::of(user.clone(), store.cruds_count(&user).await?);
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

/// Posts an activity for the caller, expiring after the chosen ttl. With an idempotency key, a
/// repeat returns the first activity.
pub async fn create_activity(
    store: &dyn Store,
    caller: &User,
    body: CreateActivityBody,
    key: Option<&IdempotencyKey>,
) -> Result<Created<Activity>, ApiError> {
    let now = Utc::now();
    let mut codes = Vec::new();
    let message = collect(&mut codes, ActivityMessage::parse(body.message.as_deref()));
    let ttl = collect(&mut codes, Ttl::parse(body.ttl.as_deref()));
    let (Some(message), Some(ttl)) = (message, ttl) else {
        return Err(ApiError::Validation(codes));
    };
    let message = message.into_inner();
    let created = idempotent(
        key,
        "activity",
        caller,
        |uuid| {
            store.create_activity(
                caller,
                NewActivity {
                    uuid,
                    message: message.clone(),
                    created_at: now,
                    expires_at: now + ttl.duration(),
                },
            )
        },
        |uuid| store.activity(uuid),
        |first| {
            first.author_uuid == caller.uuid
                && first.reply_to_activity_uuid.is_none()
                && first.message == message
        },
    )
    .await?;
    if !created.replayed {
        tracing::info!(metric.ActivitiesCreated = 1u64, activity_uuid = %created.value.uuid, "activity created");
    }
    Ok(created)
}

/// An activity addressed under its author, with a page of its replies (oldest first; the
/// cursor leads to later ones).
pub async fn show_activity(
    store: &dyn Store,
    handle: Option<&str>,
    uuid: Option<&str>,
    cursor: Option<String>,
) -> Result<(ShowActivity, Option<String>), ApiError> {
    // Nothing can be under a handle that cannot exist: as unknown as an unknown author's.
    if let Err(ApiError::NotFound(_)) = read_handle(handle, "activity_not_found") {
        return Err(ApiError::NotFound("activity_not_found"));
    }
    let mut codes = Vec::new();
    let Some((handle, uuid)) = parse_activity_address(handle, uuid, &mut codes) else {
        return Err(ApiError::Validation(codes));
    };
    let (activity, replies) = store
        .activity_with_replies(uuid, PageRequest::after(cursor))
        .await?
        .filter(|(activity, _)| activity.handle == handle.as_str())
        .ok_or(ApiError::NotFound("activity_not_found"))?;
    Ok((
        ShowActivity {
            activity,
            replies: replies.items,
        },
        replies.next_cursor,
    ))
}

/// Which activity a reply answers.
#[derive(Debug, Clone, Copy)]
pub enum ReplyTo<'a> {
    /// `/api/activities/{handle}/status/{uuid}/reply`: under its author, who must match.
    UnderAuthor {
        handle: Option<&'a str>,
        uuid: Option<&'a str>,
    },
    /// The frontend's `/api/activities/{uuid}/reply`: by uuid alone.
    Activity { uuid: Option<&'a str> },
}

/// Replies to an activity. The reply lives as long as its parent. With an idempotency key, a
/// repeat returns the first reply.
pub async fn create_reply(
    store: &dyn Store,
    caller: &User,
    to: ReplyTo<'_>,
    body: CreateReplyBody,
    key: Option<&IdempotencyKey>,
) -> Result<Created<Activity>, ApiError> {
    let now = Utc::now();
    let mut codes = Vec::new();
    let message = collect(&mut codes, ReplyMessage::parse(body.message.as_deref()));
    let parent = match to {
        ReplyTo::UnderAuthor { handle, uuid } => parse_activity_address(handle, uuid, &mut codes)
            .map(|(handle, uuid)| (Some(handle), uuid)),
        ReplyTo::Activity { uuid } => {
            collect(&mut codes, parse_activity_uuid(uuid)).map(|uuid| (None, uuid))
        }
    };
    // A body that names another activity than the path is a confused client, not a choice.
    if let (Some((_, uuid)), Some(named)) = (&parent, body.activity_uuid.as_deref()) {
        if parse_activity_uuid(Some(named)) != Ok(*uuid) {
            codes.push("activity_uuid_mismatch");
        }
    }
    let (Some(message), Some((author, parent_uuid))) = (message, parent) else {
        return Err(ApiError::Validation(codes));
    };
    ApiError::check(codes)?;
    // One read of the parent; the write checks again that it has not expired since.
    let parent = store
        .activity(parent_uuid)
        .await?
        .filter(|parent| author.is_none_or(|handle| parent.handle == handle.as_str()))
        .ok_or(ApiError::NotFound("activity_not_found"))?;
    let message = message.into_inner();
    let created = idempotent(
        key,
        "reply",
        caller,
        |uuid| {
            store.create_reply(
                caller,
                &parent,
                NewActivity {
                    uuid,
                    message: message.clone(),
                    created_at: now,
                    expires_at: parent.expires_at,
                },
            )
        },
        |uuid| store.activity(uuid),
        |first| {
            first.author_uuid == caller.uuid
                && first.reply_to_activity_uuid == Some(parent.uuid)
                && first.message == message
        },
    )
    .await?;
    if !created.replayed {
        tracing::info!(metric.RepliesCreated = 1u64, activity_uuid = %created.value.uuid, reply_to = %parent.uuid, "reply created");
    }
    Ok(created)
}

/// The caller's conversations, by latest message.
pub async fn message_groups(
    store: &dyn Store,
    caller: &User,
    cursor: Option<String>,
) -> Result<Page<MessageGroup>, ApiError> {
    Ok(store
        .message_groups(caller, PageRequest::after(cursor))
        .await?)
}

/// A conversation, named the way a client names it.
enum Conversation {
    /// `@handle`: with that user (it may not exist yet).
    With(Handle),
    /// A message group uuid: one the caller must be in.
    Group(Uuid),
}

impl Conversation {
    /// A uuid names a group (a uuid is never a handle: handles have no `-`), anything else a
    /// handle.
    fn parse(raw: Option<&str>, blank_code: &'static str) -> Result<Self, &'static str> {
        let raw = raw.unwrap_or_default().trim();
        match Uuid::try_parse(raw) {
            Ok(group) => Ok(Self::Group(group)),
            Err(_) => Handle::parse(Some(raw), blank_code).map(Self::With),
        }
    }
}

/// The other member of a conversation the caller is in. A group the caller is not in is as
/// unknown as one that does not exist: nobody learns which groups exist.
async fn partner_in(store: &dyn Store, caller: &User, group: Uuid) -> Result<User, ApiError> {
    store
        .conversation_partner(caller, group)
        .await?
        .ok_or(ApiError::NotFound("message_group_not_found"))
}

/// The caller's conversation with a user (`@handle`) or in a group (its uuid): its newest page,
/// shown oldest first (the cursor leads to older messages).
pub async fn messages(
    store: &dyn Store,
    caller: &User,
    with: Option<&str>,
    cursor: Option<String>,
) -> Result<Page<Message>, ApiError> {
    let other = match Conversation::parse(with, "blank_user_handle").map_err(|code| match code {
        // A handle that cannot exist names nobody: the same answer as an unknown one.
        "user_handle_invalid" => ApiError::NotFound("user_not_found"),
        code => ApiError::Validation(vec![code]),
    })? {
        Conversation::With(handle) => find_user(store, &handle).await?,
        Conversation::Group(group) => partner_in(store, caller, group).await?,
    };
    Ok(store
        .messages_between(caller, &other, PageRequest::after(cursor))
        .await?)
}

/// What `POST /api/messages` answers: the message. Addressed to a handle, it carries its
/// `message_group_uuid`, and the frontend opens that conversation; sent into a group the client
/// named, it does not, and the frontend appends it to the conversation on screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentMessage {
    pub uuid: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_group_uuid: Option<Uuid>,
    pub display_name: String,
    pub handle: String,
    pub message: String,
    #[serde(serialize_with = "crate::domain::rfc3339")]
    pub created_at: chrono::DateTime<Utc>,
}

impl SentMessage {
    fn new(message: Message, to_handle: bool) -> Self {
        Self {
            uuid: message.uuid,
            message_group_uuid: to_handle.then_some(message.message_group_uuid),
            display_name: message.display_name,
            handle: message.handle,
            message: message.message,
            created_at: message.created_at,
        }
    }
}

/// Sends a direct message from the caller to a handle or into a conversation. With an
/// idempotency key, a repeat returns the first message.
pub async fn create_message(
    store: &dyn Store,
    caller: &User,
    body: CreateMessageBody,
    key: Option<&IdempotencyKey>,
) -> Result<Created<SentMessage>, ApiError> {
    let now = Utc::now();
    let mut codes = Vec::new();
    let targets = [
        body.handle.as_deref(),
        body.user_receiver_handle.as_deref(),
        body.message_group_uuid.as_deref(),
    ];
    let target = match targets.iter().flatten().count() {
        0 => {
            codes.push("user_receiver_handle_blank");
            None
        }
        1 => match body.message_group_uuid.as_deref() {
            Some(group) => collect(
                &mut codes,
                Uuid::try_parse(group.trim())
                    .map(Conversation::Group)
                    .map_err(|_| "message_group_uuid_invalid"),
            ),
            None => collect(
                &mut codes,
                Handle::parse(
                    body.handle
                        .as_deref()
                        .or(body.user_receiver_handle.as_deref()),
                    "user_receiver_handle_blank",
                )
                .map(Conversation::With),
            ),
        },
        _ => {
            codes.push("message_target_ambiguous");
            None
        }
    };
    let message = collect(&mut codes, ReplyMessage::parse(body.message.as_deref()));
    if matches!(&target, Some(Conversation::With(h)) if h.as_str() == caller.handle) {
        codes.push("cannot_message_self");
    }
    let (Some(target), Some(message)) = (target, message) else {
        return Err(ApiError::Validation(codes));
    };
    ApiError::check(codes)?;
    let (receiver, to_handle) = match target {
        Conversation::With(handle) => (find_user(store, &handle).await?, true),
        Conversation::Group(group) => (partner_in(store, caller, group).await?, false),
    };
    let message = message.into_inner();
    let group = crate::domain::message_group_uuid(caller.uuid, receiver.uuid);
    let created = idempotent(
        key,
        "message",
        caller,
        |uuid| {
            store.create_message(
                caller,
                &receiver,
                NewMessage {
                    uuid,
                    message: message.clone(),
                    created_at: now,
                },
            )
        },
        |uuid| store.message(uuid),
        |first| {
            first.handle == caller.handle
                && first.message_group_uuid == group
                && first.message == message
        },
    )
    .await?;
    if !created.replayed {
        tracing::info!(metric.MessagesSent = 1u64, message_uuid = %created.value.uuid, "message sent");
    }
    Ok(Created {
        value: SentMessage::new(created.value, to_handle),
        replayed: created.replayed,
    })
}

/// A user's handle and display name (the "new message to @handle" page).
pub async fn users_short(store: &dyn Store, handle: Option<&str>) -> Result<UserShort, ApiError> {
    let handle = read_handle(handle, "user_not_found")?;
    Ok(find_user(store, &handle).await?.into())
}

/// Replaces the caller's display name and bio; returns the profile as it now reads.
pub async fn update_profile(
    store: &dyn Store,
    caller: &User,
    body: UpdateProfileBody,
) -> Result<Profile, ApiError> {
    let mut codes = Vec::new();
    let display_name = collect(&mut codes, DisplayName::parse(body.display_name.as_deref()));
    let bio = collect(&mut codes, Bio::parse(body.bio.as_deref()));
    let (Some(display_name), Some(bio)) = (display_name, bio) else {
        return Err(ApiError::Validation(codes));
    };
    let user = store
        .update_profile(caller, display_name.into_inner(), bio.into_inner())
        .await?;
    tracing::info!(user_id = %user.uuid, "profile updated");
    let cruds_count = store.cruds_count(&user).await?;
    Ok(Profile::of(user, cruds_count))
}

/// An activity addressed under its author; failing checks are added to `codes`.
fn parse_activity_address(
    handle: Option<&str>,
    uuid: Option<&str>,
    codes: &mut Vec<&'static str>,
) -> Option<(Handle, Uuid)> {
    let handle = collect(codes, Handle::parse(handle, "blank_user_handle"));
    let uuid = collect(codes, parse_activity_uuid(uuid));
    handle.zip(uuid)
}

/// A handle named by a read (`GET /api/activities/@handle`, ...). One that breaks the handle rule
/// can belong to nobody, so it is answered as an unknown one is (`not_found`, a 404): a reader
/// does not learn the sign-up rules from a URL. Writes that set a handle (sign-up) still refuse
/// it with `user_handle_invalid`. A blank one is the client's mistake (422).
fn read_handle(raw: Option<&str>, not_found: &'static str) -> Result<Handle, ApiError> {
    Handle::parse(raw, "blank_user_handle").map_err(|code| match code {
        "user_handle_invalid" => ApiError::NotFound(not_found),
        code => ApiError::Validation(vec![code]),
    })
}

async fn find_user(store: &dyn Store, handle: &Handle) -> Result<User, ApiError> {
    store
        .user_by_handle(handle.as_str())
        .await?
        .ok_or(ApiError::NotFound("user_not_found"))
}
