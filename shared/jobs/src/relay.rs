//! The event relay: publishes the outbox's domain events to the EventBridge bus, whose rules
//! hand each one to the notifications and webhooks queues (SQS). Runs on a one-minute schedule
//! when deployed, and after every test-clock advance and local tick.
//!
//! At least once: an event is taken out of the outbox only after the bus accepted it, so a relay
//! that dies in between publishes it again; receivers dedupe by `id`.

use billing_aws::eventbridge::{EventBus, BATCH};
use billing_domain::events::DomainEvent;
use billing_store_dynamodb::DynamoStore;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::JobError;

/// How many outbox events one relay run takes at most.
const MAX_PER_RUN: usize = 1000;

/// What one relay run did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RelayReport {
    pub published: usize,
    pub failed: usize,
}

/// Publishes what is waiting in the outbox, oldest first.
pub async fn relay(
    store: &DynamoStore,
    bus: &EventBus,
    now: DateTime<Utc>,
) -> Result<RelayReport, JobError> {
    let mut report = RelayReport::default();
    // The outbox index is eventually consistent: an event just taken out may still be listed.
    let mut done = std::collections::HashSet::new();
    while report.published + report.failed < MAX_PER_RUN {
        let waiting: Vec<DomainEvent> = store
            .unpublished_events(100)
            .await?
            .into_iter()
            .filter(|e| !done.contains(&e.id))
            .collect();
        if waiting.is_empty() {
            break;
        }
        let mut progress = false;
        for batch in waiting.chunks(BATCH) {
            let accepted = bus.publish(batch).await?;
            report.failed += batch.len() - accepted.len();
            for id in &accepted {
                store.mark_published(id, now).await?;
                done.insert(id.clone());
            }
            progress |= !accepted.is_empty();
            report.published += accepted.len();
        }
        if !progress {
            break;
        }
    }
    Ok(report)
}
