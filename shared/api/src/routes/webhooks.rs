//! `POST /webhooks/stripe`: Stripe's events, verified by their signature (no bearer token),
//! each processed once however often it is delivered, in any order.

use billing_domain::ids::{CustomerId, InvoiceId};
use billing_domain::money::{Currency, Money};
use billing_domain::ports::IdempotencyClaim;
use billing_domain::BillingError;
use chrono::Duration;
use serde::Deserialize;
use serde_json::Value;

use crate::dto::WebhookAck;
use crate::problem::{ApiError, Problem};
use crate::request::header;
use crate::routes::{Ctx, Reply};
use crate::state::{AppState, SystemClock};
use crate::stripe_signature;

/// Stripe retries a failed delivery for three days; event ids are remembered for thirty.
const EVENT_MEMORY_DAYS: i64 = 30;

#[derive(Debug, Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: Value,
}

fn text<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get(field).and_then(Value::as_str)
}

fn metadata<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get("metadata").and_then(|m| text(m, key))
}

/// Receive a Stripe event (signed with `Stripe-Signature`; no bearer token).
#[utoipa::path(post, path = "/webhooks/stripe", tag = "webhooks",
    params(("Stripe-Signature" = String, Header, description = "t=<unix>,v1=<HMAC-SHA256 hex>, as Stripe signs")),
    request_body(content = Object, description = "A Stripe event", content_type = "application/json"),
    responses((status = 200, description = "Received (or a duplicate, already received)", body = WebhookAck),
        (status = 400, description = "Missing, forged or stale signature, or not an event; nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The same event is being processed right now", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not processed; Stripe will deliver it again", body = Problem, content_type = "application/problem+json")))]
pub async fn receive(state: &AppState, ctx: &Ctx) -> Result<Reply, ApiError> {
    ctx.query(&[])?;
    if ctx.body.len() > crate::request::MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    let wall_clock = SystemClock::now_utc();
    stripe_signature::verify(
        &ctx.body,
        header(&ctx.headers, "stripe-signature"),
        state.stripe_webhook_secret.as_deref().unwrap_or_default(),
        wall_clock.timestamp(),
    )
    .map_err(|e| ApiError::BadRequest(format!("Stripe-Signature: {e}")))?;
    let event: StripeEvent = serde_json::from_slice(&ctx.body)
        .map_err(|e| ApiError::BadRequest(format!("not a Stripe event: {e}")))?;
    let now = state.billing.now();
    match state
        .idempotency
        .claim(
            "stripe-events",
            &event.id,
            "",
            now,
            now + Duration::days(EVENT_MEMORY_DAYS),
        )
        .await?
    {
        IdempotencyClaim::Claimed => {}
        IdempotencyClaim::Existing {
            response: Some(_), ..
        } => {
            return Reply::json(
                200,
                &WebhookAck {
                    received: true,
                    duplicate: true,
                },
            )
        }
        IdempotencyClaim::Existing { response: None, .. } => {
            return Err(ApiError::Conflict(
                "this event is being processed; Stripe will deliver it again".into(),
            ))
        }
    }
    match process(state, &event).await {
        Ok(()) => {
            let ack = WebhookAck {
                received: true,
                duplicate: false,
            };
            let reply = Reply::json(200, &ack)?;
            state
                .idempotency
                .record(
                    "stripe-events",
                    &event.id,
                    &billing_domain::ports::RecordedResponse {
                        status: 200,
                        body: reply.body.clone(),
                    },
                )
                .await?;
            Ok(reply)
        }
        Err(e) => {
            // Not processed: forget the id so Stripe's redelivery is processed.
            state
                .idempotency
                .release("stripe-events", &event.id)
                .await?;
            Err(e)
        }
    }
}

/// What each event type does. Events we do not use, and events about objects that are not
/// ours (another system on the same Stripe account), are acknowledged and change nothing.
async fn process(state: &AppState, event: &StripeEvent) -> Result<(), ApiError> {
    let object = &event.data.object;
    let outcome = match event.kind.as_str() {
        "payment_intent.succeeded" => {
            let (Some(invoice), Some(payment), Some(currency)) = (
                metadata(object, "invoice_id").and_then(|id| id.parse::<InvoiceId>().ok()),
                text(object, "id"),
                text(object, "currency").and_then(|c| c.parse::<Currency>().ok()),
            ) else {
                return Ok(());
            };
            let received = object
                .get("amount_received")
                .and_then(Value::as_i64)
                .unwrap_or_default();
            state
                .billing
                .confirm_payment(
                    &invoice,
                    payment,
                    Money::from_minor_units(received, currency),
                )
                .await
                .map(|_| ())
        }
        "customer.deleted" => {
            let (Some(customer), Some(stripe_id)) = (
                metadata(object, "customer_id").and_then(|id| id.parse::<CustomerId>().ok()),
                text(object, "id"),
            ) else {
                return Ok(());
            };
            state
                .billing
                .processor_customer_deleted(&customer, stripe_id)
                .await
                .map(|_| ())
        }
        // The worker records failures and authentication requests when it charges; refunds
        // and disputes are recorded by the operator's refund call (issue 4 follow-up).
        _ => Ok(()),
    };
    match outcome {
        Ok(()) => Ok(()),
        Err(BillingError::Store(e)) => Err(e.into()),
        Err(BillingError::StaleVersion(what)) => Err(ApiError::Unavailable(format!(
            "the {what} kept changing; Stripe will deliver the event again"
        ))),
        Err(other) => {
            tracing::warn!(event = %event.id, kind = %event.kind, error = %other, "event ignored");
            Ok(())
        }
    }
}
