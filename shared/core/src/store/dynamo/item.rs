//! The item codec: Cruddur's domain types as DynamoDB attributes and back (keys are added by the
//! store from [`super::keys`]). Times are epoch milliseconds; `ttl` is epoch seconds.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::keys::{Item, Key, TTL_ATTRIBUTE};
use crate::domain::{Activity, Message, MessageGroup, User};
use crate::store::{StoreError, StoreResult};

/// The attribute holding a user's count of posted activities (on the profile item).
pub const CRUDS_COUNT: &str = "cruds_count";
/// The attribute holding an activity's count of replies.
pub const REPLIES_COUNT: &str = "replies_count";
/// The attribute reads compare with now (TTL deletes lazily, so expired items can still be read).
pub const EXPIRES_AT: &str = "expires_at";
/// The lower-cased message search matches against.
pub const MESSAGE_LOWER: &str = "message_lower";
/// The author of an activity (for notifications of replies to it).
pub const AUTHOR: &str = "user_uuid";

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// An item at `key` with `attributes`.
pub fn at(key: &Key, attributes: Item) -> Item {
    let mut item = key.item();
    item.extend(attributes);
    item
}

pub fn activity(activity: &Activity, author: Uuid) -> Item {
    let mut item: Item = [
        ("uuid", s(activity.uuid.to_string())),
        (AUTHOR, s(author.to_string())),
        ("display_name", s(activity.display_name.clone())),
        ("handle", s(activity.handle.clone())),
        ("message", s(activity.message.clone())),
        (MESSAGE_LOWER, s(activity.message.to_lowercase())),
        (REPLIES_COUNT, n(activity.replies_count)),
        ("reposts_count", n(activity.reposts_count)),
        ("likes_count", n(activity.likes_count)),
        ("created_at", n(activity.created_at.timestamp_millis())),
        (EXPIRES_AT, n(activity.expires_at.timestamp_millis())),
        (TTL_ATTRIBUTE, n(activity.expires_at.timestamp())),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    if let Some(parent) = activity.reply_to_activity_uuid {
        item.insert("reply_to_activity_uuid".into(), s(parent.to_string()));
    }
    item
}

pub fn user(user: &User) -> Item {
    let mut item: Item = [
        ("uuid", s(user.uuid.to_string())),
        ("handle", s(user.handle.clone())),
        ("display_name", s(user.display_name.clone())),
        ("created_at", n(user.created_at.timestamp_millis())),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    for (name, value) in [
        ("email", &user.email),
        ("bio", &user.bio),
        ("cognito_user_id", &user.cognito_user_id),
    ] {
        if let Some(value) = value {
            item.insert(name.into(), s(value.clone()));
        }
    }
    item
}

pub fn message(message: &Message, sender: Uuid) -> Item {
    [
        ("uuid", s(message.uuid.to_string())),
        (
            "message_group_uuid",
            s(message.message_group_uuid.to_string()),
        ),
        ("user_uuid", s(sender.to_string())),
        ("display_name", s(message.display_name.clone())),
        ("handle", s(message.handle.clone())),
        ("message", s(message.message.clone())),
        ("created_at", n(message.created_at.timestamp_millis())),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// A user's row of a conversation: the other member and the latest message.
pub fn group_row(group: Uuid, other: &User, last: &Message) -> Item {
    [
        ("message_group_uuid", s(group.to_string())),
        ("other_uuid", s(other.uuid.to_string())),
        ("other_handle", s(other.handle.clone())),
        ("other_display_name", s(other.display_name.clone())),
        ("last_message", s(last.message.clone())),
        ("last_message_at", n(last.created_at.timestamp_millis())),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

fn corrupt(what: &str) -> StoreError {
    StoreError::unavailable(format!("DynamoDB item without a valid {what}"))
}

fn get_s(item: &Item, name: &str) -> StoreResult<String> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| corrupt(name))
}

fn opt_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

pub fn get_n(item: &Item, name: &str) -> StoreResult<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| corrupt(name))
}

pub fn get_uuid(item: &Item, name: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(&get_s(item, name)?).map_err(|_| corrupt(name))
}

fn get_time(item: &Item, name: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(get_n(item, name)?).ok_or_else(|| corrupt(name))
}

pub fn activity_from(item: &Item) -> StoreResult<Activity> {
    Ok(Activity {
        uuid: get_uuid(item, "uuid")?,
        author_uuid: get_uuid(item, AUTHOR)?,
        display_name: get_s(item, "display_name")?,
        handle: get_s(item, "handle")?,
        message: get_s(item, "message")?,
        replies_count: get_n(item, REPLIES_COUNT)?,
        reposts_count: get_n(item, "reposts_count")?,
        likes_count: get_n(item, "likes_count")?,
        reply_to_activity_uuid: opt_s(item, "reply_to_activity_uuid")
            .and_then(|u| Uuid::parse_str(&u).ok()),
        created_at: get_time(item, "created_at")?,
        expires_at: get_time(item, EXPIRES_AT)?,
    })
}

pub fn user_from(item: &Item) -> StoreResult<User> {
    Ok(User {
        uuid: get_uuid(item, "uuid")?,
        handle: get_s(item, "handle")?,
        display_name: get_s(item, "display_name")?,
        email: opt_s(item, "email"),
        bio: opt_s(item, "bio"),
        cognito_user_id: opt_s(item, "cognito_user_id"),
        created_at: get_time(item, "created_at")?,
    })
}

pub fn message_from(item: &Item) -> StoreResult<Message> {
    Ok(Message {
        uuid: get_uuid(item, "uuid")?,
        message_group_uuid: get_uuid(item, "message_group_uuid")?,
        display_name: get_s(item, "display_name")?,
        handle: get_s(item, "handle")?,
        message: get_s(item, "message")?,
        created_at: get_time(item, "created_at")?,
    })
}

pub fn group_from(item: &Item) -> StoreResult<MessageGroup> {
    Ok(MessageGroup {
        uuid: get_uuid(item, "message_group_uuid")?,
        display_name: get_s(item, "other_display_name")?,
        handle: get_s(item, "other_handle")?,
        message: get_s(item, "last_message")?,
        created_at: get_time(item, "last_message_at")?,
    })
}

/// The other member named by a user's row of a conversation.
pub fn group_partner(item: &Item) -> StoreResult<Uuid> {
    get_uuid(item, "other_uuid")
}
