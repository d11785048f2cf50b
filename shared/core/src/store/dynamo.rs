//! Cruddur on one DynamoDB table (see [`super::dynamo_schema`] for the keys and access patterns).
//!
//! Every create is conditional (`attribute_not_exists`), so nothing is overwritten; multi-item
//! writes are one `TransactWriteItems`; reads filter expired activities (TTL deletion is lazy);
//! throttling and 5xx are retried by the SDK's standard retry and then reported as unavailable.
//! Every call is a client span that trace backends draw as the DynamoDB node.

use std::collections::HashMap;
use std::future::Future;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use tracing::field::Empty;
use tracing::Instrument;
use uuid::Uuid;

use super::dynamo_schema::{INDEXES, TABLE_KEYS, TTL_ATTRIBUTE};
use super::{Page, PageRequest, Store, StoreError, StoreResult, UserCreation};
use crate::domain::{
    message_group_uuid, Activity, Message, MessageGroup, NewActivity, NewMessage, NewUser,
    SearchTerm, User,
};

type Item = HashMap<String, AttributeValue>;

/// How many items one search Scan request evaluates, and how many requests one search may make.
const SCAN_PAGE: i32 = 200;
const SCAN_REQUESTS_PER_SEARCH: usize = 10;
/// How many items one feed Query request reads while filling a page past expired items.
const QUERY_PAGE: i32 = 50;
const QUERY_REQUESTS_PER_PAGE: usize = 10;

/// The DynamoDB store: one SDK client per cold start, one table.
pub struct DynamoStore {
    client: Client,
    table: String,
    region: String,
}

