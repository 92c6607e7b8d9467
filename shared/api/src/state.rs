//! What every handler needs, built once at cold start.

use std::sync::Arc;

use billing_domain::clock::Clock;
use billing_domain::ports::IdempotencyRepo;
use billing_domain::service::Billing;
use billing_store_dynamodb::DynamoStore;
use chrono::{DateTime, SubsecRound, Utc};

use crate::auth::Authenticator;
use crate::config::Config;

/// The real clock, for deployed functions.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Microsecond precision: what the store keeps, so an answer and a later read agree.
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

#[derive(Clone)]
pub struct AppState {
    pub billing: Billing,
    pub idempotency: Arc<dyn IdempotencyRepo>,
    pub auth: Authenticator,
    pub store: DynamoStore,
    pub idempotency_ttl_hours: i64,
}

impl AppState {
    /// Wires the DynamoDB store and the given clock.
    pub fn new(
        store: DynamoStore,
        clock: Arc<dyn Clock>,
        auth: Authenticator,
        config: &Config,
    ) -> Self {
        let shared = Arc::new(store.clone());
        AppState {
            billing: Billing {
                plans: shared.clone(),
                customers: shared.clone(),
                subscriptions: shared.clone(),
                invoices: shared.clone(),
                clock,
            },
            idempotency: shared,
            auth,
            store,
            idempotency_ttl_hours: config.idempotency_ttl_hours,
        }
    }

    /// Cold start: configuration from the environment, SDK clients from the standard AWS
    /// variables, the system clock.
    pub async fn from_env() -> Result<Self, String> {
        let config = Config::from_env()?;
        let jwks = match (&config.jwt_jwks, &config.jwt_jwks_url) {
            (Some(inline), _) => Some(inline.clone()),
            (None, Some(url)) => Some(crate::auth::fetch_jwks(url).await?),
            (None, None) => None,
        };
        let auth = Authenticator::new(
            config.jwt_secret.as_deref(),
            jwks.as_deref(),
            config.jwt_issuer.clone(),
            config.jwt_audience.clone(),
        )
        .map_err(|e| e.to_string())?;
        let store = DynamoStore::from_env(config.table_name.clone()).await;
        Ok(Self::new(store, Arc::new(SystemClock), auth, &config))
    }
}
