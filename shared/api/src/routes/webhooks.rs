//! `POST /webhooks/stripe`: Stripe's events, verified by their signature (no bearer token),
//! each processed once however often it is delivered, in any order.

use billing_domain::collection::payments::PaymentError;
use billing_domain::invoicing::DisputeStatus;
use billing_domain::kernel::ids::{CustomerId, InvoiceId};
use billing_domain::kernel::money::{Currency, Money};
use billing_domain::kernel::ports::IdempotencyClaim;
use billing_domain::stripe_events::DisputeReport;
use billing_domain::BillingError;
use chrono::Duration;
use serde::Deserialize;
use serde_json::Value;

use crate::dto::WebhookAck;
use crate::problem::{ApiError, Problem};
use crate::request::header;
use crate::routes::{ApiRequest, ApiResponse};
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
    /// The fields an `*.updated` or `payment_method.detached` event changed, as they were.
    #[serde(default)]
    previous_attributes: Option<Value>,
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
pub async fn receive(state: &AppState, ctx: &ApiRequest) -> Result<ApiResponse, ApiError> {
    ctx.query(&[])?;
    if ctx.body.len() > crate::request::MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    // Never checked with an empty key: without a secret (the local stack may run without
    // one) no event is taken.
    let secret = state
        .stripe_webhook_secret
        .as_ref()
        .map(secrecy::ExposeSecret::expose_secret)
        .ok_or_else(|| ApiError::Unavailable("STRIPE_WEBHOOK_SECRET is not set".into()))?;
    let wall_clock = SystemClock::now_utc();
    stripe_signature::verify(
        &ctx.body,
        header(&ctx.headers, "stripe-signature"),
        secret,
        wall_clock.timestamp(),
    )
    .map_err(|e| ApiError::BadRequest(format!("Stripe-Signature: {e}")))?;
    let event: StripeEvent = serde_json::from_slice(&ctx.body)
        .map_err(|e| ApiError::BadRequest(format!("not a Stripe event: {e}")))?;
    // Stripe's ids are short; a longer one is no event of Stripe's (and would not fit a key).
    if event.id.is_empty() || event.id.len() > 255 {
        return Err(ApiError::BadRequest(
            "not a Stripe event: its id must be 1 to 255 characters".into(),
        ));
    }
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
            return ApiResponse::json(
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
            let reply = ApiResponse::json(200, &ack)?;
            state
                .idempotency
                .record(
                    "stripe-events",
                    &event.id,
                    &billing_domain::kernel::ports::RecordedResponse {
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
/// Handlers only move things forward and read the current state where the event could be
/// stale, so redelivered and out-of-order events change nothing twice.
async fn process(state: &AppState, event: &StripeEvent) -> Result<(), ApiError> {
    let object = &event.data.object;
    let billing = &state.billing;
    let invoice_id = || metadata(object, "invoice_id").and_then(|id| id.parse::<InvoiceId>().ok());
    let outcome = match event.kind.as_str() {
        // What it took is read from Stripe, never from the event (which may lack it).
        "payment_intent.succeeded" => {
            let (Some(invoice), Some(payment)) = (invoice_id(), text(object, "id")) else {
                return Ok(());
            };
            billing.payment_success_reported(&invoice, payment).await
        }
        "payment_intent.payment_failed" => {
            let (Some(invoice), Some(payment)) = (invoice_id(), text(object, "id")) else {
                return Ok(());
            };
            let error = object.get("last_payment_error");
            let code = error
                .and_then(|e| text(e, "decline_code").or_else(|| text(e, "code")))
                .unwrap_or("payment_failed");
            let message = error
                .and_then(|e| text(e, "message"))
                .unwrap_or("the payment failed");
            billing
                .payment_failure_reported(&invoice, payment, code, message)
                .await
        }
        // The charging worker records the attempt and its `invoice.payment_action_required`
        // event from Stripe's answer, under the attempt's idempotency key; the event adds
        // nothing it does not know (a known attempt already asks for authentication).
        "payment_intent.requires_action" => Ok(false),
        "charge.refunded" | "charge.refund.updated" => {
            let Some(payment) = text(object, "payment_intent") else {
                return Ok(());
            };
            billing.processor_refunds_reported(payment).await
        }
        "charge.dispute.created" | "charge.dispute.updated" | "charge.dispute.closed" => {
            let (Some(id), Some(payment), Some(amount), Some(currency), Some(status)) = (
                text(object, "id"),
                text(object, "payment_intent"),
                object.get("amount").and_then(Value::as_i64),
                text(object, "currency").and_then(|c| c.parse::<Currency>().ok()),
                text(object, "status").and_then(DisputeStatus::parse),
            ) else {
                return Ok(());
            };
            billing
                .dispute_reported(DisputeReport {
                    dispute_id: id.to_owned(),
                    payment_id: payment.to_owned(),
                    amount: Money::from_minor_units(amount, currency),
                    reason: text(object, "reason").unwrap_or("general").to_owned(),
                    status,
                })
                .await
        }
        "payment_method.detached" => {
            let previous = event.data.previous_attributes.as_ref();
            let (Some(payment_method), Some(customer)) = (
                text(object, "id"),
                previous.and_then(|p| text(p, "customer")),
            ) else {
                return Ok(());
            };
            billing
                .payment_method_detached(customer, payment_method)
                .await
        }
        "customer.deleted" => {
            let (Some(customer), Some(stripe_id)) = (
                metadata(object, "customer_id").and_then(|id| id.parse::<CustomerId>().ok()),
                text(object, "id"),
            ) else {
                return Ok(());
            };
            billing
                .processor_customer_deleted(&customer, stripe_id)
                .await
        }
        _ => Ok(false),
    };
    let outcome = outcome.map(|changed| {
        tracing::info!(event = %event.id, kind = %event.kind, changed, "stripe event processed");
    });
    match outcome {
        Ok(()) => Ok(()),
        Err(BillingError::Store(e)) => Err(e.into()),
        Err(BillingError::StaleVersion(what)) => Err(ApiError::Unavailable(format!(
            "the {what} kept changing; Stripe will deliver the event again"
        ))),
        Err(BillingError::Payment(PaymentError::Transient(why))) => Err(ApiError::Unavailable(
            format!("Stripe could not be asked ({why}); Stripe will deliver the event again"),
        )),
        Err(other) => {
            tracing::warn!(event = %event.id, kind = %event.kind, error = %other, "event ignored");
            Ok(())
        }
    }
}