impl DynamoStore {
    /// A store on `table`, configured the standard way (region, credentials, and endpoint, e.g.
    /// `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local).
    ///
    /// For a local endpoint (`AWS_ENDPOINT_URL_DYNAMODB` or `AWS_ENDPOINT_URL` set) without
    /// credentials or region, DynamoDB Local's placeholders are used instead of probing instance
    /// metadata (which would stall each cold start); in AWS, Lambda provides both.
    pub async fn from_env(table: impl Into<String>) -> Self {
        let local_endpoint = ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"]
            .iter()
            .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()));
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if local_endpoint {
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
                && std::env::var_os("AWS_PROFILE").is_none()
            {
                loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "local",
                    "local",
                    None,
                    None,
                    "dynamodb-local",
                ));
            }
            if std::env::var_os("AWS_REGION").is_none()
                && std::env::var_os("AWS_DEFAULT_REGION").is_none()
            {
                loader = loader.region(aws_sdk_dynamodb::config::Region::new("us-east-1"));
            }
        }
        let config = loader.load().await;
        Self::new(
            Client::new(&config),
            table,
            config.region().map(|r| r.to_string()).unwrap_or_default(),
        )
    }

    pub fn new(client: Client, table: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            region: region.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table from the schema (local runs and tests; in AWS the stack owns it).
    /// An existing table is fine.
    pub async fn create_table(&self) -> StoreResult<()> {
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let mut request = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(
                key(TABLE_KEYS.partition_key, KeyType::Hash).map_err(StoreError::unavailable)?,
            )
            .key_schema(key(TABLE_KEYS.sort_key, KeyType::Range).map_err(StoreError::unavailable)?);
        for name in super::dynamo_schema::key_attributes() {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(StoreError::unavailable)?,
            );
        }
        for index in INDEXES {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(
                        key(index.keys.partition_key, KeyType::Hash)
                            .map_err(StoreError::unavailable)?,
                    )
                    .key_schema(
                        key(index.keys.sort_key, KeyType::Range)
                            .map_err(StoreError::unavailable)?,
                    )
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(StoreError::unavailable)?,
            );
        }
        match self.call("CreateTable", request.send()).await {
            Ok(_) => {}
            Err(err) if err.code() == Some("ResourceInUseException") => return Ok(()),
            Err(err) => return Err(unavailable(err)),
        }
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(StoreError::unavailable)?;
        let request = self
            .client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl);
        self.call("UpdateTimeToLive", request.send())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Runs one DynamoDB call inside its span, recording the request id and any failure.
    async fn call<T, E, F>(
        &self,
        operation: &'static str,
        request: F,
    ) -> Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>
    where
        F: Future<Output = Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>>,
        T: RequestId,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let span = tracing::info_span!(
            "dynamodb",
            otel.name = operation,
            otel.kind = "client",
            rpc.system = "aws-api",
            rpc.service = "DynamoDB",
            rpc.method = operation,
            db.system = "dynamodb",
            aws.table.name = %self.table,
            aws.region = %self.region,
            aws.request_id = Empty,
            otel.status_code = Empty,
        );
        let result = request.instrument(span.clone()).await;
        if let Some(id) = result.request_id() {
            span.record("aws.request_id", id);
        }
        if let Err(err) = &result {
            // A failed condition is an answer, not a fault of the call.
            if !is_condition_failure(err) {
                span.record("otel.status_code", "ERROR");
                span.in_scope(|| tracing::warn!(error.type = err.code().unwrap_or("SdkError"), error = %aws_sdk_dynamodb::error::DisplayErrorContext(err), "DynamoDB call failed"));
            }
        }
        result
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let request = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(TABLE_KEYS.partition_key, s(pk))
            .key(TABLE_KEYS.sort_key, s(sk))
            .consistent_read(true)
            .send();
        let output = self.call("GetItem", request).await.map_err(unavailable)?;
        Ok(output.item)
    }

    async fn user_item(&self, pk: String, sk: &str) -> StoreResult<Option<User>> {
        self.get(pk, sk)
            .await?
            .map(|item| user_from(&item))
            .transpose()
    }

    /// A page from an index, newest first, skipping expired items, resuming after a cursor.
    async fn index_page(
        &self,
        index: &'static str,
        partition: String,
        page: PageRequest,
    ) -> StoreResult<Page<Activity>> {
        let keys = INDEXES
            .iter()
            .find(|i| i.name == index)
            .expect("known index")
            .keys;
        let mut start = match &page.cursor {
            Some(cursor) => Some(decode_cursor(
                cursor,
                &[
                    TABLE_KEYS.partition_key,
                    TABLE_KEYS.sort_key,
                    keys.partition_key,
                    keys.sort_key,
                ],
            )?),
            None => None,
        };
        if let Some(start) = &start {
            if start.get(keys.partition_key) != Some(&s(partition.clone())) {
                return Err(StoreError::InvalidCursor);
            }
        }
        let now = Utc::now().timestamp_millis();
        let mut items = Vec::new();
        for _ in 0..QUERY_REQUESTS_PER_PAGE {
            let request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#pk = :pk")
                .filter_expression("expires_at > :now")
                .expression_attribute_names("#pk", keys.partition_key)
                .expression_attribute_values(":pk", s(partition.clone()))
                .expression_attribute_values(":now", n(now))
                .scan_index_forward(false)
                .limit(QUERY_PAGE)
                .set_exclusive_start_key(start.take())
                .send();
            let output = self.call("Query", request).await.map_err(query_error)?;
            for item in output.items.unwrap_or_default() {
                if items.len() == page.limit {
                    break;
                }
                items.push(item);
            }
            start = output.last_evaluated_key;
            if items.len() == page.limit || start.is_none() {
                break;
            }
        }
        let full = items.len() == page.limit;
        let activities = items
            .iter()
            .map(activity_from)
            .collect::<StoreResult<Vec<_>>>()?;
        // The cursor is the last item handed out; a page that ended early says where it stopped.
        let next_cursor = match (full, items.last(), start) {
            (true, Some(last), _) => Some(encode_cursor(
                last,
                &[
                    TABLE_KEYS.partition_key,
                    TABLE_KEYS.sort_key,
                    keys.partition_key,
                    keys.sort_key,
                ],
            )),
            (false, _, Some(stopped)) => Some(encode_key(&stopped)),
            _ => None,
        };
        Ok(Page {
            items: activities,
            next_cursor,
        })
    }

    /// Runs a Query through every page; returns the items and how many matched (for `Select::Count`).
    async fn query_all(&self, query: QueryFluentBuilder) -> StoreResult<(Vec<Item>, i64)> {
        let (mut items, mut count, mut start) = (Vec::new(), 0i64, None);
        loop {
            let request = query.clone().set_exclusive_start_key(start).send();
            let output = self.call("Query", request).await.map_err(unavailable)?;
            items.extend(output.items.unwrap_or_default());
            count += i64::from(output.count);
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok((items, count));
            }
        }
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), Vec<Option<String>>> {
        let request = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send();
        match self.call("TransactWriteItems", request).await {
            Ok(_) => Ok(()),
            Err(err) => {
                let reasons: Vec<Option<String>> = err
                    .as_service_error()
                    .and_then(|e| match e {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                            Some(c.cancellation_reasons().iter().map(|r| r.code.clone()).collect())
                        }
                        _ => None,
                    })
                    .unwrap_or_default();
                if reasons.is_empty() {
                    tracing::error!(error.type = "DynamoDB", error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err), "transaction failed");
                }
                Err(reasons)
            }
        }
    }

    fn put_new(&self, item: Item) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn put_any(&self, item: Item) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Adds one to an unexpired activity's replies_count (fails the transaction otherwise).
    fn count_reply(&self, pk: String, sk: String) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .key(TABLE_KEYS.partition_key, s(pk))
            .key(TABLE_KEYS.sort_key, s(sk))
            .update_expression("ADD replies_count :one")
            .condition_expression("attribute_exists(pk) AND expires_at > :now")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(Utc::now().timestamp_millis()))
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().update(update).build())
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
        Ok(self.get("META".to_owned(), "SEEDED").await?.is_some())
    }

    async fn mark_seeded(&self) -> StoreResult<()> {
        let marker: Item = HashMap::from([
            ("pk".into(), s("META")),
            ("sk".into(), s("SEEDED")),
            ("at".into(), n(Utc::now().timestamp_millis())),
        ]);
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(marker))
            .send();
        self.call("PutItem", request).await.map_err(unavailable)?;
        Ok(())
    }

    async fn user_by_handle(&self, handle: &str) -> StoreResult<Option<User>> {
        self.user_item(format!("HANDLE#{handle}"), "HANDLE").await
    }

    async fn user_by_cognito_sub(&self, sub: &str) -> StoreResult<Option<User>> {
        self.user_item(format!("SUB#{sub}"), "SUB").await
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
            created_at: user.created_at,
        };
        // The profile, and the same profile under its unique handle and its unique sub.
        let items = vec![
            self.put_new(user_item(
                &created,
                format!("USER#{}", user.uuid),
                "PROFILE",
            ))?,
            self.put_new(user_item(
                &created,
                format!("HANDLE#{}", user.handle),
                "HANDLE",
            ))?,
            self.put_new(user_item(
                &created,
                format!("SUB#{}", user.cognito_user_id),
                "SUB",
            ))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(UserCreation::Created(created)),
            Err(reasons) if failed(&reasons, 2) => {
                match self.user_by_cognito_sub(&user.cognito_user_id).await? {
                    // Another confirmation of the same sign-up won the race.
                    Some(existing) => Ok(UserCreation::AlreadyExists(existing)),
                    None => Err(StoreError::Conflict("user_exists")),
                }
            }
            Err(reasons) if failed(&reasons, 1) => Err(StoreError::Conflict("user_handle_taken")),
            Err(reasons) if failed(&reasons, 0) => Err(StoreError::Conflict("user_exists")),
            Err(_) => Err(StoreError::unavailable("DynamoDB transaction failed")),
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
        let copies = [
            (format!("USER#{}", user.uuid), "PROFILE"),
            (format!("HANDLE#{}", user.handle), "HANDLE"),
            (format!("SUB#{sub}"), "SUB"),
        ];
        let mut writes = Vec::new();
        for (pk, sk) in copies {
            let mut update = Update::builder()
                .table_name(&self.table)
                .key(TABLE_KEYS.partition_key, s(pk))
                .key(TABLE_KEYS.sort_key, s(sk))
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":name", s(display_name.clone()));
            update = match &bio {
                Some(bio) => update
                    .update_expression("SET display_name = :name, bio = :bio")
                    .expression_attribute_values(":bio", s(bio.clone())),
                None => update.update_expression("SET display_name = :name REMOVE bio"),
            };
            writes.push(
                TransactWriteItem::builder()
                    .update(update.build().map_err(StoreError::unavailable)?)
                    .build(),
            );
        }
        match self.transact(writes).await {
            Ok(()) => Ok(User {
                display_name,
                bio,
                ..user.clone()
            }),
            Err(reasons)
                if reasons
                    .iter()
                    .any(|r| r.as_deref() == Some("ConditionalCheckFailed")) =>
            {
                Err(StoreError::NotFound("user_not_found"))
            }
            Err(_) => Err(StoreError::unavailable("DynamoDB transaction failed")),
        }
    }

    async fn home_feed(&self, page: PageRequest) -> StoreResult<Page<Activity>> {
        self.index_page("gsi1", "FEED".to_owned(), page).await
    }

    async fn user_activities(&self, user: &User, page: PageRequest) -> StoreResult<Page<Activity>> {
        self.index_page("gsi2", format!("ACTIVITIES#{}", user.uuid), page)
            .await
    }

    async fn cruds_count(&self, user: &User) -> StoreResult<i64> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi2")
            .key_condition_expression("gsi2pk = :pk")
            .filter_expression("expires_at > :now")
            .expression_attribute_values(":pk", s(format!("ACTIVITIES#{}", user.uuid)))
            .expression_attribute_values(":now", n(Utc::now().timestamp_millis()))
            .select(aws_sdk_dynamodb::types::Select::Count);
        Ok(self.query_all(query).await?.1)
    }

    async fn search(&self, term: &SearchTerm, page: PageRequest) -> StoreResult<Page<Activity>> {
        // The one Scan: bounded per call (SCAN_REQUESTS_PER_SEARCH x SCAN_PAGE items) and paginated.
        let table_keys = [TABLE_KEYS.partition_key, TABLE_KEYS.sort_key];
        let mut start = match &page.cursor {
            Some(cursor) => Some(decode_cursor(cursor, &table_keys)?),
            None => None,
        };
        let now = Utc::now().timestamp_millis();
        let mut items = Vec::new();
        let mut next_cursor = None;
        for _ in 0..SCAN_REQUESTS_PER_SEARCH {
            let request = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(
                    "sk = :activity AND contains(message_lower, :term) AND expires_at > :now",
                )
                .expression_attribute_values(":activity", s("ACTIVITY"))
                .expression_attribute_values(":term", s(term.as_str().to_lowercase()))
                .expression_attribute_values(":now", n(now))
                .limit(SCAN_PAGE)
                .set_exclusive_start_key(start.take())
                .send();
            let output = self.call("Scan", request).await.map_err(query_error)?;
            for item in output.items.unwrap_or_default() {
                if items.len() == page.limit {
                    break;
                }
                items.push(item);
            }
            if items.len() == page.limit {
                // Full: resume after the last match handed out.
                next_cursor = items.last().map(|last| encode_cursor(last, &table_keys));
                break;
            }
            start = output.last_evaluated_key;
            // Not full: resume where the scan stopped, if it did not reach the end.
            next_cursor = start.as_ref().map(encode_key);
            if start.is_none() {
                break;
            }
        }
        let mut activities = items
            .iter()
            .map(activity_from)
            .collect::<StoreResult<Vec<_>>>()?;
        activities.sort_by_key(|a| std::cmp::Reverse((a.created_at, a.uuid)));
        Ok(Page {
            items: activities,
            next_cursor,
        })
    }

    async fn activity(&self, uuid: Uuid) -> StoreResult<Option<Activity>> {
        let now = Utc::now();
        Ok(self
            .get(activity_pk(uuid), "ACTIVITY")
            .await?
            .map(|item| activity_from(&item))
            .transpose()?
            .filter(|a| a.expires_at > now))
    }

    async fn activity_with_replies(
        &self,
        uuid: Uuid,
    ) -> StoreResult<Option<(Activity, Vec<Activity>)>> {
        let now = Utc::now();
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(activity_pk(uuid)))
            .consistent_read(true);
        let (items, _) = self.query_all(query).await?;
        // The activity sorts first (`ACTIVITY` < `REPLY#...`), its replies after it, oldest first.
        let mut activities = items
            .iter()
            .map(activity_from)
            .collect::<StoreResult<Vec<_>>>()?
            .into_iter()
            .filter(|a| a.expires_at > now);
        let Some(activity) = activities.next().filter(|a| a.uuid == uuid) else {
            return Ok(None);
        };
        Ok(Some((activity, activities.collect())))
    }

    async fn create_activity(&self, activity: NewActivity) -> StoreResult<Activity> {
        let author = self
            .user_item(format!("USER#{}", activity.user_uuid), "PROFILE")
            .await?
            .ok_or(StoreError::NotFound("user_not_found"))?;
        let created = new_activity(&activity, &author);
        let mut item = activity_item(
            &created,
            author.uuid,
            activity_pk(created.uuid),
            "ACTIVITY".to_owned(),
        );
        let order = order_key(&created);
        item.insert("gsi1pk".into(), s("FEED"));
        item.insert("gsi1sk".into(), s(order.clone()));
        item.insert("gsi2pk".into(), s(format!("ACTIVITIES#{}", author.uuid)));
        item.insert("gsi2sk".into(), s(order));
        match self.transact(vec![self.put_new(item)?]).await {
            Ok(()) => Ok(created),
            Err(reasons) if failed(&reasons, 0) => Err(StoreError::Conflict("activity_exists")),
            Err(_) => Err(StoreError::unavailable("DynamoDB transaction failed")),
        }
    }

    async fn create_reply(&self, reply: NewActivity) -> StoreResult<Activity> {
        let parent_uuid = reply
            .reply_to_activity_uuid
            .ok_or(StoreError::NotFound("activity_not_found"))?;
        let parent = self
            .get(activity_pk(parent_uuid), "ACTIVITY")
            .await?
            .ok_or(StoreError::NotFound("activity_not_found"))?;
        let parent_activity = activity_from(&parent)?;
        let parent_author = get_s(&parent, "user_uuid")?;
        let author = self
            .user_item(format!("USER#{}", reply.user_uuid), "PROFILE")
            .await?
            .ok_or(StoreError::NotFound("user_not_found"))?;
        let created = new_activity(&reply, &author);
        let order = order_key(&created);
        let mut own = activity_item(
            &created,
            author.uuid,
            activity_pk(created.uuid),
            "ACTIVITY".to_owned(),
        );
        if parent_author != author.uuid.to_string() {
            own.insert("gsi2pk".into(), s(format!("NOTIFY#{parent_author}")));
            own.insert("gsi2sk".into(), s(order.clone()));
        }
        let listed = activity_item(
            &created,
            author.uuid,
            activity_pk(parent_uuid),
            format!("REPLY#{order}"),
        );
        let mut writes = vec![
            self.put_new(own)?,
            self.put_new(listed)?,
            self.count_reply(activity_pk(parent_uuid), "ACTIVITY".to_owned())?,
        ];
        // A reply to a reply: the copy listed under the grandparent counts too.
        if let Some(grandparent) = parent_activity.reply_to_activity_uuid {
            writes.push(self.count_reply(
                activity_pk(grandparent),
                format!("REPLY#{}", order_key(&parent_activity)),
            )?);
        }
        match self.transact(writes).await {
            Ok(()) => Ok(created),
            Err(reasons) if failed(&reasons, 2) || failed(&reasons, 3) => {
                Err(StoreError::NotFound("activity_not_found"))
            }
            Err(reasons) if failed(&reasons, 0) || failed(&reasons, 1) => {
                Err(StoreError::Conflict("activity_exists"))
            }
            Err(_) => Err(StoreError::unavailable("DynamoDB transaction failed")),
        }
    }

    async fn notifications(&self, user: &User, page: PageRequest) -> StoreResult<Page<Activity>> {
        self.index_page("gsi2", format!("NOTIFY#{}", user.uuid), page)
            .await
    }

    async fn message_groups(&self, user: &User) -> StoreResult<Vec<MessageGroup>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(format!("GROUPS#{}", user.uuid)))
            .scan_index_forward(false);
        let (items, _) = self.query_all(query).await?;
        items
            .iter()
            .map(|item| {
                Ok(MessageGroup {
                    uuid: get_uuid(item, "message_group_uuid")?,
                    display_name: get_s(item, "other_display_name")?,
                    handle: get_s(item, "other_handle")?,
                    message: get_s(item, "last_message")?,
                    created_at: get_time(item, "last_message_at")?,
                })
            })
            .collect()
    }

    async fn conversation_partner(&self, user: &User, group: Uuid) -> StoreResult<Option<User>> {
        // The caller's own row for the group exists only if the caller is in it.
        let Some(row) = self
            .get(format!("USER#{}", user.uuid), &format!("GROUP#{group}"))
            .await?
        else {
            return Ok(None);
        };
        let other = get_uuid(&row, "other_uuid")?;
        self.user_item(format!("USER#{other}"), "PROFILE").await
    }

    async fn messages_between(&self, user: &User, other: &User) -> StoreResult<Vec<Message>> {
        let group = message_group_uuid(user.uuid, other.uuid);
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :message)")
            .expression_attribute_values(":pk", s(format!("GROUP#{group}")))
            .expression_attribute_values(":message", s("MESSAGE#"));
        let (items, _) = self.query_all(query).await?;
        items.iter().map(message_from).collect()
    }

    async fn create_message(&self, message: NewMessage) -> StoreResult<Message> {
        let sender = self
            .user_item(format!("USER#{}", message.sender_uuid), "PROFILE")
            .await?
            .ok_or(StoreError::NotFound("user_not_found"))?;
        let receiver = self
            .user_item(format!("USER#{}", message.receiver_uuid), "PROFILE")
            .await?
            .ok_or(StoreError::NotFound("user_not_found"))?;
        let group = message_group_uuid(sender.uuid, receiver.uuid);
        let created = Message {
            uuid: message.uuid,
            message_group_uuid: group,
            display_name: sender.display_name.clone(),
            handle: sender.handle.clone(),
            message: message.message.clone(),
            created_at: message.created_at,
        };
        let order = format!(
            "{:013}#{}",
            message.created_at.timestamp_millis(),
            message.uuid
        );
        let item: Item = HashMap::from([
            ("pk".into(), s(format!("GROUP#{group}"))),
            ("sk".into(), s(format!("MESSAGE#{order}"))),
            ("uuid".into(), s(created.uuid.to_string())),
            ("message_group_uuid".into(), s(group.to_string())),
            ("user_uuid".into(), s(sender.uuid.to_string())),
            ("display_name".into(), s(created.display_name.clone())),
            ("handle".into(), s(created.handle.clone())),
            ("message".into(), s(created.message.clone())),
            (
                "created_at".into(),
                n(created.created_at.timestamp_millis()),
            ),
        ]);
        // Each user's row for the conversation shows the other party and the last message.
        let group_row = |owner: &User, other: &User| -> Item {
            HashMap::from([
                ("pk".into(), s(format!("USER#{}", owner.uuid))),
                ("sk".into(), s(format!("GROUP#{group}"))),
                ("gsi1pk".into(), s(format!("GROUPS#{}", owner.uuid))),
                (
                    "gsi1sk".into(),
                    s(format!(
                        "{:013}#{group}",
                        message.created_at.timestamp_millis()
                    )),
                ),
                ("message_group_uuid".into(), s(group.to_string())),
                ("other_uuid".into(), s(other.uuid.to_string())),
                ("other_handle".into(), s(other.handle.clone())),
                ("other_display_name".into(), s(other.display_name.clone())),
                ("last_message".into(), s(message.message.clone())),
                (
                    "last_message_at".into(),
                    n(message.created_at.timestamp_millis()),
                ),
            ])
        };
        let writes = vec![
            self.put_new(item)?,
            self.put_any(group_row(&sender, &receiver))?,
            self.put_any(group_row(&receiver, &sender))?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(created),
            Err(reasons) if failed(&reasons, 0) => Err(StoreError::Conflict("message_exists")),
            Err(_) => Err(StoreError::unavailable("DynamoDB transaction failed")),
        }
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn activity_pk(uuid: Uuid) -> String {
    format!("ACTIVITY#{uuid}")
}

/// Sorts by time, then uuid: `<13-digit epoch ms>#<uuid>`.
fn order_key(activity: &Activity) -> String {
    format!(
        "{:013}#{}",
        activity.created_at.timestamp_millis(),
        activity.uuid
    )
}

fn failed(reasons: &[Option<String>], index: usize) -> bool {
    reasons.get(index).and_then(|r| r.as_deref()) == Some("ConditionalCheckFailed")
}

fn is_condition_failure<E: ProvideErrorMetadata>(
    err: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> bool {
    matches!(
        err.code(),
        Some("ConditionalCheckFailedException" | "TransactionCanceledException")
    )
}

fn unavailable<
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
>(
    err: SdkError<E, R>,
) -> StoreError {
    StoreError::unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string())
}

/// A Query or Scan that DynamoDB refused as invalid can only be a start key we were handed.
fn query_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    err: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError {
    if err.code() == Some("ValidationException") {
        StoreError::InvalidCursor
    } else {
        unavailable(err)
    }
}

fn new_activity(activity: &NewActivity, author: &User) -> Activity {
    Activity {
        uuid: activity.uuid,
        display_name: author.display_name.clone(),
        handle: author.handle.clone(),
        message: activity.message.clone(),
        replies_count: 0,
        reposts_count: 0,
        likes_count: 0,
        reply_to_activity_uuid: activity.reply_to_activity_uuid,
        created_at: activity.created_at,
        expires_at: activity.expires_at,
    }
}

fn activity_item(activity: &Activity, author: Uuid, pk: String, sk: String) -> Item {
    let mut item: Item = HashMap::from([
        ("pk".into(), s(pk)),
        ("sk".into(), s(sk)),
        ("uuid".into(), s(activity.uuid.to_string())),
        ("user_uuid".into(), s(author.to_string())),
        ("display_name".into(), s(activity.display_name.clone())),
        ("handle".into(), s(activity.handle.clone())),
        ("message".into(), s(activity.message.clone())),
        ("message_lower".into(), s(activity.message.to_lowercase())),
        ("replies_count".into(), n(activity.replies_count)),
        ("reposts_count".into(), n(activity.reposts_count)),
        ("likes_count".into(), n(activity.likes_count)),
        (
            "created_at".into(),
            n(activity.created_at.timestamp_millis()),
        ),
        (
            "expires_at".into(),
            n(activity.expires_at.timestamp_millis()),
        ),
        (TTL_ATTRIBUTE.into(), n(activity.expires_at.timestamp())),
    ]);
    if let Some(parent) = activity.reply_to_activity_uuid {
        item.insert("reply_to_activity_uuid".into(), s(parent.to_string()));
    }
    item
}

fn user_item(user: &User, pk: String, sk: &str) -> Item {
    let mut item: Item = HashMap::from([
        ("pk".into(), s(pk)),
        ("sk".into(), s(sk)),
        ("uuid".into(), s(user.uuid.to_string())),
        ("handle".into(), s(user.handle.clone())),
        ("display_name".into(), s(user.display_name.clone())),
        ("created_at".into(), n(user.created_at.timestamp_millis())),
    ]);
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

fn get_n(item: &Item, name: &str) -> StoreResult<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| corrupt(name))
}

