//! Mints HS256 tokens for the local stack and the tests.

use jsonwebtoken::{encode, EncodingKey, Header};
use serde::Serialize;

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    roles: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<&'a str>,
    exp: i64,
}

/// A token for `sub` with `roles` (and `customer_id` for a customer), valid for `ttl_seconds`
/// from `now_unix`.
pub fn mint(
    secret: &str,
    sub: &str,
    roles: &[&str],
    customer_id: Option<&str>,
    now_unix: i64,
    ttl_seconds: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    encode(
        &Header::default(),
        &Claims {
            sub,
            roles: roles.to_vec(),
            customer_id,
            exp: now_unix + ttl_seconds,
        },
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}
