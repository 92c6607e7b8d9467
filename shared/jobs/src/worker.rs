//! The renewal worker: each message names a subscription with work due; the domain does it.

use billing_domain::collection::Checkpoint;
use billing_domain::ids::SubscriptionId;
use billing_domain::BillingError;
use serde::Serialize;

use crate::queue::{DueMessage, Received};
use crate::RenewalQueue;
use crate::{JobError, Services};

/// Most receive rounds one drain makes (a guard against a queue that never empties).
const MAX_DRAIN_ROUNDS: usize = 10_000;

/// Processes one message. `Err` means "try again later" (the message stays on the queue).
pub async fn process(services: &Services, body: &str) -> Result<(), JobError> {
    let message: DueMessage = match serde_json::from_str(body) {
        Ok(m) => m,
        Err(e) => {
            // Retrying cannot fix it: failing sends it to the dead-letter queue for a look.
            return Err(JobError::Queue(format!("unreadable message {body:?}: {e}")));
        }
    };
    let id: SubscriptionId = message
        .subscription_id
        .parse()
        .map_err(|e| JobError::Queue(format!("bad subscription id in message: {e}")))?;
    let billing = services.billing_now().await?;
    // Boxed: the renewal's future is deep (store, Stripe, retries) and would otherwise make
    // every caller's future type deeper than the compiler's default limit.
    match Box::pin(billing.process_due(&id)).await {
        Ok(outcome) => {
            tracing::info!(subscription = %id, steps = ?outcome.steps, "processed");
            Ok(())
        }
        Err(BillingError::Store(e)) => Err(e.into()),
        Err(e) => Err(JobError::Queue(format!("{id}: {e}"))),
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DrainReport {
    pub processed: usize,
    pub failed: usize,
}

/// Which function a drained queue feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumer {
    /// The renewal worker.
    Renewals,
    /// The notifier (customer email).
    Notifier,
    /// The webhook dispatcher.
    Webhooks,
}

impl Consumer {
    /// Handles one message. `Err` means "try again later" (the message stays on the queue).
    pub async fn process(self, services: &Services, body: &str) -> Result<(), JobError> {
        match self {
            Consumer::Renewals => process(services, body).await,
            Consumer::Notifier => crate::notify::process(services, body).await,
            Consumer::Webhooks => crate::webhooks::process(services, body).await,
        }
    }

    /// Processes a batch; returns the ids of the messages that failed (SQS partial batch
    /// response).
    pub async fn process_batch(
        self,
        services: &Services,
        messages: &[(String, String)],
    ) -> Vec<String> {
        let mut failed = Vec::new();
        for (message_id, body) in messages {
            if let Err(e) = self.process(services, body).await {
                tracing::warn!(message_id, consumer = ?self, error = %e, "message failed; it will be retried");
                failed.push(message_id.clone());
            }
        }
        failed
    }
}

/// Drains the renewal queue through the worker.
pub async fn drain(services: &Services) -> Result<DrainReport, JobError> {
    drain_queue(services, services.queue()?, Consumer::Renewals).await
}

/// Receives and processes until `queue` is empty, as the Lambda event source mapping does
/// when deployed (local stack and test clock). Failed messages are made visible again at once;
/// the queue's redrive policy moves a message that keeps failing to the dead-letter queue.
pub async fn drain_queue(
    services: &Services,
    queue: &RenewalQueue,
    consumer: Consumer,
) -> Result<DrainReport, JobError> {
    let mut report = DrainReport::default();
    for _ in 0..MAX_DRAIN_ROUNDS {
        let batch = queue.receive().await?;
        if batch.is_empty() {
            return Ok(report);
        }
        let messages: Vec<(String, String)> = batch
            .iter()
            .map(|m| (m.message_id.clone(), m.body.clone()))
            .collect();
        let failed = consumer.process_batch(services, &messages).await;
        let mut handled = Vec::with_capacity(batch.len());
        for Received {
            message_id,
            receipt_handle,
            ..
        } in &batch
        {
            let crashed = consumer == Consumer::Renewals
                && services
                    .billing
                    .checkpoints
                    .reach(Checkpoint::BeforeMessageDelete)
                    .is_err();
            if failed.contains(message_id) || crashed {
                report.failed += 1;
                queue.release(receipt_handle).await?;
            } else {
                report.processed += 1;
                handled.push(receipt_handle.as_str());
            }
        }
        queue.delete_all(&handled).await?;
    }
    Err(JobError::Stuck(format!(
        "the queue {} did not empty after {MAX_DRAIN_ROUNDS} rounds",
        queue.url()
    )))
}
