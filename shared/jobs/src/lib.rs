//! Scheduled billing. An EventBridge schedule invokes the scheduler, which reads what is due
//! from the store's due index (never a scan) and sends one SQS message per subscription and due
//! time; the renewal worker consumes them in batches, runs the domain's
//! [`Billing::process_due`] for each and reports partial batch failures. The due index, not
//! the queue, is the record of what is owed: a lost or dead-lettered message is sent again by
//! the next run, and a duplicate changes nothing.
//!
//! Also here: the time source (system or test clock) and the wiring the functions and the API
//! share.

pub mod events;
pub mod functions;
pub mod notify;
pub mod queue;
pub mod scheduler;
pub mod settings;
pub mod telemetry;
pub mod test_clock;
pub mod time;
pub mod webhooks;
pub mod worker;

use std::sync::Arc;

use billing_domain::collection::NoCheckpoints;
use billing_domain::kernel::ports::StoreError;
use billing_domain::kernel::service::Billing;
use billing_domain::webhooks::Webhooks;
use billing_notifications::{Mailer, Notifier};
use billing_payments_stripe::StripeGateway;
use billing_store_dynamodb::DynamoStore;

pub use events::EventBus;
pub use queue::RenewalQueue;
pub use settings::Settings;
pub use time::{SystemClock, TimeSource};

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

/// The AWS clients a function builds at cold start, besides DynamoDB's (every function's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uses {
    /// SQS, to send to the renewal queue (`RENEWAL_QUEUE_URL`): the scheduler.
    pub renewal_queue: bool,
    /// SQS, to send webhook retries (`WEBHOOKS_QUEUE_URL`): the scheduler.
    pub webhooks_queue: bool,
    /// SES, to send email (`MAIL_FROM`): the notifier.
    pub mail: bool,
    /// EventBridge, to publish events (`EVENT_BUS_NAME`): the event relay.
    pub event_bus: bool,
}

impl Uses {
    /// The API functions, the renewal worker and the webhook dispatcher: DynamoDB (and Stripe,
    /// and the webhook sender's HTTP client) only.
    pub const NONE: Uses = Uses {
        renewal_queue: false,
        webhooks_queue: false,
        mail: false,
        event_bus: false,
    };
}

/// Everything a function needs, built once at cold start.
#[derive(Clone)]
pub struct Services {
    /// The domain service; its clock is the system clock (use [`Services::billing_now`]).
    pub billing: Billing,
    pub store: DynamoStore,
    pub queue: Option<RenewalQueue>,
    /// Where the event relay publishes (unset: events stay in the outbox).
    pub events: Option<EventBus>,
    /// The customer email sender (unset: no email).
    pub notifier: Option<Notifier>,
    /// The queue the notifier consumes.
    pub notifications_queue: Option<RenewalQueue>,
    /// The links emails carry; the API checks unsubscribe links with it.
    pub links: billing_notifications::Links,
    /// Outbound webhooks: endpoints, deliveries, the HTTP sender.
    pub webhooks: Webhooks,
    /// The queue the webhook dispatcher consumes.
    pub webhooks_queue: Option<RenewalQueue>,
    pub time: TimeSource,
}

impl Services {
    /// Wires the store, the Stripe adapter and the settings.
    pub fn new(
        store: DynamoStore,
        queue: Option<RenewalQueue>,
        settings: &Settings,
    ) -> Result<Self, JobError> {
        let payments = StripeGateway::new(
            secrecy::ExposeSecret::expose_secret(&settings.stripe_secret_key),
            settings.stripe_api_base.as_deref(),
        )
        .map_err(JobError::Config)?
        .with_retries(settings.stripe_max_attempts, settings.stripe_backoff)
        .with_deadline(settings.stripe_deadline);
        let shared = Arc::new(store.clone());
        let billing = Billing {
            plans: shared.clone(),
            customers: shared.clone(),
            subscriptions: shared.clone(),
            invoices: shared.clone(),
            coupons: shared.clone(),
            credits: shared.clone(),
            notifications: shared,
            payments: Arc::new(payments),
            clock: Arc::new(SystemClock),
            dunning: settings.dunning.clone(),
            trial_end_without_payment_method: settings.trial_end_without_payment_method,
            checkpoints: Arc::new(NoCheckpoints),
        };
        let webhooks = Webhooks {
            repo: Arc::new(store.clone()),
            sender: Arc::new(webhooks::HttpWebhookSender::new(
                settings.allow_private_webhook_urls,
            )),
            clock: Arc::new(SystemClock),
            allow_private_urls: settings.allow_private_webhook_urls,
        };
        let time = if settings.test_clock {
            TimeSource::TestClock(store.clone())
        } else {
            TimeSource::System
        };
        Ok(Services {
            billing,
            store,
            queue,
            events: None,
            notifier: None,
            notifications_queue: None,
            links: settings.links(),
            webhooks,
            webhooks_queue: None,
            time,
        })
    }

