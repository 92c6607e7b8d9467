//! The test clock (local stack and tests; never deployed): advancing it runs every job that
//! falls due on the way, in time order, through the real scheduler → SQS → worker path, then
//! publishes the events the jobs recorded and sends the email they ask for.

use chrono::{DateTime, Utc};

use billing_wiring::TimeSource;

use crate::{scheduler, worker, JobError, Jobs};

/// How many times the same due time may come round before the advance gives up on it (a
/// job that keeps failing, e.g. Stripe unreachable).
const MAX_STALLS: usize = 5;

/// Moves the test clock to `target`, stopping at each due time on the way to run the scheduler
/// and drain the queue. Answers the clock's new time.
pub async fn advance(jobs: &Jobs, target: DateTime<Utc>) -> Result<DateTime<Utc>, JobError> {
    let TimeSource::TestClock(store) = &jobs.services.time else {
        return Err(JobError::Config("the test clock is not enabled".into()));
    };
    let queue = jobs.renewal_queue()?;
    let mut last: Option<DateTime<Utc>> = None;
    let mut stalls = 0;
    loop {
        let now = jobs.services.time.now().await?;
        let due = [
            store.earliest_due().await?,
            store.earliest_webhook_retry().await?,
        ]
        .into_iter()
        .flatten()
        .min();
        let step = match due {
            Some(due) if due <= target => due.max(now),
            _ => break,
        };
        if last == Some(step) {
            stalls += 1;
            if stalls >= MAX_STALLS {
                return Err(JobError::Stuck(format!(
                    "work due at {step} did not complete after {MAX_STALLS} runs"
                )));
            }
        } else {
            stalls = 0;
        }
        last = Some(step);
        store.set_test_clock(step).await?;
        scheduler::run(store, queue, step).await?;
        scheduler::release_products(jobs, step).await?;
        worker::drain(jobs).await?;
        jobs.publish_and_notify().await?;
    }
    store.set_test_clock(target).await?;
    jobs.publish_and_notify().await?;
    Ok(jobs.services.time.now().await?)
}
