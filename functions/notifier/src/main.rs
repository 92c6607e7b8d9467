//! The notifier function: SQS batches from the notifications queue (domain events the bus's
//! rule delivers), customer email through SES, partial batch failures.
// Shares the SQS handler with the renewal worker, whose future is deep.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), billing_jobs::functions::Error> {
    billing_jobs::functions::notifier_main().await
}
