//! `preorder-bench`: what placing a pre-order costs in DynamoDB requests. Subscribes
//! `BENCH_PREORDERS` Basic customers (default 50) in the emulator with the Stripe simulator,
//! creates a pre-orderable product in stock with a per-customer maximum (so every counter is
//! written), then places one pre-order per subscription through the billing service, as the
//! `subscriptions-api` function does, counting every DynamoDB call (an SDK interceptor) and
//! timing the placements in-process. Writes `docs/preorder-cost.md` and the section in
//! `docs/benchmarks.md`. Needs the emulator (`make bench-preorders`; `make bench` runs it too).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use billing_domain::customers::NewCustomer;
use billing_domain::inventory::product::{NewPreorderTerms, NewProduct};
use billing_domain::inventory::products::StockRequest;
use billing_domain::inventory::StockChange;
use billing_domain::kernel::access::Actor;
use billing_domain::kernel::money::{Currency, Money};
use billing_domain::preorders::preorder::{NewPreorder, PreorderStatus};
use billing_domain::subscriptions::NewSubscription;
use billing_store_dynamodb::DynamoStore;
use billing_wiring::{Services, Settings};
use local_stack::counting::{dynamo_cost, reset, snapshot, CallCounter, Counts, DynamoCost};
use rust_decimal::Decimal;
use tokio::net::TcpListener;

/// The items of a placement's transaction: the product, the pre-order, the month's counters,
/// the customer's units, the pre-order's place in the product's queue and the reservation's
/// move (two write units each).
const TRANSACTION_ITEMS: u64 = 6;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let placements: u64 = std::env::var("BENCH_PREORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let counts: Counts = Arc::default();
    let sdk = aws_config::load_from_env().await;
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(CallCounter(counts.clone()))
            .build(),
    );
    let name = format!("bench-preorders-{}", uuid::Uuid::new_v4().simple());
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

    let now = billing.now();
    let product = billing
        .create_product(NewProduct {
            sku: "BENCH-1".into(),
            name: "Bench gizmo".into(),
            description: None,
            category: Some("bench".into()),
            price: Money::new(Decimal::new(1999, 2), Currency::Usd)?,
            low_stock_threshold: 5,
            backorders_allowed: false,
            substitutes: Vec::new(),
            supplier: None,
            preorder: NewPreorderTerms {
                eligible: true,
                opens_at: Some(now - chrono::Duration::days(1)),
                closes_at: Some(now + chrono::Duration::days(30)),
                release_at: Some(now + chrono::Duration::days(40)),
                max_per_customer: Some(5),
            },
        })
        .await
        .map_err(failed)?;
    billing
        .move_stock(
            &product.id,
            StockRequest {
                change: StockChange::Receipt {
                    quantity: placements * 2,
                },
                reason: None,
                reference: None,
            },
        )
        .await
        .map_err(failed)?;
    let mut subscriptions = Vec::new();
    for n in 0..placements {
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
                    plan_id: "plan_basic_month".parse().map_err(anyhow::Error::msg)?,
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
        subscriptions.push(sub);
    }

    reset(&counts);
    let mut elapsed = Duration::ZERO;
    for sub in &subscriptions {
        let started = Instant::now();
        let placed = billing
            .place_preorder(
                &Actor::Customer(sub.customer_id.clone()),
                &sub.id,
                NewPreorder {
                    product_id: product.id.clone(),
                    quantity: 2,
                    priority_level: None,
                },
            )
            .await
            .map_err(failed)?;
        elapsed += started.elapsed();
        anyhow::ensure!(placed.status == PreorderStatus::Reserved, "{placed:?}");
    }
    let counts = snapshot(&counts);
    let report = render(placements, &counts, elapsed);
    println!("{report}");
    local_stack::counting::publish_report(
        &root,
        "preorder-cost.md",
        "What a pre-order costs",
        "preorder-cost",
        &report,
    )
    .context("preorder-cost.md")?;
    Ok(())
}

fn render(
    placements: u64,
    counts: &std::collections::BTreeMap<String, u64>,
    elapsed: Duration,
) -> String {
    let n = Decimal::from(placements);
    let DynamoCost {
        rows,
        reads,
        writes,
        per_million: cost,
    } = dynamo_cost(counts, placements, TRANSACTION_ITEMS);
    let ms = Decimal::from(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
        / Decimal::from(1000)
        / n;
    format!(
        "Measured by `preorder-bench` (`make bench-preorders`, also run by `make bench`): {placements} \
pre-orders of 2 units, each by another Basic subscriber, of one product in stock with a \
per-customer maximum, placed through the billing service as `subscriptions-api` does, against \
the emulator (debug build; {} ms per placement in-process, emulator latency included).\n\n\
| DynamoDB call | per pre-order |\n|---|---|\n{rows}\n\
Request units per pre-order: {} reads (consistent `GetItem` of items under 4 KB) and {} writes (a \
transaction of {TRANSACTION_ITEMS} items costs two units each): ${} per million pre-orders at \
DynamoDB's on-demand list prices ($0.625 per million writes, $0.125 per million reads). The \
reads are the subscription, its plan and the product; the limits are enforced by the \
transaction's conditions, not by reading the counters (they are read only to explain a refusal). \
An `Idempotency-Key` adds the API's claim (`PutItem`) and record (`UpdateItem`).\n",
        ms.round_dp(1),
        reads.round_dp(2),
        writes.round_dp(2),
        cost.round_dp(2),
    )
}
