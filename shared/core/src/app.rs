//! A function's state for its whole life: the configuration, and the store opened on first use;
//! and the service of a function invoked by something other than API Gateway.

use std::future::Future;
use std::sync::Arc;

use lambda_http::lambda_runtime::{service_fn, LambdaEvent, Service};
use tokio::sync::OnceCell;

use crate::config::Config;
use crate::signup::TriggerError;
use crate::store::{seed, DynamoStore, SqliteStore, Store, StoreError, Traced};

/// Configuration read once per cold start, and the store opened by the first request that needs
/// it (a failed open is retried by the next request).
pub struct App {
    config: Arc<Config>,
    store: OnceCell<Arc<dyn Store>>,
}

impl App {
    pub fn from_env() -> Self {
        Self::new(Config::from_env())
    }

    pub fn new(config: Config) -> Self {
        Self {
            config: Arc::new(config),
            store: OnceCell::new(),
        }
    }

    /// An app on a given store (tests).
    #[cfg(any(test, feature = "testing"))]
    pub fn with_store(config: Config, store: Arc<dyn Store>) -> Self {
        Self {
            config: Arc::new(config),
            store: OnceCell::new_with(Some(store)),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store, opened once per process. A failed open is retried by the next request.
    pub async fn store(&self) -> Result<Arc<dyn Store>, StoreError> {
        self.store
            .get_or_try_init(|| open_store(&self.config))
            .await
            .cloned()
    }
}

/// The service of a function invoked by something other than API Gateway (a Cognito trigger):
/// one [`App`] per process; `handler` gets the store and the typed event. A store that cannot be
/// opened is `service_unavailable` (its cause logged).
pub fn trigger_service<E, R, H, F>(
    handler: H,
) -> impl Service<
    LambdaEvent<E>,
    Response = R,
    Error = TriggerError,
    Future = impl Future<Output = Result<R, TriggerError>> + Send,
> + Clone
where
    H: Fn(Arc<dyn Store>, E) -> F + Send + Sync + 'static,
    F: Future<Output = Result<R, TriggerError>> + Send,
    E: Send + 'static,
{
    let app = Arc::new(App::from_env());
    let handler = Arc::new(handler);
    service_fn(move |event: LambdaEvent<E>| {
        let app = app.clone();
        let handler = handler.clone();
        async move {
            let store = app.store().await?;
            handler(store, event.payload).await
        }
    })
}

/// Opens the configured store: DynamoDB when `CRUDDUR_TABLE_NAME` is set, else the embedded
/// SQLite file. Unless seeding is off, a store without the demo data gets it. The DynamoDB table
/// must exist (the stack's, or `cruddur-store create-table` locally): a function never creates
/// it, so no function carries the table-management calls.
async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = match &config.table_name {
        Some(table) => Arc::new(Traced(
            DynamoStore::from_env(table.clone()).with_feed_shards(config.feed_shards),
        )),
        None => Arc::new(Traced(SqliteStore::open(&config.sqlite_path)?)),
    };
    if config.seed_demo_data && !store.is_seeded().await? {
        seed::seed_demo_data(store.as_ref(), chrono::Utc::now()).await?;
        store.mark_seeded().await?;
        tracing::info!(
            store = store.system(),
            "seeded the store with the demo data"
        );
    }
    Ok(store)
}
