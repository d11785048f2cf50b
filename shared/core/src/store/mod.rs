//! Persistence behind one domain-level trait, so every backend answers the same questions the same
//! way (proven by the shared contract suite in `store::contract`, built for tests and with the
//! `testing` feature).

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::{
    Activity, Message, MessageGroup, NewActivity, NewMessage, NewUser, SearchTerm, User,
};

#[cfg(any(test, feature = "testing"))]
pub mod contract;
pub mod cursor;
pub mod dynamo;
pub mod seed;
pub mod sqlite;
pub mod traced;

#[cfg(any(test, feature = "testing"))]
pub use dynamo::Capacity;
pub use dynamo::DynamoStore;
pub use sqlite::SqliteStore;
pub use traced::Traced;

/// Activities per page of a feed.
pub const PAGE_SIZE: usize = 20;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing addressed does not exist (code such as `activity_not_found`).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// A create would overwrite something that exists (code such as `user_handle_taken`).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The pagination cursor was not one this store handed out.
    #[error("invalid pagination cursor")]
    InvalidCursor,
    /// The backend cannot be reached, opened or answered with an error.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn unavailable(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Unavailable(err.into())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which page of a feed: the first, or the one after an opaque cursor from a previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub cursor: Option<String>,
    pub limit: usize,
}

impl PageRequest {
    pub fn first() -> Self {
        Self {
            cursor: None,
            limit: PAGE_SIZE,
        }
    }

    pub fn after(cursor: Option<String>) -> Self {
        Self {
            cursor,
            limit: PAGE_SIZE,
        }
    }
}

/// A page of results and, when more exist, the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Outcome of creating a user: the post-confirmation trigger may be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCreation {
    Created(User),
    /// A user with this Cognito sub already exists; nothing was written.
    AlreadyExists(User),
}

/// Every access pattern Cruddur needs. Reads never return expired activities; every list is
/// read a bounded page at a time.
#[async_trait]
pub trait Store: Send + Sync {
    /// Which backend this is (`sqlite`, `dynamodb`), for logs and spans.
    fn system(&self) -> &'static str;

    /// Whether each request the store makes is a span of its own (a networked store's SDK
    /// calls), so its operations' spans are internal ones (see [`Traced`]).
    fn traces_its_calls(&self) -> bool {
        false
    }

    /// Whether the demo data has been written (see [`seed::seed_demo_data`]).
    async fn is_seeded(&self) -> StoreResult<bool>;
    /// Records that the demo data has been written.
    async fn mark_seeded(&self) -> StoreResult<()>;

    async fn user_by_handle(&self, handle: &str) -> StoreResult<Option<User>>;
    async fn user_by_cognito_sub(&self, sub: &str) -> StoreResult<Option<User>>;
    /// Idempotent by Cognito sub; a handle held by another user is `Conflict("user_handle_taken")`.
    async fn create_user(&self, user: NewUser) -> StoreResult<UserCreation>;
    /// Replaces a user's display name and bio; returns the user as now stored. The user's
    /// activities written from now on carry the new name.
    async fn update_profile(
        &self,
        user: &User,
        display_name: String,
        bio: Option<String>,
    ) -> StoreResult<User>;

    /// Top-level activities, newest first.
    async fn home_feed(&self, page: PageRequest) -> StoreResult<Page<Activity>>;
    /// A user's top-level activities, newest first.
    async fn user_activities(&self, user: &User, page: PageRequest) -> StoreResult<Page<Activity>>;
    /// How many activities a user has posted (kept on write; activities that have expired since
    /// still count until they are deleted).
    async fn cruds_count(&self, user: &User) -> StoreResult<i64>;
    /// Activities whose message contains the term (case-insensitive), newest first within a page.
    async fn search(&self, term: &SearchTerm, page: PageRequest) -> StoreResult<Page<Activity>>;
    /// An unexpired activity (or reply), without its replies.
    async fn activity(&self, uuid: Uuid) -> StoreResult<Option<Activity>>;
    /// An activity (or reply) and a page of its replies, oldest first (the cursor leads to later
    /// ones).
    async fn activity_with_replies(
        &self,
        uuid: Uuid,
        replies: PageRequest,
    ) -> StoreResult<Option<(Activity, Page<Activity>)>>;
    /// Stores `author`'s activity and counts it; an activity with this uuid already is
    /// `Conflict("activity_exists")`, and nothing is written.
    async fn create_activity(&self, author: &User, activity: NewActivity) -> StoreResult<Activity>;
    /// Stores `author`'s reply to `parent` and increments the parent's `replies_count`,
    /// atomically. A parent gone (expired, deleted) since it was read is
    /// `NotFound("activity_not_found")`; a reply with this uuid already, `Conflict("activity_exists")`.
    async fn create_reply(
        &self,
        author: &User,
        parent: &Activity,
        reply: NewActivity,
    ) -> StoreResult<Activity>;
    /// Replies by others to the user's activities, newest first.
    async fn notifications(&self, user: &User, page: PageRequest) -> StoreResult<Page<Activity>>;

    /// The user's conversations, most recent last message first.
    async fn message_groups(
        &self,
        user: &User,
        page: PageRequest,
    ) -> StoreResult<Page<MessageGroup>>;
    /// The other member of a message group, if `user` is one of its two members.
    async fn conversation_partner(&self, user: &User, group: Uuid) -> StoreResult<Option<User>>;
    /// A page of the conversation between two users: the newest messages, shown oldest first
    /// (the cursor leads to older ones).
    async fn messages_between(
        &self,
        user: &User,
        other: &User,
        page: PageRequest,
    ) -> StoreResult<Page<Message>>;
    /// A message by its uuid (a create retried with the same idempotency key reads it back).
    async fn message(&self, uuid: Uuid) -> StoreResult<Option<Message>>;
    /// Stores a message, creating the conversation if needed, atomically. A message with this
    /// uuid already is `Conflict("message_exists")`, and nothing is written.
    async fn create_message(
        &self,
        sender: &User,
        receiver: &User,
        message: NewMessage,
    ) -> StoreResult<Message>;
}
