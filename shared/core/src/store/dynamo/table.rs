//! Table setup for local runs and tests (in AWS the stack owns the table, declared the same way).

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::client::{unavailable, Table};
use super::keys::{key_attributes, KeySchema, INDEXES, TABLE_KEYS, TTL_ATTRIBUTE};
use crate::store::{StoreError, StoreResult};

fn key_schema(keys: KeySchema) -> StoreResult<Vec<KeySchemaElement>> {
    [
        (keys.partition_key, KeyType::Hash),
        (keys.sort_key, KeyType::Range),
    ]
    .into_iter()
    .map(|(name, kind)| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(StoreError::unavailable)
    })
    .collect()
}

/// Creates the table from [`super::keys`], with TTL on. An existing table is fine.
pub async fn create(table: &Table) -> StoreResult<()> {
    let mut request = table
        .client()
        .create_table()
        .table_name(table.name())
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(TABLE_KEYS)?));
    for name in key_attributes() {
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
                .set_key_schema(Some(key_schema(index.keys)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(StoreError::unavailable)?,
        );
    }
    match table.control("CreateTable", request.send()).await {
        Ok(_) => {}
        Err(err) if err.code() == Some("ResourceInUseException") => return Ok(()),
        Err(err) => return Err(unavailable(err)),
    }
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(TTL_ATTRIBUTE)
        .enabled(true)
        .build()
        .map_err(StoreError::unavailable)?;
    let request = table
        .client()
        .update_time_to_live()
        .table_name(table.name())
        .time_to_live_specification(ttl);
    table
        .control("UpdateTimeToLive", request.send())
        .await
        .map_err(unavailable)?;
    Ok(())
}
