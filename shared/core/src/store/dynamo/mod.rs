//! Cruddur on one DynamoDB table: [`keys`] owns the key design (and its table of access
//! patterns), `item` the codec, `client` the calls (spans, consumed capacity, transaction
//! retries), `merge` the paging of sharded and single lists, `table` the setup.
//!
//! Every create is conditional (`attribute_not_exists`), so nothing is overwritten: a single item
//! is one conditional `PutItem`, several items that change together one `TransactWriteItems`.
//! Every read is bounded: a `GetItem`, or list reads whose `Limit` is what the page still needs.
//! Reads filter expired activities (TTL deletion is lazy).

mod client;
mod item;
pub mod keys;
mod merge;
mod store;
mod table;

#[cfg(any(test, feature = "testing"))]
pub use client::Capacity;
pub use store::DynamoStore;
