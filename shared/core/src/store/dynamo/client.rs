//! The calls the store makes on its table, each a client span that trace backends draw as the
//! DynamoDB node, with its request id and consumed capacity (`ReturnConsumedCapacity=TOTAL`,
//! also added up per store for the capacity budget).
//!
//! Single calls are retried by the SDK's standard retry (throttling, 5xx). A transaction the
//! service cancels for a conflict with another transaction or for throttling is not, so it is
//! retried here with jittered exponential backoff, each cancelled attempt marked as a throttle;
//! when the attempts run out the store is unavailable (503). A cancelled condition is an answer
//! (the item exists, the parent is gone), never retried and never an error on the span.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::types::{
    ConsumedCapacity, Put, ReturnConsumedCapacity, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use chrono::Utc;
use tracing::field::Empty;
use tracing::Instrument;

use super::item::{n, s, EXPIRES_AT};
use super::keys::{Item, Key, List, TABLE_KEYS};
use super::merge::{Order, ShardRead};
use crate::store::cursor::Position;
use crate::store::{StoreError, StoreResult};

type HttpResponse = aws_sdk_dynamodb::config::http::HttpResponse;

/// Attempts of one transaction cancelled by conflicts or throttling before giving up.
const TRANSACTION_ATTEMPTS: u32 = 5;
/// Backoff before the n-th retry: a random wait up to `BASE * 2^(n-1)`, at most `MAX`.
const BACKOFF_BASE: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_millis(500);

/// Cancellation reasons worth another attempt: contention and throttling, not answers.
const RETRYABLE_REASONS: [&str; 4] = [
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
];

/// Capacity units consumed, as DynamoDB reports them, and the IAM actions the calls needed
/// (a transaction needs its items' actions).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Capacity {
    pub read_units: f64,
    pub write_units: f64,
    pub actions: BTreeSet<&'static str>,
}

/// The capacity a store has consumed since it was made or last taken (a handle to share).
#[derive(Debug, Clone, Default)]
pub struct CapacityMeter(Arc<Mutex<Capacity>>);

impl CapacityMeter {
    /// What was consumed since the last `take`, and starts counting again.
    pub fn take(&self) -> Capacity {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn note(&self, actions: impl IntoIterator<Item = &'static str>) {
        let mut total = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        total.actions.extend(actions);
    }

    fn add(&self, kind: Kind, units: f64) {
        let mut total = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match kind {
            Kind::Read => total.read_units += units,
            Kind::Write => total.write_units += units,
            Kind::Control => {}
        }
    }
}

/// What a call consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
    Control,
}

/// The capacity units an output reports.
pub trait Consumed {
    fn capacity_units(&self) -> f64;
}

fn units(consumed: Option<&ConsumedCapacity>) -> f64 {
    consumed.and_then(|c| c.capacity_units()).unwrap_or(0.0)
}

macro_rules! consumed_one {
    ($($output:ty),*) => {$(
        impl Consumed for $output {
            fn capacity_units(&self) -> f64 {
                units(self.consumed_capacity())
            }
        }
    )*};
}

consumed_one!(
    aws_sdk_dynamodb::operation::get_item::GetItemOutput,
    aws_sdk_dynamodb::operation::put_item::PutItemOutput,
    aws_sdk_dynamodb::operation::query::QueryOutput,
    aws_sdk_dynamodb::operation::scan::ScanOutput
);

impl Consumed for aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput {
    fn capacity_units(&self) -> f64 {
        self.consumed_capacity()
            .iter()
            .map(|c| units(Some(c)))
            .sum()
    }
}

impl Consumed for aws_sdk_dynamodb::operation::create_table::CreateTableOutput {
    fn capacity_units(&self) -> f64 {
        0.0
    }
}

impl Consumed for aws_sdk_dynamodb::operation::update_time_to_live::UpdateTimeToLiveOutput {
    fn capacity_units(&self) -> f64 {
        0.0
    }
}

/// How a failed call reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// A condition the write set did not hold: an answer.
    Answer,
    /// Throttled or in conflict: worth another attempt later.
    Throttled(String),
    /// Anything else.
    Fault,
}

