//! The one configuration of every function (API and jobs), read once from the environment at
//! cold start. Variable names are the field names in upper case; a value that does not parse,
//! or a secret missing outside the local stack, stops the function naming the variable.

use std::env;
use std::time::Duration;

use billing_domain::collection::dunning::{DunningPolicy, FinalAction};
use billing_domain::collection::TrialEndWithoutPaymentMethod;
use secrecy::{ExposeSecret, SecretString};

/// Which function reads the settings: the API's also need the token and webhook secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The API functions and `stripe-webhooks`.
    Api,
    /// The scheduler, the worker, the relay, the notifier and the dispatcher.
    Job,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `TABLE_NAME` (default `billing`).
    pub table_name: String,
    /// `JWT_SECRET`: HS256 secret (local stack and tests).
    pub jwt_secret: Option<SecretString>,
    /// `JWT_JWKS_URL`: where to fetch the JWKS for RS256 tokens at cold start (deployed,
    /// Cognito-style).
    pub jwt_jwks_url: Option<String>,
    /// `JWT_JWKS`: the JWKS document itself, instead of a URL.
    pub jwt_jwks: Option<String>,
    /// `JWT_ISSUER`: the required `iss` (the API's, outside the local stack).
    pub jwt_issuer: Option<String>,
    /// `JWT_AUDIENCE`: the required `aud` (the API's, outside the local stack).
    pub jwt_audience: Option<String>,
    /// `STRIPE_WEBHOOK_SECRET`: the Stripe webhook endpoint's signing secret (`whsec_...`;
    /// the API's, outside the local stack).
    pub stripe_webhook_secret: Option<SecretString>,
    /// `IDEMPOTENCY_TTL_HOURS`: how long an `Idempotency-Key` is remembered (default 24).
    pub idempotency_ttl_hours: i64,
    /// `STRIPE_SECRET_KEY`: required outside the local stack (`LOCAL_STACK=1`), where it
    /// defaults to `sk_test_local`, which only the simulator accepts.
    pub stripe_secret_key: SecretString,
    /// `STRIPE_API_BASE`: the Stripe API's URL (the simulator locally); Stripe's own if unset.
    pub stripe_api_base: Option<String>,
    /// `STRIPE_MAX_ATTEMPTS` (default 6) and `STRIPE_BACKOFF_MS` (default 200): the retry
    /// budget of one Stripe call (429, 5xx, network), doubling with jitter.
    pub stripe_max_attempts: u32,
    pub stripe_backoff: Duration,
    /// `STRIPE_DEADLINE_MS` (default 7000): the most one Stripe call takes, retries included;
    /// below the function's timeout (10 s for the API functions).
    pub stripe_deadline: Duration,
    /// `RENEWAL_QUEUE_URL`: the SQS queue between the scheduler and the renewal worker.
    pub renewal_queue_url: Option<String>,
    /// `EVENT_BUS_NAME`: the EventBridge bus the event relay publishes domain events to.
    pub event_bus_name: Option<String>,
    /// `NOTIFICATIONS_QUEUE_URL`: the SQS queue the bus's rule fills and the notifier drains.
    pub notifications_queue_url: Option<String>,
    /// `MAIL_FROM`: the verified sender of customer email (unset: no email is sent).
    pub mail_from: Option<String>,
    /// `MAIL_CONFIGURATION_SET`: the SES configuration set emails are sent with; its event
    /// destination reports bounces and complaints back to the notifications queue.
    pub mail_configuration_set: Option<String>,
    /// `OPERATIONS_EMAIL`: where operators' alerts go (low stock); unset: only the product's
    /// supplier is told.
    pub operations_email: Option<String>,
    /// `PRODUCT_NAME` (default `Billing`): how emails name the service.
    pub product_name: String,
    /// `CUSTOMER_PORTAL_URL`: where emails send customers to update a card or manage a
    /// subscription (default `http://127.0.0.1:3000/portal`).
    pub customer_portal_url: String,
    /// `PUBLIC_API_URL`: this API's public base URL, for unsubscribe links (default
    /// `http://127.0.0.1:3000`).
    pub public_api_url: String,
    /// `UNSUBSCRIBE_SECRET`: signs unsubscribe links (required outside the local stack; a fixed
    /// local value there).
    pub unsubscribe_secret: SecretString,
    /// `WEBHOOKS_QUEUE_URL`: the SQS queue the bus's second rule fills and the webhook
    /// dispatcher drains (retries the scheduler finds due go there too).
    pub webhooks_queue_url: Option<String>,
    /// `WEBHOOK_ALLOW_PRIVATE_URLS=1`: endpoints may be loopback or private addresses (local
    /// stack and tests; never deployed).
    pub allow_private_webhook_urls: bool,
    /// `TEST_CLOCK=1`: time comes from the test clock in the table (never deployed).
    pub test_clock: bool,
    /// `DUNNING_RETRY_DAYS` (default `3,5,7`) and `DUNNING_FINAL_ACTION` (`cancel`, the
    /// default, or `leave_unpaid`).
    pub dunning: DunningPolicy,
    /// `TRIAL_END_WITHOUT_PAYMENT_METHOD`: `pause` (default) or `cancel`.
    pub trial_end_without_payment_method: TrialEndWithoutPaymentMethod,
}

