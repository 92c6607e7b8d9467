//! An SQS queue: the renewal queue (one message per subscription and due time), the
//! notifications and webhooks queues the bus's rules fill, and their dead-letter queues.

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, QueueAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use billing_domain::kernel::ids::SubscriptionId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::AwsError;

/// What the scheduler sends: this subscription has work due at `due_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueMessage {
    pub subscription_id: String,
    pub due_at: DateTime<Utc>,
}

/// A received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
}

/// One queue, by URL.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

/// A batch call's entries that failed, as an error naming them.
fn all_done<T: std::fmt::Debug>(failed: &[T], what: &str) -> Result<(), AwsError> {
    if failed.is_empty() {
        return Ok(());
    }
    Err(AwsError::Call(format!(
        "{} messages were not {what}: {failed:?}",
        failed.len()
    )))
}

fn sqs<E: std::fmt::Debug>(e: E) -> AwsError {
    AwsError::Call(format!("{e:?}"))
}

async fn queue_arn(client: &Client, url: &str) -> Result<String, AwsError> {
    let attributes = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sqs)?;
    attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| AwsError::Call(format!("the queue {url} has no ARN")))
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates the queue and its dead-letter queue (after `max_receives` failed receives a
    /// message moves there) if needed; returns the queue.
    pub async fn create(client: Client, name: &str, max_receives: u32) -> Result<Self, AwsError> {
        let dlq = client
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .send()
            .await
            .map_err(sqs)?;
        let dlq_url = dlq.queue_url().unwrap_or_default().to_owned();
        let dlq_arn = queue_arn(&client, &dlq_url).await?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": max_receives.to_string(),
        });
        let out = client
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .attributes(QueueAttributeName::VisibilityTimeout, "60")
            .send()
            .await
            .map_err(sqs)?;
        let url = out
            .queue_url()
            .ok_or_else(|| AwsError::Call("create_queue answered no URL".into()))?;
        Ok(Self::new(client, url))
    }

    /// The queue's ARN (what an EventBridge rule targets).
    pub async fn arn(&self) -> Result<String, AwsError> {
        queue_arn(&self.client, &self.url).await
    }

    /// Sends one message per entry, ten per call; returns how many were sent.
    pub async fn send(&self, due: &[(SubscriptionId, DateTime<Utc>)]) -> Result<usize, AwsError> {
        let bodies = due
            .iter()
            .map(|(id, at)| {
                serde_json::to_string(&DueMessage {
                    subscription_id: id.to_string(),
                    due_at: *at,
                })
                .map_err(|e| AwsError::Call(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.send_bodies(&bodies).await
    }

    /// Sends each body as one message, ten per call; returns how many were sent.
    pub async fn send_bodies(&self, bodies: &[String]) -> Result<usize, AwsError> {
        for chunk in bodies.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(sqs)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs)?;
            all_done(out.failed(), "sent")?;
        }
        Ok(bodies.len())
    }

    /// Sends one message as it is (a redrive from the dead-letter queue, a redelivery).
    pub async fn send_body(&self, body: &str) -> Result<(), AwsError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(sqs)
    }

    /// Up to ten messages, without waiting.
    pub async fn receive(&self) -> Result<Vec<Received>, AwsError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(sqs)?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                Some(Received {
                    message_id: m.message_id()?.to_owned(),
                    receipt_handle: m.receipt_handle()?.to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                })
            })
            .collect())
    }

    pub async fn delete(&self, receipt_handle: &str) -> Result<(), AwsError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map(|_| ())
            .map_err(sqs)
    }

    /// Deletes handled messages ten per call, as Lambda's SQS event source deletes a batch's
    /// successes.
    pub async fn delete_all(&self, receipt_handles: &[&str]) -> Result<(), AwsError> {
        for chunk in receipt_handles.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, handle)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*handle)
                        .build()
                        .map_err(sqs)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs)?;
            all_done(out.failed(), "deleted")?;
        }
        Ok(())
    }

    /// Makes a message visible again at once (to be retried).
    pub async fn release(&self, receipt_handle: &str) -> Result<(), AwsError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(0)
            .send()
            .await
            .map(|_| ())
            .map_err(sqs)
    }
}
