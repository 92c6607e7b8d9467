//! The notifier function's side of AWS: the SES mailer, and the handling of the notifications
//! queue (each message is an EventBridge envelope whose `detail` is a published event).

use async_trait::async_trait;
use aws_sdk_ses::types::{Body, Content, Destination, Message};
use billing_notifications::{MailError, Mailer, NotifyError, Outcome, OutgoingEmail};

use crate::{JobError, Services};

/// Sends through SES `SendEmail` with both parts (HTML and text), never SES-side templates.
#[derive(Clone, Debug)]
pub struct SesMailer {
    client: aws_sdk_ses::Client,
}

impl SesMailer {
    pub fn new(client: aws_sdk_ses::Client) -> Self {
        Self { client }
    }

    /// Verifies the sender (the emulator, like SES in its sandbox, refuses unverified ones):
    /// the local stack and tests call this at start-up.
    pub async fn verify_sender(&self, from: &str) -> Result<(), JobError> {
        self.client
            .verify_email_identity()
            .email_address(from)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| JobError::Config(format!("verifying the sender {from}: {e:?}")))
    }
}

fn content(text: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError {
            message: e.to_string(),
            retryable: false,
        })
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, MailError> {
        let message = Message::builder()
            .subject(content(&email.content.subject)?)
            .body(
                Body::builder()
                    .html(content(&email.content.html)?)
                    .text(content(&email.content.text)?)
                    .build(),
            )
            .build();
        let out = self
            .client
            .send_email()
            .source(&email.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(
                        email.to.iter().map(|a| a.as_str().to_owned()).collect(),
                    ))
                    .build(),
            )
            .message(message)
            .send()
            .await
            .map_err(|e| {
                let retryable = e.as_service_error().is_none_or(|se| {
                    !(se.is_message_rejected() || se.is_mail_from_domain_not_verified_exception())
                });
                MailError {
                    message: format!("{e:?}"),
                    retryable,
                }
            })?;
        Ok(out.message_id().to_owned())
    }
}

/// Handles one message. `Err` means "try again later" (the message stays on the queue, and
/// goes to the dead-letter queue after the redrive policy's receives).
pub async fn process(services: &Services, body: &str) -> Result<Outcome, JobError> {
    let event = crate::events::read_delivered(body)?;
    let notifier = services.notifier_now().await?;
    match notifier.handle(&event).await {
        Ok(outcome) => {
            tracing::info!(event = %event.id, ?outcome, "notification handled");
            Ok(outcome)
        }
        Err(NotifyError::Store(e)) => Err(e.into()),
        Err(e) => Err(JobError::Queue(format!("{}: {e}", event.id))),
    }
}
