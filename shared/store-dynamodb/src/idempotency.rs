//! Idempotency records (`IDEM#<scope>#<key>` / `IDEM`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use crate::{decode, encode, key, n, s, unavailable, DynamoStore};
use aws_sdk_dynamodb::error::SdkError;
use billing_domain::kernel::ports::{
    IdempotencyClaim, IdempotencyRepo, RecordedResponse, StoreError,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct IdempotencyItem {
    pk: String,
    sk: String,
    entity: String,
    fingerprint: String,
    /// TTL attribute (epoch seconds). DynamoDB deletes late, so reads check it too.
    expires_at: i64,
    status: Option<u16>,
    body: Option<String>,
}

/// `#` and `%` in a key are escaped, so no key can reach into another scope's part of the key
/// space (`IDEM#<scope>#<key>` reads back one way only).
fn idempotency_pk(scope: &str, key: &str) -> String {
    let escape = |s: &str| s.replace('%', "%25").replace('#', "%23");
    format!("IDEM#{}#{}", escape(scope), escape(key))
}

#[async_trait]
impl IdempotencyRepo for DynamoStore {
    async fn claim(
        &self,
        scope: &str,
        key_value: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StoreError> {
        let item = encode(&IdempotencyItem {
            pk: idempotency_pk(scope, key_value),
            sk: "IDEM".into(),
            entity: "idempotency".into(),
            fingerprint: fingerprint.into(),
            expires_at: expires_at.timestamp(),
            status: None,
            body: None,
        })?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(IdempotencyClaim::Claimed),
            Err(SdkError::ServiceError(se)) if se.err().is_conditional_check_failed_exception() => {
                let old = match se.into_err() {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                let existing: IdempotencyItem = match old {
                    Some(old) => decode(old)?,
                    // Some emulators omit the old item: read it.
                    None => self
                        .get(idempotency_pk(scope, key_value), "IDEM")
                        .await?
                        .ok_or_else(|| {
                            StoreError::Unavailable("idempotency record vanished".into())
                        })?,
                };
                Ok(IdempotencyClaim::Existing {
                    fingerprint: existing.fingerprint,
                    response: match (existing.status, existing.body) {
                        (Some(status), Some(body)) => Some(RecordedResponse { status, body }),
                        _ => None,
                    },
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn record(
        &self,
        scope: &str,
        key_value: &str,
        response: &RecordedResponse,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(idempotency_pk(scope, key_value), "IDEM")))
            .update_expression("SET #status = :status, body = :body")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", n(u64::from(response.status)))
            .expression_attribute_values(":body", s(response.body.clone()))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn release(&self, scope: &str, key_value: &str) -> Result<(), StoreError> {
        self.remove(idempotency_pk(scope, key_value), "IDEM").await
    }
}
