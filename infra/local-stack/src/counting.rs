//! Counting AWS calls for the cost benchmarks (`make bench-renewals`, the pre-order bench): an
//! SDK interceptor that counts every operation a client executes, by service and name.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// Calls counted, by `"<service> <operation>"`.
pub type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

pub fn bump(counts: &Counts, key: String) {
    let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
    *counts.entry(key).or_default() += 1;
}

/// What has been counted so far.
pub fn snapshot(counts: &Counts) -> BTreeMap<String, u64> {
    counts.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Forgets what has been counted (setup done, the measured work begins).
pub fn reset(counts: &Counts) {
    counts.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// Counts every AWS operation the clients execute (SDK retries not included).
#[derive(Debug)]
pub struct CallCounter(pub Counts);

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "call-counter"
    }

    /// Once per operation (serialization happens before the retry loop), when the operation's
    /// metadata is in the bag.
    fn read_after_serialization(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = match cfg.load::<Metadata>() {
            Some(m) => format!("{} {}", m.service(), m.name()),
            None => "unknown".into(),
        };
        bump(&self.0, key);
        Ok(())
    }
}
