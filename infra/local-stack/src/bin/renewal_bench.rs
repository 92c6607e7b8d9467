//! `renewal-bench`: what one renewal costs. Subscribes `BENCH_RENEWALS` customers (default
//! 100) in the emulator with the Stripe simulator, moves the test clock past their period end,
//! then runs the real scheduler, drains the renewal queue through the real worker, publishes
//! the renewals' events through the real event relay and handles them as deployed: the notifier
//! emails the customer through SES, the webhook dispatcher finds no endpoint. It counts
//! every AWS call (an SDK interceptor) and every Stripe call (a counting payments port), and
//! timing the work in-process. Prices the calls per 1,000,000 renewals at the list prices below
//! and writes `docs/renewal-cost.md` and the section in `docs/benchmarks.md` (`BENCH_ITEMS=1`: a
//! recurring item, `docs/renewal-items-cost.md`; `BENCH_PLAN=plan_words_100k_month`: a plan of
//! units, `docs/renewal-usage-cost.md`). Needs the emulator (`make bench-renewals`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use billing_aws::{EventBus, SesMailer, SqsQueue};
use billing_domain::collection::payments::{
    AttachOutcome, ChargeOutcome, ChargeRequest, PaymentError, PaymentGateway, ProcessorPayment,
};
use billing_domain::customers::NewCustomer;
use billing_domain::inventory::product::{NewPreorderTerms, NewProduct};
use billing_domain::inventory::products::StockRequest;
use billing_domain::inventory::StockChange;
use billing_domain::kernel::access::Actor;
use billing_domain::kernel::money::Currency;
use billing_domain::kernel::money::Money;
use billing_domain::subscriptions::{NewSubscription, RecurringItem};
use billing_jobs::worker::Consumer;
use billing_jobs::{scheduler, worker, Jobs};
use billing_payments_stripe::StripeGateway;
use billing_store_dynamodb::DynamoStore;
use billing_wiring::{Services, Settings};
use local_stack::counting::{bump, CallCounter, Counts};
use rust_decimal::Decimal;
use tokio::net::TcpListener;

/// The payments port, counting its calls.
struct CountingGateway {
    inner: StripeGateway,
    counts: Counts,
}

#[async_trait]
impl PaymentGateway for CountingGateway {
    async fn create_customer(
        &self,
        our_id: &str,
        name: &str,
        email: &str,
        key: &str,
    ) -> Result<String, PaymentError> {
        bump(&self.counts, "Stripe POST /v1/customers".into());
        self.inner.create_customer(our_id, name, email, key).await
    }
    async fn attach_payment_method(
        &self,
        customer: &str,
        pm: &str,
        key: &str,
    ) -> Result<AttachOutcome, PaymentError> {
        bump(
            &self.counts,
            "Stripe POST /v1/payment_methods/{id}/attach".into(),
        );
        self.inner.attach_payment_method(customer, pm, key).await
    }
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, PaymentError> {
        bump(&self.counts, "Stripe POST /v1/payment_intents".into());
        self.inner.charge(request).await
    }
    async fn refund(&self, id: &str, amount: Money, key: &str) -> Result<String, PaymentError> {
        bump(&self.counts, "Stripe POST /v1/refunds".into());
        self.inner.refund(id, amount, key).await
    }
    async fn payment(&self, id: &str) -> Result<Option<ProcessorPayment>, PaymentError> {
        bump(&self.counts, "Stripe GET /v1/payment_intents/{id}".into());
        self.inner.payment(id).await
    }
    async fn payment_method_owner(&self, id: &str) -> Result<Option<String>, PaymentError> {
        bump(&self.counts, "Stripe GET /v1/payment_methods/{id}".into());
        self.inner.payment_method_owner(id).await
    }
    async fn customer_reference(&self, id: &str) -> Result<Option<String>, PaymentError> {
        bump(&self.counts, "Stripe GET /v1/customers/{id}".into());
        self.inner.customer_reference(id).await
    }
}

