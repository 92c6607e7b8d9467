//! The HTTP API: API Gateway (HTTP API, payload 2.0) requests in, JSON or problem+json out.
//!
//! Owns authentication, the route table shared by the functions, the local gateway and
//! `template.yaml`, the JSON contract, idempotency keys and the OpenAPI document. Business rules
//! live in `billing-domain`; this crate only parses, authorizes, calls the domain and encodes.

pub mod auth;
pub mod dto;
mod idempotency;
pub mod openapi;
pub mod problem;
pub mod request;
pub mod routes;
pub mod state;
pub mod stripe_signature;

pub use billing_wiring::telemetry;
pub use routes::{handle, match_route, unmatched_response, Endpoint, Function, Route, ROUTES};
pub use state::AppState;

/// The whole `main` of an API function: logging, the state built once at cold start, then the
/// Lambda runtime feeding each API Gateway event to [`handle`].
pub async fn run_function(function: Function) -> Result<(), lambda_http::Error> {
    telemetry::init();
    let state = AppState::from_env()
        .await
        .map_err(|e| format!("configuration: {e}"))?;
    let state = &state;
    lambda_http::run(lambda_http::service_fn(
        move |request: lambda_http::Request| async move {
            Ok::<_, std::convert::Infallible>(handle(state, function, request).await)
        },
    ))
    .await
}