    /// Adds customer email: the notifier sending through `mailer` as `settings.mail_from`
    /// (nothing when unset), consuming `queue`.
    pub fn with_mail(
        mut self,
        mailer: Arc<dyn Mailer>,
        queue: Option<RenewalQueue>,
        settings: &Settings,
    ) -> Self {
        let shared = Arc::new(self.store.clone());
        self.notifier = settings.mail_from.as_ref().map(|from| Notifier {
            customers: shared.clone(),
            plans: shared.clone(),
            subscriptions: shared.clone(),
            invoices: shared.clone(),
            notifications: shared,
            mailer,
            clock: Arc::new(SystemClock),
            links: self.links.clone(),
            from: from.clone(),
            product_name: settings.product_name.clone(),
        });
        self.notifications_queue = queue;
        self
    }

    /// The notifier with its clock at the time source's now (see [`Services::billing_now`]).
    pub async fn notifier_now(&self) -> Result<Notifier, JobError> {
        let mut notifier = self
            .notifier
            .clone()
            .ok_or_else(|| JobError::Config("MAIL_FROM is not set".into()))?;
        notifier.clock = self.billing_now().await?.clock;
        Ok(notifier)
    }

    /// The webhooks service with its clock at the time source's now.
    pub async fn webhooks_now(&self) -> Result<Webhooks, JobError> {
        let mut webhooks = self.webhooks.clone();
        webhooks.clock = self.billing_now().await?.clock;
        Ok(webhooks)
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
            scheduler::schedule_webhook_retries(&self.store, queue, self.time.now().await?).await?;
            worker::drain_queue(self, queue, worker::Consumer::Webhooks).await?;
        }
        Ok(notified)
    }

    /// From the standard AWS environment and [`Settings::from_env`], with the clients of
    /// `uses` only: each function builds what it calls, and nothing else (an API function no
    /// SQS, SES or EventBridge client).
    pub async fn from_env(uses: Uses) -> Result<Self, JobError> {
        let settings = Settings::from_env(settings::Reader::Job).map_err(JobError::Config)?;
        Self::from_settings(&settings, uses).await
    }

    /// As [`Services::from_env`], from settings already read.
    pub async fn from_settings(settings: &Settings, uses: Uses) -> Result<Self, JobError> {
        let config = aws_config::load_from_env().await;
        let store = DynamoStore::new(
            aws_sdk_dynamodb_client(&config),
            settings.table_name.clone(),
        );
        let sqs =
            (uses.renewal_queue || uses.webhooks_queue).then(|| aws_sdk_sqs::Client::new(&config));
        let queue_at = |wanted: bool, url: &Option<String>| match (&sqs, wanted, url) {
            (Some(client), true, Some(url)) => Some(RenewalQueue::new(client.clone(), url)),
            _ => None,
        };
        let queue = queue_at(uses.renewal_queue, &settings.renewal_queue_url);
        let webhooks_queue = queue_at(uses.webhooks_queue, &settings.webhooks_queue_url);
        let mut services = Self::new(store, queue, settings)?;
        if uses.mail {
            let mailer = Arc::new(
                notify::SesMailer::new(aws_sdk_ses::Client::new(&config))
                    .with_configuration_set(settings.mail_configuration_set.clone()),
            );
            services = services.with_mail(mailer, None, settings);
        }
        services.webhooks_queue = webhooks_queue;
        if uses.event_bus {
            services.events = settings
                .event_bus_name
                .as_ref()
                .map(|name| EventBus::new(aws_sdk_eventbridge::Client::new(&config), name));
        }
        Ok(services)
    }

    /// Publishes the outbox's events, when a bus is configured.
    pub async fn relay_events(&self) -> Result<events::RelayReport, JobError> {
        match &self.events {
            Some(bus) => events::relay(&self.store, bus, self.time.now().await?).await,
            None => Ok(events::RelayReport::default()),
        }
    }

    /// The domain service with its clock at the time source's now (the test clock's time when
    /// enabled): one per request or job.
    pub async fn billing_now(&self) -> Result<Billing, StoreError> {
        match &self.time {
            TimeSource::System => Ok(self.billing.clone()),
            TimeSource::TestClock(_) => Ok(self.billing.at(self.time.now().await?)),
        }
    }

    pub fn queue(&self) -> Result<&RenewalQueue, JobError> {
        self.queue
            .as_ref()
            .ok_or_else(|| JobError::Config("RENEWAL_QUEUE_URL is not set".into()))
    }
}

fn aws_sdk_dynamodb_client(config: &aws_config::SdkConfig) -> billing_store_dynamodb::Client {
    billing_store_dynamodb::Client::new(config)
}
