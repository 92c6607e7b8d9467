//! The `stripe-webhooks` Lambda: Stripe's signed events at `POST /webhooks/stripe`.
//! Thin by design: everything it does is `billing_api::run_function`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    billing_api::run_function(billing_api::Function::StripeWebhooks).await
}
