//! The renewal worker: each message names a subscription with work due, or a pre-order its
//! product's release sends to be charged; the domain does it.

use billing_domain::collection::Checkpoint;
use billing_domain::kernel::ids::{PreorderId, SubscriptionId};
use billing_domain::BillingError;
use serde::Serialize;

use billing_aws::sqs::{DueMessage, Received};
use billing_aws::SqsQueue;

use crate::{JobError, Jobs};

/// Most receive rounds one drain makes (a guard against a queue that never empties).
const MAX_DRAIN_ROUNDS: usize = 10_000;

/// Processes one message. `Err` means "try again later" (the message stays on the queue).
pub async fn process(jobs: &Jobs, body: &str) -> Result<(), JobError> {
    if let Ok(charge) = serde_json::from_str::<PreorderMessage>(body) {
        return charge_preorder(jobs, &charge.preorder_id).await;
    }
    let message: DueMessage = serde_json::from_str(body)
        .map_err(|e| JobError::Permanent(format!("unreadable message: {e}")))?;
    let id: SubscriptionId = message
        .subscription_id
        .parse()
        .map_err(|e| JobError::Permanent(format!("bad subscription id in message: {e}")))?;
    let billing = jobs.services.clocked_billing().await?;
    // Boxed: the renewal's future is deep (store, Stripe, retries) and would otherwise make
    // every caller's future type deeper than the compiler's default limit.
    match Box::pin(billing.process_due(&id)).await {
        Ok(outcome) => {
            tracing::info!(subscription = %id, steps = ?outcome.steps, "processed");
            Ok(())
        }
        Err(e) if is_permanent(&e) => Err(JobError::Permanent(format!("{id}: {e}"))),
        Err(BillingError::Store(e)) => Err(e.into()),
        Err(e) => Err(JobError::Queue(format!("{id}: {e}"))),
    }
}

/// A pre-order to charge (sent by a product's release): `{"preorder_id": "po_…"}`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreorderMessage {
    pub preorder_id: String,
}

/// Charges one pre-order; a redelivered message finds its invoice and charges nothing twice.
async fn charge_preorder(jobs: &Jobs, raw: &str) -> Result<(), JobError> {
    let id: PreorderId = raw
        .parse()
        .map_err(|e| JobError::Permanent(format!("bad pre-order id in message: {e}")))?;
    let billing = jobs.services.clocked_billing().await?;
    match Box::pin(billing.charge_preorder(&id)).await {
        Ok(preorder) => {
            tracing::info!(preorder = %id, status = preorder.status.as_str(), "pre-order charged");
            Ok(())
        }
        Err(e) if is_permanent(&e) => Err(JobError::Permanent(format!("{id}: {e}"))),
        Err(BillingError::Store(e)) => Err(e.into()),
        Err(e) => Err(JobError::Queue(format!("{id}: {e}"))),
    }
}

/// Whether retrying a renewal that failed with `error` cannot help. Unavailable services,
/// conflicts with another writer and interruptions are worth retrying; the rest are not.
fn is_permanent(error: &BillingError) -> bool {
    use billing_domain::collection::payments::PaymentError;
    use billing_domain::kernel::ports::StoreError;
    match error {
        BillingError::NotFound(_)
        | BillingError::Validation(_)
        | BillingError::Conflict(_)
        | BillingError::Money(_)
        | BillingError::Refused(_)
        | BillingError::PaymentDeclined { .. }
        | BillingError::Payment(PaymentError::Rejected(_) | PaymentError::Refused { .. })
        | BillingError::Store(StoreError::Corrupt(_)) => true,
        BillingError::StaleVersion(_)
        | BillingError::Interrupted(_)
        | BillingError::Payment(PaymentError::Transient(_))
        | BillingError::Store(_) => false,
    }
}

/// How many renewals of one batch run at once (each waits mostly on DynamoDB and Stripe).
const RENEWALS_AT_ONCE: usize = 4;

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
    pub async fn process(self, jobs: &Jobs, body: &str) -> Result<(), JobError> {
        match self {
            Consumer::Renewals => process(jobs, body).await,
            Consumer::Notifier => crate::notifier::process(jobs, body).await,
            Consumer::Webhooks => crate::dispatcher::process(jobs, body).await,
        }
    }

    /// Processes a batch; returns the ids of the messages that failed and are worth retrying
    /// (SQS partial batch response). Renewals run [`RENEWALS_AT_ONCE`] at a time; email and
    /// webhooks one after another, in the batch's order. A permanent failure is recorded (an
    /// error log line with the message id) and its message deleted, not retried.
    pub async fn process_batch(self, jobs: &Jobs, messages: &[(String, String)]) -> Vec<String> {
        let at_once = match self {
            Consumer::Renewals => RENEWALS_AT_ONCE,
            Consumer::Notifier | Consumer::Webhooks => 1,
        };
        let mut failed = Vec::new();
        for group in messages.chunks(at_once) {
            let outcomes = futures::future::join_all(
                group
                    .iter()
                    .map(|(message_id, body)| self.handle(jobs, message_id, body)),
            )
            .await;
            failed.extend(outcomes.into_iter().flatten());
        }
        failed
    }

    /// One message of a batch: `Some(id)` if it should be retried.
    async fn handle(self, jobs: &Jobs, message_id: &str, body: &str) -> Option<String> {
        match self.process(jobs, body).await {
            Ok(()) => None,
            Err(JobError::Permanent(why)) => {
                tracing::error!(message_id, consumer = ?self, error = %why, "message failed for good; recorded and deleted");
                None
            }
            Err(e) => {
                tracing::warn!(message_id, consumer = ?self, error = %e, "message failed; it will be retried");
                Some(message_id.to_owned())
            }
        }
    }
}

/// Drains the renewal queue through the worker.
pub async fn drain(jobs: &Jobs) -> Result<DrainReport, JobError> {
    drain_queue(jobs, jobs.renewal_queue()?, Consumer::Renewals).await
}

/// Receives and processes until `queue` is empty, as the Lambda event source mapping does
/// when deployed (local stack and test clock). Failed messages are made visible again at once;
/// the queue's redrive policy moves a message that keeps failing to the dead-letter queue.
pub async fn drain_queue(
    jobs: &Jobs,
    queue: &SqsQueue,
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
        let failed = consumer.process_batch(jobs, &messages).await;
        let mut handled = Vec::with_capacity(batch.len());
        for Received {
            message_id,
            receipt_handle,
            ..
        } in &batch
        {
            let crashed = consumer == Consumer::Renewals
                && jobs
                    .services
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
