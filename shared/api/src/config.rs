//! Configuration, read once from the environment at cold start.

use std::env;

/// Every setting of the API functions. Variable names are the field names in upper case.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`: the DynamoDB table (default `billing`).
    pub table_name: String,
    /// `JWT_SECRET`: HS256 secret (local stack and tests).
    pub jwt_secret: Option<String>,
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
    pub stripe_webhook_secret: Option<String>,
    /// `IDEMPOTENCY_TTL_HOURS`: how long an `Idempotency-Key` is remembered (default 24).
    pub idempotency_ttl_hours: i64,
}

fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    pub fn from_env() -> Result<Self, String> {
        Ok(Config {
            table_name: var("TABLE_NAME").unwrap_or_else(|| "billing".into()),
            jwt_secret: var("JWT_SECRET"),
            jwt_jwks_url: var("JWT_JWKS_URL"),
            jwt_jwks: var("JWT_JWKS"),
            jwt_issuer: var("JWT_ISSUER"),
            jwt_audience: var("JWT_AUDIENCE"),
            stripe_webhook_secret: var("STRIPE_WEBHOOK_SECRET"),
            idempotency_ttl_hours: match var("IDEMPOTENCY_TTL_HOURS") {
                Some(v) => v.parse().map_err(|_| {
                    format!("IDEMPOTENCY_TTL_HOURS must be a whole number, got {v:?}")
                })?,
                None => 24,
            },
        })
    }
}
