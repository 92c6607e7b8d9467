//! `local-stack`: creates the table, seeds the catalogue and serves the local gateway at
//! `LOCAL_GATEWAY_ADDR` (default 127.0.0.1:3000). Configuration as the functions' (README).

use std::sync::Arc;

use billing_api::state::SystemClock;
use billing_api::AppState;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    billing_api::telemetry::init();
    let state = AppState::from_env()
        .await
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let seeded = local_stack::prepare(&state.store, &SystemClock)
        .await
        .map_err(|e| anyhow::anyhow!("preparing table {}: {e}", state.store.table()))?;
    tracing::info!(table = state.store.table(), seeded, "table ready");
    let addr = std::env::var("LOCAL_GATEWAY_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = TcpListener::bind(&addr).await?;
    tracing::info!(%addr, "local gateway listening: http://{addr}/api/v1/health");
    local_stack::gateway::serve(listener, Arc::new(state)).await?;
    Ok(())
}
