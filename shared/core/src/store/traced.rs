//! Every store operation in its span, the same way for every store: `db.system`, `db.operation`
//! (see [`crate::spans::store_span`]).

use async_trait::async_trait;
use tracing::{Instrument, Span};
use uuid::Uuid;

use super::{Page, PageRequest, Store, StoreResult, UserCreation};
use crate::domain::{
    Activity, Message, MessageGroup, NewActivity, NewMessage, NewUser, SearchTerm, User,
};
use crate::spans::store_span;

/// A store whose every operation is traced.
pub struct Traced<S>(pub S);

impl<S: Store> Traced<S> {
    fn span(&self, operation: &'static str) -> Span {
        store_span(self.0.system(), operation, self.0.traces_its_calls())
    }
}

#[async_trait]
impl<S: Store> Store for Traced<S> {
    fn system(&self) -> &'static str {
        self.0.system()
    }

    fn traces_its_calls(&self) -> bool {
        self.0.traces_its_calls()
    }

    async fn is_seeded(&self) -> StoreResult<bool> {
        self.0.is_seeded().instrument(self.span("is_seeded")).await
    }

    async fn mark_seeded(&self) -> StoreResult<()> {
        self.0
            .mark_seeded()
            .instrument(self.span("mark_seeded"))
            .await
    }

    async fn user_by_handle(&self, handle: &str) -> StoreResult<Option<User>> {
        self.0
            .user_by_handle(handle)
            .instrument(self.span("user_by_handle"))
            .await
    }

    async fn user_by_cognito_sub(&self, sub: &str) -> StoreResult<Option<User>> {
        self.0
            .user_by_cognito_sub(sub)
            .instrument(self.span("user_by_cognito_sub"))
            .await
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<UserCreation> {
        self.0
            .create_user(user)
            .instrument(self.span("create_user"))
            .await
    }

    async fn update_profile(
        &self,
        user: &User,
        display_name: String,
        bio: Option<String>,
    ) -> StoreResult<User> {
        self.0
            .update_profile(user, display_name, bio)
            .instrument(self.span("update_profile"))
            .await
    }

    async fn home_feed(&self, page: PageRequest) -> StoreResult<Page<Activity>> {
        self.0
            .home_feed(page)
            .instrument(self.span("home_feed"))
            .await
    }

    async fn user_activities(&self, user: &User, page: PageRequest) -> StoreResult<Page<Activity>> {
        self.0
            .user_activities(user, page)
            .instrument(self.span("user_activities"))
            .await
    }

    async fn cruds_count(&self, user: &User) -> StoreResult<i64> {
        self.0
            .cruds_count(user)
            .instrument(self.span("cruds_count"))
            .await
    }

    async fn search(&self, term: &SearchTerm, page: PageRequest) -> StoreResult<Page<Activity>> {
        self.0
            .search(term, page)
            .instrument(self.span("search"))
            .await
    }

    async fn activity(&self, uuid: Uuid) -> StoreResult<Option<Activity>> {
        self.0
            .activity(uuid)
            .instrument(self.span("activity"))
            .await
    }

    async fn activity_with_replies(
        &self,
        uuid: Uuid,
        replies: PageRequest,
    ) -> StoreResult<Option<(Activity, Page<Activity>)>> {
        self.0
            .activity_with_replies(uuid, replies)
            .instrument(self.span("activity_with_replies"))
            .await
    }

    async fn create_activity(&self, author: &User, activity: NewActivity) -> StoreResult<Activity> {
        self.0
            .create_activity(author, activity)
            .instrument(self.span("create_activity"))
            .await
    }

    async fn create_reply(
        &self,
        author: &User,
        parent: &Activity,
        reply: NewActivity,
    ) -> StoreResult<Activity> {
        self.0
            .create_reply(author, parent, reply)
            .instrument(self.span("create_reply"))
            .await
    }

    async fn notifications(&self, user: &User, page: PageRequest) -> StoreResult<Page<Activity>> {
        self.0
            .notifications(user, page)
            .instrument(self.span("notifications"))
            .await
    }

    async fn message_groups(
        &self,
        user: &User,
        page: PageRequest,
    ) -> StoreResult<Page<MessageGroup>> {
        self.0
            .message_groups(user, page)
            .instrument(self.span("message_groups"))
            .await
    }

    async fn conversation_partner(&self, user: &User, group: Uuid) -> StoreResult<Option<User>> {
        self.0
            .conversation_partner(user, group)
            .instrument(self.span("conversation_partner"))
            .await
    }

    async fn messages_between(
        &self,
        user: &User,
        other: &User,
        page: PageRequest,
    ) -> StoreResult<Page<Message>> {
        self.0
            .messages_between(user, other, page)
            .instrument(self.span("messages_between"))
            .await
    }

    async fn message(&self, uuid: Uuid) -> StoreResult<Option<Message>> {
        self.0.message(uuid).instrument(self.span("message")).await
    }

    async fn create_message(
        &self,
        sender: &User,
        receiver: &User,
        message: NewMessage,
    ) -> StoreResult<Message> {
        self.0
            .create_message(sender, receiver, message)
            .instrument(self.span("create_message"))
            .await
    }
}
