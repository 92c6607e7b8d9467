//! The scheduler function: invoked by the EventBridge schedule (or `scheduler --as-of <time>`
//! from a shell, to replay a past billing run).
// The renewal's future (store, Stripe, retries) is deeper than the default limit allows.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), billing_jobs::functions::Error> {
    billing_jobs::functions::scheduler_main().await
}
