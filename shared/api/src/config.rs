//! Configuration, read once from the environment at cold start.

use std::env;

use secrecy::SecretString;

/// Every setting of the API functions. Variable names are the field names in upper case.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`: the DynamoDB table (default `billing`).
    pub table_name: String,
    /// `JWT_SECRET`: HS256 secret (local stack and tests).
    pub jwt_secret: Option<SecretString>,
    /// `JWT_JWKS_URL`: where to fetch the JWKS for RS256 tokens at cold start (deployed,
    /// Cognito-style).
    pub jwt_jwks_url: Option<String>,
    /// `JWT_JWKS`: the JWKS document itself, instead of a URL.
    pub jwt_jwks: Option<String>,
    /// `JWT_ISSUER`: the required `iss`, when set.
    pub jwt_issuer: Option<String>,
    /// `JWT_AUDIENCE`: the required `aud`, when set.
    pub jwt_audience: Option<String>,
    /// `STRIPE_WEBHOOK_SECRET`: the webhook endpoint's signing secret (`whsec_...`).
    pub stripe_webhook_secret: Option<SecretString>,
    /// `IDEMPOTENCY_TTL_HOURS`: how long an `Idempotency-Key` is remembered (default 24).
    pub idempotency_ttl_hours: i64,
}

/// `LOCAL_STACK=1`: the local stack and tests, where secrets may be left out. Everywhere else a
/// missing secret stops the function at start, naming the variable.
pub fn is_local_stack(lookup: &impl Fn(&str) -> Option<String>) -> bool {
    matches!(lookup("LOCAL_STACK").as_deref(), Some("1" | "true"))
}

impl Config {
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// The configuration from `lookup` (the environment, or a test's map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let local = is_local_stack(&lookup);
        let required = |name: &str| match var(name) {
            Some(value) => Ok(Some(value)),
            None if local => Ok(None),
            None => Err(format!(
                "{name} must be set (only the local stack may leave it out)"
            )),
        };
        let secret = |name: &str| required(name).map(|value| value.map(SecretString::from));
        Ok(Config {
            table_name: var("TABLE_NAME").unwrap_or_else(|| "billing".into()),
            jwt_secret: var("JWT_SECRET").map(SecretString::from),
            jwt_jwks_url: var("JWT_JWKS_URL"),
            jwt_jwks: var("JWT_JWKS"),
            jwt_issuer: required("JWT_ISSUER")?,
            jwt_audience: required("JWT_AUDIENCE")?,
            stripe_webhook_secret: secret("STRIPE_WEBHOOK_SECRET")?,
            idempotency_ttl_hours: match var("IDEMPOTENCY_TTL_HOURS") {
                Some(v) => v.parse().map_err(|_| {
                    format!("IDEMPOTENCY_TTL_HOURS must be a whole number, got {v:?}")
                })?,
                None => 24,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    const DEPLOYED: &[(&str, &str)] = &[
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
}
