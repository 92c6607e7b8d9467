//! The `plans-api` Lambda: API Gateway (HTTP API) events for its routes (see `billing_api::ROUTES`).
//! Thin by design: cold start builds the state once; each event goes to `billing_api::handle`.

use billing_api::{handle, AppState, Function};
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    billing_api::telemetry::init();
    let state = AppState::from_env()
        .await
        .map_err(|e| format!("configuration: {e}"))?;
    let state = &state;
    run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(handle(state, Function::PlansApi, request).await)
    }))
    .await
}
