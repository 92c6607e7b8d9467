//! The JSON of webhook endpoints and deliveries.

use billing_domain::webhooks::{
    DeliveryStatus as DDeliveryStatus, NewWebhookEndpoint, WebhookDelivery, WebhookEndpoint,
    WebhookEndpointChanges,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{DeliveryStatus, EndpointStatus};

/// `POST /webhook-endpoints`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpointRequest {
    /// Where events are posted: `https://` (or `http://`); deployed, never a private,
    /// loopback, link-local or metadata address.
    #[schema(example = "https://erp.acme.example/hooks/billing", max_length = 2048)]
    pub url: String,
    /// Event types (`invoice.paid`, `subscription.renewed`...), or `["*"]` for every type.
    #[schema(example = json!(["invoice.paid", "subscription.canceled"]), min_items = 1)]
    pub events: Vec<String>,
    #[schema(max_length = 200)]
    pub description: Option<String>,
}

impl From<CreateWebhookEndpointRequest> for NewWebhookEndpoint {
    fn from(r: CreateWebhookEndpointRequest) -> Self {
        NewWebhookEndpoint {
            url: r.url,
            events: r.events,
            description: r.description,
        }
    }
}

/// `PATCH /webhook-endpoints/{id}`: the fields to change; `null` removes the description.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpointRequest {
    #[schema(
        example = "https://erp.acme.example/hooks/billing-v2",
        max_length = 2048
    )]
    pub url: Option<String>,
    #[schema(example = json!(["*"]), min_items = 1)]
    pub events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(max_length = 200)]
    pub description: Option<Option<String>>,
}

impl From<UpdateWebhookEndpointRequest> for WebhookEndpointChanges {
    fn from(r: UpdateWebhookEndpointRequest) -> Self {
        WebhookEndpointChanges {
            url: r.url,
            events: r.events,
            description: r.description,
        }
    }
}

/// `POST /webhook-endpoints/{id}/roll-secret`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollWebhookSecretRequest {
    /// How long the old secret keeps signing beside the new one (a second `v1=`), so
    /// receivers can switch without rejecting a delivery: 0 (stop at once) to 24, default 24.
    #[schema(example = 24, minimum = 0, maximum = 24)]
    pub previous_secret_expires_in_hours: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointResponse {
    #[schema(example = "we_3f9a1c2b4d5e6f708192a3b4")]
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub status: EndpointStatus,
    /// Why it was disabled (an operator, or every delivery failing for three days).
    pub disabled_reason: Option<String>,
    /// The signing secret (`whsec_...`): only in the answer that creates the endpoint or
    /// rolls its secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Until when the secret before the last roll still signs deliveries too.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookEndpointResponse {
    pub fn new(e: &WebhookEndpoint, with_secret: bool) -> Self {
        WebhookEndpointResponse {
            id: e.id.to_string(),
            url: e.url.clone(),
            events: e.events.names(),
            description: e.description.clone(),
            status: e.status.into(),
            disabled_reason: e.disabled_reason.clone(),
            secret: with_secret.then(|| e.secret.clone()),
            previous_secret_expires_at: e.previous_secret.as_ref().map(|p| p.expires_at),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// One attempt to deliver.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttemptDto {
    pub at: DateTime<Utc>,
    /// The endpoint's HTTP status, when it answered.
    pub status_code: Option<u16>,
    /// Why there was no answer (refused, timed out, a blocked address).
    pub error: Option<String>,
    pub duration_ms: u64,
    /// Made by a replay rather than the retry schedule.
    pub replay: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryResponse {
    #[schema(example = "whd_0f1e2d3c4b5a69788796a5b4c3d2e1f0")]
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    /// Every attempt, oldest first.
    pub attempts: Vec<DeliveryAttemptDto>,
    /// When the retry schedule tries next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The body posted at every attempt.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl From<&WebhookDelivery> for WebhookDeliveryResponse {
    fn from(d: &WebhookDelivery) -> Self {
        WebhookDeliveryResponse {
            id: d.id.to_string(),
            endpoint_id: d.endpoint_id.to_string(),
            event_id: d.event_id.clone(),
            event_type: d.event_type.as_str().to_owned(),
            status: d.status.into(),
            attempts: d
                .attempts
                .iter()
                .map(|a| DeliveryAttemptDto {
                    at: a.at,
                    status_code: a.outcome.status_code,
                    error: a.outcome.error.clone(),
                    duration_ms: a.outcome.duration_ms,
                    replay: a.replay,
                })
                .collect(),
            next_attempt_at: d
                .next_attempt_at
                .filter(|_| d.status == DDeliveryStatus::Pending),
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
            created_at: d.created_at,
        }
    }
}

/// The answer to a Stripe webhook delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    pub received: bool,
    /// The event was received before; nothing was done again.
    pub duplicate: bool,
}
