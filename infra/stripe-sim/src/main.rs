//! `stripe-sim`: the local Stripe simulator on `STRIPE_SIM_ADDR` (default 127.0.0.1:12111, the
//! port stripe-mock uses). Webhooks go to `STRIPE_WEBHOOK_URL`, signed with `STRIPE_WEBHOOK_SECRET`.

use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let config = stripe_sim::Config {
        webhook_url: std::env::var("STRIPE_WEBHOOK_URL")
            .ok()
            .filter(|v| !v.is_empty()),
        webhook_secret: std::env::var("STRIPE_WEBHOOK_SECRET")
            .unwrap_or_else(|_| "whsec_local".into()),
    };
    let addr = std::env::var("STRIPE_SIM_ADDR").unwrap_or_else(|_| "127.0.0.1:12111".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(%addr, "stripe simulator listening");
    stripe_sim::serve(listener, Arc::new(stripe_sim::Simulator::new(config)?)).await?;
    Ok(())
}
