//! Table creation (local stack and tests; deployed, `template.yaml` declares the same table).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use billing_domain::kernel::ports::StoreError;

/// The list index: plans, customers, a customer's subscriptions.
pub const GSI1: &str = "gsi1";
/// The due index the scheduler queries (sparse: only items with something due).
pub const GSI_DUE: &str = "due";

fn err<E: std::fmt::Debug>(e: E) -> StoreError {
    StoreError::Unavailable(format!("{e:?}"))
}

fn attr(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(err)
}

fn key_schema(hash: &str, range: &str) -> Result<Vec<KeySchemaElement>, StoreError> {
    Ok(vec![
        KeySchemaElement::builder()
            .attribute_name(hash)
            .key_type(KeyType::Hash)
            .build()
            .map_err(err)?,
        KeySchemaElement::builder()
            .attribute_name(range)
            .key_type(KeyType::Range)
            .build()
            .map_err(err)?,
    ])
}

fn gsi(name: &str, hash: &str, range: &str) -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .set_key_schema(Some(key_schema(hash, range)?))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(err)
}

/// Creates the table with its indexes and TTL, if it does not exist yet.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(vec![
            attr("pk")?,
            attr("sk")?,
            attr("gsi1pk")?,
            attr("gsi1sk")?,
            attr("due_pk")?,
            attr("due_at")?,
        ]))
        .set_key_schema(Some(key_schema("pk", "sk")?))
        .global_secondary_indexes(gsi(GSI1, "gsi1pk", "gsi1sk")?)
        .global_secondary_indexes(gsi(GSI_DUE, "due_pk", "due_at")?)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) => {
            let in_use = e
                .as_service_error()
                .is_some_and(|se| se.is_resource_in_use_exception());
            if !in_use {
                return Err(err(e));
            }
            return Ok(());
        }
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .map_err(err)?,
        )
        .send()
        .await
        .map_err(err)?;
    Ok(())
}

/// Deletes the table (tests clean up after themselves).
pub async fn delete_table(client: &Client, table: &str) -> Result<(), StoreError> {
    client
        .delete_table()
        .table_name(table)
        .send()
        .await
        .map(|_| ())
        .map_err(err)
}
