//! The composition root every function shares: the configuration ([`Settings`], read once at
//! cold start), logging, the time source (the system clock, or the test clock in the table) and
//! [`Services`], which wires the store, the Stripe adapter and the webhook sender into the
//! domain's services. No SQS, SES or EventBridge here: those adapters are `billing-aws`, and only
//! the jobs (`billing-jobs`) build them.

pub mod settings;
pub mod telemetry;
pub mod time;
pub mod webhook_sender;

use std::sync::Arc;

use async_trait::async_trait;
use billing_domain::collection::NoCheckpoints;
use billing_domain::kernel::ports::StoreError;
use billing_domain::kernel::service::Billing;
use billing_domain::webhooks::Webhooks;
use billing_payments_stripe::StripeGateway;
use billing_store_dynamodb::DynamoStore;
use chrono::{DateTime, Utc};

pub use settings::Settings;
pub use time::{SystemClock, TimeSource};

/// A configuration that cannot be wired (a Stripe key the adapter refuses); the message names
/// what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// What the domain needs in every function, built once at cold start: the store, the billing
/// and webhooks services over it, the links emails carry, and where "now" comes from.
#[derive(Clone)]
pub struct Services {
    /// The domain service; its clock is the system clock (use [`Services::clocked_billing`]).
    pub billing: Billing,
    pub store: DynamoStore,
    /// The links emails carry; the API checks unsubscribe and confirmation links with it.
    pub links: billing_notifications::Links,
    /// Outbound webhooks: endpoints, deliveries, the HTTP sender.
    pub webhooks: Webhooks,
    pub time: TimeSource,
}

impl Services {
    /// Wires the store, the Stripe adapter and the settings.
    pub fn new(store: DynamoStore, settings: &Settings) -> Result<Self, ConfigError> {
        let payments = StripeGateway::new(
            secrecy::ExposeSecret::expose_secret(&settings.stripe_secret_key),
            settings.stripe_api_base.as_deref(),
        )
        .map_err(ConfigError)?
        .with_retries(settings.stripe_max_attempts, settings.stripe_backoff)
        .with_deadline(settings.stripe_deadline);
        let shared = Arc::new(store.clone());
        let billing = Billing {
            plans: shared.clone(),
            customers: shared.clone(),
            subscriptions: shared.clone(),
            invoices: shared.clone(),
            coupons: shared.clone(),
            products: shared.clone(),
            preorders: shared.clone(),
            credits: shared.clone(),
            notifications: shared.clone(),
            usage: shared,
            payments: Arc::new(payments),
            clock: Arc::new(SystemClock),
            dunning: settings.dunning.clone(),
            trial_end_without_payment_method: settings.trial_end_without_payment_method,
            checkpoints: Arc::new(NoCheckpoints),
        };
        let webhooks = Webhooks {
            repo: Arc::new(store.clone()),
            sender: Arc::new(webhook_sender::HttpWebhookSender::new(
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
            links: settings.links(),
            webhooks,
            time,
        })
    }

    /// From settings already read, with the standard AWS environment's DynamoDB client (the
    /// only AWS client every function builds).
    pub async fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Self::from_config(&aws_config::load_from_env().await, settings)
    }

    /// As [`Services::from_settings`], with an AWS configuration already loaded (the jobs build
    /// their other clients from the same one).
    pub fn from_config(
        config: &aws_config::SdkConfig,
        settings: &Settings,
    ) -> Result<Self, ConfigError> {
        let store = DynamoStore::new(
            billing_store_dynamodb::Client::new(config),
            settings.table_name.clone(),
        );
        Self::new(store, settings)
    }

    /// The domain service with its clock at the time source's now (the test clock's time when
    /// enabled): one per request or job.
    pub async fn clocked_billing(&self) -> Result<Billing, StoreError> {
        match &self.time {
            TimeSource::System => Ok(self.billing.clone()),
            TimeSource::TestClock(_) => Ok(self.billing.at(self.time.now().await?)),
        }
    }

    /// The webhooks service with its clock at the time source's now.
    pub async fn clocked_webhooks(&self) -> Result<Webhooks, StoreError> {
        let mut webhooks = self.webhooks.clone();
        webhooks.clock = self.clocked_billing().await?.clock;
        Ok(webhooks)
    }
}

/// Why moving the test clock stopped short.
#[derive(Debug, thiserror::Error)]
pub enum AdvanceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A job on the way failed, or the jobs are not wired.
    #[error("{0}")]
    Jobs(String),
}

/// Moves the test clock, running every job that falls due on the way (the scheduler, the
/// queues and their consumers). The local stack and the tests hand one to the API; deployed,
/// the API has none (and the test clock is off).
#[async_trait]
pub trait TestClockRunner: Send + Sync {
    /// Moves the clock to `target`; answers the clock's new time.
    async fn advance(&self, target: DateTime<Utc>) -> Result<DateTime<Utc>, AdvanceError>;
}
