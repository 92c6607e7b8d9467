//! `Idempotency-Key` on writes: the same key and body replays the first answer; the same key with
//! another body is a 422; a key whose first request is still running is a 409. Keys are scoped
//! to the whole caller (subject, roles and customer of the token: see
//! [`crate::auth::Principal::idempotency_scope`]) and remembered for `IDEMPOTENCY_TTL_HOURS`.
//! A key is answered only after the request is authenticated, and a stored answer is replayed
//! only to a caller with the same rights, so a replay never skips authorization.

use std::future::Future;

use billing_domain::kernel::ports::{IdempotencyClaim, RecordedResponse};
use chrono::Duration;
use sha2::{Digest, Sha256};

use crate::problem::ApiError;
use crate::routes::ApiResponse;
use crate::state::AppState;

/// The request's `Idempotency-Key`, if it sent one: 1 to 255 visible ASCII characters, else a
/// 422 (a key that cannot be read is never taken as no key).
pub fn key(headers: &lambda_http::http::HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(raw) => {
            let key = std::str::from_utf8(raw.as_bytes()).unwrap_or_default();
            check_key(key)?;
            Ok(Some(key.to_owned()))
        }
    }
}

/// A request's `Idempotency-Key` as a short, processor-safe token for the keys of the calls it
/// makes (the caller's key is scoped by `scope`, as the replay store scopes it).
pub fn request_key(scope: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(scope.as_bytes());
    h.update(b"\n");
    h.update(key.as_bytes());
    hex::encode(&h.finalize()[..16])
}

pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

fn check_key(key: &str) -> Result<(), ApiError> {
    let ok = !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            "header.Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ))
    }
}

pub async fn run<F>(
    state: &AppState,
    scope: &str,
    key: &str,
    fingerprint: &str,
    work: F,
) -> Result<ApiResponse, ApiError>
where
    F: Future<Output = Result<ApiResponse, ApiError>>,
{
    check_key(key)?;
    let now = state.billing.now();
    let expires_at = now + Duration::hours(state.idempotency_ttl_hours);
    match state
        .idempotency
        .claim(scope, key, fingerprint, now, expires_at)
        .await?
    {
        IdempotencyClaim::Claimed => {
            let reply = match work.await {
                Ok(reply) => reply,
                Err(e) => ApiResponse::problem(&e),
            };
            if reply.status >= 500 {
                // Nothing was decided: let the client retry with the same key.
                state.idempotency.release(scope, key).await?;
            } else {
                state
                    .idempotency
                    .record(
                        scope,
                        key,
                        &RecordedResponse {
                            status: reply.status,
                            body: reply.body.clone(),
                        },
                    )
                    .await?;
            }
            Ok(reply)
        }
        IdempotencyClaim::Existing {
            fingerprint: first,
            response,
        } => {
            if first != fingerprint {
                return Err(ApiError::IdempotencyMismatch);
            }
            match response {
                Some(recorded) => Ok(ApiResponse::replayed(recorded.status, recorded.body)),
                None => Err(ApiError::Conflict(
                    "a request with this Idempotency-Key is still in progress".into(),
                )),
            }
        }
    }
}
