//! The event relay function: invoked every minute by its schedule, publishes the domain events
//! waiting in the table's outbox to the EventBridge bus.

#[tokio::main]
async fn main() -> Result<(), billing_jobs::functions::Error> {
    billing_jobs::functions::event_relay_main().await
}
