//! Webhook endpoints (`WHE#<id>` / `WEBHOOK_ENDPOINT`, listed in gsi1 under
//! `WEBHOOK_ENDPOINTS`) and deliveries (`WHD#<id>` / `WEBHOOK_DELIVERY`, listed newest first in
//! gsi1 under `WHE#<endpoint>#DELIVERIES`; while a retry is scheduled, in the due index under
//! `WHDUE` at its next attempt, which the scheduler queries).

use std::str::FromStr;

use async_trait::async_trait;
use billing_domain::events::EventKind;
use billing_domain::kernel::ids::{WebhookDeliveryId, WebhookEndpointId};
use billing_domain::kernel::page::{Page, PageRequest};
use billing_domain::kernel::ports::StoreError;
use billing_domain::webhooks::{
    AttemptOutcome, DeliveryAttempt, DeliveryStatus, EndpointStatus, EventSelection,
    ExpiringSecret, WebhookDelivery, WebhookEndpoint, WebhookRepo,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::items::{corrupt, parse_ts, ts, EntityKeys};
use crate::{due_entry, encode_entity, s, unavailable, DynamoStore, DUE_INDEX_KEYS, GSI_DUE};

const ENDPOINTS_GSI1PK: &str = "WEBHOOK_ENDPOINTS";
/// The due index's partition of scheduled webhook retries.
pub const WEBHOOK_DUE_PK: &str = "WHDUE";

fn endpoint_pk(id: &WebhookEndpointId) -> String {
    format!("WHE#{id}")
}

fn delivery_pk(id: &WebhookDeliveryId) -> String {
    format!("WHD#{id}")
}

fn deliveries_gsi1pk(endpoint: &WebhookEndpointId) -> String {
    format!("WHE#{endpoint}#DELIVERIES")
}

#[derive(Debug, Serialize, Deserialize)]
struct EndpointItem {
    #[serde(flatten)]
    keys: EntityKeys,
    id: String,
    url: String,
    events: Vec<String>,
    description: Option<String>,
    secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_secret_expires_at: Option<String>,
    status: EndpointStatus,
    disabled_reason: Option<String>,
    failing_since: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AttemptItem {
    at: String,
    status_code: Option<u16>,
    error: Option<String>,
    duration_ms: u64,
    replay: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct DeliveryItem {
    #[serde(flatten)]
    keys: EntityKeys,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due_at: Option<String>,
    id: String,
    endpoint_id: String,
    event_id: String,
    event_type: EventKind,
    payload: String,
    status: DeliveryStatus,
    attempts: Vec<AttemptItem>,
    next_attempt_at: Option<String>,
}

fn opt_ts(field: &'static str, raw: &Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    raw.as_deref().map(|t| parse_ts(field, t)).transpose()
}

impl From<&WebhookEndpoint> for EndpointItem {
    fn from(e: &WebhookEndpoint) -> Self {
        EndpointItem {
            keys: EntityKeys {
                pk: endpoint_pk(&e.id),
                sk: "WEBHOOK_ENDPOINT".into(),
                gsi1pk: ENDPOINTS_GSI1PK.into(),
                gsi1sk: format!("{}#{}", ts(e.created_at), e.id),
                entity: "webhook_endpoint".into(),
                created_at: ts(e.created_at),
                updated_at: ts(e.updated_at),
                version: e.version,
            },
            id: e.id.to_string(),
            url: e.url.clone(),
            events: e.events.names(),
            description: e.description.clone(),
            secret: e.secret.clone(),
            previous_secret: e.previous_secret.as_ref().map(|p| p.secret.clone()),
            previous_secret_expires_at: e.previous_secret.as_ref().map(|p| ts(p.expires_at)),
            status: e.status,
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since.map(ts),
        }
    }
}

impl TryFrom<EndpointItem> for WebhookEndpoint {
    type Error = StoreError;
    fn try_from(i: EndpointItem) -> Result<Self, StoreError> {
        Ok(WebhookEndpoint {
            id: WebhookEndpointId::from_str(&i.id).map_err(corrupt("id"))?,
            url: i.url,
            events: EventSelection::parse(&i.events)
                .map_err(|e| StoreError::Corrupt(format!("events: {}", e.message)))?,
            description: i.description,
            secret: i.secret,
            previous_secret: match (i.previous_secret, i.previous_secret_expires_at) {
                (Some(secret), Some(at)) => Some(ExpiringSecret {
                    secret,
                    expires_at: parse_ts("previous_secret_expires_at", &at)?,
                }),
                _ => None,
            },
            status: i.status,
            disabled_reason: i.disabled_reason,
            failing_since: opt_ts("failing_since", &i.failing_since)?,
            created_at: parse_ts("created_at", &i.keys.created_at)?,
            updated_at: parse_ts("updated_at", &i.keys.updated_at)?,
            version: i.keys.version,
        })
    }
}

impl From<&WebhookDelivery> for DeliveryItem {
    fn from(d: &WebhookDelivery) -> Self {
        let due = d
            .next_attempt_at
            .filter(|_| d.status == DeliveryStatus::Pending);
        DeliveryItem {
            keys: EntityKeys {
                pk: delivery_pk(&d.id),
                sk: "WEBHOOK_DELIVERY".into(),
                gsi1pk: deliveries_gsi1pk(&d.endpoint_id),
                gsi1sk: format!("{}#{}", ts(d.created_at), d.id),
                entity: "webhook_delivery".into(),
                created_at: ts(d.created_at),
                updated_at: ts(d.updated_at),
                version: d.version,
            },
            due_pk: due.map(|_| WEBHOOK_DUE_PK.into()),
            due_at: due.map(|t| format!("{}#{}", ts(t), d.id)),
            id: d.id.to_string(),
            endpoint_id: d.endpoint_id.to_string(),
            event_id: d.event_id.clone(),
            event_type: d.event_type,
            payload: d.payload.clone(),
            status: d.status,
            attempts: d
                .attempts
                .iter()
                .map(|a| AttemptItem {
                    at: ts(a.at),
                    status_code: a.outcome.status_code,
                    error: a.outcome.error.clone(),
                    duration_ms: a.outcome.duration_ms,
                    replay: a.replay,
                })
                .collect(),
            next_attempt_at: d.next_attempt_at.map(ts),
        }
    }
}

impl TryFrom<DeliveryItem> for WebhookDelivery {
    type Error = StoreError;
    fn try_from(i: DeliveryItem) -> Result<Self, StoreError> {
        Ok(WebhookDelivery {
            id: WebhookDeliveryId::from_str(&i.id).map_err(corrupt("id"))?,
            endpoint_id: WebhookEndpointId::from_str(&i.endpoint_id)
                .map_err(corrupt("endpoint_id"))?,
            event_id: i.event_id,
            event_type: i.event_type,
            payload: i.payload,
            status: i.status,
            attempts: i
                .attempts
                .into_iter()
                .map(|a| {
                    Ok(DeliveryAttempt {
                        at: parse_ts("attempts.at", &a.at)?,
                        outcome: AttemptOutcome {
                            status_code: a.status_code,
                            error: a.error,
                            duration_ms: a.duration_ms,
                        },
                        replay: a.replay,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            next_attempt_at: opt_ts("next_attempt_at", &i.next_attempt_at)?,
            created_at: parse_ts("created_at", &i.keys.created_at)?,
            updated_at: parse_ts("updated_at", &i.keys.updated_at)?,
            version: i.keys.version,
        })
    }
}

impl DynamoStore {
    /// When the earliest scheduled webhook retry is due (the test clock stops there).
    pub async fn earliest_webhook_retry(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.earliest_in(WEBHOOK_DUE_PK).await
    }
}

#[async_trait]
impl WebhookRepo for DynamoStore {
    async fn insert_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        self.insert(encode_entity::<_, WebhookEndpoint>(&EndpointItem::from(
            endpoint,
        ))?)
        .await
    }

    async fn get_endpoint(
        &self,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        self.load::<EndpointItem, _>(endpoint_pk(id), "WEBHOOK_ENDPOINT")
            .await
    }

    async fn list_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.newest_first::<EndpointItem, _>(ENDPOINTS_GSI1PK).await
    }

    async fn update_endpoint(&self, endpoint: &mut WebhookEndpoint) -> Result<(), StoreError> {
        self.replace::<_, WebhookEndpoint>(&EndpointItem::from(&*endpoint), &mut endpoint.version)
            .await
    }

    async fn delete_endpoint(&self, id: &WebhookEndpointId) -> Result<(), StoreError> {
        self.remove(endpoint_pk(id), "WEBHOOK_ENDPOINT").await
    }

    async fn insert_delivery(&self, delivery: &WebhookDelivery) -> Result<(), StoreError> {
        self.insert(encode_entity::<_, WebhookDelivery>(&DeliveryItem::from(
            delivery,
        ))?)
        .await
    }

    async fn get_delivery(
        &self,
        id: &WebhookDeliveryId,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        self.load::<DeliveryItem, _>(delivery_pk(id), "WEBHOOK_DELIVERY")
            .await
    }

    async fn update_delivery(&self, delivery: &mut WebhookDelivery) -> Result<(), StoreError> {
        self.replace::<_, WebhookDelivery>(&DeliveryItem::from(&*delivery), &mut delivery.version)
            .await
    }

    async fn list_deliveries(
        &self,
        endpoint_id: &WebhookEndpointId,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        let cursor = self
            .cursor(
                page,
                |id: WebhookDeliveryId| async move { self.get_delivery(&id).await },
                |d: &WebhookDelivery| &d.endpoint_id == endpoint_id,
                |d: &WebhookDelivery| DeliveryItem::from(d),
            )
            .await?;
        self.page_after(&deliveries_gsi1pk(endpoint_id), page, cursor)
            .await
    }

    async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<WebhookDeliveryId>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI_DUE)
            .key_condition_expression("due_pk = :pk AND due_at <= :now")
            .expression_attribute_values(":pk", s(WEBHOOK_DUE_PK))
            .expression_attribute_values(":now", s(format!("{}~", ts(now))))
            .limit(i32::try_from(limit.min(1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(unavailable)?;
        let mut due = Vec::new();
        for item in out.items.unwrap_or_default() {
            match due_entry::<WebhookDeliveryId>(&item) {
                Ok((id, _)) => due.push(id),
                Err(e) => self.set_aside(&item, DUE_INDEX_KEYS, &e).await?,
            }
        }
        Ok(due)
    }
}
