//! The jobs: everything that runs outside a request. An EventBridge schedule invokes the
//! scheduler, which reads what is due from the store's due index (never a scan) and sends one
//! SQS message per subscription and due time; the renewal worker consumes them in batches, runs
//! the domain's [`Billing::process_due`] for each and reports partial batch failures. The due
//! index, not the queue, is the record of what is owed: a lost or dead-lettered message is sent
//! again by the next run, and a duplicate changes nothing. The event relay publishes the
//! outbox to the bus; the notifier sends the email its events ask for; the webhook dispatcher
//! posts them to operators' endpoints. The test clock runs them all in time order.
//!
//! The wiring they share with the API is `billing-wiring`; the AWS adapters they call
//! (SQS, EventBridge, SES) are `billing-aws`.
//!
//! [`Billing::process_due`]: billing_domain::kernel::service::Billing

pub mod dispatcher;
pub mod functions;
pub mod notifier;
pub mod relay;
pub mod scheduler;
pub mod test_clock;
pub mod worker;

use std::sync::Arc;

use async_trait::async_trait;
use billing_aws::{AwsError, EventBus, SesMailer, SqsQueue};
use billing_domain::kernel::ports::StoreError;
use billing_notifications::{Mailer, Notifier};
use billing_wiring::{AdvanceError, ConfigError, Services, Settings, SystemClock, TestClockRunner};
use chrono::{DateTime, Utc};

pub use billing_wiring::{settings, telemetry};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("queue: {0}")]
    Queue(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Stuck(String),
    /// Retrying cannot help (the subscription is gone, the move is illegal, the item cannot be
    /// read): the consumer records it (an error log line with the message id) and deletes the
    /// message instead of retrying it into the dead-letter queue.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<AwsError> for JobError {
    fn from(e: AwsError) -> Self {
        match e {
            AwsError::Call(why) | AwsError::Unreadable(why) => JobError::Queue(why),
            AwsError::Config(why) => JobError::Config(why),
        }
    }
}

impl From<ConfigError> for JobError {
    fn from(e: ConfigError) -> Self {
        JobError::Config(e.0)
    }
}

/// The AWS clients a job function builds at cold start, besides DynamoDB's (every function's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uses {
    /// SQS, to send to the renewal queue (`RENEWAL_QUEUE_URL`): the scheduler.
    pub renewal_queue: bool,
    /// SQS, to send webhook retries (`WEBHOOKS_QUEUE_URL`): the scheduler.
    pub webhooks_queue: bool,
    /// SES, to send email (`MAIL_FROM`): the notifier.
    pub mail: bool,
    /// SQS, to receive from the notifications queue (`NOTIFICATIONS_QUEUE_URL`): only where no
    /// event source mapping delivers it (the local stack).
    pub notifications_queue: bool,
    /// EventBridge, to publish events (`EVENT_BUS_NAME`): the event relay.
    pub event_bus: bool,
}

impl Uses {
    /// The renewal worker and the webhook dispatcher: DynamoDB (and Stripe, and the webhook
    /// sender's HTTP client) only.
    pub const NONE: Uses = Uses {
        renewal_queue: false,
        webhooks_queue: false,
        mail: false,
        notifications_queue: false,
        event_bus: false,
    };

    /// The local stack, which does in one process what the bus, the queues and every function
    /// do when deployed.
    pub const ALL: Uses = Uses {
        renewal_queue: true,
        webhooks_queue: true,
        mail: true,
        notifications_queue: true,
        event_bus: true,
    };
}

/// The services of [`Services`] plus what the jobs send to and receive from: the queues, the
/// event bus and the customer email sender. Each is wired only when its function uses it.
#[derive(Clone)]
pub struct Jobs {
    pub services: Services,
    /// The renewal queue: the scheduler sends to it, the worker consumes it.
    pub renewal_queue: Option<SqsQueue>,
    /// Where the event relay publishes (unset: events stay in the outbox).
    pub events: Option<EventBus>,
    /// The customer email sender (unset: no email).
    pub notifier: Option<Notifier>,
    /// The queue the notifier consumes (drained here only in the local stack and tests).
    pub notifications_queue: Option<SqsQueue>,
    /// The queue the webhook dispatcher consumes; the scheduler sends retries to it.
    pub webhooks_queue: Option<SqsQueue>,
}

impl Jobs {
    /// The services, with no queue, bus or mailer yet.
    pub fn new(services: Services) -> Self {
        Jobs {
            services,
            renewal_queue: None,
            events: None,
            notifier: None,
            notifications_queue: None,
            webhooks_queue: None,
        }
    }

