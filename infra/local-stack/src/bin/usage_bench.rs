//! `usage-bench`: what recording usage costs in DynamoDB requests. Subscribes `BENCH_USAGE`
//! customers (default 20) to the seeded `plan_words_100k_month` in the emulator with the Stripe
//! simulator, grants each some promotional words, then records `BENCH_USAGE_RECORDS` usage
//! records per subscription (default 10), each with an `Idempotency-Key`, through the billing
//! service as the `subscriptions-api` function does, counting every DynamoDB call (an SDK
//! interceptor) and timing the records in-process. Writes `docs/usage-cost.md` and the section
//! in `docs/benchmarks.md`. Needs the emulator (`make bench-usage`; `make bench` runs it too).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use billing_domain::customers::NewCustomer;
use billing_domain::kernel::access::Actor;
use billing_domain::subscriptions::NewSubscription;
use billing_domain::usage::{Unit, UnitGrantRequest, UsageRequest};
use billing_store_dynamodb::DynamoStore;
use billing_wiring::{Services, Settings};
use local_stack::counting::{dynamo_cost, reset, snapshot, CallCounter, Counts, DynamoCost};
use rust_decimal::Decimal;
use tokio::net::TcpListener;

/// The items of a record's transaction: the record, the allowance period's counters and the
/// day's totals (two write units each).
const TRANSACTION_ITEMS: u64 = 3;

fn count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let subscribers = count("BENCH_USAGE", 20);
    let per_subscription = count("BENCH_USAGE_RECORDS", 10);
    let counts: Counts = Arc::default();
    let sdk = aws_config::load_from_env().await;
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(CallCounter(counts.clone()))
            .build(),
    );
    let name = format!("bench-usage-{}", uuid::Uuid::new_v4().simple());
    let store = DynamoStore::new(dynamodb, name);
    local_stack::prepare(&store, &billing_wiring::SystemClock).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let sim_base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(stripe_sim::serve(
        listener,
        Arc::new(stripe_sim::Simulator::new(stripe_sim::Config::default())?),
    ));
    let mut settings =
        Settings::from_env(billing_wiring::settings::Reader::Api).map_err(anyhow::Error::msg)?;
    settings.stripe_api_base = Some(sim_base);
    let billing = Services::new(store, &settings)?.billing;
    let failed = |e: billing_domain::BillingError| anyhow::anyhow!("{e:?}");

    let mut subscriptions = Vec::new();
    for n in 0..subscribers {
        let customer = billing
            .create_customer(NewCustomer {
                name: format!("Bench {n}"),
                email: format!("bench{n}@bench.example"),
                ..NewCustomer::default()
            })
            .await
            .map_err(failed)?;
        let sub = billing
            .subscribe(
                &Actor::Operator,
                NewSubscription {
                    customer_id: customer.id,
                    plan_id: "plan_words_100k_month"
                        .parse()
                        .map_err(anyhow::Error::msg)?,
                    payment_method_id: Some("pm_card_visa".into()),
                    auto_renew: true,
                    metadata: Default::default(),
                    trial_days: None,
                    discount: Default::default(),
                    items: Vec::new(),
                    promotional_first: true,
                },
            )
            .await
            .map_err(failed)?;
        billing
            .grant_units(
                &sub.id,
                UnitGrantRequest {
                    unit: Unit::Words,
                    units: Decimal::from(250),
                    expires_at: billing.now() + chrono::Duration::days(90),
                    description: Some("bench".into()),
                },
            )
            .await
            .map_err(failed)?;
        subscriptions.push(sub);
    }

    reset(&counts);
    let mut elapsed = Duration::ZERO;
    let mut recorded = 0u64;
    for n in 0..per_subscription {
        for sub in &subscriptions {
            let started = Instant::now();
            let (record, replayed) = billing
                .record_usage(
                    &Actor::Customer(sub.customer_id.clone()),
                    &sub.id,
                    UsageRequest {
                        unit: Unit::Words,
                        units: Decimal::from(120),
                        description: Some(format!("call {n}")),
                        occurred_at: None,
                        idempotency: Some((
                            format!("bench{n:04}{}", sub.id.as_str().trim_start_matches("sub_")),
                            format!("fingerprint{n}"),
                        )),
                    },
                )
                .await
                .map_err(failed)?;
            elapsed += started.elapsed();
            anyhow::ensure!(!replayed, "{record:?}");
            recorded += 1;
        }
    }
    let counts = snapshot(&counts);
    let report = render(recorded, &counts, elapsed);
    println!("{report}");
    local_stack::counting::publish_report(
        &root,
        "usage-cost.md",
        "What a usage record costs",
        "usage-cost",
        &report,
    )
    .context("usage-cost.md")?;
    Ok(())
}

fn render(
    records: u64,
    counts: &std::collections::BTreeMap<String, u64>,
    elapsed: Duration,
) -> String {
    let n = Decimal::from(records);
    let DynamoCost {
        rows,
        reads,
        writes,
        per_million: cost,
    } = dynamo_cost(counts, records, TRANSACTION_ITEMS);
    let ms = Decimal::from(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
        / Decimal::from(1000)
        / n;
    format!(
        "Measured by `usage-bench` (`make bench-usage`, also run by `make bench`): {records} \
usage records of 120 words with an `Idempotency-Key`, on subscriptions of \
`plan_words_100k_month` with promotional words granted (the first records take promotional \
and included words, later ones included words only), recorded through the billing service as \
`subscriptions-api` does, against the emulator (debug build; {} ms per record in-process, \
emulator latency included).\n\n\
| DynamoDB call | per record |\n|---|---|\n{rows}\n\
Request units per record: {} reads (consistent `GetItem` of items under 4 KB) and {} writes (a \
transaction of {TRANSACTION_ITEMS} items costs two units each): ${} per million records at \
DynamoDB's on-demand list prices ($0.625 per million writes, $0.125 per million reads). The \
reads are the subscription and its allowance period; the record, the period's counters and the \
day's totals are one transaction whose conditions keep the balance exact (a concurrent record \
that changed the period makes it read and write again). The key is kept in the record itself \
(its id): no claim and record of the API's replay store.\n",
        ms.round_dp(1),
        reads.round_dp(2),
        writes.round_dp(2),
        cost.round_dp(2),
    )
}
