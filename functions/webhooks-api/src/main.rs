//! The `webhooks-api` Lambda: API Gateway (HTTP API) events for its routes (see `billing_api::ROUTES`).
//! Thin by design: everything it does is `billing_api::run_function`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    billing_api::run_function(billing_api::Function::WebhooksApi).await
}
