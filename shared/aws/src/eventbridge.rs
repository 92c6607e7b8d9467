//! The EventBridge bus: domain events published as `detail` (schema version 1) with `source`
//! `billing` and `detail-type` the event's kind; the rules `template.yaml` declares hand each one
//! to the notifications and webhooks queues, whose consumers read it back here.

use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use aws_sdk_eventbridge::Client;
use billing_domain::events::{DomainEvent, PublishedEvent};
use serde_json::{json, Value};

use crate::AwsError;

/// The `source` of every event on the bus.
pub const EVENT_SOURCE: &str = "billing";

/// How many events one PutEvents call carries (EventBridge's limit).
pub const BATCH: usize = 10;

fn bus_error<E: std::fmt::Debug>(e: E) -> AwsError {
    AwsError::Call(format!("event bus: {e:?}"))
}

/// The event as published (schema version 1): the bus envelope's `detail`.
pub fn detail(event: &DomainEvent) -> Value {
    serde_json::to_value(PublishedEvent::from(event)).unwrap_or(Value::Null)
}

/// The part of an EventBridge envelope a queue consumer reads.
#[derive(serde::Deserialize)]
struct Envelope {
    detail: PublishedEvent,
}

/// Reads a message the bus's rule put on a queue (the notifier's, the webhook dispatcher's):
/// an EventBridge envelope around a published event.
pub fn read_delivered(body: &str) -> Result<DomainEvent, AwsError> {
    let envelope: Envelope = serde_json::from_str(body)
        .map_err(|e| AwsError::Unreadable(format!("unreadable event message: {e}")))?;
    DomainEvent::try_from(envelope.detail)
        .map_err(|e| AwsError::Unreadable(format!("unreadable published event: {e}")))
}

/// The bus events are published to.
#[derive(Clone, Debug)]
pub struct EventBus {
    client: Client,
    name: String,
}

impl EventBus {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the bus and, for each `(name, queue ARN)` of `targets`, a rule `<bus>-<name>`
    /// that sends every billing event to that queue, as `template.yaml` declares them (the
    /// local stack and tests).
    pub async fn create(
        client: Client,
        name: &str,
        targets: &[(&str, &str)],
    ) -> Result<EventBus, AwsError> {
        match client.create_event_bus().name(name).send().await {
            Ok(_) => {}
            Err(e) if format!("{e:?}").contains("ResourceAlreadyExists") => {}
            Err(e) => return Err(bus_error(e)),
        }
        for (target, queue_arn) in targets {
            let rule = format!("{name}-{target}");
            client
                .put_rule()
                .name(&rule)
                .event_bus_name(name)
                .event_pattern(json!({"source": [EVENT_SOURCE]}).to_string())
                .send()
                .await
                .map_err(bus_error)?;
            client
                .put_targets()
                .rule(&rule)
                .event_bus_name(name)
                .targets(
                    Target::builder()
                        .id(*target)
                        .arn(*queue_arn)
                        .build()
                        .map_err(bus_error)?,
                )
                .send()
                .await
                .map_err(bus_error)?;
        }
        Ok(EventBus::new(client, name))
    }

    /// Publishes `events`; answers the ids the bus accepted.
    pub async fn publish(&self, events: &[DomainEvent]) -> Result<Vec<String>, AwsError> {
        let entries = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.name)
                    .source(EVENT_SOURCE)
                    .detail_type(e.kind.as_str())
                    .time(aws_sdk_eventbridge::primitives::DateTime::from_secs(
                        e.occurred_at.timestamp(),
                    ))
                    // The object it concerns: the subscription, the customer, or the product.
                    .resources(
                        e.subscription_id
                            .as_ref()
                            .map(ToString::to_string)
                            .or_else(|| e.customer_id.as_ref().map(ToString::to_string))
                            .or_else(|| e.facts.product_id.as_ref().map(ToString::to_string))
                            .unwrap_or_else(|| e.id.clone()),
                    )
                    .detail(detail(e).to_string())
                    .build()
            })
            .collect::<Vec<_>>();
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(bus_error)?;
        // Results come back in the order of the entries; a failed one has an error code.
        Ok(events
            .iter()
            .zip(out.entries())
            .filter(|(_, result)| result.error_code().is_none())
            .map(|(e, _)| e.id.clone())
            .collect())
    }
}
