//! The renewal worker function: SQS batches from the renewal queue, partial batch failures.
// The renewal's future (store, Stripe, retries) is deeper than the default limit allows.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), billing_jobs::functions::Error> {
    billing_jobs::functions::worker_main().await
}
