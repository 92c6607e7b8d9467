//! The notifier: consumes the notifications queue. Its messages are EventBridge envelopes whose
//! `detail` is a published event (the email it asks for is sent, once), and SES's reports of
//! bounces and complaints (the addresses they name are suppressed).

use billing_aws::eventbridge::read_delivered;
use billing_aws::ses::{read_mail_report, MailReport};
use billing_domain::notifications::NotificationRepo;
use billing_notifications::NotifyError;

use crate::{JobError, Jobs};

/// Handles one message. `Err` means "try again later" (the message stays on the queue, and
/// goes to the dead-letter queue after the redrive policy's receives).
pub async fn process(jobs: &Jobs, body: &str) -> Result<(), JobError> {
    if let Some(report) = read_mail_report(body) {
        return record_mail_report(jobs, report).await;
    }
    let event = read_delivered(body)?;
    let notifier = jobs.clocked_notifier().await?;
    match notifier.handle(&event).await {
        Ok(outcome) => {
            tracing::info!(event = %event.id, ?outcome, "notification handled");
            Ok(())
        }
        Err(NotifyError::Store(e)) => Err(e.into()),
        Err(e) => Err(JobError::Queue(format!("{}: {e}", event.id))),
    }
}

/// A stable reference to an email address for the logs, which never carry the address itself:
/// the first 12 hex digits of its SHA-256, lower-cased first (an operator who knows the address
/// can find its lines).
pub fn address_ref(address: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(address.trim().to_lowercase().as_bytes());
    hex::encode(&digest[..6])
}

/// Suppresses the addresses a bounce or complaint names (again and again on redelivery: the
/// first suppression stands).
async fn record_mail_report(jobs: &Jobs, report: MailReport) -> Result<(), JobError> {
    let MailReport::Feedback(feedback) = report else {
        tracing::info!(?report, "SES report ignored");
        return Ok(());
    };
    let now = jobs.services.clocked_billing().await?.now();
    for suppression in feedback.suppressions(now) {
        jobs.services.store.suppress(&suppression).await?;
        tracing::warn!(
            address_ref = %address_ref(suppression.address.as_str()),
            reason = ?suppression.reason,
            "address suppressed"
        );
    }
    Ok(())
}
