//! The [`Store`] on DynamoDB: every operation a `GetItem`, a bounded list read, a conditional
//! `PutItem`, or one transaction where several items change together.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::client::{CapacityMeter, Table};
use super::item::{self, n, s, CRUDS_COUNT, EXPIRES_AT, REPLIES_COUNT};
use super::keys::{self, feed_shard, Item, Key, List, DEFAULT_FEED_SHARDS, MAX_FEED_SHARDS};
use super::merge::{merge, Order, ShardRead};
use super::table;
use crate::domain::{
    message_group_uuid, Activity, Message, MessageGroup, NewActivity, NewMessage, NewUser,
    SearchTerm, User,
};
use crate::store::cursor::{self, Position};
use crate::store::{Page, PageRequest, Store, StoreError, StoreResult, UserCreation};

/// How many items one search Scan request evaluates, and how many requests one search may make:
/// at most 1,000 items evaluated per call (~95 read units for 0.75 KB items).
const SCAN_PAGE: i32 = 200;
const SCAN_REQUESTS_PER_SEARCH: usize = 5;
/// Reads per shard a page may make before it ends early (expired items TTL has not deleted).
const READS_PER_SHARD: usize = 3;

/// The DynamoDB store: one SDK client per cold start, one table.
pub struct DynamoStore {
    table: Table,
    feed_shards: u32,
}

impl DynamoStore {
    /// A store on `table`, configured from the environment as Lambda provides it (see
    /// [`crate::aws`]; `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local). Nothing is read from the
    /// network until the first call.
    pub fn from_env(table: impl Into<String>) -> Self {
        let config = crate::aws::sdk_config("DYNAMODB");
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        Self::new(aws_sdk_dynamodb::Client::new(&config), table, region)
    }

    /// A store on `table` through `client`, with the default number of feed shards.
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        Self {
            table: Table::new(client, table.into(), region.into()),
            feed_shards: DEFAULT_FEED_SHARDS,
        }
    }

    /// The same store with `shards` feed shards (1 to [`MAX_FEED_SHARDS`]). Every function on a
    /// table must use the same number, or a larger one: a reader with fewer shards than a writer
    /// does not see the entries in the shards it does not read.
    pub fn with_feed_shards(mut self, shards: u32) -> Self {
        self.feed_shards = shards.clamp(1, MAX_FEED_SHARDS);
        self
    }

    pub fn table(&self) -> &str {
        self.table.name()
    }

    pub fn feed_shards(&self) -> u32 {
        self.feed_shards
    }

    /// The capacity this store has consumed (a handle that stays valid after the store moves).
    pub fn capacity(&self) -> CapacityMeter {
        self.table.meter().clone()
    }

    /// Creates the table (local runs and tests; in AWS the stack owns it). An existing table is
    /// fine.
    pub async fn create_table(&self) -> StoreResult<()> {
        table::create(&self.table).await
    }

    async fn user_at(&self, key: &Key) -> StoreResult<Option<User>> {
        self.table
            .get(key)
            .await?
            .map(|item| item::user_from(&item))
            .transpose()
    }

    /// A page of a list kept in `lists` (one list, or the feed's shards), in `order`.
    async fn page<T>(
        &self,
        lists: &[List],
        order: Order,
        page: &PageRequest,
        unexpired_only: bool,
        decode: impl Fn(&Item) -> StoreResult<T>,
    ) -> StoreResult<Page<T>> {
        let start = cursor::decode_optional(page.cursor.as_deref())?;
        let decode = &decode;
        let merged = merge(
            lists.len(),
            order,
            start,
            page.limit,
            READS_PER_SHARD * lists.len(),
            |shard, after, limit| async move {
                let read = self
                    .table
                    .read_list(&lists[shard], order, after, limit, unexpired_only)
                    .await?;
                // Decoded as each read arrives: a page buffers a few items of every shard until
                // it knows which come first, and a decoded item is a fraction of the attribute
                // map it came in. An item that does not decode fails the page only if the page
                // hands it out, as before.
                Ok::<_, StoreError>(ShardRead {
                    items: read
                        .items
                        .iter()
                        .map(|(position, item)| (*position, decode(item)))
                        .collect(),
                    resume: read.resume,
                })
            },
        )
        .await?;
        Ok(Page {
            items: merged.items.into_iter().collect::<StoreResult<_>>()?,
            next_cursor: merged.next.map(Position::encode),
        })
    }

    /// A page of activities kept in `lists`, newest first, unexpired.
    async fn newest_activities(
        &self,
        lists: &[List],
        page: &PageRequest,
    ) -> StoreResult<Page<Activity>> {
        self.page(lists, Order::NewestFirst, page, true, item::activity_from)
            .await
    }

    fn feed_shard_lists(&self) -> Vec<List> {
        (0..self.feed_shards).map(keys::feed).collect()
    }

    /// The update that adds one to an unexpired activity's replies (its own item, or its copy
    /// listed under its parent).
    fn count_reply(&self, key: &Key) -> StoreResult<aws_sdk_dynamodb::types::TransactWriteItem> {
        self.table.update(
            key,
            &format!("ADD {REPLIES_COUNT} :one"),
            Some(&format!("{EXPIRES_AT} > :now")),
            Item::from([
                (":one".to_owned(), n(1)),
                (":now".to_owned(), n(Utc::now().timestamp_millis())),
            ]),
        )
    }
}

