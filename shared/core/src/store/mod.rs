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
pub mod dynamo;
pub mod dynamo_schema;
pub mod seed;
pub mod sqlite;
pub mod traced;

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

/// Every access pattern Cruddur needs. Reads never return expired activities.
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
    /// How many unexpired top-level activities a user has.
    async fn cruds_count(&self, user: &User) -> StoreResult<i64>;
    /// Activities whose message contains the term (case-insensitive), newest first.
    async fn search(&self, term: &SearchTerm, page: PageRequest) -> StoreResult<Page<Activity>>;
    /// An unexpired activity (or reply), without its replies.
    async fn activity(&self, uuid: Uuid) -> StoreResult<Option<Activity>>;
    /// An activity (or reply) and its replies, oldest reply first.
    async fn activity_with_replies(
        &self,
        uuid: Uuid,
    ) -> StoreResult<Option<(Activity, Vec<Activity>)>>;
    async fn create_activity(&self, activity: NewActivity) -> StoreResult<Activity>;
    /// Stores a reply and increments the parent's `replies_count` atomically.
    /// A missing or expired parent is `NotFound("activity_not_found")`.
    async fn create_reply(&self, reply: NewActivity) -> StoreResult<Activity>;
    /// Replies by others to the user's activities, newest first.
    async fn notifications(&self, user: &User, page: PageRequest) -> StoreResult<Page<Activity>>;

    /// The user's conversations, most recent last message first.
    async fn message_groups(&self, user: &User) -> StoreResult<Vec<MessageGroup>>;
    /// The other member of a message group, if `user` is one of its two members.
    async fn conversation_partner(&self, user: &User, group: Uuid) -> StoreResult<Option<User>>;
    /// The conversation between two users, oldest first.
    async fn messages_between(&self, user: &User, other: &User) -> StoreResult<Vec<Message>>;
    /// Stores a message, creating the conversation if needed, atomically.
    async fn create_message(&self, message: NewMessage) -> StoreResult<Message>;
}
