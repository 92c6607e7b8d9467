//! The `main` of the scheduler, renewal-worker and event-relay functions.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, LambdaEvent};
use serde::Deserialize;
use serde_json::Value;

use crate::{scheduler, worker, Jobs, Uses};

pub type Error = lambda_runtime::Error;

/// The scheduler's input: an EventBridge scheduled event (its `time`), or `{"as_of": ...}` to
/// replay a billing run for a past time.
#[derive(Debug, Deserialize)]
struct ScheduleEvent {
    as_of: Option<DateTime<Utc>>,
    time: Option<DateTime<Utc>>,
}

/// The time a run bills up to: a replay's `as_of`, the test clock's time, or the scheduled
/// event's `time`. An event that says neither is refused, never run at the wall clock's time.
fn schedule_event(payload: Value) -> Result<ScheduleEvent, Error> {
    let event: ScheduleEvent = serde_json::from_value(payload)
        .map_err(|e| format!("the scheduler's event is not a schedule: {e}"))?;
    Ok(event)
}

async fn as_of(jobs: &Jobs, event: &ScheduleEvent) -> Result<DateTime<Utc>, Error> {
    if let Some(at) = event.as_of {
        return Ok(at);
    }
    if jobs.services.time.is_test_clock() {
        return Ok(jobs.services.time.now().await?);
    }
    event.time.ok_or_else(|| {
        Error::from("the scheduler's event has neither `time` (EventBridge) nor `as_of` (a replay)")
    })
}

fn parse_as_of(args: &[String]) -> Result<Option<DateTime<Utc>>, Error> {
    match args.iter().position(|a| a == "--as-of") {
        Some(i) => {
            let raw = args
                .get(i + 1)
                .ok_or("--as-of needs an RFC 3339 time, e.g. 2027-01-01T00:00:00Z")?;
            Ok(Some(DateTime::parse_from_rfc3339(raw)?.with_timezone(&Utc)))
        }
        None => Ok(None),
    }
}

/// `scheduler --as-of <time>` runs once from a shell (a replay) and, with the test clock or a
/// local stack, drains the queue too when `--drain` is given; otherwise it serves Lambda events.
pub async fn scheduler_main() -> Result<(), Error> {
    billing_wiring::telemetry::init();
    let jobs = Jobs::from_env(Uses {
        renewal_queue: true,
        webhooks_queue: true,
        ..Uses::NONE
    })
    .await?;
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = parse_as_of(&args)? {
        let report = scheduler::run(&jobs.services.store, jobs.renewal_queue()?, at).await?;
        scheduler::release_products(&jobs, at).await?;
        println!("{}", serde_json::to_string(&report)?);
        if args.iter().any(|a| a == "--drain") {
            let drained = worker::drain(&jobs).await?;
            println!("{}", serde_json::to_string(&drained)?);
        }
        return Ok(());
    }
    let jobs = &jobs;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let schedule = schedule_event(event.payload)?;
        let at = as_of(jobs, &schedule).await?;
        let report = scheduler::run(&jobs.services.store, jobs.renewal_queue()?, at).await?;
        scheduler::release_products(jobs, at).await?;
        if let Some(webhooks) = &jobs.webhooks_queue {
            scheduler::schedule_webhook_retries(&jobs.services.store, webhooks, at).await?;
        }
        Ok::<_, Error>(serde_json::to_value(report)?)
    }))
    .await
}

/// The event relay: invoked every minute by its schedule; publishes the outbox to the bus.
pub async fn event_relay_main() -> Result<(), Error> {
    billing_wiring::telemetry::init();
    let jobs = Jobs::from_env(Uses {
        event_bus: true,
        ..Uses::NONE
    })
    .await?;
    if jobs.events.is_none() {
        return Err("EVENT_BUS_NAME is not set".into());
    }
    let jobs = &jobs;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let report = jobs.relay_events().await?;
        Ok::<_, Error>(serde_json::to_value(report)?)
    }))
    .await
}

pub async fn worker_main() -> Result<(), Error> {
    consume(worker::Consumer::Renewals).await
}

/// The notifier: consumes the notifications queue (batches, partial batch failures) and
/// sends customer email through SES.
pub async fn notifier_main() -> Result<(), Error> {
    consume(worker::Consumer::Notifier).await
}

/// The webhook dispatcher: consumes the webhooks queue (events from the bus, retries from the
/// scheduler) and posts deliveries to operators' endpoints.
pub async fn webhook_dispatcher_main() -> Result<(), Error> {
    consume(worker::Consumer::Webhooks).await
}

/// An SQS-triggered function: each batch through `consumer`, failures reported per message.
async fn consume(consumer: worker::Consumer) -> Result<(), Error> {
    billing_wiring::telemetry::init();
    let uses = Uses {
        mail: consumer == worker::Consumer::Notifier,
        ..Uses::NONE
    };
    let jobs = Jobs::from_env(uses).await?;
    if consumer == worker::Consumer::Notifier && jobs.notifier.is_none() {
        return Err("MAIL_FROM is not set".into());
    }
    let jobs = &jobs;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let messages: Vec<(String, String)> = event
            .payload
            .records
            .into_iter()
            .map(|m| (m.message_id.unwrap_or_default(), m.body.unwrap_or_default()))
            .collect();
        let mut response = SqsBatchResponse::default();
        for failed in consumer.process_batch(jobs, &messages).await {
            response.add_failure(failed);
        }
        Ok::<_, Error>(response)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_malformed_schedule_event_is_refused_not_run_at_the_wall_clock() {
        assert!(schedule_event(json!({"time": "yesterday"})).is_err());
        assert!(schedule_event(json!({"as_of": 42})).is_err());
        assert!(schedule_event(json!("2027-01-01T00:00:00Z")).is_err());
        let event = schedule_event(
            json!({"time": "2027-01-01T00:00:00Z", "detail-type": "Scheduled Event"}),
        )
        .expect("EventBridge's scheduled event");
        assert_eq!(
            event.time.map(|t| t.to_rfc3339()).as_deref(),
            Some("2027-01-01T00:00:00+00:00")
        );
        let empty = schedule_event(json!({})).expect("an object");
        assert!(empty.time.is_none() && empty.as_of.is_none());
    }
}
