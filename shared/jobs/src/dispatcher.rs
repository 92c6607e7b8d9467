//! The webhook dispatcher: consumes the webhooks queue, each message an event envelope the bus
//! delivered (fanned out to the endpoints that asked for it), or a delivery the scheduler found
//! due for a retry.

use billing_aws::eventbridge::read_delivered;
use billing_domain::BillingError;

use crate::{JobError, Jobs};

/// A retry the scheduler found due; every other webhooks-queue message is an event the bus
/// delivered.
#[derive(serde::Deserialize)]
struct Retry {
    webhook_delivery_id: String,
}

/// Handles one message; `Err` leaves it on the queue (dead-lettered after the redrive policy's
/// receives).
pub async fn process(jobs: &Jobs, body: &str) -> Result<(), JobError> {
    let webhooks = jobs.services.clocked_webhooks().await?;
    let fail = |e: BillingError| match e {
        BillingError::Store(e) => JobError::Store(e),
        other => JobError::Queue(other.to_string()),
    };
    if let Ok(Retry {
        webhook_delivery_id,
    }) = serde_json::from_str(body)
    {
        let id = webhook_delivery_id
            .parse()
            .map_err(|e| JobError::Queue(format!("bad delivery id: {e}")))?;
        return match webhooks.attempt(&id, false).await {
            // Deleted with its endpoint meanwhile: nothing to retry.
            Err(BillingError::NotFound(_)) => Ok(()),
            other => other.map(|_| ()).map_err(fail),
        };
    }
    let event = read_delivered(body)?;
    let report = webhooks.fan_out(&event).await.map_err(fail)?;
    tracing::info!(event = %event.id, ?report, "webhooks fanned out");
    Ok(())
}