    /// Adds customer email: the notifier sending through `mailer` as `settings.mail_from`
    /// (nothing when unset), consuming `queue`.
    pub fn with_mail(
        mut self,
        mailer: Arc<dyn Mailer>,
        queue: Option<SqsQueue>,
        settings: &Settings,
    ) -> Self {
        let shared = Arc::new(self.services.store.clone());
        self.notifier = settings.mail_from.as_ref().map(|from| Notifier {
            customers: shared.clone(),
            plans: shared.clone(),
            subscriptions: shared.clone(),
            invoices: shared.clone(),
            products: shared.clone(),
            preorders: shared.clone(),
            notifications: shared,
            mailer,
            clock: Arc::new(SystemClock),
            links: self.services.links.clone(),
            from: from.clone(),
            product_name: settings.product_name.clone(),
            operations_email: settings.operations_email.clone(),
        });
        self.notifications_queue = queue;
        self
    }

    /// From the standard AWS environment and [`Settings::from_env`], with the clients of
    /// `uses` only: each function builds what it calls, and nothing else.
    pub async fn from_env(uses: Uses) -> Result<Self, JobError> {
        let settings = Settings::from_env(settings::Reader::Job).map_err(JobError::Config)?;
        Self::from_settings(&settings, uses).await
    }

    /// As [`Jobs::from_env`], from settings already read.
    pub async fn from_settings(settings: &Settings, uses: Uses) -> Result<Self, JobError> {
        let config = aws_config::load_from_env().await;
        let services = Services::from_config(&config, settings)?;
        let sqs = (uses.renewal_queue || uses.webhooks_queue || uses.notifications_queue)
            .then(|| aws_sdk_sqs::Client::new(&config));
        let queue_at = |wanted: bool, url: &Option<String>| match (&sqs, wanted, url) {
            (Some(client), true, Some(url)) => Some(SqsQueue::new(client.clone(), url)),
            _ => None,
        };
        let mut jobs = Jobs::new(services);
        jobs.renewal_queue = queue_at(uses.renewal_queue, &settings.renewal_queue_url);
        jobs.webhooks_queue = queue_at(uses.webhooks_queue, &settings.webhooks_queue_url);
        if uses.mail {
            let mailer = Arc::new(
                SesMailer::new(aws_sdk_ses::Client::new(&config))
                    .with_configuration_set(settings.mail_configuration_set.clone()),
            );
            let notifications =
                queue_at(uses.notifications_queue, &settings.notifications_queue_url);
            jobs = jobs.with_mail(mailer, notifications, settings);
        }
        if uses.event_bus {
            jobs.events = settings
                .event_bus_name
                .as_ref()
                .map(|name| EventBus::new(aws_sdk_eventbridge::Client::new(&config), name));
        }
        Ok(jobs)
    }

    /// The notifier with its clock at the time source's now.
    pub async fn clocked_notifier(&self) -> Result<Notifier, JobError> {
        let mut notifier = self
            .notifier
            .clone()
            .ok_or_else(|| JobError::Config("MAIL_FROM is not set".into()))?;
        notifier.clock = self.services.clocked_billing().await?.clock;
        Ok(notifier)
    }

    /// Publishes the outbox's events and, where the consumers are wired (local stack, tests),
    /// does what the bus, the queues and their functions do when deployed: sends the email
    /// the events ask for, delivers them to webhook endpoints and retries the deliveries that
    /// are due. Answers how many notification messages were handled.
    pub async fn publish_and_notify(&self) -> Result<worker::DrainReport, JobError> {
        self.relay_events().await?;
        let notified = match (&self.notifier, &self.notifications_queue) {
            (Some(_), Some(queue)) => {
                worker::drain_queue(self, queue, worker::Consumer::Notifier).await?
            }
            _ => worker::DrainReport::default(),
        };
        if let Some(queue) = &self.webhooks_queue {
            let now = self.services.time.now().await?;
            scheduler::schedule_webhook_retries(&self.services.store, queue, now).await?;
            worker::drain_queue(self, queue, worker::Consumer::Webhooks).await?;
        }
        Ok(notified)
    }

    /// Publishes the outbox's events, when a bus is configured.
    pub async fn relay_events(&self) -> Result<relay::RelayReport, JobError> {
        match &self.events {
            Some(bus) => {
                relay::relay(&self.services.store, bus, self.services.time.now().await?).await
            }
            None => Ok(relay::RelayReport::default()),
        }
    }

    pub fn renewal_queue(&self) -> Result<&SqsQueue, JobError> {
        self.renewal_queue
            .as_ref()
            .ok_or_else(|| JobError::Config("RENEWAL_QUEUE_URL is not set".into()))
    }
}

#[async_trait]
impl TestClockRunner for Jobs {
    async fn advance(&self, target: DateTime<Utc>) -> Result<DateTime<Utc>, AdvanceError> {
        test_clock::advance(self, target)
            .await
            .map_err(|e| match e {
                JobError::Store(e) => AdvanceError::Store(e),
                other => AdvanceError::Jobs(other.to_string()),
            })
    }
}