fn verdict_of_code(code: Option<&str>) -> Verdict {
    match code {
        Some("ConditionalCheckFailedException") => Verdict::Answer,
        Some(
            code @ ("ThrottlingException"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"),
        ) => Verdict::Throttled(code.to_owned()),
        _ => Verdict::Fault,
    }
}

/// Which writes of a cancelled transaction failed their condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedConditions(Vec<bool>);

impl FailedConditions {
    /// Whether the write at `index` (in the order given) failed its condition.
    pub fn at(&self, index: usize) -> bool {
        self.0.get(index).copied().unwrap_or(false)
    }
}

/// The store's table and client.
pub struct Table {
    client: Client,
    name: String,
    region: String,
    meter: CapacityMeter,
}

impl Table {
    pub fn new(client: Client, name: String, region: String) -> Self {
        Self {
            client,
            name,
            region,
            meter: CapacityMeter::default(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn meter(&self) -> &CapacityMeter {
        &self.meter
    }

    /// Runs one call in its span: request id, consumed capacity, and a failure as `judge` reads it.
    async fn call<T, E, F>(
        &self,
        operation: &'static str,
        kind: Kind,
        request: F,
        judge: impl Fn(&SdkError<E, HttpResponse>) -> Verdict,
    ) -> Result<T, SdkError<E, HttpResponse>>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        T: RequestId + Consumed,
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
            aws.table.name = %self.name,
            aws.region = %self.region,
            aws.request_id = Empty,
            aws.dynamodb.consumed_capacity_units = Empty,
            http.response.status_code = Empty,
            error.type = Empty,
            otel.status_code = Empty,
        );
        let result = request.instrument(span.clone()).await;
        if let Some(id) = result.request_id() {
            span.record("aws.request_id", id);
        }
        match &result {
            Ok(output) => {
                let units = output.capacity_units();
                span.record("aws.dynamodb.consumed_capacity_units", units);
                self.meter.add(kind, units);
            }
            Err(err) => match judge(err) {
                Verdict::Answer => {}
                Verdict::Throttled(reason) => {
                    // 429 is what trace backends read as a throttle (X-Ray's throttle flag).
                    span.record("http.response.status_code", 429);
                    span.record("error.type", reason.as_str());
                    span.record("otel.status_code", "ERROR");
                    span.in_scope(
                        || tracing::warn!(error.type = %reason, "DynamoDB throttled the call"),
                    );
                }
                Verdict::Fault => {
                    span.record("error.type", err.code().unwrap_or("SdkError"));
                    span.record("otel.status_code", "ERROR");
                    span.in_scope(|| tracing::warn!(error.type = err.code().unwrap_or("SdkError"), error = %DisplayErrorContext(err), "DynamoDB call failed"));
                }
            },
        }
        result
    }

    /// One item by key (strongly consistent: single items are read right after they are written).
    pub async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        self.meter.note(["dynamodb:GetItem"]);
        let request = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key.item()))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send();
        let output = self
            .call("GetItem", Kind::Read, request, |e| {
                verdict_of_code(e.code())
            })
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }

    /// Writes an item; with `only_new`, only if nothing is at its key (`Ok(false)` if something was).
    pub async fn put(&self, item: Item, only_new: bool) -> StoreResult<bool> {
        self.meter.note(["dynamodb:PutItem"]);
        let mut request = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        if only_new {
            request = request.condition_expression(not_exists());
        }
        match self
            .call("PutItem", Kind::Write, request.send(), |e| {
                verdict_of_code(e.code())
            })
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if err.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(err) => Err(unavailable(err)),
        }
    }

    /// A transaction's write of a new item (its condition fails if the key is taken).
    pub fn put_new(&self, item: Item) -> StoreResult<TransactWriteItem> {
        self.put_write(item, true)
    }

    /// A transaction's write of an item, replacing whatever is at its key.
    pub fn put_any(&self, item: Item) -> StoreResult<TransactWriteItem> {
        self.put_write(item, false)
    }

    fn put_write(&self, item: Item, only_new: bool) -> StoreResult<TransactWriteItem> {
        let mut put = Put::builder().table_name(&self.name).set_item(Some(item));
        if only_new {
            put = put.condition_expression(not_exists());
        }
        let put = put.build().map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A transaction's update of an existing item: `update` (an update expression with its
    /// `:values`), under `condition` (which always includes that the item exists).
    pub fn update(
        &self,
        key: &Key,
        update: &str,
        condition: Option<&str>,
        values: Item,
    ) -> StoreResult<TransactWriteItem> {
        let exists = format!("attribute_exists({})", TABLE_KEYS.partition_key);
        let condition = match condition {
            Some(more) => format!("{exists} AND {more}"),
            None => exists,
        };
        let update = Update::builder()
            .table_name(&self.name)
            .set_key(Some(key.item()))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Writes all or nothing: `Ok(Err(failed))` when conditions failed, `Err` when the table is
    /// unavailable (conflicts and throttling retried first).
    pub async fn transact(
        &self,
        writes: Vec<TransactWriteItem>,
    ) -> StoreResult<Result<(), FailedConditions>> {
        // IAM authorises a transaction item by item.
        self.meter.note(writes.iter().filter_map(|write| {
            if write.put().is_some() {
                Some("dynamodb:PutItem")
            } else if write.update().is_some() {
                Some("dynamodb:UpdateItem")
            } else {
                None
            }
        }));
        let mut attempt = 1;
        loop {
            let request = self
                .client
                .transact_write_items()
                .set_transact_items(Some(writes.clone()))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send();
            let result =
                self.call("TransactWriteItems", Kind::Write, request, |err| {
                    match cancellation_reasons(err) {
                        Some(reasons) => transaction_verdict(&reasons),
                        None => verdict_of_code(err.code()),
                    }
                })
                .await;
            let err = match result {
                Ok(_) => return Ok(Ok(())),
                Err(err) => err,
            };
            let Some(reasons) = cancellation_reasons(&err) else {
                return Err(unavailable(err));
            };
            match transaction_verdict(&reasons) {
                Verdict::Answer => {
                    return Ok(Err(FailedConditions(
                        reasons
                            .iter()
                            .map(|r| r.as_deref() == Some("ConditionalCheckFailed"))
                            .collect(),
                    )))
                }
                Verdict::Throttled(reason) if attempt < TRANSACTION_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                    tracing::debug!(attempt, reason, "retrying a cancelled transaction");
                }
                Verdict::Throttled(reason) => {
                    return Err(StoreError::unavailable(format!(
                        "DynamoDB transaction cancelled ({reason}) {TRANSACTION_ATTEMPTS} times"
                    )))
                }
                Verdict::Fault => return Err(unavailable(err)),
            }
        }
    }

    /// One read of a list: up to `limit` items after `after` in `order` (expired activities,
    /// which TTL has not deleted yet, are evaluated but not returned when `unexpired_only`).
    /// Lists in the table are read strongly consistent (a thread or conversation right after
    /// a write to it); index lists can only be read eventually consistent.
    pub async fn read_list(
        &self,
        list: &List,
        order: Order,
        after: Option<Position>,
        limit: usize,
        unexpired_only: bool,
    ) -> StoreResult<ShardRead<Item>> {
        self.meter.note(["dynamodb:Query"]);
        let keys = list.place.keys();
        let mut query = self
            .client
            .query()
            .table_name(&self.name)
            .set_index_name(list.place.index_name().map(str::to_owned))
            .expression_attribute_names("#pk", keys.partition_key)
            .expression_attribute_values(":pk", s(list.partition.clone()))
            .scan_index_forward(order.ascending())
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .consistent_read(list.place.index_name().is_none())
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let condition = match after {
            // A list's partition holds only its entries (keys module): past the cursor is enough.
            Some(after) => {
                query = query
                    .expression_attribute_names("#sk", keys.sort_key)
                    .expression_attribute_values(":at", s(list.sort_key(after)));
                if order.ascending() {
                    "#pk = :pk AND #sk > :at"
                } else {
                    "#pk = :pk AND #sk < :at"
                }
            }
            None if !list.prefix.is_empty() => {
                query = query
                    .expression_attribute_names("#sk", keys.sort_key)
                    .expression_attribute_values(":prefix", s(list.prefix));
                "#pk = :pk AND begins_with(#sk, :prefix)"
            }
            None => "#pk = :pk",
        };
        query = query.key_condition_expression(condition);
        if unexpired_only {
            query = query
                .filter_expression(format!("{EXPIRES_AT} > :now"))
                .expression_attribute_values(":now", n(Utc::now().timestamp_millis()));
        }
        let output = self
            .call("Query", Kind::Read, query.send(), |e| {
                verdict_of_code(e.code())
            })
            .await
            .map_err(unavailable)?;
        let resume = match &output.last_evaluated_key {
            Some(key) => Some(list.position_of(key).ok_or_else(|| {
                StoreError::unavailable("DynamoDB resumed a list outside its positions")
            })?),
            None => None,
        };
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let position = list.position_of(&item).ok_or_else(|| {
                    StoreError::unavailable("DynamoDB list item without a position")
                })?;
                Ok((position, item))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(ShardRead { items, resume })
    }

    /// One Scan request: up to `limit` items evaluated from `start`, those matching `filter`
    /// (with its `:values`) returned, and where the scan stopped.
    pub async fn scan(
        &self,
        filter: &str,
        values: Item,
        start: Option<&Key>,
        limit: i32,
    ) -> StoreResult<(Vec<Item>, Option<Key>)> {
        self.meter.note(["dynamodb:Scan"]);
        let request = self
            .client
            .scan()
            .table_name(&self.name)
            .filter_expression(filter)
            .set_expression_attribute_values(Some(values))
            .limit(limit)
            .set_exclusive_start_key(start.map(Key::item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send();
        let output = self
            .call("Scan", Kind::Read, request, |e| verdict_of_code(e.code()))
            .await
            .map_err(|err| {
                // An invalid start key can only be a cursor we were handed.
                if err.code() == Some("ValidationException") {
                    StoreError::InvalidCursor
                } else {
                    unavailable(err)
                }
            })?;
        let stopped = output.last_evaluated_key.as_ref().and_then(Key::from_item);
        Ok((output.items.unwrap_or_default(), stopped))
    }

    /// Runs a table-management call (create, TTL) in its span.
    pub async fn control<T, E, F>(
        &self,
        operation: &'static str,
        request: F,
    ) -> Result<T, SdkError<E, HttpResponse>>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        T: RequestId + Consumed,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.call(operation, Kind::Control, request, |e| {
            verdict_of_code(e.code())
        })
        .await
    }
}

fn not_exists() -> String {
    format!("attribute_not_exists({})", TABLE_KEYS.partition_key)
}

/// A cancelled transaction's reason per write, in order (`None` for a write that was fine).
fn cancellation_reasons(
    err: &SdkError<TransactWriteItemsError, HttpResponse>,
) -> Option<Vec<Option<String>>> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => Some(
            cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().filter(|c| *c != "None").map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

/// A cancellation caused by any failed condition is that answer (retrying cannot change it);
/// one caused only by contention or throttling is worth another attempt.
fn transaction_verdict(reasons: &[Option<String>]) -> Verdict {
    let mut reasons = reasons.iter().flatten();
    if reasons.clone().any(|r| r == "ConditionalCheckFailed") {
        return Verdict::Answer;
    }
    match reasons.find(|r| RETRYABLE_REASONS.contains(&r.as_str())) {
        Some(reason) => Verdict::Throttled(reason.clone()),
        None => Verdict::Fault,
    }
}

/// Full jitter: a uniformly random wait up to the attempt's exponential cap.
fn backoff(attempt: u32) -> Duration {
    let cap = BACKOFF_BASE
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    cap.mul_f64(fastrand::f64())
}

pub fn unavailable<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::unavailable(DisplayErrorContext(err).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(codes: &[&str]) -> Vec<Option<String>> {
        codes
            .iter()
            .map(|c| (!c.is_empty()).then(|| c.to_string()))
            .collect()
    }

    #[test]
    fn conditions_are_answers_and_contention_is_retried() {
        assert_eq!(
            transaction_verdict(&reasons(&["ConditionalCheckFailed", "TransactionConflict"])),
            Verdict::Answer
        );
        assert_eq!(
            transaction_verdict(&reasons(&["", "TransactionConflict"])),
            Verdict::Throttled("TransactionConflict".into())
        );
        assert_eq!(
            transaction_verdict(&reasons(&["ThrottlingError", ""])),
            Verdict::Throttled("ThrottlingError".into())
        );
        assert_eq!(
            transaction_verdict(&reasons(&["ValidationError"])),
            Verdict::Fault
        );
    }

    #[test]
    fn backoff_is_jittered_and_capped() {
        for attempt in 1..20 {
            let wait = backoff(attempt);
            assert!(wait <= BACKOFF_MAX, "{attempt}: {wait:?}");
            assert!(wait <= BACKOFF_BASE * 2u32.pow(attempt.min(10) - 1));
        }
        let waits: std::collections::HashSet<_> = (0..20).map(|_| backoff(3)).collect();
        assert!(waits.len() > 1, "jittered");
    }
}