/// The unsubscribe secret of the local stack and tests; `template.yaml` requires a real one.
pub const LOCAL_UNSUBSCRIBE_SECRET: &str = "local-unsubscribe-secret";

/// `LOCAL_STACK=1`: the local stack and tests, where secrets may be left out. Everywhere else a
/// missing secret stops the function at start, naming the variable.
pub fn is_local_stack(lookup: &impl Fn(&str) -> Option<String>) -> bool {
    matches!(lookup("LOCAL_STACK").as_deref(), Some("1" | "true"))
}

impl Settings {
    /// The links emails carry (portal, signed unsubscribe).
    pub fn links(&self) -> billing_notifications::Links {
        billing_notifications::Links::new(
            &self.customer_portal_url,
            &self.public_api_url,
            self.unsubscribe_secret.expose_secret().as_bytes(),
        )
    }

    pub fn from_env(reader: Reader) -> Result<Self, String> {
        Self::from_lookup(|name| env::var(name).ok(), reader)
    }

    /// The settings from `lookup` (the environment, or a test's map).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        reader: Reader,
    ) -> Result<Self, String> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let number = |name: &str, default: u64| match var(name) {
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{name} must be a whole number, got {v:?}")),
            None => Ok(default),
        };
        let retry_after_days = match var("DUNNING_RETRY_DAYS") {
            Some(v) => v
                .split(',')
                .map(|d| d.trim().parse::<u32>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| format!("DUNNING_RETRY_DAYS must be days like 3,5,7, got {v:?}"))?,
            None => DunningPolicy::default().retry_after_days,
        };
        if retry_after_days.windows(2).any(|w| w[0] >= w[1]) {
            return Err("DUNNING_RETRY_DAYS must increase".into());
        }
        let final_action = match var("DUNNING_FINAL_ACTION").as_deref() {
            None | Some("cancel") => FinalAction::Cancel,
            Some("leave_unpaid") => FinalAction::LeaveUnpaid,
            Some(other) => {
                return Err(format!(
                    "DUNNING_FINAL_ACTION must be cancel or leave_unpaid, got {other:?}"
                ))
            }
        };
        let trial_end = match var("TRIAL_END_WITHOUT_PAYMENT_METHOD").as_deref() {
            None | Some("pause") => TrialEndWithoutPaymentMethod::Pause,
            Some("cancel") => TrialEndWithoutPaymentMethod::Cancel,
            Some(other) => {
                return Err(format!(
                    "TRIAL_END_WITHOUT_PAYMENT_METHOD must be pause or cancel, got {other:?}"
                ))
            }
        };
        // Outside the local stack a missing secret stops the function at start.
        let local = is_local_stack(&lookup);
        let missing =
            |name: &str| format!("{name} must be set (only the local stack may leave it out)");
        let secret = |name: &str, local_value: &str| match var(name) {
            Some(value) => Ok(SecretString::from(value)),
            None if local => Ok(SecretString::from(local_value)),
            None => Err(missing(name)),
        };
        // The API's own: required there outside the local stack, read as given elsewhere.
        let api_required = |name: &str| match var(name) {
            Some(value) => Ok(Some(value)),
            None if local || reader == Reader::Job => Ok(None),
            None => Err(missing(name)),
        };
        let millis = |name: &str, default: u64| number(name, default).map(Duration::from_millis);
        let stripe_max_attempts = u32::try_from(number("STRIPE_MAX_ATTEMPTS", 6)?)
            .map_err(|_| "STRIPE_MAX_ATTEMPTS is too large".to_owned())?;
        let idempotency_ttl_hours = i64::try_from(number("IDEMPOTENCY_TTL_HOURS", 24)?)
            .map_err(|_| "IDEMPOTENCY_TTL_HOURS is too large".to_owned())?;
        Ok(Settings {
            table_name: var("TABLE_NAME").unwrap_or_else(|| "billing".into()),
            jwt_secret: var("JWT_SECRET").map(SecretString::from),
            jwt_jwks_url: var("JWT_JWKS_URL"),
            jwt_jwks: var("JWT_JWKS"),
            jwt_issuer: api_required("JWT_ISSUER")?,
            jwt_audience: api_required("JWT_AUDIENCE")?,
            stripe_webhook_secret: api_required("STRIPE_WEBHOOK_SECRET")?.map(SecretString::from),
            idempotency_ttl_hours,
            stripe_secret_key: secret("STRIPE_SECRET_KEY", "sk_test_local")?,
            stripe_api_base: var("STRIPE_API_BASE"),
            stripe_max_attempts,
            stripe_backoff: millis("STRIPE_BACKOFF_MS", 200)?,
            stripe_deadline: millis("STRIPE_DEADLINE_MS", 7000)?,
            renewal_queue_url: var("RENEWAL_QUEUE_URL"),
            event_bus_name: var("EVENT_BUS_NAME"),
            notifications_queue_url: var("NOTIFICATIONS_QUEUE_URL"),
            mail_from: var("MAIL_FROM"),
            mail_configuration_set: var("MAIL_CONFIGURATION_SET"),
            operations_email: var("OPERATIONS_EMAIL"),
            product_name: var("PRODUCT_NAME").unwrap_or_else(|| "Billing".into()),
            customer_portal_url: var("CUSTOMER_PORTAL_URL")
                .unwrap_or_else(|| "http://127.0.0.1:3000/portal".into()),
            public_api_url: var("PUBLIC_API_URL").unwrap_or_else(|| "http://127.0.0.1:3000".into()),
            unsubscribe_secret: secret("UNSUBSCRIBE_SECRET", LOCAL_UNSUBSCRIBE_SECRET)?,
            webhooks_queue_url: var("WEBHOOKS_QUEUE_URL"),
            allow_private_webhook_urls: matches!(
                var("WEBHOOK_ALLOW_PRIVATE_URLS").as_deref(),
                Some("1" | "true")
            ),
            test_clock: matches!(var("TEST_CLOCK").as_deref(), Some("1" | "true")),
            dunning: DunningPolicy {
                retry_after_days,
                final_action,
            },
            trial_end_without_payment_method: trial_end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)], reader: Reader) -> Result<Settings, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned(), reader)
    }

    fn config(vars: &[(&str, &str)]) -> Result<Settings, String> {
        settings(vars, Reader::Api)
    }

    const DEPLOYED: &[(&str, &str)] = &[
        ("STRIPE_SECRET_KEY", "sk_live_real"),
        ("UNSUBSCRIBE_SECRET", "unsubscribe-real"),
        ("JWT_ISSUER", "https://issuer.example"),
        ("JWT_AUDIENCE", "billing"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_real"),
    ];

    #[test]
    fn outside_the_local_stack_a_missing_webhook_secret_stops_the_start() {
        for missing in ["STRIPE_WEBHOOK_SECRET", "JWT_ISSUER", "JWT_AUDIENCE"] {
            let vars: Vec<(&str, &str)> = DEPLOYED
                .iter()
                .map(|&(k, v)| if k == missing { (k, " ") } else { (k, v) })
                .collect();
            let error = config(&vars).expect_err(missing);
            assert!(error.contains(missing), "{error}");
        }
        let deployed = config(DEPLOYED).expect("deployed config");
        assert_eq!(
            deployed
                .stripe_webhook_secret
                .as_ref()
                .map(secrecy::ExposeSecret::expose_secret),
            Some("whsec_real")
        );
    }

    #[test]
    fn the_local_stack_may_leave_secrets_out() {
        let local = config(&[("LOCAL_STACK", "1")]).expect("local config");
        assert!(local.stripe_webhook_secret.is_none());
        // Secrets never print.
        let shown = format!("{:?}", config(DEPLOYED).expect("deployed config"));
        assert!(!shown.contains("whsec_real"), "{shown}");
    }

    #[test]
    fn a_job_needs_its_own_secrets_and_not_the_apis() {
        let job = settings(&DEPLOYED[..2], Reader::Job).expect("a job's settings");
        assert!(job.jwt_issuer.is_none() && job.stripe_webhook_secret.is_none());
        for missing in ["STRIPE_SECRET_KEY", "UNSUBSCRIBE_SECRET"] {
            let vars: Vec<(&str, &str)> = DEPLOYED[..2]
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let error = settings(&vars, Reader::Job).expect_err(missing);
            assert!(error.contains(missing), "{error}");
        }
        let error = settings(
            &[("LOCAL_STACK", "1"), ("STRIPE_DEADLINE_MS", "soon")],
            Reader::Job,
        )
        .expect_err("not a number");
        assert!(error.contains("STRIPE_DEADLINE_MS"), "{error}");
    }
}
