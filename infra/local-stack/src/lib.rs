//! The local stack: the table, the seeded catalogue, and a local gateway that turns each HTTP
//! request into the API Gateway (HTTP API, payload 2.0) event a deployed function receives and
//! calls the same handler. Never deployed.

pub mod counting;
pub mod gateway;
pub mod token;

use billing_aws::SqsQueue;
use billing_domain::catalogue::PlanRepo;
use billing_domain::catalogue::{standard_plans, unit_plans};
use billing_domain::kernel::clock::Clock;
use billing_domain::kernel::ports::StoreError;
use billing_jobs::JobError;
use billing_store_dynamodb::{create_table, DynamoStore};

/// A message that fails this many receives moves to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

/// Creates the renewal queue `name` and its dead-letter queue `<name>-dlq` in the emulator
/// (the standard AWS environment) if needed.
pub async fn prepare_queue(name: &str) -> Result<SqsQueue, JobError> {
    let config = aws_config::load_from_env().await;
    Ok(SqsQueue::create(aws_sdk_sqs::Client::new(&config), name, MAX_RECEIVES).await?)
}

/// The queues the event bus's rules fill: the notifier's and the webhook dispatcher's.
pub struct EventQueues {
    pub notifications: SqsQueue,
    pub webhooks: SqsQueue,
}

/// Creates the event bus, the notifications and webhooks queues (each with its dead-letter
/// queue) and the rules that deliver every billing event to both, as `template.yaml` declares
/// them.
pub async fn prepare_events(
    bus: &str,
    notifications: &str,
    webhooks: &str,
) -> Result<EventQueues, JobError> {
    let config = aws_config::load_from_env().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let notifications = SqsQueue::create(sqs.clone(), notifications, MAX_RECEIVES).await?;
    let webhooks = SqsQueue::create(sqs, webhooks, MAX_RECEIVES).await?;
    billing_aws::EventBus::create(
        aws_sdk_eventbridge::Client::new(&config),
        bus,
        &[
            ("notifications", &notifications.arn().await?),
            ("webhooks", &webhooks.arn().await?),
        ],
    )
    .await?;
    Ok(EventQueues {
        notifications,
        webhooks,
    })
}

/// The SNS topic SES reports bounces and complaints to (its configuration set's event
/// destination when deployed), subscribed by the notifications queue as `template.yaml`
/// declares. The emulator's SES does not report real bounces: publish SES's JSON here to see
/// what the notifier does with one.
#[derive(Clone, Debug)]
pub struct MailFeedbackTopic {
    client: aws_sdk_sns::Client,
    pub arn: String,
}

impl MailFeedbackTopic {
    /// Creates the topic (or finds it) and subscribes `queue` to it.
    pub async fn create(name: &str, queue: &SqsQueue) -> Result<Self, JobError> {
        let config = aws_config::load_from_env().await;
        let client = aws_sdk_sns::Client::new(&config);
        let arn = client
            .create_topic()
            .name(name)
            .send()
            .await
            .map_err(sns)?
            .topic_arn()
            .ok_or_else(|| JobError::Queue("SNS: the topic has no ARN".into()))?
            .to_owned();
        client
            .subscribe()
            .topic_arn(&arn)
            .protocol("sqs")
            .endpoint(queue.arn().await?)
            .send()
            .await
            .map_err(sns)?;
        Ok(MailFeedbackTopic { client, arn })
    }

    /// Publishes a message as SES publishes its reports.
    pub async fn publish(&self, message: &str) -> Result<(), JobError> {
        self.client
            .publish()
            .topic_arn(&self.arn)
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(sns)
    }
}

fn sns<E: std::fmt::Debug>(e: E) -> JobError {
    JobError::Queue(format!("SNS: {e:?}"))
}

/// The sender of the local stack's email when `MAIL_FROM` is not set.
pub const LOCAL_MAIL_FROM: &str = "Billing <billing@example.com>";

/// Verifies the sender in the emulator's SES (which, like SES's sandbox, refuses others).
pub async fn prepare_mail(from: &str) -> Result<(), JobError> {
    let config = aws_config::load_from_env().await;
    Ok(
        billing_aws::SesMailer::new(aws_sdk_ses::Client::new(&config))
            .verify_sender(from)
            .await?,
    )
}

/// Creates the table if needed and seeds the standard catalogue and the unit plans (plans
/// already there are kept).
pub async fn prepare(store: &DynamoStore, clock: &dyn Clock) -> Result<usize, StoreError> {
    create_table(store.client(), store.table()).await?;
    let mut seeded = 0;
    for plan in standard_plans(clock.now())
        .into_iter()
        .chain(unit_plans(clock.now()))
    {
        match store.insert_plan(&plan).await {
            Ok(()) => seeded += 1,
            Err(StoreError::AlreadyExists) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(seeded)
}
