//! The Cruddur demo data, written through the [`Store`] trait so every backend gets the same seed.
//!
//! Seeding is safe to repeat and to race: every create is conditional, and an item that is already
//! there is skipped.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{Store, StoreError, StoreResult, UserCreation};
use crate::domain::{demo_cognito_sub, NewActivity, NewMessage, NewUser};

/// (handle, display name, bio)
pub const DEMO_USERS: [(&str, &str, &str); 6] = [
    (
        "andrewbrown",
        "Andrew Brown",
        "Cloud engineer and founder of Cruddur.",
    ),
    ("worf", "Worf", "Son of Mogh. Security chief."),
    ("garek", "Garek", "Plain, simple tailor."),
    ("bayko", "Andrew Bayko", "Platform engineer."),
    (
        "londo",
        "Londo Mollari",
        "Ambassador of the Centauri Republic.",
    ),
    ("altbrown", "Andrew Brown Alt", "The other account."),
];

pub const CLOUD_IS_FUN: &str = "68f126b0-1ceb-4a33-88be-d90fa7109eee";
pub const NO_HONOR_REPLY: &str = "26e12864-1c26-5c3a-9658-97a10f8fea67";
pub const PRUNE_JUICE: &str = "66e12864-8c26-4c3a-9658-95a10f8fea67";
pub const SIMPLE_TAILOR: &str = "248959df-3079-4947-b847-9e0892d1bab4";

/// How long seeded activities live after their (back-dated) creation.
const SEED_LIFETIME_DAYS: i64 = 30;

/// The internal uuid of a demo user (stable, so every backend and fixture agrees).
pub fn demo_user_uuid(handle: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("cruddur:user:{handle}").as_bytes(),
    )
}

fn uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).expect("seed uuids are valid literals")
}

/// Writes the demo users, activities, a reply and a conversation. Times are relative to `now`.
pub async fn seed_demo_data(store: &dyn Store, now: DateTime<Utc>) -> StoreResult<()> {
    let mut users = HashMap::new();
    for (handle, display_name, bio) in DEMO_USERS {
        let created = store
            .create_user(NewUser {
                uuid: demo_user_uuid(handle),
                handle: handle.to_owned(),
                display_name: display_name.to_owned(),
                email: Some(format!("{handle}@example.com")),
                bio: Some(bio.to_owned()),
                cognito_user_id: demo_cognito_sub(handle),
                created_at: now - Duration::days(30),
            })
            .await?;
        let (UserCreation::Created(user) | UserCreation::AlreadyExists(user)) = created;
        users.insert(handle, user);
    }
    let user = |handle: &str| &users[handle];

    let activity = |id: &str, message: &str, age: Duration| {
        let created_at = now - age;
        NewActivity {
            uuid: uuid(id),
            message: message.to_owned(),
            created_at,
            expires_at: created_at + Duration::days(SEED_LIFETIME_DAYS),
        }
    };
    let activities = [
        (
            "andrewbrown",
            activity(CLOUD_IS_FUN, "Cloud is very fun!", Duration::days(2)),
        ),
        (
            "worf",
            activity(PRUNE_JUICE, "I am out of prune juice", Duration::days(7)),
        ),
        (
            "garek",
            activity(
                SIMPLE_TAILOR,
                "My dear doctor, I am just simple tailor",
                Duration::hours(1),
            ),
        ),
    ];
    for (author, new) in activities {
        skip_existing(store.create_activity(user(author), new).await)?;
    }
    if let Some(parent) = store.activity(uuid(CLOUD_IS_FUN)).await? {
        let mut reply = activity(
            NO_HONOR_REPLY,
            "This post has no honor!",
            Duration::days(2) - Duration::hours(1),
        );
        // A reply lives as long as its parent.
        reply.expires_at = parent.expires_at;
        skip_existing(store.create_reply(user("worf"), &parent, reply).await)?;
    }

    let messages = [
        (
            "4e81c06a-db0f-4281-b4cc-98208537772a",
            "andrewbrown",
            "worf",
            "Cloud is fun!",
            3,
        ),
        (
            "5b2a8d4c-0c4b-4a35-9a55-9d1f2b6e3f10",
            "worf",
            "andrewbrown",
            "This platform is great!",
            2,
        ),
    ];
    for (id, from, to, text, hours_ago) in messages {
        let message = NewMessage {
            uuid: uuid(id),
            message: text.to_owned(),
            created_at: now - Duration::hours(hours_ago),
        };
        skip_existing(store.create_message(user(from), user(to), message).await)?;
    }
    Ok(())
}

/// A conditional create that found its item already there is not an error for the seed.
fn skip_existing<T>(result: StoreResult<T>) -> StoreResult<()> {
    match result {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(err) => Err(err),
    }
}
