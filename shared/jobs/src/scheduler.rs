//! The scheduler: what is due at `as_of`, from the due index, onto the renewal queue.

use billing_store_dynamodb::{DynamoStore, DUE_SHARDS};
use chrono::{DateTime, Utc};
use serde::Serialize;

use billing_aws::SqsQueue;

use crate::{JobError, Jobs};

/// Most subscriptions one run sends per shard; the rest go with the next run.
const MAX_PER_SHARD: usize = 10_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ScheduleReport {
    /// Messages sent: one per subscription with work due.
    pub sent: usize,
}

/// Finds every subscription with work due at or before `as_of` and sends one message for each.
/// Replaying a past `as_of` finds only what is still due; running twice, or two runs at once,
/// sends duplicates that the worker turns into no-ops.
pub async fn run(
    store: &DynamoStore,
    queue: &SqsQueue,
    as_of: DateTime<Utc>,
) -> Result<ScheduleReport, JobError> {
    let mut report = ScheduleReport::default();
    for shard in 0..DUE_SHARDS {
        let due = store.due_subscriptions(shard, as_of, MAX_PER_SHARD).await?;
        report.sent += queue.send(&due).await?;
    }
    tracing::info!(as_of = %as_of, sent = report.sent, "scheduler run");
    Ok(report)
}

/// Most product releases one run starts; the rest go with the next run.
const MAX_RELEASES: usize = 100;

/// Most pre-order payment retries one run sends.
const MAX_PREORDER_RETRIES: usize = 1000;

/// Runs the releases due at `as_of`: each product's reserved pre-orders are sent to the renewal
/// queue to be charged (`{"preorder_id"}`), then the product is marked released. A run that
/// stops between the two sends them again next time, and the worker charges each once. Then the
/// pre-orders whose declined charge is due to be tried again are sent the same way.
pub async fn release_products(jobs: &Jobs, as_of: DateTime<Utc>) -> Result<usize, JobError> {
    let billing = jobs.services.billing.at(as_of);
    let queue = jobs.renewal_queue()?;
    let mut sent = 0;
    for product in jobs
        .services
        .store
        .due_releases(as_of, MAX_RELEASES)
        .await?
    {
        let failed = |e: billing_domain::BillingError| JobError::Queue(format!("{product}: {e}"));
        let (ids, complete) = billing.release_queue(&product).await.map_err(failed)?;
        let bodies: Vec<String> = ids
            .iter()
            .map(|id| serde_json::json!({ "preorder_id": id.to_string() }).to_string())
            .collect();
        sent += queue.send_bodies(&bodies).await?;
        if complete {
            billing.mark_released(&product).await.map_err(failed)?;
        }
        tracing::info!(product = %product, pre_orders = ids.len(), "release run");
    }
    let retries: Vec<String> = jobs
        .services
        .store
        .due_preorder_retries(as_of, MAX_PREORDER_RETRIES)
        .await?
        .iter()
        .map(|id| serde_json::json!({ "preorder_id": id.to_string() }).to_string())
        .collect();
    sent += queue.send_bodies(&retries).await?;
    // Pre-order openings: announced here (one product write each); the notifier tells the
    // trackers.
    for product in jobs
        .services
        .store
        .due_openings(as_of, MAX_RELEASES)
        .await?
    {
        billing
            .announce_openings(&product)
            .await
            .map_err(|e| JobError::Queue(format!("{product}: {e}")))?;
    }
    Ok(sent)
}

/// Most webhook retries one run sends.
const MAX_WEBHOOK_RETRIES: usize = 1000;

/// Sends one message per webhook delivery whose retry is due at `as_of` to the webhooks
/// queue (the dispatcher attempts it; one that is not due any more is skipped there).
pub async fn schedule_webhook_retries(
    store: &DynamoStore,
    queue: &SqsQueue,
    as_of: DateTime<Utc>,
) -> Result<usize, JobError> {
    use billing_domain::webhooks::WebhookRepo;
    let bodies: Vec<String> = store
        .due_deliveries(as_of, MAX_WEBHOOK_RETRIES)
        .await?
        .iter()
        .map(|id| serde_json::json!({ "webhook_delivery_id": id.to_string() }).to_string())
        .collect();
    Ok(queue.send_bodies(&bodies).await?)
}