/// A time as stored (epoch milliseconds), so what a create returns equals what reads return.
fn stored(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or(time)
}

/// The activity a create stores, as it reads back.
fn created_activity(new: &NewActivity, author: &User, parent: Option<Uuid>) -> Activity {
    Activity {
        uuid: new.uuid,
        author_uuid: author.uuid,
        display_name: author.display_name.clone(),
        handle: author.handle.clone(),
        message: new.message.clone(),
        replies_count: 0,
        reposts_count: 0,
        likes_count: 0,
        reply_to_activity_uuid: parent,
        created_at: stored(new.created_at),
        expires_at: stored(new.expires_at),
    }
}

#[async_trait]
impl Store for DynamoStore {
    fn system(&self) -> &'static str {
        "dynamodb"
    }

    fn traces_its_calls(&self) -> bool {
        true
    }

    async fn is_seeded(&self) -> StoreResult<bool> {
        Ok(self.table.get(&keys::seeded()).await?.is_some())
    }

    async fn mark_seeded(&self) -> StoreResult<()> {
        let marker = item::at(
            &keys::seeded(),
            Item::from([("at".to_owned(), n(Utc::now().timestamp_millis()))]),
        );
        self.table.put(marker, false).await?;
        Ok(())
    }

    async fn user_by_handle(&self, handle: &str) -> StoreResult<Option<User>> {
        self.user_at(&keys::handle(handle)).await
    }

    async fn user_by_cognito_sub(&self, sub: &str) -> StoreResult<Option<User>> {
        self.user_at(&keys::sub(sub)).await
    }

    async fn create_user(&self, user: NewUser) -> StoreResult<UserCreation> {
        if let Some(existing) = self.user_by_cognito_sub(&user.cognito_user_id).await? {
            return Ok(UserCreation::AlreadyExists(existing));
        }
        let created = User {
            uuid: user.uuid,
            handle: user.handle.clone(),
            display_name: user.display_name.clone(),
            bio: user.bio.clone(),
            email: user.email.clone(),
            cognito_user_id: Some(user.cognito_user_id.clone()),
            created_at: stored(user.created_at),
        };
        // The profile (which counts the user's activities), and the same profile under its
        // unique handle and its unique sub.
        let mut profile = item::at(&keys::profile(user.uuid), item::user(&created));
        profile.insert(CRUDS_COUNT.to_owned(), n(0));
        let writes = vec![
            self.table.put_new(profile)?,
            self.table
                .put_new(item::at(&keys::handle(&user.handle), item::user(&created)))?,
            self.table.put_new(item::at(
                &keys::sub(&user.cognito_user_id),
                item::user(&created),
            ))?,
        ];
        match self.table.transact(writes).await? {
            Ok(()) => Ok(UserCreation::Created(created)),
            Err(failed) if failed.at(2) => {
                match self.user_by_cognito_sub(&user.cognito_user_id).await? {
                    // Another confirmation of the same sign-up won the race.
                    Some(existing) => Ok(UserCreation::AlreadyExists(existing)),
                    None => Err(StoreError::Conflict("user_exists")),
                }
            }
            Err(failed) if failed.at(1) => Err(StoreError::Conflict("user_handle_taken")),
            Err(_) => Err(StoreError::Conflict("user_exists")),
        }
    }

    async fn update_profile(
        &self,
        user: &User,
        display_name: String,
        bio: Option<String>,
    ) -> StoreResult<User> {
        let sub = user
            .cognito_user_id
            .clone()
            .ok_or(StoreError::NotFound("user_not_found"))?;
        // The profile is stored three times (by uuid, handle and sub): all change together.
        let mut values = Item::from([(":name".to_owned(), s(display_name.clone()))]);
        let update = match &bio {
            Some(bio) => {
                values.insert(":bio".to_owned(), s(bio.clone()));
                "SET display_name = :name, bio = :bio"
            }
            None => "SET display_name = :name REMOVE bio",
        };
        let writes = [
            keys::profile(user.uuid),
            keys::handle(&user.handle),
            keys::sub(&sub),
        ]
        .iter()
        .map(|key| self.table.update(key, update, None, values.clone()))
        .collect::<StoreResult<Vec<_>>>()?;
        match self.table.transact(writes).await? {
            Ok(()) => Ok(User {
                display_name,
                bio,
                ..user.clone()
            }),
            Err(_) => Err(StoreError::NotFound("user_not_found")),
        }
    }

    async fn home_feed(&self, page: PageRequest) -> StoreResult<Page<Activity>> {
        self.newest_activities(&self.feed_shard_lists(), &page)
            .await
    }

    async fn user_activities(&self, user: &User, page: PageRequest) -> StoreResult<Page<Activity>> {
        self.newest_activities(&[keys::user_activities(user.uuid)], &page)
            .await
    }

    async fn cruds_count(&self, user: &User) -> StoreResult<i64> {
        match self.table.get(&keys::profile(user.uuid)).await? {
            Some(profile) => Ok(item::get_n(&profile, CRUDS_COUNT).unwrap_or(0)),
            None => Ok(0),
        }
    }

    async fn search(&self, term: &SearchTerm, page: PageRequest) -> StoreResult<Page<Activity>> {
        // The one Scan: bounded per call, paginated in table order (see docs/storage.md's
        // section for its cost and where search goes when the table outgrows it).
        let mut start = match page.cursor.as_deref() {
            Some(cursor) => {
                let key = cursor::decode_scan(cursor, 2)?;
                Some(Key {
                    pk: key[0].clone(),
                    sk: key[1].clone(),
                })
            }
            None => None,
        };
        let values = Item::from([
            (":activity".to_owned(), s(keys::ACTIVITY_SORT_KEY)),
            (":term".to_owned(), s(term.as_str().to_lowercase())),
            (":now".to_owned(), n(Utc::now().timestamp_millis())),
        ]);
        let filter = format!(
            "{} = :activity AND contains({}, :term) AND {EXPIRES_AT} > :now",
            keys::TABLE_KEYS.sort_key,
            item::MESSAGE_LOWER
        );
        let mut found = Vec::new();
        let mut next = None;
        for _ in 0..SCAN_REQUESTS_PER_SEARCH {
            let (items, stopped) = self
                .table
                .scan(&filter, values.clone(), start.as_ref(), SCAN_PAGE)
                .await?;
            for item in items {
                if found.len() == page.limit {
                    break;
                }
                found.push(item);
            }
            if found.len() == page.limit {
                // Full: resume after the last match handed out.
                next = found.last().and_then(Key::from_item);
                break;
            }
            // Not full: resume where the scan stopped, if it did not reach the end.
            start = stopped;
            next = start.clone();
            if start.is_none() {
                break;
            }
        }
        let mut activities = found
            .iter()
            .map(item::activity_from)
            .collect::<StoreResult<Vec<_>>>()?;
        activities.sort_by_key(|a| std::cmp::Reverse((a.created_at, a.uuid)));
        Ok(Page {
            items: activities,
            next_cursor: next.map(|key| cursor::encode_scan(&[key.pk, key.sk])),
        })
    }

    async fn activity(&self, uuid: Uuid) -> StoreResult<Option<Activity>> {
        let now = Utc::now();
        Ok(self
            .table
            .get(&keys::activity(uuid))
            .await?
            .map(|item| item::activity_from(&item))
            .transpose()?
            .filter(|a| a.expires_at > now))
    }

    async fn activity_with_replies(
        &self,
        uuid: Uuid,
        replies: PageRequest,
    ) -> StoreResult<Option<(Activity, Page<Activity>)>> {
        let Some(activity) = self.activity(uuid).await? else {
            return Ok(None);
        };
        let list = keys::replies(uuid);
        let replies = self
            .page(
                &[list],
                Order::OldestFirst,
                &replies,
                true,
                item::activity_from,
            )
            .await?;
        Ok(Some((activity, replies)))
    }

    async fn create_activity(&self, author: &User, new: NewActivity) -> StoreResult<Activity> {
        let created = created_activity(&new, author, None);
        let position = Position::of(created.created_at, created.uuid);
        let mut activity = item::at(
            &keys::activity(created.uuid),
            item::activity(&created, author.uuid),
        );
        activity.extend(keys::feed(feed_shard(created.uuid, self.feed_shards)).entry(position));
        activity.extend(keys::user_activities(author.uuid).entry(position));
        let count = self.table.update(
            &keys::profile(author.uuid),
            &format!("ADD {CRUDS_COUNT} :one"),
            None,
            Item::from([(":one".to_owned(), n(1))]),
        )?;
        match self
            .table
            .transact(vec![self.table.put_new(activity)?, count])
            .await?
        {
            Ok(()) => Ok(created),
            Err(failed) if failed.at(0) => Err(StoreError::Conflict("activity_exists")),
            Err(_) => Err(StoreError::NotFound("user_not_found")),
        }
    }

    async fn create_reply(
        &self,
        author: &User,
        parent: &Activity,
        new: NewActivity,
    ) -> StoreResult<Activity> {
        let created = created_activity(&new, author, Some(parent.uuid));
        let position = Position::of(created.created_at, created.uuid);
        let attributes = item::activity(&created, author.uuid);
        let mut own = item::at(&keys::activity(created.uuid), attributes.clone());
        if parent.author_uuid != author.uuid {
            own.extend(keys::notifications(parent.author_uuid).entry(position));
        }
        let listed = item::at(&keys::replies(parent.uuid).key_at(position), attributes);
        let mut writes = vec![
            self.table.put_new(own)?,
            self.table.put_new(listed)?,
            self.count_reply(&keys::activity(parent.uuid))?,
        ];
        // A reply to a reply: the parent's copy listed under the grandparent counts too.
        if let Some(grandparent) = parent.reply_to_activity_uuid {
            let parent_position = Position::of(parent.created_at, parent.uuid);
            writes.push(self.count_reply(&keys::replies(grandparent).key_at(parent_position))?);
        }
        match self.table.transact(writes).await? {
            Ok(()) => Ok(created),
            Err(failed) if failed.at(0) || failed.at(1) => {
                Err(StoreError::Conflict("activity_exists"))
            }
            Err(_) => Err(StoreError::NotFound("activity_not_found")),
        }
    }

    async fn notifications(&self, user: &User, page: PageRequest) -> StoreResult<Page<Activity>> {
        self.newest_activities(&[keys::notifications(user.uuid)], &page)
            .await
    }

    async fn message_groups(
        &self,
        user: &User,
        page: PageRequest,
    ) -> StoreResult<Page<MessageGroup>> {
        let list = keys::conversations(user.uuid);
        self.page(&[list], Order::NewestFirst, &page, false, item::group_from)
            .await
    }

    async fn conversation_partner(&self, user: &User, group: Uuid) -> StoreResult<Option<User>> {
        // The caller's own row for the group exists only if the caller is in it.
        let Some(row) = self.table.get(&keys::group_row(user.uuid, group)).await? else {
            return Ok(None);
        };
        let other = item::group_partner(&row)?;
        self.user_at(&keys::profile(other)).await
    }

    async fn messages_between(
        &self,
        user: &User,
        other: &User,
        page: PageRequest,
    ) -> StoreResult<Page<Message>> {
        let list = keys::messages(message_group_uuid(user.uuid, other.uuid));
        // The newest page first, read newest first; shown oldest first.
        let mut page = self
            .page(
                &[list],
                Order::NewestFirst,
                &page,
                false,
                item::message_from,
            )
            .await?;
        page.items.reverse();
        Ok(page)
    }

    async fn message(&self, uuid: Uuid) -> StoreResult<Option<Message>> {
        self.table
            .get(&keys::message(uuid))
            .await?
            .map(|item| item::message_from(&item))
            .transpose()
    }

    async fn create_message(
        &self,
        sender: &User,
        receiver: &User,
        new: NewMessage,
    ) -> StoreResult<Message> {
        let group = message_group_uuid(sender.uuid, receiver.uuid);
        let created = Message {
            uuid: new.uuid,
            message_group_uuid: group,
            display_name: sender.display_name.clone(),
            handle: sender.handle.clone(),
            message: new.message,
            created_at: stored(new.created_at),
        };
        let attributes = item::message(&created, sender.uuid);
        let position = Position::of(created.created_at, created.uuid);
        let listed = item::at(&keys::messages(group).key_at(position), attributes.clone());
        let by_uuid = item::at(&keys::message(created.uuid), attributes);
        // Each member's row of the conversation shows the other member and the latest message,
        // and lists the conversation by it.
        let row = |owner: &User, other: &User| {
            let mut row = item::at(
                &keys::group_row(owner.uuid, group),
                item::group_row(group, other, &created),
            );
            row.extend(
                keys::conversations(owner.uuid).entry(Position::of(created.created_at, group)),
            );
            row
        };
        let writes = vec![
            self.table.put_new(by_uuid)?,
            self.table.put_new(listed)?,
            self.table.put_any(row(sender, receiver))?,
            self.table.put_any(row(receiver, sender))?,
        ];
        match self.table.transact(writes).await? {
            Ok(()) => Ok(created),
            Err(_) => Err(StoreError::Conflict("message_exists")),
        }
    }
}
