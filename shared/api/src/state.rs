//! What every handler needs, built once at cold start.

use std::sync::Arc;

use billing_domain::kernel::ports::IdempotencyRepo;
use billing_domain::kernel::service::Billing;
use billing_store_dynamodb::DynamoStore;
use billing_wiring::settings::{Reader, Settings};
use billing_wiring::{Services, TestClockRunner};

use crate::auth::Authenticator;
use crate::problem::ApiError;

pub use billing_wiring::SystemClock;

#[derive(Clone)]
pub struct AppState {
    /// The domain service, its clock at this request's time (see [`AppState::for_request`]).
    pub billing: Billing,
    pub services: Services,
    pub idempotency: Arc<dyn IdempotencyRepo>,
    pub auth: Authenticator,
    pub store: DynamoStore,
    pub idempotency_ttl_hours: i64,
    pub stripe_webhook_secret: Option<secrecy::SecretString>,
    /// What advances the test clock (the local stack's and the tests' jobs); `None` deployed.
    pub test_clock: Option<Arc<dyn TestClockRunner>>,
}

impl AppState {
    /// Wires the services (store, Stripe, time source) and authentication.
    pub fn new(services: Services, auth: Authenticator, settings: &Settings) -> Self {
        AppState {
            billing: services.billing.clone(),
            idempotency: Arc::new(services.store.clone()),
            store: services.store.clone(),
            services,
            auth,
            idempotency_ttl_hours: settings.idempotency_ttl_hours,
            stripe_webhook_secret: settings.stripe_webhook_secret.clone(),
            test_clock: None,
        }
    }

    /// With the jobs that advancing the test clock runs (the local stack, the tests).
    pub fn with_test_clock(mut self, jobs: Arc<dyn TestClockRunner>) -> Self {
        self.test_clock = Some(jobs);
        self
    }

    /// With the test clock on, a copy whose service reads the stored clock's time once for this
    /// request; `None` with the system clock (nothing to do).
    pub async fn for_request(&self) -> Result<Option<AppState>, ApiError> {
        if !self.services.time.is_test_clock() {
            return Ok(None);
        }
        Ok(Some(AppState {
            billing: self.services.clocked_billing().await?,
            ..self.clone()
        }))
    }

    /// Cold start: configuration from the environment, SDK clients from the standard AWS
    /// variables.
    pub async fn from_env() -> Result<Self, String> {
        let settings = Settings::from_env(Reader::Api)?;
        let jwks = match (&settings.jwt_jwks, &settings.jwt_jwks_url) {
            (Some(inline), _) => Some(inline.clone()),
            (None, Some(url)) => Some(crate::auth::fetch_jwks(url).await?),
            (None, None) => None,
        };
        let auth = Authenticator::new(
            settings
                .jwt_secret
                .as_ref()
                .map(secrecy::ExposeSecret::expose_secret),
            jwks.as_deref(),
            settings.jwt_issuer.clone(),
            settings.jwt_audience.clone(),
        )
        .map_err(|e| e.to_string())?;
        // The API sends no email, publishes no event and queues nothing: it links no SES,
        // EventBridge or SQS client (those adapters are the jobs').
        let services = Services::from_settings(&settings)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self::new(services, auth, &settings))
    }
}