/// List prices, us-east-1, on-demand (checked 2026-11; update here and docs/benchmarks.md together).
mod price {
    /// DynamoDB on-demand: per million write request units (1 KB each).
    pub const DYNAMODB_WRITE_PER_MILLION_MICRO_USD: u64 = 625_000;
    /// DynamoDB on-demand: per million read request units (a strongly consistent 4 KB read).
    pub const DYNAMODB_READ_PER_MILLION_MICRO_USD: u64 = 125_000;
    /// SQS standard: per million requests (64 KB each).
    pub const SQS_PER_MILLION_MICRO_USD: u64 = 400_000;
    /// Lambda arm64: per GB-second, in millionths of a micro-dollar (0.0000133334 USD).
    pub const LAMBDA_GB_SECOND_PICO_USD: u64 = 13_333_400;
    /// Lambda: per million requests.
    pub const LAMBDA_REQUEST_PER_MILLION_MICRO_USD: u64 = 200_000;
    /// EventBridge custom events: per million.
    pub const EVENTBRIDGE_PER_MILLION_MICRO_USD: u64 = 1_000_000;
    /// SES outbound email: $0.10 per 1,000, per million.
    pub const SES_EMAIL_PER_MILLION_MICRO_USD: u64 = 100_000_000;
    /// The renewal worker's, the notifier's and the webhook dispatcher's memory (template.yaml),
    /// in MB.
    pub const WORKER_MEMORY_MB: u64 = 256;
    /// Messages per worker invocation (the SQS event source's batch size).
    pub const BATCH_SIZE: u64 = 10;
}

/// DynamoDB request units an operation consumes, assuming items under 1 KB written and 4 KB
/// read (billing items are; see docs/table-design.md): transactions cost two per item.
/// The row that counts events put on the bus (EventBridge's billing unit).
const EVENTS_PUBLISHED: &str = "EventBridge events published";
/// The row that counts the messages the bus's rules send to the two queues (SQS bills them; the
/// emulator sends them itself, so the interceptor does not see them).
const RULE_SENDS: &str = "SQS SendMessage by the bus's rules";
/// The event's queues: the notifier's and the webhook dispatcher's (template.yaml).
const RULES: u64 = 2;

fn dynamodb_units(operation: &str) -> (u64, u64) {
    match operation {
        "GetItem" | "Query" => (1, 0),
        "PutItem" | "UpdateItem" | "DeleteItem" => (0, 1),
        // Two items (an invoice and its period guard, or a change and its event), two units each.
        "TransactWriteItems" => (0, 4),
        _ => (0, 0),
    }
}

