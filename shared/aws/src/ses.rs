//! SES: the mailer customer email is sent through, and SES's reports of bounces and complaints,
//! which SNS delivers from the configuration set's event destination to the notifications queue
//! (an SNS envelope whose `Message` is SES's JSON).

use async_trait::async_trait;
use aws_sdk_ses::types::{Body, Content, Destination, Message, MessageTag};
use billing_domain::kernel::ids::CustomerId;
use billing_domain::notifications::MailFeedback;
use billing_notifications::{MailError, Mailer, OutgoingEmail};
use serde_json::Value;

use crate::AwsError;

/// Sends through SES `SendEmail` with both parts (HTML and text), never SES-side templates.
#[derive(Clone, Debug)]
pub struct SesMailer {
    client: aws_sdk_ses::Client,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: aws_sdk_ses::Client) -> Self {
        Self {
            client,
            configuration_set: None,
        }
    }

    /// Sends with an SES configuration set (its event destination reports bounces and
    /// complaints).
    pub fn with_configuration_set(mut self, name: Option<String>) -> Self {
        self.configuration_set = name;
        self
    }

    /// Verifies the sender (the emulator, like SES in its sandbox, refuses unverified ones):
    /// the local stack and tests call this at start-up.
    pub async fn verify_sender(&self, from: &str) -> Result<(), AwsError> {
        self.client
            .verify_email_identity()
            .email_address(from)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::Config(format!("verifying the sender {from}: {e:?}")))
    }
}

/// The SES message tag that names the customer an email is for; SES's bounce and complaint
/// reports carry it back (`mail.tags`).
pub const CUSTOMER_TAG: &str = "customer_id";

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
            .set_tags(
                email
                    .customer_id
                    .as_ref()
                    .map(|customer| {
                        MessageTag::builder()
                            .name(CUSTOMER_TAG)
                            .value(customer.as_str())
                            .build()
                            .map_err(|e| MailError {
                                message: e.to_string(),
                                retryable: false,
                            })
                    })
                    .transpose()?
                    .map(|tag| vec![tag]),
            )
            .set_configuration_set_name(self.configuration_set.clone())
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

/// A message from SES about email it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailReport {
    /// A bounce or a complaint.
    Feedback(MailFeedback),
    /// Something else SES reports (a delivery, an open...), or SNS's own messages.
    Other(String),
}

/// Reads SES's report of a sent email, as SNS delivers it to a queue (an envelope whose
/// `Message` is SES's JSON) or raw: event publishing's `eventType` and identity notifications'
/// `notificationType` alike. `None`: the message is not from SES (an event from the bus).
pub fn read_mail_report(body: &str) -> Option<MailReport> {
    let outer: Value = serde_json::from_str(body).ok()?;
    let report = match outer.get("Type").and_then(Value::as_str) {
        Some("Notification") => {
            let message = outer.get("Message").and_then(Value::as_str).unwrap_or("");
            match serde_json::from_str::<Value>(message) {
                Ok(inner) => inner,
                Err(e) => return Some(MailReport::Other(format!("unreadable SNS message: {e}"))),
            }
        }
        Some(other) => return Some(MailReport::Other(format!("SNS {other}"))),
        None => outer,
    };
    let kind = report
        .get("eventType")
        .or_else(|| report.get("notificationType"))
        .and_then(Value::as_str)?;
    // The customer the email was for: the tag it was sent with, when SES gives it back.
    let customer = report["mail"]["tags"][CUSTOMER_TAG]
        .as_array()
        .and_then(|values| values.first())
        .and_then(Value::as_str)
        .and_then(|id| id.parse::<CustomerId>().ok());
    let addresses = |list: &Value| -> Vec<String> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("emailAddress").and_then(Value::as_str))
            .map(str::to_owned)
            .collect()
    };
    Some(match kind {
        "Bounce" => {
            let bounce = &report["bounce"];
            MailReport::Feedback(MailFeedback::Bounce {
                permanent: bounce["bounceType"] == "Permanent",
                addresses: addresses(&bounce["bouncedRecipients"]),
                detail: bounce["bouncedRecipients"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|r| r.get("diagnosticCode").and_then(Value::as_str))
                    .map(|d| d.chars().take(500).collect()),
                customer,
            })
        }
        "Complaint" => MailReport::Feedback(MailFeedback::Complaint {
            addresses: addresses(&report["complaint"]["complainedRecipients"]),
            customer,
        }),
        other => MailReport::Other(other.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `message` inside the SNS envelope an SQS subscription receives.
    fn sns(message: &Value) -> String {
        serde_json::json!({
            "Type": "Notification",
            "MessageId": "a1b2c3d4-0000-4000-8000-000000000001",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:billing-mail-feedback",
            "Message": message.to_string(),
            "Timestamp": "2030-04-10T12:00:01.000Z",
            "SignatureVersion": "1",
        })
        .to_string()
    }

    /// A permanent bounce of mail to `ap@acme.example` as SES's configuration-set event
    /// publishing reports it (the shape of AWS's "Examples of event data that Amazon SES
    /// publishes to Amazon SNS"); the e2e tests publish the same file.
    fn bounce(bounce_type: &str) -> Value {
        let mut event: Value =
            serde_json::from_str(include_str!("../fixtures/ses-bounce.json")).expect("fixture");
        event["bounce"]["bounceType"] = bounce_type.into();
        event
    }

    #[test]
    fn a_permanent_bounce_names_its_addresses_and_the_servers_reason() {
        assert_eq!(
            read_mail_report(&sns(&bounce("Permanent"))),
            Some(MailReport::Feedback(MailFeedback::Bounce {
                permanent: true,
                addresses: vec!["ap@acme.example".into()],
                detail: Some("smtp; 550 5.1.1 user unknown".into()),
                // The tag the email was sent with names whose mail bounced.
                customer: "cus_00000000000000000000acme".parse().ok(),
            }))
        );
        let transient = read_mail_report(&sns(&bounce("Transient")));
        assert!(matches!(
            transient,
            Some(MailReport::Feedback(MailFeedback::Bounce {
                permanent: false,
                ..
            }))
        ));
    }

    #[test]
    fn complaints_are_read_raw_or_in_the_envelope_and_other_reports_are_not_feedback() {
        // Identity notifications say `notificationType`; raw message delivery has no envelope.
        let complaint = serde_json::json!({
            "notificationType": "Complaint",
            "complaint": {
                "complainedRecipients": [{"emailAddress": "cfo@acme.example"}],
                "complaintFeedbackType": "abuse",
                "timestamp": "2030-04-10T12:00:00.000Z",
                "feedbackId": "0100017c-complaint"
            },
            "mail": {"messageId": "0100017c-mail", "destination": ["cfo@acme.example"]}
        });
        let expected = Some(MailReport::Feedback(MailFeedback::Complaint {
            addresses: vec!["cfo@acme.example".into()],
            customer: None,
        }));
        assert_eq!(read_mail_report(&complaint.to_string()), expected);
        assert_eq!(read_mail_report(&sns(&complaint)), expected);
        let delivery = serde_json::json!({"eventType": "Delivery", "mail": {}});
        assert_eq!(
            read_mail_report(&sns(&delivery)),
            Some(MailReport::Other("Delivery".into()))
        );
        // An event from the bus is not SES's.
        let envelope = serde_json::json!({
            "version": "0", "detail-type": "invoice.paid", "source": "billing", "detail": {}
        });
        assert_eq!(read_mail_report(&envelope.to_string()), None);
        assert_eq!(read_mail_report("not json"), None);
    }
}
