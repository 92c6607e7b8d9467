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

/// DynamoDB on-demand, us-east-1: per million write and read request units, in micro-dollars.
pub const WRITE_PER_MILLION_MICRO_USD: u64 = 625_000;
pub const READ_PER_MILLION_MICRO_USD: u64 = 125_000;

/// What `n` operations cost in DynamoDB requests, from the calls counted.
pub struct DynamoCost {
    /// A markdown table's rows: each call and how many per operation.
    pub rows: String,
    /// Request units per operation.
    pub reads: rust_decimal::Decimal,
    pub writes: rust_decimal::Decimal,
    /// Dollars per million operations.
    pub per_million: rust_decimal::Decimal,
}

/// Prices the calls of `n` operations: consistent `GetItem`s and `Query`s of items under 4 KB
/// are one read unit, single writes one write unit, a transaction two write units for each of
/// its `transaction_items`.
pub fn dynamo_cost(counts: &BTreeMap<String, u64>, n: u64, transaction_items: u64) -> DynamoCost {
    use rust_decimal::Decimal;
    let n = Decimal::from(n.max(1));
    let mut rows = String::new();
    let (mut reads, mut writes) = (Decimal::ZERO, Decimal::ZERO);
    for (call, count) in counts {
        let per = Decimal::from(*count) / n;
        rows.push_str(&format!("| {call} | {} |\n", per.round_dp(2)));
        match call.rsplit(' ').next().unwrap_or_default() {
            "GetItem" | "Query" => reads += per,
            "PutItem" | "UpdateItem" | "DeleteItem" => writes += per,
            "TransactWriteItems" => writes += per * Decimal::from(2 * transaction_items),
            _ => {}
        }
    }
    let per_million = (reads * Decimal::from(READ_PER_MILLION_MICRO_USD)
        + writes * Decimal::from(WRITE_PER_MILLION_MICRO_USD))
        / Decimal::from(1_000_000);
    DynamoCost {
        rows,
        reads,
        writes,
        per_million,
    }
}

/// Writes a bench's report to `docs/<file>` under `# <title>` and between the `<!-- marker:start
/// -->` and `<!-- marker:end -->` lines of `docs/benchmarks.md`.
pub fn publish_report(
    root: &std::path::Path,
    file: &str,
    title: &str,
    marker: &str,
    report: &str,
) -> std::io::Result<()> {
    std::fs::write(
        root.join("docs").join(file),
        format!("# {title}\n\n{report}"),
    )?;
    let path = root.join("docs/benchmarks.md");
    let readme = std::fs::read_to_string(&path)?;
    let (start, end) = (
        format!("<!-- {marker}:start -->"),
        format!("<!-- {marker}:end -->"),
    );
    if let (Some(a), Some(b)) = (readme.find(&start), readme.find(&end)) {
        std::fs::write(
            &path,
            format!("{}{start}\n{report}\n{}", &readme[..a], &readme[b..]),
        )?;
    }
    Ok(())
}