fn get_uuid(item: &Item, name: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(&get_s(item, name)?).map_err(|_| corrupt(name))
}

fn get_time(item: &Item, name: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(get_n(item, name)?).ok_or_else(|| corrupt(name))
}

fn activity_from(item: &Item) -> StoreResult<Activity> {
    Ok(Activity {
        uuid: get_uuid(item, "uuid")?,
        display_name: get_s(item, "display_name")?,
        handle: get_s(item, "handle")?,
        message: get_s(item, "message")?,
        replies_count: get_n(item, "replies_count")?,
        reposts_count: get_n(item, "reposts_count")?,
        likes_count: get_n(item, "likes_count")?,
        reply_to_activity_uuid: opt_s(item, "reply_to_activity_uuid")
            .and_then(|u| Uuid::parse_str(&u).ok()),
        created_at: get_time(item, "created_at")?,
        expires_at: get_time(item, "expires_at")?,
    })
}

fn user_from(item: &Item) -> StoreResult<User> {
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

fn message_from(item: &Item) -> StoreResult<Message> {
    Ok(Message {
        uuid: get_uuid(item, "uuid")?,
        message_group_uuid: get_uuid(item, "message_group_uuid")?,
        display_name: get_s(item, "display_name")?,
        handle: get_s(item, "handle")?,
        message: get_s(item, "message")?,
        created_at: get_time(item, "created_at")?,
    })
}

/// An opaque cursor: the named key attributes of an item, as base64url JSON.
fn encode_cursor(item: &Item, keys: &[&str]) -> String {
    let key: Item = keys
        .iter()
        .filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect();
    encode_key(&key)
}

fn encode_key(key: &Item) -> String {
    let map: serde_json::Map<String, serde_json::Value> = key
        .iter()
        .filter_map(|(k, v)| {
            v.as_s()
                .ok()
                .map(|s| (k.clone(), serde_json::Value::String(s.clone())))
        })
        .collect();
    URL_SAFE_NO_PAD.encode(serde_json::Value::Object(map).to_string())
}

/// Decodes a cursor, accepting only exactly the expected key attributes, all strings.
fn decode_cursor(cursor: &str, keys: &[&str]) -> StoreResult<Item> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| StoreError::InvalidCursor)?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let map = json.as_object().ok_or(StoreError::InvalidCursor)?;
    let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = keys.to_vec();
    names.sort_unstable();
    expected.sort_unstable();
    if names != expected {
        return Err(StoreError::InvalidCursor);
    }
    map.iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                s(v.as_str()
                    .filter(|s| !s.is_empty())
                    .ok_or(StoreError::InvalidCursor)?),
            ))
        })
        .collect()
}
