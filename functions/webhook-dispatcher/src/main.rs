//! The webhook dispatcher function: SQS batches from the webhooks queue (domain events the
//! bus's rule delivers, retries the scheduler finds due), signed POSTs to operators' endpoints,
//! partial batch failures.
// Shares the SQS handler with the renewal worker, whose future is deep.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), billing_jobs::functions::Error> {
    billing_jobs::functions::webhook_dispatcher_main().await
}
