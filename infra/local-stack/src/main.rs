//! `local-stack`: creates the table, the renewal queue, the event bus, the notifications queue
//! and the SNS topic of SES bounce reports that feeds it,
//! verifies the email sender, seeds the catalogue, serves the local
//! gateway at `LOCAL_GATEWAY_ADDR` (default 127.0.0.1:3000), and every `TICK_SECONDS` (default
//! 60) does what EventBridge and the SQS event source mapping do when deployed: runs the
//! scheduler and drains the queue through the worker. Configuration as the functions' (docs/configuration.md).

use std::sync::Arc;
use std::time::Duration;

use billing_api::state::SystemClock;
use billing_api::AppState;
use billing_jobs::{scheduler, worker, Jobs, Uses};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    billing_api::telemetry::init();
    if std::env::var("RENEWAL_QUEUE_URL")
        .unwrap_or_default()
        .is_empty()
    {
        let name = std::env::var("RENEWAL_QUEUE_NAME")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "billing-renewals".into());
        let queue = local_stack::prepare_queue(&name).await?;
        std::env::set_var("RENEWAL_QUEUE_URL", queue.url());
    }
    // The event bus and the notifications queue its rule feeds, as template.yaml declares them.
    let bus = std::env::var("EVENT_BUS_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "billing-events".into());
    let name = |var: &str, default: &str| {
        std::env::var(var)
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| default.into())
    };
    let queues = local_stack::prepare_events(
        &bus,
        &name("NOTIFICATIONS_QUEUE_NAME", "billing-notifications"),
        &name("WEBHOOKS_QUEUE_NAME", "billing-webhooks"),
    )
    .await?;
    std::env::set_var("EVENT_BUS_NAME", &bus);
    std::env::set_var("NOTIFICATIONS_QUEUE_URL", queues.notifications.url());
    std::env::set_var("WEBHOOKS_QUEUE_URL", queues.webhooks.url());
    let feedback = local_stack::MailFeedbackTopic::create(
        &name("MAIL_FEEDBACK_TOPIC_NAME", "billing-mail-feedback"),
        &queues.notifications,
    )
    .await?;
    tracing::info!(topic = %feedback.arn, "SES bounce and complaint reports: publish them here");
    // Webhook receivers run on this machine (`make webhook-receiver`).
    if std::env::var("WEBHOOK_ALLOW_PRIVATE_URLS").is_err() {
        std::env::set_var("WEBHOOK_ALLOW_PRIVATE_URLS", "1");
    }
    // Customer email goes to the emulator's SES store (`make mail` lists it).
    let from = std::env::var("MAIL_FROM")
        .ok()
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| local_stack::LOCAL_MAIL_FROM.into());
    local_stack::prepare_mail(&from).await?;
    std::env::set_var("MAIL_FROM", &from);
    // The jobs every deployed function runs, in this process: the ticker runs them, and the
    // API's test clock advances through them.
    let jobs = Jobs::from_env(Uses::ALL)
        .await
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let state = AppState::from_env()
        .await
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?
        .with_test_clock(Arc::new(jobs.clone()));
    let seeded = local_stack::prepare(&state.store, &SystemClock)
        .await
        .map_err(|e| anyhow::anyhow!("preparing table {}: {e}", state.store.table()))?;
    tracing::info!(
        table = state.store.table(),
        seeded,
        test_clock = state.services.time.is_test_clock(),
        "table ready"
    );
    let tick: u64 = std::env::var("TICK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    tokio::spawn(ticker(jobs, Duration::from_secs(tick.max(1))));
    let addr = std::env::var("LOCAL_GATEWAY_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = TcpListener::bind(&addr).await?;
    tracing::info!(%addr, "local gateway listening: http://{addr}/api/v1/health");
    local_stack::gateway::serve(listener, Arc::new(state)).await?;
    Ok(())
}

/// The local stand-in for the EventBridge schedule and the SQS event source mapping.
async fn ticker(jobs: Jobs, every: Duration) {
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        let run = async {
            let now = jobs.services.time.now().await?;
            scheduler::run(&jobs.services.store, jobs.renewal_queue()?, now).await?;
            let report = worker::drain(&jobs).await?;
            jobs.publish_and_notify().await?;
            Ok::<_, billing_jobs::JobError>(report)
        };
        match run.await {
            Ok(report) if report.processed + report.failed > 0 => {
                tracing::info!(?report, "scheduled run")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "scheduled run failed"),
        }
    }
}