fn usd(micro_usd: Decimal) -> String {
    format!("${}", (micro_usd / Decimal::from(1_000_000)).round_dp(2))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let renewals: u64 = std::env::var("BENCH_RENEWALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let counts: Counts = Arc::default();
    let sdk = aws_config::load_from_env().await;
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(CallCounter(counts.clone()))
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .interceptor(CallCounter(counts.clone()))
            .build(),
    );
    let eventbridge = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&sdk)
            .interceptor(CallCounter(counts.clone()))
            .build(),
    );
    let ses = aws_sdk_ses::Client::from_conf(
        aws_sdk_ses::config::Builder::from(&sdk)
            .interceptor(CallCounter(counts.clone()))
            .build(),
    );
    let name = format!("bench-renewals-{}", uuid::Uuid::new_v4().simple());
    let store = DynamoStore::new(dynamodb, name.clone());
    local_stack::prepare(&store, &billing_wiring::SystemClock).await?;
    let queue = SqsQueue::create(sqs.clone(), &name, local_stack::MAX_RECEIVES).await?;
    let notifications = SqsQueue::create(
        sqs.clone(),
        &format!("{name}-notifications"),
        local_stack::MAX_RECEIVES,
    )
    .await?;
    let webhooks =
        SqsQueue::create(sqs, &format!("{name}-webhooks"), local_stack::MAX_RECEIVES).await?;
    let bus = EventBus::create(
        eventbridge,
        &name,
        &[
            ("notifications", &notifications.arn().await?),
            ("webhooks", &webhooks.arn().await?),
        ],
    )
    .await?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let sim_base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(stripe_sim::serve(
        listener,
        Arc::new(stripe_sim::Simulator::new(stripe_sim::Config::default())?),
    ));
    let mut settings =
        Settings::from_env(billing_wiring::settings::Reader::Job).map_err(anyhow::Error::msg)?;
    settings.stripe_api_base = Some(sim_base.clone());
    settings.test_clock = true;
    let from = local_stack::LOCAL_MAIL_FROM;
    settings.mail_from = Some(from.into());
    SesMailer::new(ses.clone()).verify_sender(from).await?;
    let mut jobs = Jobs::new(Services::new(store.clone(), &settings)?).with_mail(
        Arc::new(SesMailer::new(ses)),
        Some(notifications.clone()),
        &settings,
    );
    jobs.renewal_queue = Some(queue.clone());
    jobs.events = Some(bus);
    jobs.webhooks_queue = Some(webhooks.clone());
    jobs.services.billing.payments = Arc::new(CountingGateway {
        inner: StripeGateway::new(
            secrecy::ExposeSecret::expose_secret(&settings.stripe_secret_key),
            Some(&sim_base),
        )
        .map_err(anyhow::Error::msg)?,
        counts: counts.clone(),
    });

    let billing = jobs.services.clocked_billing().await?;
    // `BENCH_PLAN=<id>`: the plan subscribed to (default Premium monthly; a plan of units adds
    // the allowance periods' work).
    let plan_id = std::env::var("BENCH_PLAN").unwrap_or_else(|_| "plan_premium_month".into());
    // `BENCH_ITEMS=n`: each subscription ships n units of one product every period (a box).
    let item_units: u32 = std::env::var("BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let items = if item_units == 0 {
        Vec::new()
    } else {
        let product = billing
            .create_product(NewProduct {
                sku: "BENCH-BOX-1".into(),
                name: "Bench box item".into(),
                description: None,
                category: None,
                price: Money::new(Decimal::new(500, 2), Currency::Usd)?,
                low_stock_threshold: 0,
                backorders_allowed: false,
                substitutes: Vec::new(),
                supplier: None,
                preorder: NewPreorderTerms::default(),
            })
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        billing
            .move_stock(
                &product.id,
                StockRequest {
                    change: StockChange::Receipt {
                        quantity: renewals * u64::from(item_units) * 3,
                    },
                    reason: None,
                    reference: None,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        vec![RecurringItem {
            product_id: product.id,
            quantity: item_units,
        }]
    };
    let mut period_end = billing.now();
    for n in 0..renewals {
        let customer = billing
            .create_customer(NewCustomer {
                name: format!("Bench {n}"),
                email: format!("bench{n}@bench.example"),
                ..NewCustomer::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let sub = billing
            .subscribe(
                &Actor::Operator,
                NewSubscription {
                    customer_id: customer.id,
                    plan_id: plan_id.parse().map_err(anyhow::Error::msg)?,
                    payment_method_id: Some("pm_card_visa".into()),
                    auto_renew: true,
                    metadata: Default::default(),
                    trial_days: None,
                    discount: Default::default(),
                    items: items.clone(),
                    promotional_first: true,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        period_end = period_end.max(sub.current_period_end);
    }
    // Each period has two jobs: the renewal reminder a week before its end, and the renewal.
    let reminder_at = period_end - chrono::Duration::days(7) + chrono::Duration::minutes(1);
    let as_of = period_end + chrono::Duration::minutes(1);
    // The subscriptions' own events are published, mailed and dispatched before counting starts.
    jobs.publish_and_notify().await?;
    // From here on, as deployed: no test clock to read, the worker's clock at each job's time.
    jobs.services.time = billing_wiring::TimeSource::System;
    counts.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let (mut scheduler_time, mut worker_time, mut consumers_time) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut events = 0;
    for at in [reminder_at, as_of] {
        jobs.services.billing = jobs.services.billing.at(at);
        let started = Instant::now();
        let scheduled = scheduler::run(&store, &queue, at).await?;
        scheduler_time += started.elapsed();
        let started = Instant::now();
        let drained = worker::drain(&jobs).await?;
        // The event relay's share: the jobs' events, published (its schedule runs it).
        let relayed = jobs.relay_events().await?;
        worker_time += started.elapsed();
        events += relayed.published as u64;
        // What the bus's rules start: the notifier's email and the webhook dispatcher.
        let started = Instant::now();
        let mailed = worker::drain_queue(&jobs, &notifications, Consumer::Notifier).await?;
        let dispatched = worker::drain_queue(&jobs, &webhooks, Consumer::Webhooks).await?;
        consumers_time += started.elapsed();
        anyhow::ensure!(
            mailed.failed == 0 && dispatched.failed == 0,
            "notifier {mailed:?}, webhook dispatcher {dispatched:?}"
        );
        anyhow::ensure!(
            scheduled.sent as u64 == renewals && drained.processed as u64 == renewals,
            "expected {renewals} jobs at {at}, sent {} processed {}",
            scheduled.sent,
            drained.processed
        );
    }
    eprintln!(
        "worker and relay {} ms, notifier and dispatcher {} ms ({events} events)",
        worker_time.as_millis(),
        consumers_time.as_millis()
    );
    {
        let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.insert(EVENTS_PUBLISHED.into(), events);
        counts.insert(RULE_SENDS.into(), events * RULES);
    }
    let counts = counts.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let emails = counts.get("SES SendEmail").copied().unwrap_or_default();
    anyhow::ensure!(
        emails == 2 * renewals,
        "expected a reminder and a receipt per renewal, sent {emails} emails"
    );
    let mut report = render(
        renewals,
        &counts,
        scheduler_time,
        Timings {
            worker: worker_time,
            consumers: consumers_time,
        },
    );
    let (file, title, marker) = if items.is_empty() && plan_id == "plan_premium_month" {
        ("renewal-cost.md", "What a renewal costs", "renewal-cost")
    } else if items.is_empty() {
        report = format!(
            "Each subscription is on `{plan_id}`, a plan of units: the renewal closes the ending allowance period (one `UpdateItem` that answers its counters, for the overage line and the rollover) and allocates the next one in the transaction that moves the subscription into it (one more item in a transaction it writes anyway). The renewal reminder's preview reads the allowance period (the overage so far is in the amount it announces). Compare with [a renewal without units](renewal-cost.md): by design one write and one read more.\n\n{report}"
        );
        (
            "renewal-usage-cost.md",
            "What a renewal of a plan of units costs",
            "renewal-usage-cost",
        )
    } else {
        report = format!(
            "Each subscription ships one recurring item ({item_units} per period, every subscription the same product): the renewal invoices it (a product line) and ships it once its invoice is paid. Compare with [a renewal without items](renewal-cost.md): by design an item adds 3 reads (the product for the reminder's preview, the invoice line and the shipment) and 1 transaction; the rest are retries of the one product's conditional write, which every worker updates at once here.\n\n{report}"
        );
        (
            "renewal-items-cost.md",
            "What a renewal with a recurring item costs",
            "renewal-items-cost",
        )
    };
    println!("{report}");
    local_stack::counting::publish_report(&root, file, title, marker, &report).context(file)?;
    Ok(())
}

/// The functions' time in-process, all renewals together (Lambda bills it).
struct Timings {
    /// The renewal worker and the event relay.
    worker: Duration,
    /// The notifier and the webhook dispatcher.
    consumers: Duration,
}

/// Lambda's price of `ms` per renewal at the functions' memory, per million renewals.
fn lambda_micro_usd(ms: Decimal) -> Decimal {
    // GB-seconds per million renewals = ms/1000 * MB/1024 * 1e6; price in pico-USD per GB-s.
    ms / Decimal::from(1000) * Decimal::from(price::WORKER_MEMORY_MB) / Decimal::from(1024)
        * Decimal::from(price::LAMBDA_GB_SECOND_PICO_USD)
}

fn render(
    renewals: u64,
    counts: &BTreeMap<String, u64>,
    scheduler_time: Duration,
    timings: Timings,
) -> String {
    let per = |n: u64| Decimal::from(n) / Decimal::from(renewals);
    let mut rows = String::from("| call | per renewal |\n|---|---:|\n");
    let (mut reads, mut writes, mut sqs, mut eventbridge, mut emails) = (
        Decimal::ZERO,
        Decimal::ZERO,
        Decimal::ZERO,
        Decimal::ZERO,
        Decimal::ZERO,
    );
    for (call, n) in counts {
        rows.push_str(&format!("| {call} | {} |\n", per(*n).round_dp(2)));
        if let Some(op) = call.strip_prefix("DynamoDB ") {
            let (r, w) = dynamodb_units(op);
            reads += per(*n) * Decimal::from(r);
            writes += per(*n) * Decimal::from(w);
        } else if call.starts_with("SQS ") {
            sqs += per(*n);
        } else if call == EVENTS_PUBLISHED {
            // EventBridge bills per event, not per PutEvents call.
            eventbridge += per(*n);
        } else if call == "SES SendEmail" {
            emails += per(*n);
        }
    }
    let ms = |d: Duration| Decimal::from(d.as_millis() as u64) / Decimal::from(renewals);
    let (worker_ms, consumers_ms) = (ms(timings.worker), ms(timings.consumers));
    let dynamodb_cost = reads * Decimal::from(price::DYNAMODB_READ_PER_MILLION_MICRO_USD)
        + writes * Decimal::from(price::DYNAMODB_WRITE_PER_MILLION_MICRO_USD);
    let sqs_cost = sqs * Decimal::from(price::SQS_PER_MILLION_MICRO_USD);
    let eventbridge_cost = eventbridge * Decimal::from(price::EVENTBRIDGE_PER_MILLION_MICRO_USD);
    // Invocations: the worker's two jobs per period (the reminder, the renewal), and each
    // event once on each of the rules' queues, in batches.
    let invocations =
        (Decimal::from(2) + eventbridge * Decimal::from(RULES)) / Decimal::from(price::BATCH_SIZE);
    let requests_cost = invocations * Decimal::from(price::LAMBDA_REQUEST_PER_MILLION_MICRO_USD);
    let worker_cost = lambda_micro_usd(worker_ms);
    let consumers_cost = lambda_micro_usd(consumers_ms);
    let lambda_cost = worker_cost + consumers_cost + requests_cost;
    let ses_cost = emails * Decimal::from(price::SES_EMAIL_PER_MILLION_MICRO_USD);
    let total = dynamodb_cost + sqs_cost + eventbridge_cost + lambda_cost;
    format!(
        "Measured by `make bench-renewals` ({renewals} monthly renewals, each with its renewal reminder a week before, against the emulator and the Stripe simulator, debug build; scheduler runs {} ms in all; per renewal in-process, emulator latency included: worker and event relay {} ms, notifier and webhook dispatcher {} ms). Each renewal's events are handled as deployed: the notifier sends the reminder and the receipt through SES, the webhook dispatcher reads the endpoints (none are registered; each delivery adds an HTTP request and a few writes).\n\n\
{rows}\n\
| per 1,000,000 renewals | cost |\n|---|---:|\n\
| DynamoDB ({} reads, {} writes per renewal, on-demand) | {} |\n\
| SQS ({} requests per renewal) | {} |\n\
| EventBridge ({} events per renewal) | {} |\n\
| Lambda: worker and relay {} ms, notifier and dispatcher {} ms at {} MB, {} invocations (batches of {}) | {} |\n\
| **total AWS without email** | **{}** |\n\
| SES ({} emails per renewal) | {} |\n\
| **total AWS** | **{}** |\n\n\
Prices: us-east-1 list prices in `infra/local-stack/src/bin/renewal_bench.rs` (DynamoDB on-demand $0.625 per million writes and $0.125 per million reads; SQS $0.40 per million requests; Lambda arm64 $0.0000133334 per GB-second and $0.20 per million requests; EventBridge $1.00 per million events; SES $0.10 per 1,000 emails). Request units assume items under 1 KB written and 4 KB read; a transaction costs two units per item. Stripe's own fee per charge is not an AWS cost and is not included. Email is most of the cost: the reminder can be turned off per plan (`renewal_reminder_days: 0`) or by the customer.\n",
        scheduler_time.as_millis(),
        worker_ms.round_dp(1),
        consumers_ms.round_dp(1),
        reads.round_dp(2),
        writes.round_dp(2),
        usd(dynamodb_cost),
        sqs.round_dp(2),
        usd(sqs_cost),
        eventbridge.round_dp(2),
        usd(eventbridge_cost),
        worker_ms.round_dp(1),
        consumers_ms.round_dp(1),
        price::WORKER_MEMORY_MB,
        invocations.round_dp(2),
        price::BATCH_SIZE,
        usd(lambda_cost),
        usd(total),
        emails.round_dp(2),
        usd(ses_cost),
        usd(total + ses_cost),
    )
}
